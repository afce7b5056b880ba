"""Metadata store: engines for SQLite and PostgreSQL, the schema, and its migrations.

Concept packages reach the database only through :class:`Database` and the tables in :mod:`keel.store.tables`,
or, for a few reads on the hot path of a short command, through :mod:`keel.store.sqlite_reader`. The names below
load on first use: SQLAlchemy takes ~0.2 s to import, which a command that never opens the database should not pay.
"""

from __future__ import annotations

import importlib
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from keel.store import tables
    from keel.store.engine import Database, map_db_errors
    from keel.store.schema import current_revision, ensure_schema, upgrade

__all__ = ["Database", "current_revision", "ensure_schema", "map_db_errors", "open_database", "tables", "upgrade"]

_LAZY = {"Database": "keel.store.engine", "map_db_errors": "keel.store.engine", "current_revision": "keel.store.schema",
         "ensure_schema": "keel.store.schema", "upgrade": "keel.store.schema"}
_OPEN: dict[str, Database] = {}
_LOCK = threading.Lock()


def open_database(url: str, *, busy_timeout_ms: int = 30_000) -> Database:
    """The process-wide :class:`Database` for ``url``, migrated to the current schema on first use."""
    from keel.store.engine import Database
    from keel.store.schema import ensure_schema

    with _LOCK:
        db = _OPEN.get(url)
        if db is None:
            db = Database(url, busy_timeout_ms=busy_timeout_ms)
            ensure_schema(db)
            _OPEN[url] = db
        return db


def __getattr__(name: str) -> Any:
    if name == "tables":
        return importlib.import_module("keel.store.tables")
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'keel.store' has no attribute {name!r}")
