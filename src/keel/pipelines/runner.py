"""Running a pipeline: build the DAG from the body, then run each step once its inputs exist — skipped when its cache
key (code, inputs, parameters, declared env) has stored outputs — on the chosen executor, recording every step.

A failed step's dependents are skipped; independent branches still run. Re-running (or ``resume=RUN_ID``) reuses
the finished steps, so a failed pipeline continues from the step that failed.
"""

from __future__ import annotations

import hashlib
import logging
import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from keel.artifacts import BlobStore
from keel.config import current_project, get_settings
from keel.errors import KeelError
from keel.local_store import local_database
from keel.pipelines.dag import topological_order
from keel.pipelines.execute import InputRef, StepFailure, StepResult, StepTask
from keel.pipelines.executors import make_executor
from keel.pipelines.fingerprint import code_fingerprint
from keel.pipelines.params import bind_params, load_pipeline
from keel.pipelines.runs_sql import PipelineRun, SqlPipelineStore, StepRun
from keel.pipelines.steps import Node, Pipeline, StepOutput, building
from keel.pipelines.values import ValueRef, load_value, value_key
from keel.store.lineage import Edge
from keel.tracking.context import get_backend

__all__ = ["PipelineFailed", "pipeline_store", "run_pipeline", "run_ref"]

log = logging.getLogger("keel.pipelines")
CACHE_VERSION = 1
_FLUSH_EVERY_S = 0.5
# A step whose calls have taken less than this runs in this process: handing it to a worker costs more than it
# runs (a thousand no-op steps: 0.4 s here, 1 s through two workers). Learned per step from its first calls.
INLINE_BELOW_S = 0.002
_LEARN_CALLS = 3


class PipelineFailed(KeelError):
    """A pipeline called directly (``my_pipeline(...)``) had a failing step."""

    http_status = 409
    error_code = "PIPELINE_FAILED"


def pipeline_store() -> SqlPipelineStore:
    """Pipeline runs of the configured project (local metadata store)."""
    return SqlPipelineStore(*local_database("pipelines run against"))


def run_ref(ref: str, params: Mapping[str, Any] | None = None, **options: Any) -> PipelineRun:
    """Load ``FILE.py:NAME`` and run it (see :func:`run_pipeline`); string params are parsed by annotation."""
    return run_pipeline(load_pipeline(ref), params, ref=ref, **options)


def run_pipeline(pipeline: Pipeline, params: Mapping[str, Any] | None = None, *, executor: str = "local",
                 max_parallel: int | None = None, address: str | None = None, no_cache: bool = False,
                 resume: str | None = None, ref: str | None = None, trigger: str | None = None,
                 on_step: Callable[[StepRun], None] | None = None) -> PipelineRun:
    """Run ``pipeline`` and return its record (``status`` SUCCEEDED or FAILED, ``steps``, ``result``)."""
    store = pipeline_store()
    previous = store.get(resume) if resume else None
    given = {**(previous.params if previous else {}), **(params or {})}
    bound = bind_params(pipeline, given)
    nodes, template = building(pipeline.fn, bound)
    order = topological_order({n: node.upstream for n, node in nodes.items()})
    run = PipelineRun(uuid.uuid4().hex, pipeline.name, "RUNNING", _jsonable(bound), executor, _ms(), ref=ref,
                      resumed_from=previous.id if previous else None, trigger=trigger)
    store.create(run)  # its tracking run starts with its first executed step: a fully cached run needs none
    state = _State(run, nodes, order, store, no_cache, previous, on_step)
    engine = make_executor(executor, max_parallel, address)
    try:
        engine.start(list({id(n.step.fn): n.step.fn for n in nodes.values()}.values()))
        state.drive(engine)
    finally:
        engine.shutdown()
        state.flush(force=True)
    failed = [s for s in state.records.values() if s.status == "FAILED"]
    run.status = "FAILED" if failed else "SUCCEEDED"
    run.error = "; ".join(f"step {s.node!r} failed: {s.error}" for s in failed) or None
    run.ended_at = _ms()
    store.finish(run)
    _end_tracking_run(run)
    run.steps = [state.records[n] for n in order if n in state.records]
    if run.status == "SUCCEEDED":
        run.result = _resolve_result(template, state.outputs, state.blobs, state.files_dir)
    return run


@dataclass
class _State:
    run: PipelineRun
    nodes: dict[str, Node]
    order: list[str]
    store: SqlPipelineStore
    no_cache: bool
    previous: PipelineRun | None
    on_step: Callable[[StepRun], None] | None
    outputs: dict[str, ValueRef] = field(default_factory=dict)
    records: dict[str, StepRun] = field(default_factory=dict)
    _unflushed: list[StepRun] = field(default_factory=list)
    _cache_rows: list[tuple[str, str, str]] = field(default_factory=list)
    _edges: list[Edge] = field(default_factory=list)
    _flushed_at: float = field(default_factory=time.monotonic)
    _speed: dict[str, tuple[int, float]] = field(default_factory=dict)  # step name -> (calls seen, slowest call s)

    def __post_init__(self) -> None:
        settings = get_settings()  # not the tracking backend: a fully cached run never loads it
        self.artifact_root = settings.resolved_artifact_root
        self.blobs = BlobStore(self.artifact_root)
        self.keel_env = {"KEEL_HOME": str(Path(settings.home).absolute()), "KEEL_DB_URL": settings.resolved_db_url,
                         "KEEL_ARTIFACT_ROOT": self.artifact_root, "KEEL_PROJECT": current_project()}
        self.files_dir = Path(settings.home).absolute() / "tmp" / "pipeline-files"
        self.reuse = {s.node: s for s in self.previous.steps
                      if s.status in ("SUCCEEDED", "CACHED") and s.output} if self.previous else {}

    def drive(self, engine: Any) -> None:
        waiting = {n: set(self.nodes[n].upstream) for n in self.order}
        dependents: dict[str, list[str]] = {n: [] for n in self.order}
        for n in self.order:
            for dep in waiting[n]:
                dependents[dep].append(n)
        ready = [n for n in self.order if not waiting[n]]  # inputs exist; cache not checked yet
        to_run: deque[str] = deque()  # not cached: waiting for a worker
        running: dict[Future[StepResult], str] = {}
        keys: dict[str, str] = {}
        limit = max(1, engine.max_parallel) * 2  # submit ahead a little, so quick steps are learned early
        while ready or to_run or running:
            if ready:
                batch, ready = ready, []
                for n in batch:
                    keys[n] = self._key(self.nodes[n])
                hits = {} if self.no_cache else self.store.cached([keys[n] for n in batch
                                                                   if self.nodes[n].step.options.cache])
                for n in batch:
                    reused = self._reused(n, keys[n], hits)
                    if reused is None:
                        to_run.append(n)
                        continue
                    self._finish(n, StepRun(n, self.nodes[n].step.name, "CACHED", keys[n], True,
                                            output=reused.to_json()), reused)
                    ready += self._release(n, waiting, dependents)
                continue
            while to_run and (len(running) < limit or self._quick(self.nodes[to_run[0]])):
                n = to_run.popleft()
                node = self.nodes[n]
                alone = (not running and not to_run) or self._quick(node)
                future = engine.submit(self._task(node), node.step.options, alone=alone)
                if future.done():  # ran here: settle it now, its dependents may be ready
                    ready += self._settle(n, keys[n], future.result(), waiting, dependents)
                    if ready:
                        break
                else:
                    running[future] = n
            if running and not ready:
                done, _ = wait(list(running), return_when=FIRST_COMPLETED)
                for future in done:
                    n = running.pop(future)
                    ready += self._settle(n, keys[n], future.result(), waiting, dependents)
            self.flush()

    def _settle(self, n: str, key: str, result: StepResult, waiting: dict[str, set[str]],
                dependents: dict[str, list[str]]) -> list[str]:
        """Record a finished step; the steps it freed (none when it failed: its dependents are skipped)."""
        if self._record(n, key, result):
            return self._release(n, waiting, dependents)
        self._skip_below(n, dependents)
        return []

    def _quick(self, node: Node) -> bool:
        seen, slowest = self._speed.get(node.step.name, (0, 0.0))
        return seen >= _LEARN_CALLS and slowest < INLINE_BELOW_S and node.step.options.timeout_s is None

    def _reused(self, n: str, key: str, hits: dict[str, dict[str, Any]]) -> ValueRef | None:
        earlier = self.reuse.get(n)
        if earlier is not None and earlier.cache_key == key and earlier.output is not None:
            return ValueRef.from_json(earlier.output)
        return ValueRef.from_json(hits[key]) if key in hits else None

    def _release(self, n: str, waiting: dict[str, set[str]], dependents: dict[str, list[str]]) -> list[str]:
        freed = []
        for child in dependents[n]:
            waiting[child].discard(n)
            if not waiting[child]:
                freed.append(child)
        return freed

    def _skip_below(self, n: str, dependents: dict[str, list[str]]) -> None:
        for child in dependents[n]:
            if child not in self.records:
                self._finish(child, StepRun(child, self.nodes[child].step.name, "SKIPPED",
                                            error=f"upstream step {n!r} failed"), None)
                self._skip_below(child, dependents)

    def _key(self, node: Node) -> str:
        parts = {"v": CACHE_VERSION, "code": code_fingerprint(node.step.fn), "env": dict(node.step.options.env),
                 "args": [self._arg_key(a, node) for a in node.args],
                 "kwargs": {k: self._arg_key(v, node) for k, v in sorted(node.kwargs.items())}}
        return hashlib.blake2b(orjson.dumps(parts, option=orjson.OPT_SORT_KEYS), digest_size=20).hexdigest()

    def _arg_key(self, value: Any, node: Node) -> Any:
        if isinstance(value, StepOutput):
            return {"out": self.outputs[value.node].key, "path": [str(p) for p in value.path]}
        if isinstance(value, (list, tuple)) and any(isinstance(v, StepOutput) for v in value):
            return [self._arg_key(v, node) for v in value]
        if isinstance(value, dict) and any(isinstance(v, StepOutput) for v in value.values()):
            return {k: self._arg_key(v, node) for k, v in value.items()}
        return value_key(value, f"an argument of step {node.id!r}")

    def _task(self, node: Node) -> StepTask:
        opts = node.step.options
        if self.run.tracking_run_id is None:
            self.run.tracking_run_id = _parent_tracking_run(self.run)
        tags = {"keel.pipeline": self.run.pipeline, "keel.pipeline_run": self.run.id, "keel.step": node.id}
        if self.run.tracking_run_id:
            tags["mlflow.parentRunId"] = self.run.tracking_run_id
        return StepTask(node.id, node.step.name, node.step.fn, self._inputs(node.args), self._inputs(node.kwargs),
                        self.artifact_root, str(self.files_dir), opts.retries, opts.retry_backoff_s, opts.timeout_s,
                        tags, self.keel_env)

    def _inputs(self, value: Any) -> Any:
        if isinstance(value, StepOutput):
            return InputRef(self.outputs[value.node], value.path)
        if isinstance(value, tuple):
            return tuple(self._inputs(v) for v in value)
        if isinstance(value, list):
            return [self._inputs(v) for v in value]
        if isinstance(value, dict):
            return {k: self._inputs(v) for k, v in value.items()}
        return value

    def _record(self, n: str, key: str, result: StepResult) -> bool:
        node = self.nodes[n]
        seen, slowest = self._speed.get(node.step.name, (0, 0.0))
        self._speed[node.step.name] = (seen + 1, max(slowest, result.call_s))
        log_digest = self.blobs.put_bytes(result.logs.encode()) if result.logs else None
        record = StepRun(n, node.step.name, result.status, key, False, result.attempts,
                         result.output.to_json() if result.output else None, result.error, log_digest,
                         result.tracking_run_id, result.started_at, result.ended_at)
        self._finish(n, record, result.output)
        if result.status != "SUCCEEDED" or result.output is None:
            self._failed(node, result)
            return False
        if node.step.options.cache:
            self._cache_rows.append((key, node.step.name, orjson.dumps(result.output.to_json()).decode()))
        step_id = f"{self.run.id}/{n}"
        for handle in {h.node for h in _handles(node)}:
            self._edges.append(Edge("artifact", self.outputs[handle].key, "input_to", "step_run", step_id))
        self._edges.append(Edge("step_run", step_id, "produced", "artifact", result.output.key))
        return True

    def _failed(self, node: Node, result: StepResult) -> None:
        hook = node.step.options.on_failure
        if hook is None:
            return
        try:
            hook(StepFailure(self.run.id, node.id, node.step.name, result.error or "", result.attempts))
        except Exception:  # a broken hook must not hide the step's own failure
            log.exception("the on_failure hook of step %r raised", node.id)

    def _finish(self, n: str, record: StepRun, output: ValueRef | None) -> None:
        self.records[n] = record
        if output is not None:
            self.outputs[n] = output
        self._unflushed.append(record)
        if self.on_step is not None:
            self.on_step(record)

    def flush(self, force: bool = False) -> None:
        """Write finished steps, cache entries and lineage (batched: every half second, and at the end)."""
        if not force and time.monotonic() - self._flushed_at < _FLUSH_EVERY_S:
            return
        self.store.record_steps(self.run.id, self._unflushed, self._cache_rows, self._edges)
        self._unflushed, self._cache_rows, self._edges = [], [], []
        self._flushed_at = time.monotonic()


def _handles(node: Node) -> list[StepOutput]:
    from keel.pipelines.steps import walk_handles

    return list(walk_handles((node.args, node.kwargs)))


def _resolve_result(value: Any, outputs: dict[str, ValueRef], blobs: BlobStore, files_dir: Path) -> Any:
    if isinstance(value, StepOutput):
        loaded = load_value(outputs[value.node], blobs, files_dir)
        for key in value.path:
            loaded = loaded[key]
        return loaded
    if isinstance(value, list):
        return [_resolve_result(v, outputs, blobs, files_dir) for v in value]
    if isinstance(value, tuple):
        return tuple(_resolve_result(v, outputs, blobs, files_dir) for v in value)
    if isinstance(value, dict):
        return {k: _resolve_result(v, outputs, blobs, files_dir) for k, v in value.items()}
    return value


def _parent_tracking_run(run: PipelineRun) -> str | None:
    from keel.tracking import fluent

    backend = get_backend()
    tags = {"keel.pipeline": run.pipeline, "keel.pipeline_run": run.id, "mlflow.runName": run.pipeline}
    created = backend.tracking.create_run(fluent.current_experiment_id(), user_id=None, start_time=run.started_at,
                                          tags=tags, run_name=run.pipeline)
    return created.info.run_id


def _end_tracking_run(run: PipelineRun) -> None:
    if run.tracking_run_id:
        get_backend().tracking.update_run(run.tracking_run_id, status="FINISHED" if run.status == "SUCCEEDED"
                                          else "FAILED", end_time=run.ended_at)


def _jsonable(params: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v if isinstance(v, (str, int, float, bool, type(None), list, dict)) else repr(v)
            for k, v in params.items()}


def _ms() -> int:
    return int(time.time() * 1000)
