"""One suite over the deployment stores: SQL on SQLite and PostgreSQL, and HTTP against a live `keel server`."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from keel.client import HttpRegistryStore, HttpSession
from keel.client.deployments import HttpDeploymentStore
from keel.errors import AlreadyExists, Conflict, InvalidInput, NotFound
from keel.registry.repository import RegistryRepository
from keel.registry.sql import SqlRegistryStore
from keel.serving.deployment import Deployment, DeploymentRepository, Route, parse_route, shift_traffic
from keel.serving.deployment_sql import SqlDeploymentStore
from keel.store import Database, open_database
from keel.store.tables import deployment_revisions, lineage_edges


@dataclass
class Backend:
    """A deployment store, the registry beside it, and the database their lineage lands in."""

    store: DeploymentRepository
    registry: RegistryRepository
    db: Database
    kind: str


@pytest.fixture(params=["sqlite", "postgres", "http"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if request.param == "http":
        server = request.getfixturevalue("live_server")
        session = HttpSession(server.url, retry_for_s=5)
        yield Backend(HttpDeploymentStore(session, user="ann"), HttpRegistryStore(session),
                      open_database(f"sqlite:///{server.home / 'keel.db'}"), "http")
        session.close()
        return
    url = f"sqlite:///{tmp_path / 'k.db'}" if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    db = open_database(url)
    yield Backend(SqlDeploymentStore(db, user="ann"), SqlRegistryStore(db), db, request.param)


@pytest.fixture
def model(backend: Backend) -> str:
    """A registered model (unique name: the live server is shared) with versions 1-3; ``champion`` → 1."""
    name = f"fraud-{uuid.uuid4().hex[:8]}"
    backend.registry.create_registered_model(name)
    for _ in range(3):
        backend.registry.create_model_version(name, "s")
    backend.registry.set_registered_model_alias(name, "champion", 1)
    return name


@pytest.fixture
def name() -> str:
    return f"dep-{uuid.uuid4().hex[:8]}"


def _edges(db: Database, src_ids: set[str]) -> set[tuple[str, str, str, str, str]]:
    le = lineage_edges.c
    with db.read() as conn:
        rows = conn.execute(select(le.src_kind, le.src_id, le.relation, le.dst_kind, le.dst_id)
                            .where(le.src_id.in_(src_ids)))
        return {tuple(row) for row in rows}  # type: ignore[misc]


def _targets(d: Deployment) -> list[tuple[str, float]]:
    return [(r.target, round(r.weight, 6)) for r in d.routes]


def test_create_get_list_and_lineage(backend: Backend, model: str, name: str) -> None:
    d = backend.store.create_deployment(Deployment(
        name, (Route(model, alias="champion", weight=9), Route(model, 2, weight=1)), (Route(model, 3),),
        sticky_key="X-User", max_batch_size=8, max_wait_ms=3.5, description="fraud scoring"))
    assert (d.revision, d.action, d.updated_by) == (1, "create", "ann")
    assert _targets(d) == [(f"{model}@champion", 90.0), (f"{model}/2", 10.0)]
    assert d.created_at == d.updated_at > 0
    got = backend.store.get_deployment(name)
    assert got == d and got.shadows == (Route(model, 3),)
    assert (got.sticky_key, got.max_batch_size, got.max_wait_ms, got.description) == ("X-User", 8, 3.5,
                                                                                     "fraud scoring")
    assert d in backend.store.list_deployments()
    rev = f"{name}#1"
    assert _edges(backend.db, {name, rev}) == {
        ("deployment", name, "revised_to", "deployment_revision", rev),
        ("deployment_revision", rev, "serves", "model_version", f"{model}/1"),  # the alias, resolved
        ("deployment_revision", rev, "serves", "model_version", f"{model}/2"),
        ("deployment_revision", rev, "shadows", "model_version", f"{model}/3"),
    }


def test_canary_step_up_then_rollbacks(backend: Backend, model: str, name: str) -> None:
    store, v1, v2 = backend.store, Route(model, 1), Route(model, 2)
    store.create_deployment(Deployment(name, (v1,), sticky_key="user", description="canary"))
    for percent in (10, 50, 100):
        routes = shift_traffic(store.get_deployment(name).routes, v2, percent)
        store.update_deployment(name, routes=routes, updated_by="bob")
    history = store.deployment_history(name)
    assert [(d.revision, d.action) for d in history] == [(4, "update"), (3, "update"), (2, "update"), (1, "create")]
    assert [_targets(d) for d in history] == [
        [(f"{model}/2", 100.0)], [(f"{model}/1", 50.0), (f"{model}/2", 50.0)],
        [(f"{model}/1", 90.0), (f"{model}/2", 10.0)], [(f"{model}/1", 100.0)]]
    assert {d.updated_by for d in history[:3]} == {"bob"}
    assert all(d.sticky_key == "user" and d.description == "canary" for d in history)

    back = store.rollback_deployment(name)  # to revision 3's 50/50
    assert (back.revision, back.action, back.updated_by, _targets(back)) == (
        5, "rollback", "ann", [(f"{model}/1", 50.0), (f"{model}/2", 50.0)])
    assert _targets(store.rollback_deployment(name)) == [(f"{model}/2", 100.0)]  # previous is revision 5's
    first = store.rollback_deployment(name, to_revision=1)
    assert (first.revision, _targets(first)) == (7, [(f"{model}/1", 100.0)])
    assert store.get_deployment(name).revision == 7
    assert _targets(store.get_deployment(name, revision=2)) == [(f"{model}/1", 90.0), (f"{model}/2", 10.0)]
    assert ("deployment_revision", f"{name}#7", "serves", "model_version", f"{model}/1") in _edges(
        backend.db, {f"{name}#7"})


def test_update_carries_unchanged_fields_and_clears_on_request(backend: Backend, model: str, name: str) -> None:
    store = backend.store
    store.create_deployment(Deployment(name, (Route(model, 1),), (Route(model, 3),), sticky_key="user",
                                       max_batch_size=8, max_wait_ms=3.0, description="d"))
    d = store.update_deployment(name, max_batch_size=16)
    assert (d.revision, d.max_batch_size, d.max_wait_ms, d.sticky_key, d.shadows, d.description) == (
        2, 16, 3.0, "user", (Route(model, 3),), "d")
    assert store.update_deployment(name, sticky_key=None).sticky_key is None
    cleared = store.update_deployment(name, shadows=())
    assert (cleared.revision, cleared.shadows, cleared.routes) == (4, (), (Route(model, 1, weight=100.0),))
    same = store.update_deployment(name, max_batch_size=16, shadows=())  # changes nothing: no new revision
    assert same.revision == 4 and len(store.deployment_history(name)) == 4
    with pytest.raises(InvalidInput, match="nothing to update"):
        store.update_deployment(name)
    with pytest.raises(InvalidInput, match="max_wait_ms"):
        store.update_deployment(name, max_wait_ms=-1.0)
    with pytest.raises(NotFound, match="nope"):
        store.update_deployment("nope", max_batch_size=2)


def test_rollback_refusals(backend: Backend, model: str, name: str) -> None:
    store = backend.store
    store.create_deployment(Deployment(name, (Route(model, 1),)))
    with pytest.raises(Conflict, match="revision 1, its first"):
        store.rollback_deployment(name)
    store.update_deployment(name, routes=(Route(model, 2),))
    with pytest.raises(Conflict, match="at revision 2 already"):
        store.rollback_deployment(name, to_revision=2)
    with pytest.raises(NotFound, match="no revision 9"):
        store.rollback_deployment(name, to_revision=9)
    with pytest.raises(NotFound, match="no revision 9"):
        store.get_deployment(name, revision=9)
    with pytest.raises(NotFound, match="nope"):
        store.rollback_deployment("nope")
    assert store.get_deployment(name).revision == 2


def test_targets_must_exist_in_the_registry(backend: Backend, model: str, name: str) -> None:
    store = backend.store
    for route, needle in ((Route(model, 9), f"{model}/9"), (Route(model, alias="nobody"), f"{model}@nobody"),
                          (Route("no-such-model", 1), "no-such-model/1")):
        with pytest.raises(NotFound, match=needle):
            store.create_deployment(Deployment(name, (Route(model, 1),), (route,)))
        with pytest.raises(NotFound, match=needle):
            store.create_deployment(Deployment(name, (route,)))
    with pytest.raises(NotFound):
        store.get_deployment(name)  # nothing was written
    store.create_deployment(Deployment(name, (Route(model, 1),)))
    with pytest.raises(AlreadyExists, match="keel deploy update"):
        store.create_deployment(Deployment(name, (Route(model, 2),)))
    backend.registry.delete_model_version(model, 2)
    with pytest.raises(NotFound, match=f"{model}/2"):
        store.update_deployment(name, routes=(Route(model, 2),))


def test_invalid_input_is_refused_on_every_transport(backend: Backend, model: str, name: str) -> None:
    store = backend.store
    with pytest.raises(InvalidInput, match="also a route"):
        store.create_deployment(Deployment(name, (Route(model, 1),), (Route(model, 1),)))
    with pytest.raises(InvalidInput, match="at least one route"):
        store.create_deployment(Deployment(name, ()))
    with pytest.raises(InvalidInput, match="not a valid deployment name"):
        store.create_deployment(Deployment("bad name", (Route(model, 1),)))
    with pytest.raises(InvalidInput, match="not a valid deployment name"):
        store.get_deployment("a/b")
    store.create_deployment(Deployment(name, (Route(model, 1),)))
    with pytest.raises(InvalidInput, match="revision"):
        store.get_deployment(name, revision=0)


def test_delete_then_create_again_keeps_numbering(backend: Backend, model: str, name: str) -> None:
    store = backend.store
    store.create_deployment(Deployment(name, (Route(model, 1),)))
    store.delete_deployment(name)
    for call in (lambda: store.get_deployment(name), lambda: store.deployment_history(name),
                 lambda: store.delete_deployment(name), lambda: store.rollback_deployment(name)):
        with pytest.raises(NotFound, match=name):
            call()
    assert name not in {d.name for d in store.list_deployments()}
    again = store.create_deployment(Deployment(name, (Route(model, 2),)))
    assert (again.revision, again.action) == (3, "create")
    assert [d.revision for d in store.deployment_history(name)] == [3]
    with pytest.raises(Conflict, match="its first"):
        store.rollback_deployment(name)
    with pytest.raises(NotFound, match="no revision 1"):
        store.get_deployment(name, revision=1)
    listed = next(d for d in store.list_deployments() if d.name == name)
    assert (listed.revision, listed.created_at) == (3, again.created_at)
    assert ("deployment", name, "deleted_in", "deployment_revision", f"{name}#2") in _edges(backend.db, {name})


def test_concurrent_updates_never_share_a_revision(backend: Backend, model: str, name: str) -> None:
    store = backend.store
    store.create_deployment(Deployment(name, (Route(model, 1),)))
    # One SQL store per writer behaves like one process each: they race for revisions instead of taking turns.
    stores = [store] * 6 if backend.kind == "http" else [SqlDeploymentStore(backend.db) for _ in range(6)]
    errors: list[BaseException] = []
    start = threading.Barrier(6)

    def writer(i: int) -> None:
        start.wait()
        try:
            for j in range(3):
                stores[i].update_deployment(name, description=f"w{i}-{j}")
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    history = store.deployment_history(name)
    assert [d.revision for d in history] == list(range(19, 0, -1))
    assert {d.description for d in history[:-1]} == {f"w{i}-{j}" for i in range(6) for j in range(3)}


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_a_writer_with_a_stale_revision_retries_on_top(kind: str, tmp_path: Path, request: pytest.FixtureRequest,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """What keeps a writer that slipped past the lock honest: the key refuses its revision and it builds again."""
    url = f"sqlite:///{tmp_path / 'k.db'}" if kind == "sqlite" else request.getfixturevalue("postgres_url")
    db = open_database(url)
    registry = SqlRegistryStore(db)
    registry.create_registered_model("m")
    registry.create_model_version("m", "s")
    registry.create_model_version("m", "s")
    store = SqlDeploymentStore(db)
    store.create_deployment(Deployment("d", (Route("m", 1),)))
    store.update_deployment("d", description="second")
    real, calls = SqlDeploymentStore._current, []

    def stale_once(self: SqlDeploymentStore, conn: Any, dep: str) -> Any:
        latest, current = real(self, conn, dep)
        calls.append(latest)
        return (latest - 1, current) if len(calls) == 1 else (latest, current)

    monkeypatch.setattr(SqlDeploymentStore, "_current", stale_once)
    d = store.update_deployment("d", routes=(Route("m", 2),))
    assert calls == [2, 2] and d.revision == 3
    rows = [(r.revision, r.action) for r in _rows(db)]
    assert rows == [(1, "create"), (2, "update"), (3, "update")]
    assert store.get_deployment("d", revision=2).description == "second"


def _rows(db: Database) -> list[Any]:
    d = deployment_revisions.c
    with db.read() as conn:
        return list(conn.execute(select(deployment_revisions).order_by(d.revision)))


def test_route_specs_feed_the_store(backend: Backend, model: str, name: str) -> None:
    d = backend.store.create_deployment(Deployment(name, (parse_route(f"{model}/1=3"),
                                                          parse_route(f"{model}@champion=1"))))
    assert _targets(d) == [(f"{model}/1", 75.0), (f"{model}@champion", 25.0)]
    assert d.routes[1].model_uri == f"models:/{model}@champion"
