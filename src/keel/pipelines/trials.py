"""Where a tuning trial's objective runs, and what it came to.

A launcher takes an asked trial and its child run id and hands back a future :class:`TrialOutcome`: in the calling
thread (one trial at a time), in threads (Optuna-style objectives, whose trial objects cannot leave the process), in
worker processes (search-space objectives; forked on Linux, so the objective may be a closure) or as Ray tasks. The
objective's exceptions do not pass through a launcher (only KeyboardInterrupt and the like do): an exception, a pruned
trial or a bad return value is an outcome.
"""

from __future__ import annotations

import logging
import math
import multiprocessing
import sys
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Any, Protocol

import optuna

from keel.errors import InvalidInput

__all__ = ["Launcher", "Objective", "PendingTrial", "TrialOutcome", "is_number", "make_launcher", "outcome_of",
           "result_of", "run_objective"]

Objective = Callable[[Any], Any]


@dataclass(frozen=True)
class TrialOutcome:
    """What one trial came to; plain data, so it travels back from worker processes and Ray tasks."""

    state: str  # COMPLETE, FAIL or PRUNED
    value: float | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    error: str | None = None


@dataclass
class PendingTrial:
    """An asked trial and the id of its child run."""

    trial: optuna.Trial
    run_id: str


def is_number(value: Any) -> bool:
    """True for ints and floats (not bools)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def outcome_of(result: Any, metric: str) -> TrialOutcome:
    """The outcome of an objective's return value: a number, or a dict of metrics holding ``metric``."""
    metrics: dict[str, float] = {}
    if isinstance(result, Mapping):
        if metric not in result:
            return TrialOutcome("FAIL", error=f"objective returned a dict without {metric!r}; add it or pass metric=")
        metrics = {str(k): float(v) for k, v in result.items() if k != metric and is_number(v)}
        result = result[metric]
    if not is_number(result):
        return TrialOutcome("FAIL", error=f"objective returned {type(result).__name__}; return a number or a dict "
                                      f"with key {metric!r}")
    if math.isnan(result):
        return TrialOutcome("FAIL", error="objective returned NaN")
    return TrialOutcome("COMPLETE", float(result), metrics)


def run_objective(objective: Objective, arg: Any, metric: str, run_id: str | None) -> TrialOutcome:
    """Run one trial's objective; ``keel.log_metric`` inside it lands on ``run_id`` when given."""
    try:
        with _trial_run(run_id) if run_id else nullcontext():
            result = objective(arg)
    except optuna.TrialPruned:
        return TrialOutcome("PRUNED")
    except Exception as exc:  # noqa: BLE001 - a crashed trial is recorded as failed; the study goes on
        return TrialOutcome("FAIL", error=f"{type(exc).__name__}: {exc}")
    return outcome_of(result, metric)


@contextmanager
def _trial_run(run_id: str) -> Iterator[None]:
    from keel.tracking.fluent import start_run

    with start_run(run_id=run_id, nested=True):
        yield


# --- launchers: where a trial's objective runs -------------------------------------------------------------------


class Launcher(Protocol):
    """Runs trials' objectives and hands back futures of their outcomes."""

    def submit(self, pending: PendingTrial) -> Future[TrialOutcome]:
        """Start the trial's objective."""
        ...

    def close(self, *, interrupted: bool) -> None:
        """Release workers (without waiting for running trials when ``interrupted``)."""
        ...


class _Inline:
    """In the calling thread (parallel=1)."""

    def __init__(self, objective: Objective, metric: str, with_params: bool) -> None:
        self.objective, self.metric, self.with_params = objective, metric, with_params

    def submit(self, pending: PendingTrial) -> Future[TrialOutcome]:
        done: Future[TrialOutcome] = Future()
        arg = pending.trial.params if self.with_params else pending.trial
        done.set_result(run_objective(self.objective, arg, self.metric, pending.run_id))
        return done

    def close(self, *, interrupted: bool) -> None:
        return None


class _Threads(_Inline):
    """In a pool of threads: Optuna-style objectives, whose trial objects cannot leave the process."""

    def __init__(self, objective: Objective, metric: str, with_params: bool, parallel: int) -> None:
        super().__init__(objective, metric, with_params)
        self.pool = ThreadPoolExecutor(parallel, thread_name_prefix="keel-tune")

    def submit(self, pending: PendingTrial) -> Future[TrialOutcome]:
        arg = pending.trial.params if self.with_params else pending.trial
        return self.pool.submit(run_objective, self.objective, arg, self.metric, pending.run_id)

    def close(self, *, interrupted: bool) -> None:
        self.pool.shutdown(wait=not interrupted, cancel_futures=True)  # a second call is a no-op


_worker_objective: tuple[Objective, str] | None = None


def _init_worker(objective: Objective, metric: str) -> None:
    """A worker process gets the objective (inherited by fork, not pickled) and its own database connections."""
    global _worker_objective
    from keel.pipelines.executors import forked_worker_init

    _worker_objective = (objective, metric)
    forked_worker_init()


def _process_trial(params: dict[str, Any], run_id: str) -> TrialOutcome:
    assert _worker_objective is not None, "worker started without _init_worker"
    objective, metric = _worker_objective
    return run_objective(objective, params, metric, run_id)


class _Processes:
    """In worker processes (forked on Linux, so the objective may be a closure); a dead pool is replaced."""

    def __init__(self, objective: Objective, metric: str, parallel: int) -> None:
        self.args = (objective, metric)
        self.parallel = parallel
        self.context = multiprocessing.get_context("fork" if sys.platform == "linux" else "spawn")
        self.pool = self._new_pool()  # its processes start on the first submit

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(self.parallel, mp_context=self.context, initializer=_init_worker,
                                   initargs=self.args)

    def submit(self, pending: PendingTrial) -> Future[TrialOutcome]:
        try:
            return self.pool.submit(_process_trial, pending.trial.params, pending.run_id)
        except BrokenProcessPool:  # a trial killed its worker: its siblings failed with it, later trials go on
            self.pool.shutdown(wait=False)
            self.pool = self._new_pool()
            return self.pool.submit(_process_trial, pending.trial.params, pending.run_id)

    def close(self, *, interrupted: bool) -> None:
        self.pool.shutdown(wait=not interrupted, cancel_futures=True)  # a second call is a no-op


class _Ray:
    """Each trial a Ray task on the Ray this process is connected to (a new local one, shut down at the end, when
    none is). Keel logging inside the objective is not routed to the trial's run there."""

    def __init__(self, objective: Objective, metric: str) -> None:
        try:
            import ray
        except ImportError as exc:
            raise InvalidInput("executor='ray' needs Ray: pip install 'keel-mlops[ray]'", field="executor") from exc
        self.ray, self.objective, self.metric = ray, objective, metric
        self.started = False
        self.task: Any = None
        self.shared: Any = None

    def submit(self, pending: PendingTrial) -> Future[TrialOutcome]:
        if self.task is None:
            if not self.ray.is_initialized():
                self.ray.init(include_dashboard=False, logging_level=logging.WARNING)
                self.started = True
            self.shared = self.ray.put(self.objective)
            self.task = self.ray.remote(run_objective).options(max_retries=0)
        future: Future[TrialOutcome] = self.task.remote(self.shared, pending.trial.params, self.metric, None).future()
        return future

    def close(self, *, interrupted: bool) -> None:
        if self.started:
            self.ray.shutdown()
            self.started = False


def make_launcher(objective: Objective, metric: str, with_params: bool, parallel: int, executor: str) -> Launcher:
    """The launcher for this objective style (``with_params``: it takes a params dict), parallelism and executor;
    no worker starts before the first trial."""
    if executor == "ray":
        if not with_params:
            raise InvalidInput("executor='ray' needs a search_space: an Optuna trial object cannot leave this process, "
                               "so pass search_space= and an objective taking a params dict", field="executor")
        return _Ray(objective, metric)
    if parallel == 1:
        return _Inline(objective, metric, with_params)
    if with_params:
        return _Processes(objective, metric, parallel)
    return _Threads(objective, metric, with_params, parallel)


def result_of(future: Future[TrialOutcome]) -> TrialOutcome:
    """The trial's outcome; a worker that died (or a Ray task that was lost) makes the trial FAIL."""
    try:
        return future.result()
    except BrokenProcessPool:
        return TrialOutcome("FAIL", error="the worker process running the trial died (crashed or was killed)")
    except Exception as exc:  # noqa: BLE001 - Ray's errors (lost worker, crashed task) fail the trial, not the study
        return TrialOutcome("FAIL", error=f"{type(exc).__name__}: {exc}")


