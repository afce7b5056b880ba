"""The unmodified mlflow client pointed at the module's live `keel server` (tracking and registry)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

mlflow = pytest.importorskip("mlflow")
from mlflow.tracking import MlflowClient  # noqa: E402


@pytest.fixture
def client(live_server, monkeypatch: pytest.MonkeyPatch) -> Iterator[MlflowClient]:  # type: ignore[no-untyped-def]
    """An MlflowClient (and the fluent API) on the live server, reset afterwards."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", live_server.url)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    mlflow.set_tracking_uri(live_server.url)
    mlflow.set_registry_uri(live_server.url)
    yield MlflowClient(live_server.url, registry_uri=live_server.url)
    while mlflow.active_run() is not None:
        mlflow.end_run()
    mlflow.set_tracking_uri(None)
    mlflow.set_registry_uri(None)
