"""Schema upgrades: Alembic migrations run automatically on first use and after an upgrade of Keel.

A new, empty SQLite database skips them: it runs ``schema_sqlite.sql``, the dump (``sqlite3.iterdump``) of a
database the migrations brought to the head revision, in one transaction. That is what every first command on a
fresh ``KEEL_HOME`` pays, and the dump costs milliseconds where importing Alembic and running every migration costs
~0.3 s. A test keeps the dump equal to what the migrations build; regenerate it with
``python -m keel.store.schema`` after adding a migration.
"""

from __future__ import annotations

import sqlite3
import sys
import tempfile
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, inspect, text

from keel.store.engine import Database
from keel.store.migrations import HEAD_REVISION

__all__ = ["current_revision", "ensure_schema", "head_statements", "upgrade"]

_MIGRATIONS = Path(__file__).parent / "migrations"
SQLITE_HEAD = Path(__file__).parent / "schema_sqlite.sql"


def current_revision(db: Database) -> str | None:
    """The revision the database is at (None for an empty database)."""
    with db.read() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def ensure_schema(db: Database) -> None:
    """Bring the database to the head revision unless it is there already (cheap when it is)."""
    if current_revision(db) == HEAD_REVISION:
        return
    if db.is_sqlite and _create_sqlite_at_head(db):
        return
    upgrade(db, HEAD_REVISION)


def _create_sqlite_at_head(db: Database) -> bool:
    """Run the head-revision dump on an empty SQLite database (False, doing nothing, if it holds any table)."""
    statements = head_statements()
    with db.write() as conn:  # BEGIN IMMEDIATE: a concurrent first use waits here, then finds the tables
        if conn.exec_driver_sql("SELECT count(*) FROM sqlite_master").scalar():
            return False
        for statement in statements:
            conn.exec_driver_sql(statement)
    return True


def head_statements(path: Path = SQLITE_HEAD) -> list[str]:
    """The SQL statements of a schema dump, without its own BEGIN/COMMIT."""
    statements, pending = [], ""
    for line in path.read_text().splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            statement = pending.strip()
            if statement not in ("BEGIN TRANSACTION;", "COMMIT;"):
                statements.append(statement)
            pending = ""
    return statements


def dump_head(out: Path = SQLITE_HEAD) -> None:
    """Write the dump of a SQLite database migrated to the head revision (after adding a migration)."""
    with tempfile.TemporaryDirectory() as folder:
        db = Database(f"sqlite:///{Path(folder) / 'head.db'}")
        upgrade(db, HEAD_REVISION)
        db.dispose()
        conn = sqlite3.connect(Path(folder) / "head.db")
        try:
            out.write_text("\n".join(conn.iterdump()) + "\n")
        finally:
            conn.close()


def upgrade(db: Database, revision: str = "head") -> None:
    """Run migrations up to ``revision`` under a lock, so concurrent first uses migrate once."""
    from alembic import command
    from alembic.runtime.migration import MigrationContext

    with db.write() as conn:
        if db.dialect == "postgresql":
            conn.exec_driver_sql("SELECT pg_advisory_xact_lock(7305127)")
        if MigrationContext.configure(conn).get_current_revision() == revision:
            return
        command.upgrade(_config(conn), revision)


def _config(conn: Connection) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    cfg.attributes["connection"] = conn
    return cfg


if __name__ == "__main__":
    dump_head(Path(sys.argv[1]) if len(sys.argv) > 1 else SQLITE_HEAD)
