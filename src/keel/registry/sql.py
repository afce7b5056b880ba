"""The model registry on SQLAlchemy (SQLite or PostgreSQL): registered models, versions, tags, stages, aliases.

Creating a version records lineage: run → model version (``produced``) when the run is known, and logged model →
model version (``registered_as``) when the source is ``models:/<model_id>``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, String, delete, func, insert, literal, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from keel.errors import AlreadyExists, InvalidInput, NotFound
from keel.registry.entities import (
    ModelVersion,
    ModelVersionStatus,
    RegisteredModel,
    Stage,
    check_alias,
    check_model_name,
    check_version,
)
from keel.registry.search import parse_order_by, parse_registry_filter, to_condition
from keel.store import Database
from keel.store.lineage import Edge, record_edge
from keel.store.tables import (
    lineage_edges,
    logged_models,
    model_version_tags,
    model_versions,
    registered_model_aliases,
    registered_model_tags,
    registered_models,
)
from keel.tracking.search_sql import decode_page_token, encode_page_token
from keel.tracking.validation import check_key, check_tag_value

__all__ = ["SqlRegistryStore"]

_RM, _MV = registered_models.c, model_versions.c
_RM_ORDER = {"name": _RM.name, "creation_timestamp": _RM.creation_timestamp,
             "last_updated_timestamp": _RM.last_updated_timestamp, "timestamp": _RM.last_updated_timestamp}
_MV_COLUMNS = {"name": _MV.name, "version_number": _MV.version, "run_id": _MV.run_id, "source_path": _MV.source,
               "current_stage": _MV.current_stage, "model_id": _MV.model_id}
_MV_ORDER = {"name": _MV.name, "version_number": _MV.version, "creation_timestamp": _MV.creation_timestamp,
             "last_updated_timestamp": _MV.last_updated_timestamp, "timestamp": _MV.creation_timestamp}
_MAX_RESULTS = 200_000


def _now() -> int:
    return int(time.time() * 1000)


class SqlRegistryStore:
    """:class:`~keel.registry.repository.RegistryRepository` over a :class:`~keel.store.Database`."""

    def __init__(self, db: Database, project: str = "default") -> None:
        self.db = db
        self.project = project
        self._insert = sqlite.insert if db.is_sqlite else postgresql.insert

    # -- registered models ---------------------------------------------------------------------------------------
    def create_registered_model(self, name: str, tags: Mapping[str, str] | None = None,
                                description: str | None = None) -> RegisteredModel:
        """Register a new model name (no versions yet)."""
        check_model_name(name)
        tag_rows = [{"name": name, "key": check_key(k, "tag"), "value": check_tag_value(k, v)}
                    for k, v in (tags or {}).items()]
        now = _now()
        try:
            with self.db.write() as conn:
                conn.execute(insert(registered_models).values(
                    name=name, project=self.project, description=description, creation_timestamp=now,
                    last_updated_timestamp=now))
                if tag_rows:
                    conn.execute(insert(registered_model_tags), tag_rows)
        except IntegrityError as exc:
            raise AlreadyExists(f"Registered Model (name={name}) already exists (names are unique across projects); "
                                "pick another name or add a version to it") from exc
        return self.get_registered_model(name)

    def get_registered_model(self, name: str) -> RegisteredModel:
        """The registered model with its tags, aliases and latest version per stage."""
        with self.db.read() as conn:
            return self._registered(conn, [self._require_model(conn, name)])[0]

    def rename_registered_model(self, name: str, new_name: str) -> RegisteredModel:
        """Give a model a new, unused name; its versions, tags and aliases follow."""
        check_model_name(new_name, "new_name")
        try:
            with self.db.write() as conn:
                self._require_model(conn, name)
                conn.execute(update(registered_models).where(_RM.name == name)
                             .values(name=new_name, last_updated_timestamp=_now()))
                le = lineage_edges.c
                for end in ("src", "dst"):
                    kind, ident = le[f"{end}_kind"], le[f"{end}_id"]
                    renamed = literal(new_name, String).concat(func.substr(ident, len(name) + 1))
                    conn.execute(update(lineage_edges).where(
                        kind == "model_version", func.substr(ident, 1, len(name) + 1) == f"{name}/")
                        .values({ident: renamed}))
        except IntegrityError as exc:
            raise AlreadyExists(f"Registered Model (name={new_name}) already exists; pick another name") from exc
        return self.get_registered_model(new_name)

    def update_registered_model(self, name: str, description: str | None) -> RegisteredModel:
        """Change a model's description."""
        with self.db.write() as conn:
            self._require_model(conn, name)
            conn.execute(update(registered_models).where(_RM.name == name)
                         .values(description=description, last_updated_timestamp=_now()))
        return self.get_registered_model(name)

    def delete_registered_model(self, name: str) -> None:
        """Delete a model with all its versions, tags and aliases."""
        with self.db.write() as conn:
            self._require_model(conn, name)
            conn.execute(delete(registered_models).where(_RM.name == name))

    def search_registered_models(self, filter_string: str | None = None, max_results: int = 100,
                                 order_by: Sequence[str] | None = None,
                                 page_token: str | None = None) -> tuple[list[RegisteredModel], str | None]:
        """Models matching ``name = / LIKE / ILIKE`` and ``tags.<k>`` clauses, ordered and paged."""
        _check_max_results(max_results)
        keyed = {"tag": (registered_model_tags, registered_model_tags.c.name == _RM.name)}
        stmt = select(registered_models).where(_RM.project == self.project)
        for clause in parse_registry_filter(filter_string, ("name",)):
            stmt = stmt.where(to_condition(clause, {"name": _RM.name}, keyed))
        offset = decode_page_token(page_token)
        stmt = stmt.order_by(*parse_order_by(order_by, _RM_ORDER), _RM.name.asc())
        with self.db.read() as conn:
            rows = conn.execute(stmt.limit(max_results + 1).offset(offset)).all()
            found = self._registered(conn, rows[:max_results])
        return found, encode_page_token(offset + max_results) if len(rows) > max_results else None

    def set_registered_model_tag(self, name: str, key: str, value: str) -> None:
        """Set (or overwrite) a tag on a model."""
        check_key(key, "tag")
        value = check_tag_value(key, value)
        with self.db.write() as conn:
            self._require_model(conn, name)
            stmt = self._insert(registered_model_tags).values(name=name, key=key, value=value)
            conn.execute(stmt.on_conflict_do_update(index_elements=["name", "key"], set_={"value": value}))

    def delete_registered_model_tag(self, name: str, key: str) -> None:
        """Remove a tag from a model."""
        with self.db.write() as conn:
            self._require_model(conn, name)
            gone = conn.execute(delete(registered_model_tags).where(
                registered_model_tags.c.name == name, registered_model_tags.c.key == key))
            if gone.rowcount == 0:
                raise NotFound(f"tag {key!r} not found on registered model {name!r}")

    # -- aliases ---------------------------------------------------------------------------------------------------
    def set_registered_model_alias(self, name: str, alias: str, version: int | str) -> None:
        """Point ``alias`` at a version (moving it if it pointed elsewhere)."""
        check_alias(alias)
        number = check_version(version)
        with self.db.write() as conn:
            self._require_version(conn, name, number)
            stmt = self._insert(registered_model_aliases).values(name=name, alias=alias, version=number)
            conn.execute(stmt.on_conflict_do_update(index_elements=["name", "alias"], set_={"version": number}))

    def delete_registered_model_alias(self, name: str, alias: str) -> None:
        """Remove an alias."""
        check_alias(alias)
        with self.db.write() as conn:
            self._require_model(conn, name)
            ra = registered_model_aliases.c
            if conn.execute(delete(registered_model_aliases).where(ra.name == name, ra.alias == alias)).rowcount == 0:
                raise NotFound(f"alias {alias!r} not found on registered model {name!r}")

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        """The version an alias points at."""
        check_alias(alias)
        ra = registered_model_aliases.c
        with self.db.read() as conn:
            self._require_model(conn, name)
            number = conn.execute(select(ra.version).where(ra.name == name, ra.alias == alias)).scalar()
            if number is None:
                raise NotFound(f"Registered model alias {alias} not found on model {name!r}; set it with "
                               "set_registered_model_alias")
            return self._versions(conn, [self._require_version(conn, name, number)])[0]

    # -- versions --------------------------------------------------------------------------------------------------
    def create_model_version(self, name: str, source: str | None, run_id: str | None = None,
                             tags: Mapping[str, str] | None = None, run_link: str | None = None,
                             description: str | None = None, model_id: str | None = None,
                             user_id: str | None = None, signature: str | None = None) -> ModelVersion:
        """Add the next version of a model; it is READY at once."""
        tag_map = {check_key(k, "tag"): check_tag_value(k, v) for k, v in (tags or {}).items()}
        model_id = model_id or _model_id_of(source)
        now = _now()
        with self.db.write() as conn:
            self._require_model(conn, name, lock=True)
            if model_id is not None:
                logged = conn.execute(select(logged_models.c.source_run_id).where(
                    logged_models.c.model_id == model_id)).first()
                if logged is None:
                    raise NotFound(f"logged model {model_id!r} does not exist; log the model before registering it")
                run_id = run_id or logged.source_run_id
            number = (conn.execute(select(func.max(_MV.version)).where(_MV.name == name)).scalar() or 0) + 1
            conn.execute(insert(model_versions).values(
                name=name, version=number, project=self.project, source=source, run_id=run_id, run_link=run_link,
                model_id=model_id, user_id=user_id, status=ModelVersionStatus.READY, description=description,
                current_stage=Stage.NONE, signature=signature, creation_timestamp=now, last_updated_timestamp=now))
            if tag_map:
                conn.execute(insert(model_version_tags), [{"name": name, "version": number, "key": k, "value": v}
                                                          for k, v in tag_map.items()])
            conn.execute(update(registered_models).where(_RM.name == name).values(last_updated_timestamp=now))
            self._link(conn, run_id, model_id, f"{name}/{number}", now)
        return self.get_model_version(name, number)

    def _link(self, conn: Connection, run_id: str | None, model_id: str | None, version_id: str, now: int) -> None:
        edges = [("run", run_id, "produced"), ("logged_model", model_id, "registered_as")]
        for kind, ident, relation in edges:
            if ident:
                conn.execute(self._insert(lineage_edges).values(
                    project=self.project, src_kind=kind, src_id=ident, relation=relation,
                    dst_kind="model_version", dst_id=version_id, created_at=now).on_conflict_do_nothing())

    def get_model_version(self, name: str, version: int | str) -> ModelVersion:
        """One version with its tags and aliases."""
        with self.db.read() as conn:
            return self._versions(conn, [self._require_version(conn, name, check_version(version))])[0]

    def update_model_version(self, name: str, version: int | str, description: str | None) -> ModelVersion:
        """Change a version's description."""
        number = check_version(version)
        with self.db.write() as conn:
            self._require_version(conn, name, number)
            conn.execute(update(model_versions).where(_MV.name == name, _MV.version == number)
                         .values(description=description, last_updated_timestamp=_now()))
        return self.get_model_version(name, number)

    def delete_model_version(self, name: str, version: int | str) -> None:
        """Delete a version (its number is never reused) and the aliases pointing at it."""
        number = check_version(version)
        now = _now()
        with self.db.write() as conn:
            self._require_version(conn, name, number)
            conn.execute(update(model_versions).where(_MV.name == name, _MV.version == number)
                         .values(deleted_timestamp=now, last_updated_timestamp=now))
            ra = registered_model_aliases.c
            conn.execute(delete(registered_model_aliases).where(ra.name == name, ra.version == number))
            conn.execute(delete(model_version_tags).where(model_version_tags.c.name == name,
                                                          model_version_tags.c.version == number))
            conn.execute(update(registered_models).where(_RM.name == name).values(last_updated_timestamp=now))

    def transition_model_version_stage(self, name: str, version: int | str, stage: str,
                                       archive_existing_versions: bool = False) -> ModelVersion:
        """Move a version to a stage; optionally archive the others in Staging/Production."""
        number, stage = check_version(version), Stage.canonical(stage)
        if archive_existing_versions and stage not in (Stage.STAGING, Stage.PRODUCTION):
            raise InvalidInput(f"archive_existing_versions: only valid for Staging or Production, not {stage}",
                               field="archive_existing_versions")
        now = _now()
        with self.db.write() as conn:
            self._require_version(conn, name, number)
            if archive_existing_versions:
                conn.execute(update(model_versions).where(
                    _MV.name == name, _MV.version != number, _MV.current_stage == stage,
                    _MV.deleted_timestamp.is_(None)).values(current_stage=Stage.ARCHIVED, last_updated_timestamp=now))
            conn.execute(update(model_versions).where(_MV.name == name, _MV.version == number)
                         .values(current_stage=stage, last_updated_timestamp=now))
        return self.get_model_version(name, number)

    def set_model_version_tag(self, name: str, version: int | str, key: str, value: str) -> None:
        """Set (or overwrite) a tag on a version."""
        number = check_version(version)
        check_key(key, "tag")
        value = check_tag_value(key, value)
        with self.db.write() as conn:
            self._require_version(conn, name, number)
            stmt = self._insert(model_version_tags).values(name=name, version=number, key=key, value=value)
            conn.execute(stmt.on_conflict_do_update(index_elements=["name", "version", "key"], set_={"value": value}))

    def delete_model_version_tag(self, name: str, version: int | str, key: str) -> None:
        """Remove a tag from a version."""
        number = check_version(version)
        mt = model_version_tags.c
        with self.db.write() as conn:
            self._require_version(conn, name, number)
            gone = conn.execute(delete(model_version_tags).where(mt.name == name, mt.version == number, mt.key == key))
            if gone.rowcount == 0:
                raise NotFound(f"tag {key!r} not found on version {number} of registered model {name!r}")

    def search_model_versions(self, filter_string: str | None = None, max_results: int = 10_000,
                              order_by: Sequence[str] | None = None,
                              page_token: str | None = None) -> tuple[list[ModelVersion], str | None]:
        """Versions matching clauses on name, run_id, source_path, version_number, model_id and tags."""
        _check_max_results(max_results)
        on = (model_version_tags.c.name == _MV.name) & (model_version_tags.c.version == _MV.version)
        stmt = select(model_versions).where(_MV.deleted_timestamp.is_(None), _MV.project == self.project)
        for clause in parse_registry_filter(filter_string, tuple(_MV_COLUMNS)):
            stmt = stmt.where(to_condition(clause, _MV_COLUMNS, {"tag": (model_version_tags, on)}))
        offset = decode_page_token(page_token)
        stmt = stmt.order_by(*parse_order_by(order_by, _MV_ORDER), _MV.name.asc(), _MV.version.desc())
        with self.db.read() as conn:
            rows = conn.execute(stmt.limit(max_results + 1).offset(offset)).all()
            found = self._versions(conn, rows[:max_results])
        return found, encode_page_token(offset + max_results) if len(rows) > max_results else None

    def get_latest_versions(self, name: str, stages: Sequence[str] | None = None) -> list[ModelVersion]:
        """The highest version in each stage (every stage when ``stages`` is empty)."""
        wanted = [Stage.canonical(s) for s in stages or []]
        with self.db.read() as conn:
            self._require_model(conn, name)
            return self._latest(conn, [name], wanted)[name]

    def record_promotion(self, name: str, version: int | str, alias: str, promoted: bool, decided_at: int) -> None:
        """Record a gate decision as a lineage edge ``model_version`` → ``alias`` (promoted_to / promotion_refused);
        a repeated decision refreshes the edge's time."""
        number = check_version(version)
        check_alias(alias)
        edge = Edge("model_version", f"{name}/{number}", "promoted_to" if promoted else "promotion_refused",
                    "alias", f"{name}@{alias}", decided_at)
        with self.db.write() as conn:
            self._require_version(conn, name, number)
            record_edge(conn, self.project, edge)

    def get_model_version_download_uri(self, name: str, version: int | str) -> str:
        """Where the version's files are: its source, or for ``models:/<model_id>`` the logged model's artifact
        location (a logical path in the artifact store, e.g. ``0/models/m-…/artifacts``)."""
        mv = self.get_model_version(name, version)
        if mv.model_id and (mv.source or "").startswith("models:/"):
            with self.db.read() as conn:
                location = conn.execute(select(logged_models.c.artifact_location).where(
                    logged_models.c.model_id == mv.model_id)).scalar()
            if location is not None:
                return str(location)
        return mv.source or ""

    # -- hydration ---------------------------------------------------------------------------------------------------
    def _require_model(self, conn: Connection, name: str, lock: bool = False) -> Any:
        check_model_name(name)
        stmt = select(registered_models).where(_RM.name == name, _RM.project == self.project)
        row = conn.execute(stmt.with_for_update() if lock and not self.db.is_sqlite else stmt).first()
        if row is None:
            raise NotFound(f"Registered Model with name={name} not found")
        return row

    def _require_version(self, conn: Connection, name: str, number: int) -> Any:
        self._require_model(conn, name)
        row = conn.execute(select(model_versions).where(_MV.name == name, _MV.version == number,
                                                        _MV.deleted_timestamp.is_(None))).first()
        if row is None:
            raise NotFound(f"Model Version (name={name}, version={number}) not found")
        return row

    def _versions(self, conn: Connection, rows: Sequence[Any]) -> list[ModelVersion]:
        names = list({r.name for r in rows})
        if not names:
            return []
        tags: dict[tuple[str, int], dict[str, str]] = {}
        mt = model_version_tags.c
        for n, v, k, val in conn.execute(select(mt.name, mt.version, mt.key, mt.value).where(mt.name.in_(names))):
            tags.setdefault((n, v), {})[k] = val or ""
        aliases: dict[tuple[str, int], list[str]] = {}
        ra = registered_model_aliases.c
        for n, a, v in conn.execute(select(ra.name, ra.alias, ra.version).where(ra.name.in_(names))
                                    .order_by(ra.alias)):
            aliases.setdefault((n, v), []).append(a)
        return [ModelVersion(
            r.name, r.version, r.creation_timestamp, r.last_updated_timestamp, r.source, r.run_id, r.model_id,
            r.current_stage, r.status, r.status_message, r.description, r.user_id, r.run_link, r.signature,
            tags.get((r.name, r.version), {}), aliases.get((r.name, r.version), [])) for r in rows]

    def _latest(self, conn: Connection, names: list[str], stages: list[str]) -> dict[str, list[ModelVersion]]:
        stmt = select(model_versions).where(_MV.name.in_(names), _MV.deleted_timestamp.is_(None))
        if stages:
            stmt = stmt.where(_MV.current_stage.in_(stages))
        best: dict[tuple[str, str], Any] = {}
        for row in conn.execute(stmt):
            key = (row.name, row.current_stage)
            if key not in best or row.version > best[key].version:
                best[key] = row
        out: dict[str, list[ModelVersion]] = {n: [] for n in names}
        for mv in self._versions(conn, sorted(best.values(), key=lambda r: r.version)):
            out[mv.name].append(mv)
        return out

    def _registered(self, conn: Connection, rows: Sequence[Any]) -> list[RegisteredModel]:
        names = [r.name for r in rows]
        if not names:
            return []
        tags: dict[str, dict[str, str]] = {n: {} for n in names}
        rt = registered_model_tags.c
        for n, k, v in conn.execute(select(rt.name, rt.key, rt.value).where(rt.name.in_(names))):
            tags[n][k] = v or ""
        aliases: dict[str, dict[str, int]] = {n: {} for n in names}
        ra = registered_model_aliases.c
        for n, a, v in conn.execute(select(ra.name, ra.alias, ra.version).where(ra.name.in_(names))):
            aliases[n][a] = v
        latest = self._latest(conn, names, [])
        return [RegisteredModel(r.name, r.creation_timestamp, r.last_updated_timestamp, r.description, tags[r.name],
                                aliases[r.name], latest[r.name]) for r in rows]


def _model_id_of(source: str | None) -> str | None:
    """The logged model id in a ``models:/m-<hex>`` source, else None."""
    if source and source.startswith("models:/m-"):
        candidate = source.removeprefix("models:/").split("/", 1)[0]
        return candidate if len(candidate) <= 64 else None
    return None


def _check_max_results(max_results: int) -> None:
    if isinstance(max_results, bool) or not isinstance(max_results, int) or not 0 < max_results <= _MAX_RESULTS:
        raise InvalidInput(f"max_results: must be between 1 and {_MAX_RESULTS}, got {max_results!r}",
                           field="max_results")
