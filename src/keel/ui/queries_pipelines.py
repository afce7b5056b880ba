"""What the Pipelines pages show: pipeline runs (status, duration, how many steps ran or came from the cache) and
one run's steps with status, duration, cache hit, attempts, error and captured logs."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from sqlalchemy import case, func, select

from keel.artifacts import BlobStore
from keel.errors import InvalidInput
from keel.pipelines.runs_sql import PipelineRun, SqlPipelineStore, StepRun
from keel.store import Database
from keel.store.tables import step_runs

__all__ = ["list_runs", "run_detail", "step_log"]

_MAX_LOG_BYTES = 200_000


def _duration(start: int | None, end: int | None) -> int | None:
    return None if start is None or end is None else end - start


def _step(s: StepRun) -> dict[str, Any]:
    return {**asdict(s), "duration_ms": s.duration_ms, "has_log": s.log_digest is not None}


def _summary(run: PipelineRun, counts: tuple[int, int, int]) -> dict[str, Any]:
    row = asdict(run)
    row.pop("steps")
    row["duration_ms"] = _duration(run.started_at, run.ended_at)
    row["steps_total"], row["steps_cached"], row["steps_failed"] = counts
    return row


def _step_counts(db: Database, run_ids: list[str]) -> dict[str, tuple[int, int, int]]:
    """``(steps, cache hits, failed)`` per pipeline run, in one query."""
    sr = step_runs.c
    query = select(sr.pipeline_run_id, func.count(), func.sum(sr.cache_hit),
                   func.sum(case((sr.status == "FAILED", 1), else_=0))).where(
        sr.pipeline_run_id.in_(run_ids)).group_by(sr.pipeline_run_id)
    with db.read() as conn:
        return {r[0]: (int(r[1]), int(r[2] or 0), int(r[3] or 0)) for r in conn.execute(query).all()}


def list_runs(db: Database, project: str, *, pipeline: str | None = None, limit: int = 100) -> dict[str, Any]:
    """The newest ``limit`` runs (of ``pipeline`` when given) with step counts, and the pipelines' names."""
    if not 1 <= limit <= 1000:
        raise InvalidInput(f"limit must be between 1 and 1000, got {limit}", field="limit")
    store = SqlPipelineStore(db, project)
    runs = store.list(pipeline or None, limit)
    counts = _step_counts(db, [run.id for run in runs]) if runs else {}
    rows = [_summary(run, counts.get(run.id, (0, 0, 0))) for run in runs]
    names = sorted({r["pipeline"] for r in rows} | ({pipeline} if pipeline else set()))
    return {"runs": rows, "pipelines": names, "pipeline": pipeline or None}


def run_detail(db: Database, project: str, run_id: str) -> dict[str, Any]:
    """One run (a unique id prefix works) and its steps in the order they started."""
    run = SqlPipelineStore(db, project).get(run_id)
    counts = (len(run.steps), sum(s.cache_hit for s in run.steps), sum(s.status == "FAILED" for s in run.steps))
    return {"run": _summary(run, counts), "steps": [_step(s) for s in run.steps]}


def step_log(db: Database, project: str, blobs: BlobStore, run_id: str, node: str) -> dict[str, Any]:
    """The captured output of step ``node`` of run ``run_id`` (the last 200 kB), or an empty log."""
    run = SqlPipelineStore(db, project).get(run_id)
    step = next((s for s in run.steps if s.node == node), None)
    if step is None:
        known = ", ".join(s.node for s in run.steps) or "none"
        raise InvalidInput(f"run {run.id} has no step {node!r}; its steps: {known}", field="node")
    if step.log_digest is None:
        return {"node": node, "log": "", "truncated": False}
    data = blobs.get_bytes(step.log_digest)
    return {"node": node, "log": data[-_MAX_LOG_BYTES:].decode("utf-8", errors="replace"),
            "truncated": len(data) > _MAX_LOG_BYTES}
