"""Schema upgrades: Alembic migrations run automatically on first use and after an upgrade of Keel."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Connection, inspect, text

from keel.store.engine import Database
from keel.store.migrations import HEAD_REVISION

__all__ = ["current_revision", "ensure_schema", "upgrade"]

_MIGRATIONS = Path(__file__).parent / "migrations"


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
    upgrade(db, HEAD_REVISION)


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
