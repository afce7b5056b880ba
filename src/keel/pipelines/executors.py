"""Where steps run, behind one Protocol: ``local`` (this process when only one step can run, else a pool of up to
``max_parallel`` forked worker processes) and ``ray`` (each step a Ray task with the step's CPUs, GPUs and memory).
"""

from __future__ import annotations

import dataclasses
import logging
import multiprocessing
import os
import sys
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any, Protocol

from keel.errors import InvalidInput, Unavailable
from keel.pipelines.execute import FnToken, StepResult, StepTask, execute, register_functions
from keel.pipelines.steps import StepOptions

__all__ = ["EXECUTORS", "Executor", "LocalExecutor", "RayExecutor", "make_executor"]

EXECUTORS = ("local", "ray")


class Executor(Protocol):
    """Runs step tasks and hands back futures of their results."""

    name: str
    max_parallel: int

    def start(self, functions: list[Callable[..., Any]]) -> None:
        """Prepare to run these step functions (before any submit)."""
        ...

    def submit(self, task: StepTask, options: StepOptions, *, alone: bool) -> Future[StepResult]:
        """Start ``task``; ``alone`` says no other step is running or ready (so running it here costs nothing)."""
        ...

    def shutdown(self) -> None:
        """Release workers."""
        ...


def forked_worker_init() -> None:
    """A forked worker must not reuse the parent's database connections or cached backend."""
    from keel import store
    from keel.tracking.context import reset_backend

    for db in list(store._OPEN.values()):
        db.engine.dispose(close=False)  # the parent's pooled connections are not ours to use or close
    store._OPEN.clear()
    reset_backend()


class LocalExecutor:
    """Steps in this process when alone, else in forked worker processes (at most ``max_parallel`` at once)."""

    name = "local"

    def __init__(self, max_parallel: int | None = None) -> None:
        self.max_parallel = max_parallel or os.cpu_count() or 1
        if self.max_parallel < 1:
            raise InvalidInput("max_parallel must be at least 1", field="max_parallel")
        self._pool: ProcessPoolExecutor | None = None

    def start(self, functions: list[Callable[..., Any]]) -> None:
        register_functions(functions)  # before the pool forks, so workers inherit them

    def submit(self, task: StepTask, options: StepOptions, *, alone: bool) -> Future[StepResult]:
        if alone or self.max_parallel == 1:
            done: Future[StepResult] = Future()
            done.set_result(execute(task))
            return done
        if self._pool is None:
            self._pool = ProcessPoolExecutor(self.max_parallel, mp_context=multiprocessing.get_context("fork"),
                                             initializer=forked_worker_init)
        if callable(task.fn):
            task = dataclasses.replace(task, fn=FnToken(id(task.fn)))
        return self._pool.submit(execute, task)

    def shutdown(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


class RayExecutor:
    """Each step a Ray task on ``address`` (a new local Ray when None), sized by the step's resources."""

    name = "ray"

    def __init__(self, address: str | None = None, max_parallel: int | None = None) -> None:
        try:
            import ray
        except ImportError as exc:
            raise InvalidInput("the ray executor needs Ray: pip install 'keel-mlops[ray]'", field="executor") from exc
        self.ray, self.address = ray, address
        self.max_parallel = max_parallel or 10_000
        self._started = False
        if not ray.is_initialized():
            kwargs: dict[str, Any] = {"address": address} if address else {"include_dashboard": False}
            try:
                ray.init(logging_level=logging.WARNING, **kwargs)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise Unavailable(f"cannot start or reach Ray at {address or 'a new local cluster'}: {exc}; check "
                                  "--address", field="address") from exc
            self._started = True
        self._remote = ray.remote(execute)

    def start(self, functions: list[Callable[..., Any]]) -> None:
        """Functions of a pipeline file or a test module are not importable on Ray workers: ship them by value."""
        from keel.pipelines.fingerprint import is_library_module

        for fn in functions:
            module = sys.modules.get(fn.__module__)
            if module is not None and not is_library_module(module):
                self.ray.cloudpickle.register_pickle_by_value(module)

    def submit(self, task: StepTask, options: StepOptions, *, alone: bool) -> Future[StepResult]:
        resources: dict[str, Any] = {"num_cpus": options.cpus, "num_gpus": options.gpus, "max_retries": 0}
        if options.memory_mb:
            resources["memory"] = options.memory_mb * 1024 * 1024
        return self._remote.options(**resources).remote(task).future()

    def shutdown(self) -> None:
        if self._started:
            self.ray.shutdown()


def make_executor(name: str, max_parallel: int | None = None, address: str | None = None) -> Executor:
    """The executor called ``name`` (``local`` or ``ray``)."""
    if name == "local":
        return LocalExecutor(max_parallel)
    if name == "ray":
        return RayExecutor(address, max_parallel)
    raise InvalidInput(f"unknown executor {name!r}: use {' or '.join(EXECUTORS)}", field="executor")
