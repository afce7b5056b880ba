"""Pipelines: DAG from data dependencies, caching (what invalidates and what does not), retries, timeouts, hooks,
resume, parallel speed-up, run records and lineage, and bad input named by step."""

from __future__ import annotations

import textwrap
import time
from pathlib import Path

import pytest

from keel.errors import InvalidInput
from keel.pipelines import PipelineFailed, load_pipeline, pipeline, run_pipeline, step

FLOW = '''
from keel.pipelines import pipeline, step

def helper(x):
    return x + {offset}

@step
def load(n: int) -> list:
    return list(range(n))

@step
def shift(xs: list) -> list:
    # a comment
    return [helper(x) for x in xs]

@step
def total(xs: list, ys: list) -> int:
    return sum(xs) + sum(ys)

@pipeline
def flow(n: int):
    xs = load(n)
    return total(xs, shift(xs))
'''


def _write(folder: Path, text: str, name: str = "flow.py") -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text))
    return path


def _statuses(run) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {s.node: s.status for s in run.steps}


def test_dag_runs_and_caches(keel_home: Path, tmp_path: Path) -> None:
    flow = load_pipeline(f"{_write(tmp_path, FLOW.format(offset=1))}:flow")
    first = run_pipeline(flow, {"n": 4})
    assert first.status == "SUCCEEDED" and first.result == 6 + 10
    assert _statuses(first) == {"load": "SUCCEEDED", "shift": "SUCCEEDED", "total": "SUCCEEDED"}
    again = run_pipeline(flow, {"n": 4})
    assert _statuses(again) == {"load": "CACHED", "shift": "CACHED", "total": "CACHED"} and again.result == 16
    other = run_pipeline(flow, {"n": 5})  # a parameter is part of the key
    assert _statuses(other)["load"] == "SUCCEEDED"
    forced = run_pipeline(flow, {"n": 4}, no_cache=True)
    assert set(_statuses(forced).values()) == {"SUCCEEDED"}


def test_helper_change_invalidates_but_comment_change_does_not(keel_home: Path, tmp_path: Path) -> None:
    path = _write(tmp_path, FLOW.format(offset=1))
    run_pipeline(load_pipeline(f"{path}:flow"), {"n": 3})
    _write(tmp_path, FLOW.format(offset=1).replace("# a comment", "# another comment\n    # and more"))
    assert set(_statuses(run_pipeline(load_pipeline(f"{path}:flow"), {"n": 3})).values()) == {"CACHED"}
    _write(tmp_path, FLOW.format(offset=2))  # only the helper called by `shift` changes
    changed = run_pipeline(load_pipeline(f"{path}:flow"), {"n": 3})
    assert _statuses(changed) == {"load": "CACHED", "shift": "SUCCEEDED", "total": "SUCCEEDED"}
    assert changed.result == 3 + 9


def test_retries_then_success_and_on_failure_hook(keel_home: Path, tmp_path: Path) -> None:
    marker = tmp_path / "attempts"
    failures: list[object] = []

    @step(retries=2, retry_backoff_s=0.01)
    def flaky(path: str) -> str:
        count = int(Path(path).read_text()) + 1 if Path(path).exists() else 1
        Path(path).write_text(str(count))
        if count < 3:
            raise RuntimeError(f"attempt {count} fails")
        return "ok"

    @step(retries=1, retry_backoff_s=0.01, on_failure=failures.append)
    def broken() -> None:
        raise ValueError("always")

    @pipeline
    def p() -> object:
        return flaky(str(marker))

    @pipeline
    def q() -> object:
        return broken()

    run = run_pipeline(p, max_parallel=1)
    assert run.status == "SUCCEEDED" and run.result == "ok" and run.steps[0].attempts == 3
    failed = run_pipeline(q, max_parallel=1)
    assert failed.status == "FAILED" and failed.steps[0].attempts == 2
    assert "ValueError: always" in (failed.error or "") and "broken" in (failed.error or "")
    assert [f.node for f in failures] == ["broken"] and "always" in failures[0].error  # type: ignore[attr-defined]
    with pytest.raises(PipelineFailed, match="broken"):
        q()


def test_timeout_fails_the_step(keel_home: Path) -> None:
    @step(timeout_s=0.3)
    def slow() -> int:
        time.sleep(5)
        return 1

    @pipeline
    def p() -> object:
        return slow()

    started = time.monotonic()
    run = run_pipeline(p, max_parallel=1)
    assert run.status == "FAILED" and "timed out after 0.3 s" in (run.error or "")
    assert time.monotonic() - started < 3


def test_resume_continues_from_the_failed_step(keel_home: Path, tmp_path: Path) -> None:
    flag = tmp_path / "fixed"
    calls = tmp_path / "calls"

    @step(cache=False)
    def expensive() -> int:
        with calls.open("a") as fh:
            fh.write("x")
        return 21

    @step(cache=False)
    def fragile(x: int) -> int:
        if not flag.exists():
            raise RuntimeError("not yet")
        return x * 2

    @pipeline
    def p() -> object:
        return fragile(expensive())

    failed = run_pipeline(p, max_parallel=1)
    assert _statuses(failed) == {"expensive": "SUCCEEDED", "fragile": "FAILED"}
    flag.write_text("1")
    resumed = run_pipeline(p, resume=failed.id[:10], max_parallel=1)
    assert resumed.status == "SUCCEEDED" and resumed.result == 42 and resumed.resumed_from == failed.id
    assert _statuses(resumed) == {"expensive": "CACHED", "fragile": "SUCCEEDED"}
    assert calls.read_text() == "x"  # not re-run although its cache is off


def test_failed_step_skips_dependents_but_not_independent_branches(keel_home: Path) -> None:
    @step
    def bad() -> int:
        raise RuntimeError("no")

    @step
    def good() -> int:
        return 1

    @step
    def after(x: int) -> int:
        return x

    @pipeline
    def p() -> object:
        return [after(bad()), good()]

    run = run_pipeline(p, max_parallel=1)
    assert _statuses(run) == {"bad": "FAILED", "good": "SUCCEEDED", "after": "SKIPPED"}


def test_bad_input_names_the_step_or_parameter(keel_home: Path, tmp_path: Path) -> None:
    flow = load_pipeline(f"{_write(tmp_path, FLOW.format(offset=1))}:flow")
    with pytest.raises(InvalidInput, match="needs parameter 'n'"):
        run_pipeline(flow, {})
    with pytest.raises(InvalidInput, match="has no parameter 'm'"):
        run_pipeline(flow, {"n": 1, "m": 2})
    with pytest.raises(InvalidInput, match="'abc' is not a valid int"):
        run_pipeline(flow, {"n": "abc"})

    @step
    def unpicklable() -> object:
        import threading

        return threading.Lock()

    @pipeline
    def p() -> object:
        return unpicklable()

    run = run_pipeline(p, max_parallel=1)
    assert run.status == "FAILED" and "step 'unpicklable'" in (run.error or "") and "cannot be stored" in run.error

    @step
    def a(x: object = None) -> int:
        return 1

    @pipeline
    def cyclic() -> object:
        first = a()
        second = a(first)
        first_node = first.node
        from keel.pipelines.steps import _BUILDER

        builder = _BUILDER.get()
        assert builder is not None
        builder.nodes[first_node].after.add(second.node)
        return second

    with pytest.raises(InvalidInput, match="cycle through steps a, a-2, a|cycle through steps a-2, a, a-2"):
        run_pipeline(cyclic)


def test_parallel_steps_overlap_on_two_cores(keel_home: Path) -> None:
    @step(cache=False)
    def nap(i: int) -> int:
        time.sleep(1.0)
        return i

    @pipeline
    def p() -> object:
        return [nap(i) for i in range(4)]

    started = time.monotonic()
    run = run_pipeline(p, max_parallel=2)
    elapsed = time.monotonic() - started
    assert run.status == "SUCCEEDED" and run.result == [0, 1, 2, 3]
    assert elapsed < 3.5  # 4 s one at a time; 2 s two at a time, plus process start-up


def test_run_records_logs_tracking_runs_and_lineage(keel_home: Path) -> None:
    import keel
    from keel.governance.lineage import Node
    from keel.governance.lineage_store import _local
    from keel.pipelines.runner import pipeline_store

    @step
    def train(lr: float) -> dict:
        print("training with", lr)
        keel.log_metric("loss", lr * 2)
        return {"lr": lr}

    @step
    def report(model: dict) -> str:
        return f"lr={model['lr']}"

    @pipeline
    def p(lr: float = 0.5) -> object:
        return report(train(lr))

    run = run_pipeline(p, max_parallel=1)
    stored = pipeline_store().get(run.id)
    assert [(s.node, s.status, s.cache_hit) for s in stored.steps] == [("train", "SUCCEEDED", False),
                                                                      ("report", "SUCCEEDED", False)]
    train_step = stored.steps[0]
    assert train_step.duration_ms is not None and train_step.tracking_run_id
    tracked = keel.get_run(train_step.tracking_run_id)
    assert tracked.metrics["loss"].value == 1.0 and tracked.tags["mlflow.parentRunId"] == run.tracking_run_id
    from keel.artifacts import BlobStore
    from keel.tracking.context import get_backend

    logs = BlobStore(get_backend().settings.resolved_artifact_root).get_bytes(train_step.log_digest or "")
    assert b"training with 0.5" in logs
    graph = _local().graph(Node("step_run", f"{run.id}/report"))
    assert any(link.upstream.kind == "artifact" for link in graph.ancestors)
    assert any(link.upstream.id == f"{run.id}/train" for link in graph.ancestors)


def test_running_steps_here_leaves_the_environment_alone(keel_home: Path) -> None:
    import os

    @step
    def one() -> int:
        return 1

    @pipeline
    def p() -> object:
        return one()

    before = {k: v for k, v in os.environ.items() if k.startswith("KEEL_")}
    assert run_pipeline(p, max_parallel=1).result == 1
    assert {k: v for k, v in os.environ.items() if k.startswith("KEEL_")} == before
