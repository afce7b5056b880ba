"""The `repo` fixture: one TrackingRepository suite over SQLite, PostgreSQL and HTTP (a live keel server)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from keel.client import HttpSession, HttpTrackingStore
from keel.store import open_database
from keel.tracking.repository import TrackingRepository
from keel.tracking.sql import SqlTrackingStore


@pytest.fixture(params=["sqlite", "postgres", "http"])
def repo(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TrackingRepository]:
    """A tracking repository on each backend."""
    if request.param == "sqlite":
        yield SqlTrackingStore(open_database(f"sqlite:///{tmp_path / 'keel.db'}"))
    elif request.param == "postgres":
        url = request.getfixturevalue("postgres_url")
        yield SqlTrackingStore(open_database(url))
    else:
        server = request.getfixturevalue("live_server")
        session = HttpSession(server.url, retry_for_s=5)
        yield HttpTrackingStore(session)
        session.close()
