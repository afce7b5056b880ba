"""Running one step, wherever an executor puts it (this process, a worker process, a Ray task): load its inputs,
call it with retries, backoff and a timeout, capture its output as logs, store its result, and report.

A :class:`StepTask` carries everything the worker needs (the artifact root, the tracking tags), so it runs the same
in any process that can import the step's function.
"""

from __future__ import annotations

import contextlib
import io
import signal
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from keel.artifacts import BlobStore
from keel.errors import InvalidInput, KeelError
from keel.pipelines.values import ValueRef, load_value, store_value

__all__ = ["FnToken", "InputRef", "StepFailure", "StepResult", "StepTask", "execute", "register_functions"]

#: Step functions by token, registered before a local pool forks its workers: a forked worker finds the function
#: here instead of unpickling it (functions of a pipeline file or a test are not importable by name).
_REGISTRY: dict[int, Callable[..., Any]] = {}


@dataclass(frozen=True)
class FnToken:
    """Stands for a registered step function in a task sent to a forked worker."""

    key: int


def register_functions(fns: list[Callable[..., Any]]) -> None:
    """Register step functions (call before forking workers)."""
    for fn in fns:
        _REGISTRY[id(fn)] = fn


@dataclass(frozen=True)
class InputRef:
    """An argument that is (a part of) an upstream step's stored output."""

    ref: ValueRef
    path: tuple[Any, ...] = ()


@dataclass
class StepTask:
    """One step call to run: the function, arguments (with :class:`InputRef` placeholders) and how to run it."""

    node: str
    step: str
    fn: Callable[..., Any] | FnToken
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    artifact_root: str
    files_dir: str
    retries: int = 0
    retry_backoff_s: float = 1.0
    timeout_s: float | None = None
    tracking_tags: dict[str, str] = field(default_factory=dict)
    keel_env: dict[str, str] = field(default_factory=dict)


@dataclass
class StepResult:
    """What happened: status ``SUCCEEDED``/``FAILED``, the stored output, the last error, attempts, captured logs,
    times (epoch ms) and the tracking run the step logged to (if it logged anything)."""

    node: str
    status: str
    output: ValueRef | None
    error: str | None
    attempts: int
    logs: str
    started_at: int
    ended_at: int
    tracking_run_id: str | None = None
    call_s: float = 0.0  # the function call alone, last attempt (the runner learns which steps are quick)


@dataclass(frozen=True)
class StepFailure:
    """Passed to a step's ``on_failure`` hook after its last attempt failed."""

    pipeline_run_id: str
    node: str
    step: str
    error: str
    attempts: int


class StepTimeout(Exception):
    """The step ran longer than its ``timeout_s``."""


def execute(task: StepTask) -> StepResult:
    """Run ``task`` to completion (never raises for the step's own errors: they come back as a FAILED result)."""
    _adopt_settings(task.keel_env)
    blobs = BlobStore(task.artifact_root)
    started = int(time.time() * 1000)
    logs = io.StringIO()
    attempts, error, output, run_id, call_s = 0, None, None, None, 0.0
    try:
        args, kwargs = _resolve(task.args, blobs, task), _resolve(task.kwargs, blobs, task)
    except KeelError as exc:
        return StepResult(task.node, "FAILED", None, f"loading inputs: {exc}", 0, "", started, _now())
    for attempt in range(task.retries + 1):
        attempts = attempt + 1
        began = time.perf_counter()
        try:
            value, run_id = _attempt(task, args, kwargs, logs)
            call_s = time.perf_counter() - began
            output, error = store_value(value, blobs, f"the output of step {task.node!r}"), None
            break
        except InvalidInput as exc:  # an unstorable output: retrying will not help
            error = exc.message
            break
        except BaseException as exc:  # noqa: BLE001 - a step may raise anything; it is reported, never lost
            if isinstance(exc, (KeyboardInterrupt, SystemExit)) and not isinstance(exc, StepTimeout):
                raise
            error = _describe(exc, task)
            logs.write(f"\n[keel] attempt {attempts} failed: {error}\n")
            if attempt < task.retries:
                time.sleep(task.retry_backoff_s * (2 ** attempt))
    status = "SUCCEEDED" if error is None else "FAILED"
    return StepResult(task.node, status, output, error, attempts, logs.getvalue(), started, _now(), run_id, call_s)


def _attempt(task: StepTask, args: Any, kwargs: Any, logs: io.StringIO) -> tuple[Any, str | None]:
    from keel.tracking import fluent

    with contextlib.redirect_stdout(logs), contextlib.redirect_stderr(logs), _timeout(task.timeout_s), \
            fluent.run_defaults(task.tracking_tags, task.node):
        depth = len(fluent._stack())
        try:
            fn = _REGISTRY[task.fn.key] if isinstance(task.fn, FnToken) else task.fn
            value = fn(*args, **kwargs)
        except BaseException:
            _end_step_runs(fluent, depth, "FAILED")
            raise
        return value, _end_step_runs(fluent, depth, "FINISHED")


def _adopt_settings(env: dict[str, str]) -> None:
    """A worker started elsewhere (a Ray node) uses the submitting process's store and project; in the submitting
    process itself, or a fork of it, the settings already match and nothing changes."""
    if not env:
        return
    import os

    from keel.config import get_settings

    s = get_settings()
    current = {"KEEL_HOME": str(Path(s.home).absolute()), "KEEL_DB_URL": s.resolved_db_url,
               "KEEL_ARTIFACT_ROOT": s.resolved_artifact_root, "KEEL_PROJECT": s.project}
    if current != env:
        from keel.tracking.context import reset_backend

        os.environ.update(env)
        reset_backend()


def _end_step_runs(fluent: Any, depth: int, status: str) -> str | None:
    """End runs the step left open (its own tracking run) and return the outermost one's id."""
    run_id = None
    while len(fluent._stack()) > depth:
        run_id = fluent._stack()[-1].run_id
        fluent.end_run(status)
    return run_id


@contextlib.contextmanager
def _timeout(seconds: float | None) -> Iterator[None]:
    if not seconds or threading.current_thread() is not threading.main_thread():
        yield
        return

    def fire(_signum: int, _frame: Any) -> None:
        raise StepTimeout(f"timed out after {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _resolve(value: Any, blobs: BlobStore, task: StepTask) -> Any:
    if isinstance(value, InputRef):
        loaded = load_value(value.ref, blobs, Path(task.files_dir))
        for key in value.path:
            try:
                loaded = loaded[key]
            except (KeyError, IndexError, TypeError) as exc:
                raise InvalidInput(f"step {task.node!r}: an input selects [{key!r}] from a value that has no such "
                                   f"part ({type(loaded).__name__})", field=task.node) from exc
        return loaded
    if isinstance(value, tuple):
        return tuple(_resolve(v, blobs, task) for v in value)
    if isinstance(value, list):
        return [_resolve(v, blobs, task) for v in value]
    if isinstance(value, dict):
        return {k: _resolve(v, blobs, task) for k, v in value.items()}
    return value


def _describe(exc: BaseException, task: StepTask) -> str:
    if isinstance(exc, StepTimeout):
        return f"step {task.node!r} {exc}"
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" (at {Path(frames[-1].filename).name}:{frames[-1].lineno})" if frames else ""
    return f"{type(exc).__name__}: {exc}{where}"


def _now() -> int:
    return int(time.time() * 1000)
