"""One suite over the registry stores on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from keel.errors import AlreadyExists, InvalidInput, NotFound
from keel.registry import LoggedModelStatus, SqlLoggedModelStore, SqlRegistryStore, check_alias
from keel.store import Database, open_database
from keel.store.tables import lineage_edges
from keel.tracking.sql import SqlTrackingStore


@pytest.fixture(params=["sqlite", "postgres"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    url = f"sqlite:///{tmp_path / 'reg.db'}" if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    yield open_database(url)


@pytest.fixture
def reg(db: Database) -> SqlRegistryStore:
    return SqlRegistryStore(db)


@pytest.fixture
def run_id(db: Database) -> str:
    return SqlTrackingStore(db).create_run("0").run_id


def _edges(db: Database, dst_kind: str) -> set[tuple[str, str, str, str]]:
    le = lineage_edges.c
    with db.read() as conn:
        rows = conn.execute(select(le.src_kind, le.src_id, le.relation, le.dst_id).where(le.dst_kind == dst_kind))
        return {tuple(r) for r in rows}  # type: ignore[misc]


def test_versions_are_numbered_and_record_run_lineage(reg: SqlRegistryStore, db: Database, run_id: str) -> None:
    reg.create_registered_model("iris", tags={"team": "ml"}, description="flowers")
    v1 = reg.create_model_version("iris", "runs:/x/model", run_id=run_id, tags={"k": "v"})
    v2 = reg.create_model_version("iris", "runs:/x/model2")
    assert (v1.version, v2.version, v1.status, v1.current_stage, v1.tags) == (1, 2, "READY", "None", {"k": "v"})
    assert _edges(db, "model_version") == {("run", run_id, "produced", "iris/1")}
    model = reg.get_registered_model("iris")
    assert (model.tags, model.description, [v.version for v in model.latest_versions]) == (
        {"team": "ml"}, "flowers", [2])
    reg.delete_model_version("iris", 2)
    assert reg.create_model_version("iris", "s").version == 3
    with pytest.raises(NotFound, match="version=2"):
        reg.get_model_version("iris", 2)


def test_duplicates_unknowns_and_bad_input(reg: SqlRegistryStore) -> None:
    reg.create_registered_model("m")
    with pytest.raises(AlreadyExists):
        reg.create_registered_model("m")
    with pytest.raises(NotFound, match="nope"):
        reg.get_registered_model("nope")
    with pytest.raises(NotFound, match="nope"):
        reg.create_model_version("nope", "s")
    with pytest.raises(InvalidInput) as err:
        reg.create_registered_model("x" * 257)
    assert err.value.field == "name"
    with pytest.raises(InvalidInput):
        reg.create_registered_model("  ")
    with pytest.raises(InvalidInput) as err:
        reg.get_model_version("m", "zero")
    assert err.value.field == "version"
    with pytest.raises(InvalidInput):
        reg.get_model_version("m", 0)


@pytest.mark.parametrize("alias", ["latest", "v1", "V12", "1abc", "has space", "", "a/b"])
def test_reserved_and_malformed_aliases_are_refused(alias: str) -> None:
    with pytest.raises(InvalidInput) as err:
        check_alias(alias)
    assert err.value.field == "alias"


def test_aliases_move_and_vanish_with_their_version(reg: SqlRegistryStore) -> None:
    reg.create_registered_model("m")
    for _ in range(2):
        reg.create_model_version("m", "s")
    assert check_alias("champion-v2_x") == "champion-v2_x"
    reg.set_registered_model_alias("m", "champion", "1")
    reg.set_registered_model_alias("m", "champion", 2)
    reg.set_registered_model_alias("m", "old", 1)
    assert reg.get_model_version_by_alias("m", "champion").version == 2
    assert reg.get_model_version("m", 2).aliases == ["champion"]
    assert reg.get_registered_model("m").aliases == {"champion": 2, "old": 1}
    with pytest.raises(NotFound, match="version=5"):
        reg.set_registered_model_alias("m", "x", 5)
    reg.delete_model_version("m", 1)
    with pytest.raises(NotFound, match="old"):
        reg.get_model_version_by_alias("m", "old")
    reg.delete_registered_model_alias("m", "champion")
    with pytest.raises(NotFound, match="champion"):
        reg.delete_registered_model_alias("m", "champion")


def test_search_registered_models(reg: SqlRegistryStore) -> None:
    for name in ("alpha", "beta", "Alps"):
        reg.create_registered_model(name)
    reg.set_registered_model_tag("beta", "mlflow.prompt.is_prompt", "true")
    reg.set_registered_model_tag("alpha", "team", "ml")

    def names(filter_string: str | None = None, **kw: object) -> list[str]:
        return [m.name for m in reg.search_registered_models(filter_string, **kw)[0]]  # type: ignore[arg-type]

    assert names("name LIKE 'al%'") == ["alpha"]
    assert names("name ILIKE 'al%'") == ["Alps", "alpha"]
    assert names("tags.team = 'ml'") == ["alpha"]
    assert names("name != 'x' AND tag.`mlflow.prompt.is_prompt` != 'true'") == ["Alps", "alpha"]
    assert names(order_by=["name DESC"]) == ["beta", "alpha", "Alps"]
    page, token = reg.search_registered_models(max_results=2)
    rest, last = reg.search_registered_models(max_results=2, page_token=token)
    assert [m.name for m in page + rest] == ["Alps", "alpha", "beta"] and last is None
    for bad in ("name = ", "owner = 'x'", "name = 'a' OR name = 'b'", "name LIKE 3"):
        with pytest.raises(InvalidInput) as err:
            reg.search_registered_models(bad)
        assert err.value.field == "filter"
    with pytest.raises(InvalidInput):
        reg.search_registered_models(order_by=["name SIDEWAYS"])


def test_search_model_versions(reg: SqlRegistryStore, run_id: str) -> None:
    reg.create_registered_model("a")
    reg.create_registered_model("b")
    reg.create_model_version("a", "s1", run_id=run_id)
    reg.create_model_version("a", "s2")
    reg.create_model_version("b", "s3", run_id=run_id, tags={"env": "prod"})

    def found(filter_string: str) -> list[tuple[str, int]]:
        return [(v.name, v.version) for v in reg.search_model_versions(filter_string)[0]]

    assert found("name = 'a'") == [("a", 2), ("a", 1)]
    assert found(f"run_id = '{run_id}'") == [("a", 1), ("b", 1)]
    assert found("version_number = 2 and name = 'a'") == [("a", 2)]
    assert found("source_path = 's3'") == [("b", 1)]
    assert found("tags.env = 'prod'") == [("b", 1)]
    assert found(f"run_id IN ('{run_id}', 'zzz') AND name = 'b'") == [("b", 1)]
    with pytest.raises(InvalidInput):
        reg.search_model_versions("version_number = 'two'")


def test_stages_and_latest_versions(reg: SqlRegistryStore) -> None:
    reg.create_registered_model("m")
    for _ in range(3):
        reg.create_model_version("m", "s")
    reg.transition_model_version_stage("m", 1, "Production")
    reg.transition_model_version_stage("m", 2, "staging")
    reg.transition_model_version_stage("m", 3, "Production", archive_existing_versions=True)
    assert reg.get_model_version("m", 1).current_stage == "Archived"
    assert [(v.version, v.current_stage) for v in reg.get_latest_versions("m")] == [
        (1, "Archived"), (2, "Staging"), (3, "Production")]
    assert [v.version for v in reg.get_latest_versions("m", ["Staging"])] == [2]
    with pytest.raises(InvalidInput, match="stage"):
        reg.transition_model_version_stage("m", 1, "Retired")


def test_rename_carries_versions_tags_aliases_and_lineage(reg: SqlRegistryStore, db: Database,
                                                          run_id: str) -> None:
    reg.create_registered_model("old", tags={"t": "1"})
    reg.create_model_version("old", "s", run_id=run_id, tags={"k": "v"})
    reg.set_registered_model_alias("old", "champion", 1)
    reg.create_registered_model("taken")
    with pytest.raises(AlreadyExists):
        reg.rename_registered_model("old", "taken")
    renamed = reg.rename_registered_model("old", "new")
    assert (renamed.tags, renamed.aliases) == ({"t": "1"}, {"champion": 1})
    assert reg.get_model_version("new", 1).tags == {"k": "v"}
    assert _edges(db, "model_version") == {("run", run_id, "produced", "new/1")}
    with pytest.raises(NotFound):
        reg.get_registered_model("old")
    reg.delete_registered_model("new")
    assert reg.search_model_versions("name = 'new'")[0] == []


def test_logged_model_registers_with_its_artifact_location(reg: SqlRegistryStore, db: Database,
                                                           run_id: str) -> None:
    models = SqlLoggedModelStore(db)
    lm = models.create_logged_model("0", "model", source_run_id=run_id, params={"lr": "0.1"}, tags={"a": "b"})
    assert lm.model_id.startswith("m-") and len(lm.model_id) == 34
    assert (lm.status, lm.artifact_location) == (LoggedModelStatus.PENDING, f"0/models/{lm.model_id}/artifacts")
    assert models.finalize_logged_model(lm.model_id, LoggedModelStatus.READY).status == LoggedModelStatus.READY
    models.log_logged_model_params(lm.model_id, {"depth": "3"})
    models.set_logged_model_tags(lm.model_id, {"a": "c"})
    got = models.get_logged_model(lm.model_id)
    assert (got.params, got.tags) == ({"lr": "0.1", "depth": "3"}, {"a": "c"})
    assert [m.model_id for m in models.search_logged_models(["0"], "name = 'model'")[0]] == [lm.model_id]
    assert models.search_logged_models(["0"], "params.lr = '0.2'")[0] == []
    reg.create_registered_model("iris")
    mv = reg.create_model_version("iris", f"models:/{lm.model_id}")
    assert (mv.model_id, mv.run_id) == (lm.model_id, run_id)
    assert reg.get_model_version_download_uri("iris", 1) == lm.artifact_location
    assert _edges(db, "model_version") == {("run", run_id, "produced", "iris/1"),
                                           ("logged_model", lm.model_id, "registered_as", "iris/1")}
    assert ("run", run_id, "produced", lm.model_id) in _edges(db, "logged_model")
    with pytest.raises(NotFound, match="m-missing"):
        reg.create_model_version("iris", "models:/m-missing")
    models.delete_logged_model(lm.model_id)
    with pytest.raises(NotFound):
        models.get_logged_model(lm.model_id)
    assert models.get_logged_model(lm.model_id, allow_deleted=True).lifecycle_stage == "deleted"
    with pytest.raises(NotFound, match="experiment"):
        models.create_logged_model("4242")
