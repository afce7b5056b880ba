"""Alembic migrations: a database created at revision N opens (and is upgraded) by a Keel at N+1."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from keel.store import Database, current_revision, ensure_schema, open_database, upgrade
from keel.store.migrations import HEAD_REVISION
from keel.store.schema import _MIGRATIONS
from keel.store.tables import metadata
from keel.tracking.points import MetricPoints
from keel.tracking.sql import SqlTrackingStore


def test_head_constant_matches_the_scripts() -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    assert ScriptDirectory.from_config(cfg).get_current_head() == HEAD_REVISION


def _db_at_first_revision(url: str) -> Database:
    db = Database(url)
    upgrade(db, "0001")
    assert current_revision(db) == "0001"
    with db.write() as conn:
        conn.execute(text("INSERT INTO runs (run_id, experiment_id, project, name, status, start_time, "
                          "artifact_uri, lifecycle_stage) VALUES ('a1', 0, 'default', 'old', 'FINISHED', 1, "
                          "'0/a1/artifacts', 'active')"))
        conn.execute(text("INSERT INTO latest_metrics VALUES ('a1', 'acc', 0.5, 1, 0)"))
    db.dispose()
    return db


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_database_from_revision_n_opens_at_n_plus_1(backend: str, tmp_path: Path,
                                                    request: pytest.FixtureRequest) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}" if backend == "sqlite" else request.getfixturevalue("postgres_url")
    _db_at_first_revision(url)
    store = SqlTrackingStore(open_database(url))
    assert current_revision(store.db) == HEAD_REVISION
    old = store.get_run("a1")
    assert (old.info.run_name, old.metrics["acc"].value) == ("old", 0.5)
    # The table added by revision 0002 works on the upgraded database: a repeated batch id is ignored.
    points = MetricPoints(["x"], [1.0], [1], [0])
    assert store.log_metric_columns("a1", points, batch_id="b") == 1
    assert store.log_metric_columns("a1", points, batch_id="b") == 0


def test_migrated_schema_matches_the_tables(tmp_path: Path) -> None:
    db = open_database(f"sqlite:///{tmp_path / 'k.db'}")
    with db.read() as conn:
        names = set(inspect(conn).get_table_names())
    assert set(metadata.tables) <= names
    with db.read() as conn:
        for table in metadata.tables.values():
            columns = {c["name"] for c in inspect(conn).get_columns(table.name)}
            assert columns == {c.name for c in table.columns}, table.name


def _open(url: str) -> str | None:
    db = Database(url)
    ensure_schema(db)
    return current_revision(db)


def test_concurrent_first_use_migrates_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'race.db'}"
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        revisions = pool.map(_open, [url] * 4)
    assert revisions == [HEAD_REVISION] * 4


def test_bad_database_url_is_invalid_input() -> None:
    from keel.errors import InvalidInput

    with pytest.raises(InvalidInput, match="KEEL_DB_URL"):
        Database("not a url")
    with pytest.raises(InvalidInput, match="unsupported"):
        Database("mysql://root@localhost/x")


def _dump(path: Path) -> list[str]:
    import sqlite3

    conn = sqlite3.connect(path)
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


def test_fresh_sqlite_database_from_the_dump_equals_the_migrated_one(tmp_path: Path) -> None:
    """A new SQLite database is created from schema_sqlite.sql, not by the migrations: both must give the same
    database (if this fails after adding a migration, run `python -m keel.store.schema`)."""
    from keel.store.schema import dump_head

    migrated = Database(f"sqlite:///{tmp_path / 'migrated.db'}")
    upgrade(migrated, HEAD_REVISION)
    migrated.dispose()
    fresh = Database(f"sqlite:///{tmp_path / 'fresh.db'}")
    ensure_schema(fresh)
    fresh.dispose()
    assert _dump(tmp_path / "fresh.db") == _dump(tmp_path / "migrated.db")
    dump_head(tmp_path / "again.sql")  # the checked-in dump is what the migrations produce today
    from keel.store.schema import SQLITE_HEAD

    assert (tmp_path / "again.sql").read_text() == SQLITE_HEAD.read_text()


def test_dump_is_not_applied_over_existing_tables(tmp_path: Path) -> None:
    db = _db_at_first_revision(f"sqlite:///{tmp_path / 'old.db'}")
    ensure_schema(db)  # an existing database goes through the migrations, keeping its rows
    assert current_revision(db) == HEAD_REVISION
    with db.read() as conn:
        assert conn.execute(text("SELECT name FROM runs WHERE run_id = 'a1'")).scalar() == "old"
