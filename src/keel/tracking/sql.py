"""The tracking repository on SQLAlchemy (SQLite or PostgreSQL)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, delete, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from keel.errors import AlreadyExists, Conflict, InvalidInput, NotFound
from keel.store import Database
from keel.store.tables import (
    experiment_tags,
    experiments,
    latest_metrics,
    lineage_edges,
    metric_batches,
    metric_chunks,
    run_inputs,
    runs,
)
from keel.store.tables import params as params_table
from keel.store.tables import tags as tags_table
from keel.tracking import search, search_sql
from keel.tracking.entities import (
    DatasetInput,
    Experiment,
    LifecycleStage,
    Metric,
    Run,
    RunInfo,
    RunStatus,
    ViewType,
)
from keel.tracking.experiment_search import experiment_filter
from keel.tracking.points import MetricPoints, latest_per_key, merge_chunks, pack_chunk
from keel.tracking.repository import MetricColumns
from keel.tracking.validation import (
    MAX_COLUMNAR_POINTS,
    check_experiment_name,
    check_key,
    check_param_value,
    check_run_id,
    check_tag_value,
)

__all__ = ["SqlTrackingStore", "now_ms"]

_NAN = float("nan")


def now_ms() -> int:
    """Current time in epoch milliseconds."""
    return int(time.time() * 1000)


class SqlTrackingStore:
    """:class:`~keel.tracking.repository.TrackingRepository` over a :class:`~keel.store.Database`."""

    def __init__(self, db: Database, project: str = "default") -> None:
        self.db = db
        self.project = project
        self._insert = sqlite.insert if db.is_sqlite else postgresql.insert

    def _visible(self) -> ColumnElement[bool]:
        """Experiments of this project, and the shared ``Default`` experiment (id 0) where runs go unless told;
        runs are always of this project only."""
        return or_(experiments.c.project == self.project, experiments.c.experiment_id == 0)

    # -- experiments -------------------------------------------------------------------------------------------
    def create_experiment(self, name: str, artifact_location: str | None = None,
                          tags: Mapping[str, str] | None = None) -> str:
        """Create an experiment; its name must be unused (deleted ones included)."""
        check_experiment_name(name)
        now = now_ms()
        try:
            with self.db.write() as conn:
                exp_id = conn.execute(insert(experiments).values(
                    project=self.project, name=name, artifact_location=artifact_location,
                    lifecycle_stage=LifecycleStage.ACTIVE, creation_time=now, last_update_time=now,
                ).returning(experiments.c.experiment_id)).scalar_one()
                if artifact_location is None:
                    conn.execute(update(experiments).where(experiments.c.experiment_id == exp_id)
                                 .values(artifact_location=str(exp_id)))
                for key, value in (tags or {}).items():
                    conn.execute(insert(experiment_tags).values(
                        experiment_id=exp_id, key=check_key(key, "tag"), value=check_tag_value(key, value)))
        except IntegrityError as exc:
            raise AlreadyExists(f"experiment {name!r} already exists (names are unique across projects); "
                                f"pick another name") from exc
        return str(exp_id)

    def get_experiment(self, experiment_id: str) -> Experiment:
        """The experiment with this id."""
        exp_id = _experiment_id(experiment_id)
        with self.db.read() as conn:
            row = conn.execute(select(experiments).where(experiments.c.experiment_id == exp_id,
                                                         self._visible())).first()
            if row is None:
                raise NotFound(f"experiment {experiment_id!r} does not exist")
            return self._experiment(conn, row)

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        """The experiment with this name, or None."""
        with self.db.read() as conn:
            row = conn.execute(select(experiments).where(experiments.c.name == name, self._visible())).first()
            return None if row is None else self._experiment(conn, row)

    def search_experiments(self, view_type: str = ViewType.ACTIVE_ONLY, max_results: int = 1000,
                           filter_string: str | None = None, order_by: Sequence[str] | None = None,
                           page_token: str | None = None) -> tuple[list[Experiment], str | None]:
        """Experiments matching a filter on ``name`` or tags, ordered by name/id/times."""
        offset = search_sql.decode_page_token(page_token)
        stages = search_sql.lifecycle_condition(experiments.c.lifecycle_stage, view_type, "view_type")
        stmt = select(experiments).where(stages, self._visible())
        stmt = experiment_filter(stmt, filter_string, order_by)
        with self.db.read() as conn:
            rows = conn.execute(stmt.limit(max_results + 1).offset(offset)).all()
            found = [self._experiment(conn, row) for row in rows[:max_results]]
        token = search_sql.encode_page_token(offset + max_results) if len(rows) > max_results else None
        return found, token

    def delete_experiment(self, experiment_id: str) -> None:
        """Soft-delete an experiment and its runs."""
        self._set_experiment_stage(experiment_id, LifecycleStage.DELETED)

    def restore_experiment(self, experiment_id: str) -> None:
        """Undo :meth:`delete_experiment`."""
        self._set_experiment_stage(experiment_id, LifecycleStage.ACTIVE)

    def rename_experiment(self, experiment_id: str, new_name: str) -> None:
        """Give an experiment a new, unused name."""
        check_experiment_name(new_name)
        try:
            with self.db.write() as conn:
                self._require_experiment(conn, experiment_id)
                conn.execute(update(experiments).where(experiments.c.experiment_id == _experiment_id(experiment_id))
                             .values(name=new_name, last_update_time=now_ms()))
        except IntegrityError as exc:
            raise AlreadyExists(f"experiment {new_name!r} already exists (names are unique across projects); "
                                f"pick another name") from exc

    def set_experiment_tag(self, experiment_id: str, key: str, value: str) -> None:
        """Set (or overwrite) a tag on an experiment."""
        check_key(key, "tag")
        value = check_tag_value(key, value)
        with self.db.write() as conn:
            self._require_experiment(conn, experiment_id)
            stmt = self._insert(experiment_tags).values(experiment_id=_experiment_id(experiment_id), key=key,
                                                        value=value)
            conn.execute(stmt.on_conflict_do_update(index_elements=["experiment_id", "key"],
                                                    set_={"value": stmt.excluded.value}))

    def _set_experiment_stage(self, experiment_id: str, stage: str) -> None:
        exp_id = _experiment_id(experiment_id)
        with self.db.write() as conn:
            self._require_experiment(conn, experiment_id)
            if exp_id == 0 and stage == LifecycleStage.DELETED:
                raise InvalidInput("experiment 0 (Default) cannot be deleted", field="experiment_id")
            now = now_ms()
            conn.execute(update(experiments).where(experiments.c.experiment_id == exp_id)
                         .values(lifecycle_stage=stage, last_update_time=now))
            conn.execute(update(runs).where(runs.c.experiment_id == exp_id).values(
                lifecycle_stage=stage, deleted_time=now if stage == LifecycleStage.DELETED else None))

    def _require_experiment(self, conn: Connection, experiment_id: str) -> Any:
        row = conn.execute(select(experiments).where(
            experiments.c.experiment_id == _experiment_id(experiment_id), self._visible())).first()
        if row is None:
            raise NotFound(f"experiment {experiment_id!r} does not exist")
        return row

    def _experiment(self, conn: Connection, row: Any) -> Experiment:
        tag_rows = conn.execute(select(experiment_tags.c.key, experiment_tags.c.value)
                                .where(experiment_tags.c.experiment_id == row.experiment_id)).all()
        return Experiment(str(row.experiment_id), row.name, row.artifact_location or str(row.experiment_id),
                          row.lifecycle_stage, row.creation_time, row.last_update_time,
                          {k: v for k, v in tag_rows})

    # -- runs --------------------------------------------------------------------------------------------------
    def create_run(self, experiment_id: str, user_id: str | None = None, start_time: int | None = None,
                   tags: Mapping[str, str] | None = None, run_name: str | None = None) -> Run:
        """Start a run in an active experiment."""
        run_id = uuid.uuid4().hex
        started = start_time or now_ms()
        tag_map = {check_key(k, "tag"): check_tag_value(k, v) for k, v in (tags or {}).items()}
        run_name = run_name or tag_map.get("mlflow.runName") or _random_name()
        tag_map["mlflow.runName"] = run_name
        with self.db.write() as conn:
            exp = self._require_experiment(conn, experiment_id)
            if exp.lifecycle_stage != LifecycleStage.ACTIVE:
                raise Conflict(f"experiment {experiment_id!r} is deleted; restore it to add runs")
            artifact_uri = f"{exp.artifact_location or exp.experiment_id}/{run_id}/artifacts"
            conn.execute(insert(runs).values(
                run_id=run_id, experiment_id=exp.experiment_id, project=self.project, name=run_name,
                user_id=user_id, status=RunStatus.RUNNING, start_time=started,
                artifact_uri=artifact_uri, lifecycle_stage=LifecycleStage.ACTIVE,
                parent_run_id=tag_map.get("mlflow.parentRunId")))
            if tag_map:
                conn.execute(insert(tags_table), [{"run_id": run_id, "key": k, "value": v} for k, v in tag_map.items()])
            parent = tag_map.get("mlflow.parentRunId")
            if parent:
                conn.execute(insert(lineage_edges).values(
                    project=self.project, src_kind="run", src_id=parent, relation="parent_of", dst_kind="run",
                    dst_id=run_id, created_at=now_ms()))
        # A new run holds exactly what was just written: no need to read it back.
        info = RunInfo(run_id, str(exp.experiment_id), run_name, user_id, RunStatus.RUNNING, started, None,
                       artifact_uri, LifecycleStage.ACTIVE)
        return Run(info, {}, {}, tag_map, [])

    def get_run(self, run_id: str) -> Run:
        """The run with its params, latest metrics, tags and inputs."""
        check_run_id(run_id)
        with self.db.read() as conn:
            row = conn.execute(select(runs).where(runs.c.run_id == run_id, runs.c.project == self.project)).first()
            if row is None:
                raise NotFound(f"run {run_id!r} does not exist")
            return self._hydrate(conn, [row])[0]

    def update_run(self, run_id: str, status: str | None = None, end_time: int | None = None,
                   run_name: str | None = None) -> RunInfo:
        """Change a run's status, end time or name."""
        values: dict[str, Any] = {}
        if status is not None:
            if status not in RunStatus.ALL:
                raise InvalidInput(f"status: {status!r} is not one of {sorted(RunStatus.ALL)}", field="status")
            values["status"] = status
            if status in RunStatus.TERMINAL:
                values["end_time"] = end_time or now_ms()
        if end_time is not None:
            values["end_time"] = end_time
        with self.db.write() as conn:
            self._require_run(conn, run_id, active=True)
            if run_name:
                values["name"] = run_name
                self._upsert_tags(conn, run_id, {"mlflow.runName": run_name})
            if values:
                conn.execute(update(runs).where(runs.c.run_id == run_id).values(**values))
            row = conn.execute(select(runs).where(runs.c.run_id == run_id)).one()
        return _run_info(row)

    def delete_run(self, run_id: str) -> None:
        """Soft-delete a run (it stays restorable)."""
        self._set_run_stage(run_id, LifecycleStage.DELETED, now_ms())

    def restore_run(self, run_id: str) -> None:
        """Undo :meth:`delete_run`."""
        self._set_run_stage(run_id, LifecycleStage.ACTIVE, None)

    def _set_run_stage(self, run_id: str, stage: str, deleted_time: int | None) -> None:
        with self.db.write() as conn:
            self._require_run(conn, run_id)
            conn.execute(update(runs).where(runs.c.run_id == run_id)
                         .values(lifecycle_stage=stage, deleted_time=deleted_time))

    def _require_run(self, conn: Connection, run_id: str, active: bool = False) -> Any:
        check_run_id(run_id)
        row = conn.execute(select(runs.c.run_id, runs.c.lifecycle_stage).where(
            runs.c.run_id == run_id, runs.c.project == self.project)).first()
        if row is None:
            raise NotFound(f"run {run_id!r} does not exist")
        if active and row.lifecycle_stage != LifecycleStage.ACTIVE:
            raise InvalidInput(f"run {run_id!r} is deleted; restore it before logging to it", field="run_id")
        return row

    # -- logging -----------------------------------------------------------------------------------------------
    def log_batch(self, run_id: str, metrics: Sequence[Metric] = (), params: Mapping[str, str] | None = None,
                  tags: Mapping[str, str] | None = None) -> None:
        """Log metrics, params and tags in one transaction, as MLflow's log-batch does."""
        param_map = {check_key(k, "param"): check_param_value(k, v) for k, v in (params or {}).items()}
        tag_map = {check_key(k, "tag"): check_tag_value(k, v) for k, v in (tags or {}).items()}
        points = MetricPoints.from_metrics(metrics)
        for key in set(points.keys):
            check_key(key, "metric")
        with self.db.write() as conn:
            self._require_run(conn, run_id, active=True)
            if param_map:
                self._insert_params(conn, run_id, param_map)
            if tag_map:
                self._upsert_tags(conn, run_id, tag_map)
            if len(points):
                self._insert_points(conn, run_id, points)

    def log_metric_columns(self, run_id: str, columns: MetricColumns, batch_id: str | None = None) -> int:
        """Store many points at once; a repeated ``batch_id`` is ignored (returns 0), so retries are safe."""
        points = columns if isinstance(columns, MetricPoints) else MetricPoints(
            list(columns.keys), list(columns.values), list(columns.timestamps), list(columns.steps))
        points.check_lengths()
        if len(points) > MAX_COLUMNAR_POINTS:
            raise InvalidInput(f"metrics: at most {MAX_COLUMNAR_POINTS} points per request, got {len(points)}",
                               field="metrics")
        for key in set(points.keys):
            check_key(key, "metric")
        with self.db.write() as conn:
            self._require_run(conn, run_id, active=True)
            if batch_id is not None:
                stmt = self._insert(metric_batches).values(run_id=run_id, batch_id=batch_id, points=len(points),
                                                           created_at=now_ms())
                fresh = conn.execute(stmt.on_conflict_do_nothing().returning(metric_batches.c.batch_id)).first()
                if fresh is None:
                    return 0
            self._insert_points(conn, run_id, points)
        return len(points)

    def _insert_points(self, conn: Connection, run_id: str, points: MetricPoints) -> None:
        groups = points.by_key()
        chunks = [pack_chunk(key, g) for key, g in groups.items()]
        conn.execute(insert(metric_chunks), [
            {"run_id": run_id, "key": c.key, "count": c.count, "min_step": c.min_step, "max_step": c.max_step,
             "data": c.data} for c in chunks])
        latest = [{"run_id": run_id, "key": k, "value": None if v != v else v, "timestamp": t, "step": s}
                  for k, (v, t, s) in latest_per_key(groups).items()]
        stmt = self._insert(latest_metrics)
        newer = (stmt.excluded.step > latest_metrics.c.step) | and_(
            stmt.excluded.step == latest_metrics.c.step, stmt.excluded.timestamp >= latest_metrics.c.timestamp)
        conn.execute(stmt.on_conflict_do_update(
            index_elements=["run_id", "key"],
            set_={"value": stmt.excluded.value, "timestamp": stmt.excluded.timestamp, "step": stmt.excluded.step},
            where=newer), latest)

    def _insert_params(self, conn: Connection, run_id: str, param_map: dict[str, str]) -> None:
        existing = dict(conn.execute(select(params_table.c.key, params_table.c.value).where(
            params_table.c.run_id == run_id, params_table.c.key.in_(list(param_map)))).all())
        for key, old in existing.items():
            if old != param_map[key]:
                raise InvalidInput(
                    f"param {key!r}: already logged with value {old!r}, cannot change it to {param_map[key]!r} "
                    "(params are immutable; use a new key or a new run)", field=f"params.{key}")
        fresh = [{"run_id": run_id, "key": k, "value": v} for k, v in param_map.items() if k not in existing]
        if fresh:
            conn.execute(insert(params_table), fresh)

    def _upsert_tags(self, conn: Connection, run_id: str, tag_map: Mapping[str, str]) -> None:
        stmt = self._insert(tags_table)
        conn.execute(stmt.on_conflict_do_update(index_elements=["run_id", "key"],
                                                set_={"value": stmt.excluded.value}),
                     [{"run_id": run_id, "key": k, "value": v} for k, v in tag_map.items()])
        if "mlflow.runName" in tag_map:
            conn.execute(update(runs).where(runs.c.run_id == run_id).values(name=tag_map["mlflow.runName"]))

    def delete_tag(self, run_id: str, key: str) -> None:
        """Remove a tag from a run."""
        with self.db.write() as conn:
            self._require_run(conn, run_id, active=True)
            gone = conn.execute(delete(tags_table).where(tags_table.c.run_id == run_id, tags_table.c.key == key))
            if gone.rowcount == 0:
                raise NotFound(f"tag {key!r} not found on run {run_id!r}")

    def log_inputs(self, run_id: str, datasets: Sequence[DatasetInput]) -> None:
        """Record datasets a run consumed (and a lineage edge dataset → run for each)."""
        with self.db.write() as conn:
            self._require_run(conn, run_id, active=True)
            for ds in datasets:
                stmt = self._insert(run_inputs).values(
                    run_id=run_id, name=ds.name, digest=ds.digest, source_type=ds.source_type, source=ds.source,
                    schema=ds.schema, profile=ds.profile, context=ds.context)
                conn.execute(stmt.on_conflict_do_nothing())
                edge = self._insert(lineage_edges).values(
                    project=self.project, src_kind="dataset", src_id=f"{ds.name}@{ds.digest}", relation="input_of",
                    dst_kind="run", dst_id=run_id, created_at=now_ms())
                conn.execute(edge.on_conflict_do_nothing())

    def get_metric_history(self, run_id: str, key: str, max_results: int | None = None,
                           page_token: str | None = None) -> tuple[list[Metric], str | None]:
        """Every point of one metric, ordered by step and time, paged."""
        offset = search_sql.decode_page_token(page_token)
        mc = metric_chunks.c
        stmt = select(mc.count, mc.data).where(mc.run_id == run_id, mc.key == key).order_by(mc.id)
        with self.db.read() as conn:
            self._require_run(conn, run_id)
            points = merge_chunks(key, conn.execute(stmt).tuples())
        if max_results is None:
            return points, None
        page = points[offset:offset + max_results]
        more = len(points) > offset + max_results
        return page, search_sql.encode_page_token(offset + max_results) if more else None

    # -- search ------------------------------------------------------------------------------------------------
    def search_runs(self, experiment_ids: Sequence[str], filter_string: str | None = None,
                    run_view_type: str = ViewType.ACTIVE_ONLY, max_results: int = 1000,
                    order_by: Sequence[str] | None = None,
                    page_token: str | None = None) -> tuple[list[Run], str | None]:
        """Runs matching MLflow's filter grammar, ordered and paged."""
        if not 0 < max_results <= 50_000:
            raise InvalidInput(f"max_results: must be between 1 and 50000, got {max_results}", field="max_results")
        filters = search.parse_filter(filter_string)
        order = search.parse_order_by(list(order_by or []))
        offset = search_sql.decode_page_token(page_token)
        exp_ids = [_experiment_id(e) for e in experiment_ids]
        stmt = search_sql.build_search_query(exp_ids, filters, order, run_view_type, max_results + 1, offset)
        stmt = stmt.where(runs.c.project == self.project)
        with self.db.read() as conn:
            rows = conn.execute(stmt).all()
            found = self._hydrate(conn, rows[:max_results])
        token = search_sql.encode_page_token(offset + max_results) if len(rows) > max_results else None
        return found, token

    def _hydrate(self, conn: Connection, rows: Sequence[Any]) -> list[Run]:
        ids = [r.run_id for r in rows]
        if not ids:
            return []
        by_run_params: dict[str, dict[str, str]] = {i: {} for i in ids}
        by_run_tags: dict[str, dict[str, str]] = {i: {} for i in ids}
        by_run_metrics: dict[str, dict[str, Metric]] = {i: {} for i in ids}
        by_run_inputs: dict[str, list[DatasetInput]] = {i: [] for i in ids}
        for rid, k, v in conn.execute(select(params_table.c.run_id, params_table.c.key, params_table.c.value)
                                      .where(params_table.c.run_id.in_(ids))):
            by_run_params[rid][k] = v
        tc = tags_table.c
        for rid, k, v in conn.execute(select(tc.run_id, tc.key, tc.value).where(tc.run_id.in_(ids))):
            by_run_tags[rid][k] = v
        lm = latest_metrics.c
        for rid, k, v, t, s in conn.execute(select(lm.run_id, lm.key, lm.value, lm.timestamp, lm.step)
                                            .where(lm.run_id.in_(ids))):
            by_run_metrics[rid][k] = Metric(k, _NAN if v is None else v, t, s)
        ri = run_inputs.c
        for r in conn.execute(select(run_inputs).where(ri.run_id.in_(ids))):
            by_run_inputs[r.run_id].append(DatasetInput(r.name, r.digest, r.source_type, r.source, r.schema,
                                                        r.profile, r.context))
        return [Run(_run_info(r), by_run_params[r.run_id], by_run_metrics[r.run_id], by_run_tags[r.run_id],
                    by_run_inputs[r.run_id]) for r in rows]



def _run_info(row: Any) -> RunInfo:
    return RunInfo(row.run_id, str(row.experiment_id), row.name, row.user_id, row.status, row.start_time,
                   row.end_time, row.artifact_uri or "", row.lifecycle_stage)


def _experiment_id(value: str | int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise InvalidInput(f"experiment_id: {value!r} is not a valid experiment id", field="experiment_id") from None


_ADJECTIVES = ("able", "bold", "calm", "deft", "eager", "fair", "glad", "keen", "lucid", "merry", "neat", "quick")
_NOUNS = ("otter", "heron", "lynx", "finch", "wolf", "crane", "seal", "hare", "ibis", "kite", "mole", "newt")


def _random_name() -> str:
    n = uuid.uuid4().int
    return f"{_ADJECTIVES[n % 12]}-{_NOUNS[(n >> 8) % 12]}-{(n >> 16) % 1000}"
