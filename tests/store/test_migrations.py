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
