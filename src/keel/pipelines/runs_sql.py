"""Pipeline runs, step runs and the step cache in the metadata store (SQLite or PostgreSQL)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import insert, select, update

from keel.errors import NotFound
from keel.store import Database
from keel.store.lineage import Edge, record_new_edges
from keel.store.tables import pipeline_runs, step_cache, step_runs

__all__ = ["PipelineRun", "SqlPipelineStore", "StepRun"]

_PR, _SR, _SC = pipeline_runs.c, step_runs.c, step_cache.c


@dataclass
class StepRun:
    """One step of a pipeline run: status (SUCCEEDED, FAILED, CACHED, SKIPPED), cache key and hit, attempts, the
    stored output (a ValueRef's JSON), the error, the log's digest, the step's tracking run, times (ms)."""

    node: str
    step: str
    status: str
    cache_key: str | None = None
    cache_hit: bool = False
    attempts: int = 0
    output: dict[str, Any] | None = None
    error: str | None = None
    log_digest: str | None = None
    tracking_run_id: str | None = None
    started_at: int | None = None
    ended_at: int | None = None

    @property
    def duration_ms(self) -> int | None:
        """How long it ran (None when it did not run)."""
        return None if self.started_at is None or self.ended_at is None else self.ended_at - self.started_at


@dataclass
class PipelineRun:
    """One run of a pipeline: status RUNNING / SUCCEEDED / FAILED, its parameters and steps, and the result."""

    id: str
    pipeline: str
    status: str
    params: dict[str, Any]
    executor: str
    started_at: int
    ended_at: int | None = None
    ref: str | None = None
    tracking_run_id: str | None = None
    resumed_from: str | None = None
    trigger: str | None = None
    error: str | None = None
    steps: list[StepRun] = field(default_factory=list)
    result: Any = None


class SqlPipelineStore:
    """Pipeline runs of one project over a :class:`~keel.store.Database`."""

    def __init__(self, db: Database, project: str = "default") -> None:
        self.db, self.project = db, project

    def create(self, run: PipelineRun) -> None:
        """Record a run as started."""
        with self.db.write() as conn:
            conn.execute(insert(pipeline_runs).values(
                id=run.id, project=self.project, pipeline=run.pipeline, ref=run.ref, status=run.status,
                params=json.dumps(run.params, default=str), executor=run.executor,
                tracking_run_id=run.tracking_run_id, resumed_from=run.resumed_from, trigger=run.trigger,
                started_at=run.started_at))

    def finish(self, run: PipelineRun) -> None:
        """Record a run's end (and its tracking run, started with its first executed step)."""
        with self.db.write() as conn:
            conn.execute(update(pipeline_runs).where(_PR.id == run.id).values(
                status=run.status, error=run.error, ended_at=run.ended_at, tracking_run_id=run.tracking_run_id))

    def record_steps(self, run_id: str, steps: Sequence[StepRun], cache: Sequence[tuple[str, str, str]],
                     edges: Sequence[Edge] = ()) -> None:
        """Store finished steps, new cache entries ``(key, step, output JSON)`` and their lineage (edges to or from
        this run's step runs, so all new), in one transaction."""
        if not steps and not cache and not edges:
            return
        with self.db.write() as conn:
            if steps:
                conn.execute(insert(step_runs), [_step_row(run_id, s) for s in steps])
            keys = [key for key, _, _ in cache]
            if keys:
                have = set(conn.execute(select(_SC.cache_key).where(
                    _SC.project == self.project, _SC.cache_key.in_(keys))).scalars())
                fresh = {key: (step, out) for key, step, out in cache if key not in have}
                if fresh:
                    conn.execute(insert(step_cache), [
                        {"project": self.project, "cache_key": key, "step": step, "outputs": out,
                         "pipeline_run_id": run_id, "created_at": _ms()} for key, (step, out) in fresh.items()])
            record_new_edges(conn, self.project, edges)  # every edge names a step run of this pipeline run

    def cached(self, keys: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Stored outputs by cache key, for those of ``keys`` in the cache."""
        found: dict[str, dict[str, Any]] = {}
        with self.db.read() as conn:
            for start in range(0, len(keys), 500):
                rows = conn.execute(select(_SC.cache_key, _SC.outputs).where(
                    _SC.project == self.project, _SC.cache_key.in_(keys[start:start + 500]))).all()
                found.update({key: json.loads(out) for key, out in rows})
        return found

    def get(self, run_id: str) -> PipelineRun:
        """One run with its steps (a unique id prefix works); NotFound naming it."""
        with self.db.read() as conn:
            rows = conn.execute(select(pipeline_runs).where(
                _PR.project == self.project, _PR.id.startswith(run_id, autoescape=True)).limit(2)).all()
            if len(rows) != 1:
                raise NotFound(f"pipeline run {run_id!r} does not exist; list them with `keel pipelines runs`"
                               if not rows else f"pipeline run id prefix {run_id!r} is ambiguous", field="run_id")
            run = _run(rows[0])
            steps = conn.execute(select(step_runs).where(_SR.pipeline_run_id == run.id)
                                 .order_by(_SR.started_at, _SR.node)).all()
        run.steps = [_step(r) for r in steps]
        return run

    def list(self, pipeline: str | None = None, limit: int = 50) -> list[PipelineRun]:
        """Runs, newest first (of one pipeline when given)."""
        query = select(pipeline_runs).where(_PR.project == self.project)
        if pipeline:
            query = query.where(_PR.pipeline == pipeline)
        with self.db.read() as conn:
            return [_run(r) for r in conn.execute(query.order_by(_PR.started_at.desc()).limit(limit)).all()]


def _step_row(run_id: str, s: StepRun) -> dict[str, Any]:
    return {"pipeline_run_id": run_id, "node": s.node, "step": s.step, "status": s.status, "cache_key": s.cache_key,
            "cache_hit": int(s.cache_hit), "attempts": s.attempts,
            "outputs": None if s.output is None else json.dumps(s.output), "error": s.error,
            "log_digest": s.log_digest, "tracking_run_id": s.tracking_run_id, "started_at": s.started_at,
            "ended_at": s.ended_at}


def _step(r: Any) -> StepRun:
    return StepRun(r.node, r.step, r.status, r.cache_key, bool(r.cache_hit), r.attempts,
                   json.loads(r.outputs) if r.outputs else None, r.error, r.log_digest, r.tracking_run_id,
                   r.started_at, r.ended_at)


def _run(r: Any) -> PipelineRun:
    return PipelineRun(r.id, r.pipeline, r.status, json.loads(r.params or "{}"), r.executor, r.started_at, r.ended_at,
                       r.ref, r.tracking_run_id, r.resumed_from, r.trigger, r.error)


def _ms() -> int:
    import time

    return int(time.time() * 1000)
