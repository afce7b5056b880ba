"""MLflow 3 logged models on SQLAlchemy: a model's own identity (``m-<32 hex>``), params, tags and status.

A logged model's files live beside its experiment's runs, at ``<experiment artifact location>/models/<model_id>/
artifacts`` in the artifact store; the run that produced it gets a lineage edge run → logged model.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from keel.errors import InvalidInput, NotFound
from keel.registry.entities import LoggedModel, LoggedModelStatus
from keel.registry.search import parse_registry_filter, to_condition
from keel.store import Database
from keel.store.tables import experiments, lineage_edges, logged_model_params, logged_model_tags, logged_models, runs
from keel.tracking.search_sql import decode_page_token, encode_page_token
from keel.tracking.validation import check_key, check_param_value, check_run_id, check_tag_value

__all__ = ["SqlLoggedModelStore", "new_model_id"]

_LM = logged_models.c
_COLUMNS = {"name": _LM.name, "model_id": _LM.model_id, "source_run_id": _LM.source_run_id, "status": _LM.status,
            "model_type": _LM.model_type, "creation_timestamp": _LM.creation_timestamp,
            "last_updated_timestamp": _LM.last_updated_timestamp}
_ORDER = {"name": _LM.name, "model_id": _LM.model_id, "creation_timestamp": _LM.creation_timestamp,
          "creation_time": _LM.creation_timestamp, "last_updated_timestamp": _LM.last_updated_timestamp}


def new_model_id() -> str:
    """A fresh logged model id, ``m-`` and 32 hex digits as MLflow makes them."""
    return f"m-{uuid.uuid4().hex}"


def _now() -> int:
    return int(time.time() * 1000)


class SqlLoggedModelStore:
    """:class:`~keel.registry.repository.LoggedModelRepository` over a :class:`~keel.store.Database`."""

    def __init__(self, db: Database, project: str = "default") -> None:
        self.db = db
        self.project = project

    def create_logged_model(self, experiment_id: str, name: str | None = None, source_run_id: str | None = None,
                            tags: Mapping[str, str] | None = None, params: Mapping[str, str] | None = None,
                            model_type: str | None = None) -> LoggedModel:
        """Create a PENDING logged model in an experiment; upload its files, then finalize it."""
        if name is not None and (not isinstance(name, str) or len(name) > 500):
            raise InvalidInput("name: a logged model name is a string of at most 500 characters", field="name")
        exp_id = _experiment_id(experiment_id)
        model_id, now = new_model_id(), _now()
        with self.db.write() as conn:
            exp = conn.execute(select(experiments.c.artifact_location).where(
                experiments.c.experiment_id == exp_id)).first()
            if exp is None:
                raise NotFound(f"experiment {experiment_id!r} does not exist")
            if source_run_id is not None:
                _require_run(conn, source_run_id)
            conn.execute(insert(logged_models).values(
                model_id=model_id, project=self.project, experiment_id=exp_id, name=name or "model",
                source_run_id=source_run_id, status=LoggedModelStatus.PENDING,
                artifact_location=f"{exp.artifact_location or exp_id}/models/{model_id}/artifacts",
                model_type=model_type, creation_timestamp=now, last_updated_timestamp=now))
            self._put(conn, logged_model_params, model_id, params or {}, check_param_value)
            self._put(conn, logged_model_tags, model_id, tags or {}, check_tag_value)
            if source_run_id:
                _edge(conn, self.project, source_run_id, model_id, now)
        return self.get_logged_model(model_id)

    def get_logged_model(self, model_id: str, allow_deleted: bool = False) -> LoggedModel:
        """A logged model with its params and tags."""
        with self.db.read() as conn:
            return self._hydrate(conn, [self._require(conn, model_id, allow_deleted)])[0]

    def finalize_logged_model(self, model_id: str, status: str) -> LoggedModel:
        """Mark the upload finished (``LOGGED_MODEL_READY``) or failed."""
        if status not in LoggedModelStatus.ALL:
            raise InvalidInput(f"status: {status!r} is not one of {', '.join(LoggedModelStatus.ALL)}", field="status")
        with self.db.write() as conn:
            self._require(conn, model_id)
            conn.execute(update(logged_models).where(_LM.model_id == model_id)
                         .values(status=status, last_updated_timestamp=_now()))
        return self.get_logged_model(model_id)

    def log_logged_model_params(self, model_id: str, params: Mapping[str, str]) -> None:
        """Add params (a key logged again keeps its first value only if equal)."""
        with self.db.write() as conn:
            self._require(conn, model_id)
            self._put(conn, logged_model_params, model_id, params, check_param_value)

    def set_logged_model_tags(self, model_id: str, tags: Mapping[str, str]) -> None:
        """Set (or overwrite) tags."""
        with self.db.write() as conn:
            self._require(conn, model_id)
            self._put(conn, logged_model_tags, model_id, tags, check_tag_value)

    def delete_logged_model_tag(self, model_id: str, key: str) -> None:
        """Remove a tag."""
        with self.db.write() as conn:
            self._require(conn, model_id)
            t = logged_model_tags.c
            if conn.execute(delete(logged_model_tags).where(t.model_id == model_id, t.key == key)).rowcount == 0:
                raise NotFound(f"tag {key!r} not found on logged model {model_id!r}")

    def delete_logged_model(self, model_id: str) -> None:
        """Soft-delete a logged model (``get`` with ``allow_deleted`` still finds it)."""
        with self.db.write() as conn:
            self._require(conn, model_id)
            conn.execute(update(logged_models).where(_LM.model_id == model_id)
                         .values(lifecycle_stage="deleted", last_updated_timestamp=_now()))

    def search_logged_models(self, experiment_ids: Sequence[str], filter_string: str | None = None,
                             max_results: int = 100, order_by: Sequence[tuple[str, bool]] | None = None,
                             page_token: str | None = None) -> tuple[list[LoggedModel], str | None]:
        """Active logged models of the experiments, filtered on attributes, ``tags.`` and ``params.``."""
        if isinstance(max_results, bool) or not isinstance(max_results, int) or not 0 < max_results <= 50_000:
            raise InvalidInput(f"max_results: must be between 1 and 50000, got {max_results!r}", field="max_results")
        stmt = select(logged_models).where(_LM.lifecycle_stage == "active",
                                           _LM.experiment_id.in_([_experiment_id(e) for e in experiment_ids]))
        keyed = {"tag": (logged_model_tags, logged_model_tags.c.model_id == _LM.model_id),
                 "param": (logged_model_params, logged_model_params.c.model_id == _LM.model_id)}
        for clause in parse_registry_filter(filter_string, tuple(_COLUMNS)):
            stmt = stmt.where(to_condition(clause, _COLUMNS, keyed))
        stmt = stmt.order_by(*[_order(field, asc) for field, asc in order_by or []],
                             _LM.creation_timestamp.desc(), _LM.model_id)
        offset = decode_page_token(page_token)
        with self.db.read() as conn:
            rows = conn.execute(stmt.limit(max_results + 1).offset(offset)).all()
            found = self._hydrate(conn, rows[:max_results])
        return found, encode_page_token(offset + max_results) if len(rows) > max_results else None

    def log_outputs(self, run_id: str, model_ids: Sequence[str]) -> None:
        """Record that a run produced these logged models (lineage run → logged model)."""
        now = _now()
        with self.db.write() as conn:
            _require_run(conn, run_id)
            for model_id in model_ids:
                self._require(conn, model_id)
                _edge(conn, self.project, run_id, model_id, now)

    def _put(self, conn: Connection, table: Any, model_id: str, values: Mapping[str, str], check: Any) -> None:
        rows = {check_key(k, "param" if table is logged_model_params else "tag"): check(k, v)
                for k, v in values.items()}
        if not rows:
            return
        conn.execute(delete(table).where(table.c.model_id == model_id, table.c.key.in_(list(rows))))
        conn.execute(insert(table), [{"model_id": model_id, "key": k, "value": v} for k, v in rows.items()])

    def _require(self, conn: Connection, model_id: str, allow_deleted: bool = False) -> Any:
        if not isinstance(model_id, str) or not model_id or len(model_id) > 64:
            raise InvalidInput(f"model_id: {model_id!r} is not a logged model id (m-<32 hex>)", field="model_id")
        row = conn.execute(select(logged_models).where(_LM.model_id == model_id)).first()
        if row is None or (row.lifecycle_stage != "active" and not allow_deleted):
            raise NotFound(f"Logged model with ID '{model_id}' not found")
        return row

    def _hydrate(self, conn: Connection, rows: Sequence[Any]) -> list[LoggedModel]:
        ids = [r.model_id for r in rows]
        params: dict[str, dict[str, str]] = {i: {} for i in ids}
        tags: dict[str, dict[str, str]] = {i: {} for i in ids}
        for table, target in ((logged_model_params, params), (logged_model_tags, tags)):
            for mid, k, v in conn.execute(select(table.c.model_id, table.c.key, table.c.value)
                                          .where(table.c.model_id.in_(ids))) if ids else ():
                target[mid][k] = v or ""
        return [LoggedModel(r.model_id, str(r.experiment_id), r.name, r.artifact_location, r.creation_timestamp,
                            r.last_updated_timestamp, r.status, r.status_message, r.source_run_id, r.model_type,
                            r.lifecycle_stage, params[r.model_id], tags[r.model_id]) for r in rows]


def _order(field: str, ascending: bool) -> Any:
    column = _ORDER.get(field.removeprefix("attributes.") if isinstance(field, str) else "")
    if column is None:
        raise InvalidInput(f"order_by: cannot order logged models by {field!r}; use one of {', '.join(_ORDER)}",
                           field="order_by")
    return column.asc() if ascending else column.desc()


def _edge(conn: Connection, project: str, run_id: str, model_id: str, now: int) -> None:
    le = lineage_edges.c
    exists = conn.execute(select(le.id).where(le.src_kind == "run", le.src_id == run_id, le.relation == "produced",
                                              le.dst_kind == "logged_model", le.dst_id == model_id)).first()
    if exists is None:
        conn.execute(insert(lineage_edges).values(project=project, src_kind="run", src_id=run_id,
                                                  relation="produced", dst_kind="logged_model", dst_id=model_id,
                                                  created_at=now))


def _require_run(conn: Connection, run_id: str) -> None:
    check_run_id(run_id)
    if conn.execute(select(runs.c.run_id).where(runs.c.run_id == run_id)).first() is None:
        raise NotFound(f"run {run_id!r} does not exist")


def _experiment_id(value: Any) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise InvalidInput(f"experiment_id: {value!r} is not a valid experiment id", field="experiment_id") from None
    if not 0 <= number < 2**31:
        raise InvalidInput(f"experiment_id: {value!r} is not a valid experiment id", field="experiment_id")
    return number
