"""Deployments on the metadata database (SQLite or PostgreSQL): one ``deployment_revisions`` row per revision.

A change reads the latest revision N, builds the next, checks its targets exist in the registry, then in one
write transaction inserts revision N+1 with its lineage edges. The key (project, name, revision) is the
concurrency control: if another change wrote N+1 in the meantime the insert is refused and the change is built
again on top of it, so two changes never share a revision and none is built on a stale one. Changes through one
store take turns (a lock), so only writers in other processes ever retry. A ``delete`` row ends a
deployment; revision numbers keep counting if the name is created again, so ``NAME#REV`` in lineage always means
one route table.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import orjson
from sqlalchemy import Connection, func, insert, select
from sqlalchemy.exc import IntegrityError

from keel.errors import AlreadyExists, Conflict, InvalidInput, NotFound
from keel.registry.entities import check_version
from keel.registry.sql import SqlRegistryStore
from keel.serving.deployment import (
    UNSET,
    Deployment,
    Route,
    Unset,
    check_deployment_name,
    current_user,
    deployment_from_dict,
    deployment_to_dict,
    validate_deployment,
)
from keel.store import Database
from keel.store.lineage import Edge, record_edge
from keel.store.tables import deployment_revisions

__all__ = ["SqlDeploymentStore"]

_D = deployment_revisions.c
_SPEC_KEYS = ("routes", "shadows", "sticky_key", "max_batch_size", "max_wait_ms", "description")
_ATTEMPTS = 30

#: Builds the next revision from the connection and the current one (None: no such deployment); None means no change.
Build = Callable[[Connection, Deployment | None], Deployment | None]


def _now() -> int:
    return int(time.time() * 1000)


def _spec(d: Deployment) -> dict[str, Any]:
    full = deployment_to_dict(d)
    return {key: full[key] for key in _SPEC_KEYS}


def _check_revision(value: Any, field: str) -> int:
    try:
        return check_version(value)
    except InvalidInput:
        raise InvalidInput(f"{field}: expected a revision number (1, 2, ...), got {value!r}", field=field) from None


def _missing(name: str) -> NotFound:
    return NotFound(f"deployment {name!r} not found; create it with `keel deploy create {name} --route MODEL/VERSION`",
                    field="name")


class SqlDeploymentStore:
    """:class:`~keel.serving.deployment.DeploymentRepository` over a :class:`~keel.store.Database`; route targets
    are checked against the registry on the same database."""

    def __init__(self, db: Database, project: str = "default", *, user: str | None = None) -> None:
        self.db = db
        self.project = project
        self.user = user or current_user()
        self.registry = SqlRegistryStore(db, project)
        self._turn = threading.Lock()

    # -- changes ---------------------------------------------------------------------------------------------------
    def create_deployment(self, d: Deployment) -> Deployment:
        """Store revision 1 of a new deployment (or the next number, when the name was deleted before)."""
        d = validate_deployment(d)

        def build(_conn: Connection, current: Deployment | None) -> Deployment:
            if current is not None:
                raise AlreadyExists(f"deployment {d.name!r} already exists; change it with `keel deploy update "
                                    f"{d.name}`", field="name")
            return replace(d, action="create")

        return self._change(d.name, build, d.updated_by)

    def update_deployment(self, name: str, *, routes: Sequence[Route] | None = None,
                          shadows: Sequence[Route] | None = None, sticky_key: str | None | Unset = UNSET,
                          max_batch_size: int | None = None, max_wait_ms: float | None = None,
                          description: str | None = None, updated_by: str | None = None) -> Deployment:
        """Write the next revision with the given fields changed; an update that changes nothing writes none."""
        changes: dict[str, Any] = {key: value for key, value in (
            ("routes", routes), ("shadows", shadows), ("max_batch_size", max_batch_size),
            ("max_wait_ms", max_wait_ms), ("description", description)) if value is not None}
        if sticky_key is not UNSET:
            changes["sticky_key"] = sticky_key
        if not changes:
            raise InvalidInput(f"deployment {name!r}: nothing to update; give routes, shadows, sticky_key, "
                               "max_batch_size, max_wait_ms or description", field="routes")
        for key in ("routes", "shadows"):
            if key in changes:
                changes[key] = tuple(changes[key])

        def build(_conn: Connection, current: Deployment | None) -> Deployment | None:
            if current is None:
                raise _missing(name)
            new = validate_deployment(replace(current, **changes, action="update"))
            return None if _spec(new) == _spec(current) else new

        return self._change(name, build, updated_by)

    def rollback_deployment(self, name: str, to_revision: int | None = None, *,
                            updated_by: str | None = None) -> Deployment:
        """Write a new revision serving the previous revision's route table (or ``to_revision``'s)."""
        wanted = None if to_revision is None else _check_revision(to_revision, "to_revision")

        def build(conn: Connection, current: Deployment | None) -> Deployment:
            if current is None:
                raise _missing(name)
            target = self._rollback_target(conn, current, wanted)
            return replace(current, routes=target.routes, shadows=target.shadows, sticky_key=target.sticky_key,
                           max_batch_size=target.max_batch_size, max_wait_ms=target.max_wait_ms, action="rollback")

        return self._change(name, build, updated_by)

    def delete_deployment(self, name: str, *, updated_by: str | None = None) -> None:
        """End a deployment: a ``delete`` revision hides it; its history stays in the table and in lineage."""

        def build(_conn: Connection, current: Deployment | None) -> Deployment:
            if current is None:
                raise _missing(name)
            return replace(current, action="delete")

        self._change(name, build, updated_by)

    def _rollback_target(self, conn: Connection, current: Deployment, wanted: int | None) -> Deployment:
        first = self._created(conn, current.name)[0]
        if wanted is None:
            if current.revision <= first:
                raise Conflict(f"deployment {current.name!r} is at revision {current.revision}, its first; there is "
                               "no earlier route table to roll back to", field="to_revision")
            wanted = conn.execute(select(func.max(_D.revision)).where(
                *self._named(current.name), _D.revision >= first, _D.revision < current.revision)).scalar_one()
        if wanted == current.revision:
            raise Conflict(f"deployment {current.name!r} is at revision {wanted} already; pick an earlier one "
                           f"(`keel deploy show {current.name} --history`)", field="to_revision")
        row = conn.execute(select(deployment_revisions).where(
            *self._named(current.name), _D.revision == wanted, _D.revision >= first)).first()
        if row is None:
            raise NotFound(f"deployment {current.name!r} has no revision {wanted}; see `keel deploy show "
                           f"{current.name} --history`", field="to_revision")
        return _deployment(row, 0)

    def _change(self, name: str, build: Build, updated_by: str | None) -> Deployment:
        with self._turn:
            return self._change_now(name, build, updated_by)

    def _change_now(self, name: str, build: Build, updated_by: str | None) -> Deployment:
        for attempt in range(_ATTEMPTS):
            with self.db.read() as conn:
                latest, current = self._current(conn, name)
                new = build(conn, current)
            if new is None:
                assert current is not None
                return current
            revision = latest + 1
            edges = self._lineage(new, revision) if new.action != "delete" else [
                ("deployment", name, "deleted_in", "deployment_revision", f"{name}#{revision}")]
            try:
                with self.db.write() as conn:
                    return self._insert(conn, new, revision, updated_by or self.user, edges,
                                        current.created_at if current is not None else 0)
            except IntegrityError:  # another change took this revision: build again on top of it
                time.sleep(random.uniform(0, min(0.1, 0.002 * 2**attempt)))
        raise Conflict(f"deployment {name!r}: other changes kept taking the next revision; try again", field="name")

    def _insert(self, conn: Connection, d: Deployment, revision: int, by: str,
                edges: list[tuple[str, str, str, str, str]], created_at: int) -> Deployment:
        now = _now()
        conn.execute(insert(deployment_revisions).values(
            project=self.project, name=d.name, revision=revision, action=d.action,
            spec=orjson.dumps(_spec(d)).decode(), created_by=by, created_at=now))
        for edge in edges:
            record_edge(conn, self.project, Edge(*edge, created_at=now))
        return replace(d, revision=revision, created_at=created_at or now, updated_at=now, updated_by=by)

    def _lineage(self, d: Deployment, revision: int) -> list[tuple[str, str, str, str, str]]:
        """Edges of a revision; alias routes are resolved to the version they point at now."""
        rev_id = f"{d.name}#{revision}"
        edges = [("deployment", d.name, "revised_to", "deployment_revision", rev_id)]
        for relation, group, field in (("serves", d.routes, "routes"), ("shadows", d.shadows, "shadows")):
            for route in group:
                version = self._resolve(route, field)
                edges.append(("deployment_revision", rev_id, relation, "model_version", f"{route.model}/{version}"))
        return edges

    def _resolve(self, route: Route, field: str) -> int:
        try:
            if route.alias is not None:
                return self.registry.get_model_version_by_alias(route.model, route.alias).version
            assert route.version is not None
            return self.registry.get_model_version(route.model, route.version).version
        except NotFound as exc:
            raise NotFound(f"{field}: {route.target} is not in the registry ({exc.message}); register it or fix "
                           "the route", field=field) from None

    # -- reads -----------------------------------------------------------------------------------------------------
    def get_deployment(self, name: str, revision: int | None = None) -> Deployment:
        """The latest revision, or the given one (of the deployment as it exists now)."""
        number = None if revision is None else _check_revision(revision, "revision")
        with self.db.read() as conn:
            current = self._current(conn, name)[1]
            if current is None:
                raise _missing(name)
            if number is None:
                return current
            for d in self._history(conn, name, current.created_at):
                if d.revision == number:
                    return d
        raise NotFound(f"deployment {name!r} has no revision {number}; see `keel deploy show {name} --history`",
                       field="revision")

    def list_deployments(self) -> list[Deployment]:
        """The latest revision of every deployment, by name."""
        latest = select(_D.name, func.max(_D.revision).label("rev")).where(
            _D.project == self.project).group_by(_D.name).subquery()
        created = select(_D.name, func.max(_D.revision).label("rev")).where(
            _D.project == self.project, _D.action == "create").group_by(_D.name).subquery()
        first = deployment_revisions.alias("first")
        stmt = (select(deployment_revisions, first.c.created_at.label("first_at"))
                .join(latest, (latest.c.name == _D.name) & (latest.c.rev == _D.revision))
                .join(created, created.c.name == _D.name)
                .join(first, (first.c.project == self.project) & (first.c.name == _D.name)
                      & (first.c.revision == created.c.rev))
                .where(_D.project == self.project, _D.action != "delete").order_by(_D.name))
        with self.db.read() as conn:
            return [_deployment(row, row.first_at) for row in conn.execute(stmt)]

    def deployment_history(self, name: str) -> list[Deployment]:
        """Every revision since the deployment was created, newest first."""
        with self.db.read() as conn:
            current = self._current(conn, name)[1]
            if current is None:
                raise _missing(name)
            return self._history(conn, name, current.created_at)

    def _named(self, name: str) -> tuple[Any, Any]:
        return _D.project == self.project, _D.name == check_deployment_name(name)

    def _created(self, conn: Connection, name: str) -> tuple[int, int]:
        """Revision and time of the create that started the deployment as it exists now."""
        row = conn.execute(select(_D.revision, _D.created_at).where(*self._named(name), _D.action == "create")
                           .order_by(_D.revision.desc()).limit(1)).one()
        return int(row.revision), int(row.created_at)

    def _current(self, conn: Connection, name: str) -> tuple[int, Deployment | None]:
        """The highest revision number used for ``name``, and the live deployment (None if absent or deleted)."""
        row = conn.execute(select(deployment_revisions).where(*self._named(name))
                           .order_by(_D.revision.desc()).limit(1)).first()
        if row is None:
            return 0, None
        if row.action == "delete":
            return int(row.revision), None
        return int(row.revision), _deployment(row, self._created(conn, name)[1])

    def _history(self, conn: Connection, name: str, created_at: int) -> list[Deployment]:
        first = self._created(conn, name)[0]
        rows = conn.execute(select(deployment_revisions).where(*self._named(name), _D.revision >= first)
                            .order_by(_D.revision.desc()))
        return [_deployment(row, created_at) for row in rows]


def _deployment(row: Any, created_at: int) -> Deployment:
    spec = orjson.loads(row.spec)
    return deployment_from_dict({**spec, "name": row.name, "revision": row.revision, "action": row.action,
                                 "updated_by": row.created_by, "updated_at": row.created_at,
                                 "created_at": created_at})
