"""The Pipelines pages' queries over runs made by the SDK: runs with cached-step counts, one run's steps, logs."""

from __future__ import annotations

from pathlib import Path

import pytest

from keel.artifacts import BlobStore
from keel.errors import InvalidInput, NotFound
from keel.local_store import local_database
from keel.pipelines import pipeline, run_pipeline, step
from keel.tracking.context import get_backend
from keel.ui import queries_pipelines as q


@step
def load(n: int) -> list:
    print("loading", n)
    return list(range(n))


@step
def total(xs: list) -> int:
    return sum(xs)


@pipeline
def flow(n: int = 3) -> object:
    return total(load(n))


def test_runs_steps_cache_hits_and_logs(keel_home: Path) -> None:
    first = run_pipeline(flow, max_parallel=1)
    second = run_pipeline(flow, max_parallel=1)  # nothing changed: both steps come from the cache
    db, project = local_database("tests read")
    listed = q.list_runs(db, project)
    assert [r["id"] for r in listed["runs"]] == [second.id, first.id] and listed["pipelines"] == ["flow"]
    assert [(r["steps_total"], r["steps_cached"], r["status"]) for r in listed["runs"]] == [
        (2, 2, "SUCCEEDED"), (2, 0, "SUCCEEDED")]
    assert listed["runs"][1]["duration_ms"] >= 0
    assert q.list_runs(db, project, pipeline="other")["runs"] == []

    detail = q.run_detail(db, project, first.id[:10])
    assert [(s["node"], s["status"], s["cache_hit"]) for s in detail["steps"]] == [
        ("load", "SUCCEEDED", False), ("total", "SUCCEEDED", False)]
    assert detail["steps"][0]["has_log"] and detail["steps"][0]["duration_ms"] is not None
    blobs = BlobStore(get_backend().settings.resolved_artifact_root)
    assert "loading 3" in q.step_log(db, project, blobs, first.id, "load")["log"]
    cached = q.run_detail(db, project, second.id)["steps"]
    assert all(s["status"] == "CACHED" and s["cache_hit"] for s in cached)
    with pytest.raises(InvalidInput, match="load, total"):
        q.step_log(db, project, blobs, first.id, "nope")
    with pytest.raises(NotFound):
        q.run_detail(db, project, "feedbeef")
    with pytest.raises(InvalidInput, match="limit"):
        q.list_runs(db, project, limit=0)
