"""Engine and transaction handling for SQLite (embedded default) and PostgreSQL.

SQLite runs in WAL mode with a busy timeout; write transactions start with ``BEGIN IMMEDIATE`` and, inside one
process, also take a process-wide lock, so concurrent writers queue instead of failing with "database is locked".
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError

from keel.errors import InvalidInput, KeelError, Unavailable
from keel.redact import redact_text

__all__ = ["Database", "map_db_errors"]


class Database:
    """An engine plus the write discipline its dialect needs.

    Use :meth:`read` for queries and :meth:`write` for anything that changes data.
    """

    def __init__(self, url: str, *, busy_timeout_ms: int = 30_000) -> None:
        try:
            parsed = make_url(url)
        except (ArgumentError, ValueError) as exc:
            raise InvalidInput(f"KEEL_DB_URL: cannot parse {redact_text(url)!r} as a database URL") from exc
        self.url = url
        self.dialect = parsed.get_backend_name()
        self._write_lock = threading.RLock()
        if self.dialect == "sqlite":
            self.engine = _sqlite_engine(url, parsed.database, busy_timeout_ms)
        elif self.dialect == "postgresql":
            self.engine = create_engine(url, pool_size=8, max_overflow=16, pool_pre_ping=True)
        else:
            raise InvalidInput(f"KEEL_DB_URL: unsupported database {self.dialect!r}; use sqlite or postgresql")
        _audit().install(self.engine)

    @property
    def is_sqlite(self) -> bool:
        """True for the embedded SQLite backend."""
        return self.dialect == "sqlite"

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A connection for queries."""
        with map_db_errors(), self.engine.connect() as conn:
            yield conn

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A connection inside a write transaction; commits on success, rolls back on error."""
        with map_db_errors():
            if self.is_sqlite:
                with self._write_lock, self.engine.connect() as conn:
                    conn.info["immediate"] = True
                    try:
                        with conn.begin(), _audit().recording(conn):
                            yield conn
                    finally:
                        conn.info["immediate"] = False
            else:
                with self.engine.begin() as conn, _audit().recording(conn):
                    yield conn

    def dispose(self) -> None:
        """Close pooled connections."""
        self.engine.dispose()


def _sqlite_engine(url: str, database: str | None, busy_timeout_ms: int) -> Engine:
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    memory = not database or database == ":memory:"
    kwargs: dict[str, Any] = {"connect_args": {"check_same_thread": False, "timeout": busy_timeout_ms / 1000}}
    engine = create_engine(url, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: sqlite3.Connection, _record: Any) -> None:
        # Let SQLAlchemy (not pysqlite) decide when transactions begin, so BEGIN IMMEDIATE works.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        if not memory:
            cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA case_sensitive_like=ON")
        cur.execute("PRAGMA cache_size=-65536")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.info.get("immediate") else "BEGIN")

    return engine


def _audit() -> Any:
    # The audit log (keel.governance) records every write in the write's own transaction; imported late because
    # the store otherwise depends on nothing of ours.
    from keel.governance import audit_capture

    return audit_capture


@contextmanager
def map_db_errors() -> Iterator[None]:
    """Turn driver errors that mean "cannot reach / busy" into :class:`Unavailable` (and a number too big for the
    database into :class:`InvalidInput`)."""
    try:
        yield
    except KeelError:
        raise
    except OverflowError as exc:  # a caller's number beyond the database's 64-bit integers
        raise InvalidInput(f"a number is out of range for the metadata database ({exc}); use values within "
                           "64-bit integers") from exc
    except OperationalError as exc:
        raise Unavailable(f"metadata database unavailable: {redact_text(str(exc.orig))}") from exc
    except DBAPIError as exc:
        if exc.connection_invalidated:
            raise Unavailable(f"metadata database connection lost: {redact_text(str(exc.orig))}") from exc
        raise
