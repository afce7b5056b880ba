"""Reads of the embedded SQLite metadata database through the standard library, for the hot path of short commands.

A no-op ``keel data add`` needs one row; opening the database through :class:`~keel.store.Database` costs
SQLAlchemy's import (~0.2 s), more than the rest of the command. :func:`read_sqlite` runs one read-only query with
:mod:`sqlite3` instead, but only where that is exactly equivalent: an existing SQLite file already at the head
schema revision. Everything else (PostgreSQL, a database still to create or migrate, any error) answers ``None``,
and the caller takes the full path through :class:`~keel.store.Database`.
"""

from __future__ import annotations

import os
import sqlite3
from typing import Any
from urllib.parse import quote

from keel.store.migrations import HEAD_REVISION

__all__ = ["read_sqlite", "sqlite_file"]


def sqlite_file(url: str) -> str | None:
    """The database file of a plain ``sqlite:///PATH`` URL; None for any other URL (in-memory, with options, or
    another database)."""
    if not url.startswith("sqlite:///") or "?" in url:
        return None
    path = url.removeprefix("sqlite:///")
    return None if path in ("", ":memory:") else path


def read_sqlite(url: str, sql: str, params: tuple[Any, ...] = (), *,
                busy_timeout_ms: int = 30_000) -> list[tuple[Any, ...]] | None:
    """The rows of the read-only query ``sql`` on the SQLite database of ``url``, or None when the caller must go
    through :class:`~keel.store.Database` instead (not SQLite, no database file yet, or not at the head revision)."""
    path = sqlite_file(url)
    if path is None or not os.path.isfile(path):
        return None
    try:
        conn = sqlite3.connect(f"file:{quote(path)}?mode=ro", uri=True, timeout=busy_timeout_ms / 1000)
    except sqlite3.Error:
        return None
    try:
        revision = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        if revision is None or revision[0] != HEAD_REVISION:
            return None
        return conn.execute(sql, params).fetchall()
    except sqlite3.Error:  # e.g. no such table: the full path migrates, or names the problem properly
        return None
    finally:
        conn.close()
