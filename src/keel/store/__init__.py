"""Metadata store: engines for SQLite and PostgreSQL, the schema, and its migrations.

Concept packages reach the database only through :class:`Database` and the tables in :mod:`keel.store.tables`.
"""

from __future__ import annotations

import threading

from keel.store import tables
from keel.store.engine import Database, map_db_errors
from keel.store.schema import current_revision, ensure_schema, upgrade

__all__ = ["Database", "current_revision", "ensure_schema", "map_db_errors", "open_database", "tables", "upgrade"]

_OPEN: dict[str, Database] = {}
_LOCK = threading.Lock()


def open_database(url: str, *, busy_timeout_ms: int = 30_000) -> Database:
    """The process-wide :class:`Database` for ``url``, migrated to the current schema on first use."""
    with _LOCK:
        db = _OPEN.get(url)
        if db is None:
            db = Database(url, busy_timeout_ms=busy_timeout_ms)
            ensure_schema(db)
            _OPEN[url] = db
        return db
