"""Shared fixtures: isolated Keel homes, a fresh PostgreSQL database, and a live `keel server`."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from keel.tracking.context import reset_backend
from keel_testing import ServerProcess

POSTGRES_ENV = "KEEL_TEST_POSTGRES_URL"


@pytest.fixture
def keel_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An empty Keel home used by the SDK (local store), reset after the test."""
    home = tmp_path / "home"
    monkeypatch.setenv("KEEL_HOME", str(home))
    for name in ("KEEL_TRACKING_URI", "KEEL_DB_URL", "KEEL_ARTIFACT_ROOT", "KEEL_EXPERIMENT_NAME"):
        monkeypatch.delenv(name, raising=False)
    reset_backend()
    yield home
    _end_active_runs()
    reset_backend()


def _end_active_runs() -> None:
    import keel

    while keel.active_run() is not None:
        with contextlib.suppress(Exception):
            keel.end_run()


def _fresh_postgres_database(base_url: str) -> tuple[str, str]:
    url = make_url(base_url)
    name = f"keel_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return url.set(database=name).render_as_string(hide_password=False), name


def _drop_postgres_database(base_url: str, name: str) -> None:
    admin = create_engine(make_url(base_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A new, empty PostgreSQL database (skips when KEEL_TEST_POSTGRES_URL is unset)."""
    base = os.environ.get(POSTGRES_ENV)
    if not base:
        pytest.skip(f"{POSTGRES_ENV} is not set; no PostgreSQL server to test against")
    url, name = _fresh_postgres_database(base)
    yield url
    from keel.store import _OPEN

    db = _OPEN.pop(url, None)
    if db is not None:
        db.dispose()
    _drop_postgres_database(base, name)


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A `keel server` on SQLite in a temporary home, shared by the tests of one module."""
    home = tmp_path_factory.mktemp("server") / "home"
    home.mkdir()
    server = ServerProcess(home).start()
    yield server
    server.stop()


@pytest.fixture(params=["local", "http"])
def sdk(request: pytest.FixtureRequest, keel_home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The SDK pointed at the local store or at a live server."""
    if request.param == "http":
        server = request.getfixturevalue("live_server")
        monkeypatch.setenv("KEEL_TRACKING_URI", server.url)
        reset_backend()
    import keel

    keel.set_experiment(f"sdk-{uuid.uuid4().hex[:8]}")
    yield request.param
