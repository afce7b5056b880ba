"""An in-process app on a temporary home, for HTTP-level tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from keel.config import Settings
from keel.server import create_app


@pytest.fixture
def http(tmp_path: Path) -> Iterator[TestClient]:
    """A TestClient on a fresh server."""
    app = create_app(Settings(home=tmp_path / "home"))
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def run_id(http: TestClient) -> str:
    """A fresh run in the Default experiment."""
    return str(http.post("/api/2.0/mlflow/runs/create", json={"experiment_id": "0"}).json()["run"]["info"]["run_id"])
