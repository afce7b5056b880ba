"""``@keel.step`` and ``@keel.pipeline``: functions that become DAG nodes when called inside a pipeline.

Inside a pipeline body a step call does not run: it records a node and returns a :class:`StepOutput` handle; passing
a handle to another step is a data dependency (an edge). Outside a pipeline a step is a plain function call.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar, overload

from keel.errors import InvalidInput

__all__ = ["Node", "Pipeline", "Step", "StepOptions", "StepOutput", "building", "pipeline", "step", "walk_handles"]

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")


@dataclass(frozen=True)
class StepOptions:
    """How a step runs: retries with exponential backoff, a timeout, caching, resources (Ray), an ``on_failure`` hook
    (called with the :class:`~keel.pipelines.execute.StepFailure` after the last attempt), and declared environment
    (part of the cache key, e.g. ``{"sklearn": "1.9"}``)."""

    retries: int = 0
    retry_backoff_s: float = 1.0
    timeout_s: float | None = None
    cache: bool = True
    cpus: float = 1.0
    gpus: float = 0.0
    memory_mb: int | None = None
    on_failure: Callable[[Any], None] | None = None
    env: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.retries < 0:
            raise InvalidInput("retries must be >= 0", field="retries")
        if self.timeout_s is not None and self.timeout_s <= 0:
            raise InvalidInput("timeout_s must be positive", field="timeout_s")


class Step(Generic[T]):
    """A function run as a pipeline step (see :func:`step`)."""

    def __init__(self, fn: Callable[..., T], name: str, options: StepOptions) -> None:
        self.fn, self.name, self.options = fn, name, options
        functools.update_wrapper(self, fn)

    def __repr__(self) -> str:
        return f"<keel step {self.name}>"

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        builder = _BUILDER.get()
        if builder is None:
            return self.fn(*args, **kwargs)
        return builder.add(self, args, kwargs)


@dataclass(frozen=True)
class StepOutput:
    """A handle to a step's (future) output inside a pipeline body; ``handle[i]`` / ``handle["k"]`` selects a part."""

    node: str
    path: tuple[Any, ...] = ()

    def __getitem__(self, key: Any) -> StepOutput:
        return StepOutput(self.node, (*self.path, key))

    def __iter__(self) -> Iterator[Any]:
        raise InvalidInput(f"the output of step {self.node!r} is not known while the pipeline is built; pass it to "
                           "another step instead of iterating it (or index it: out[0])", field=self.node)

    def __bool__(self) -> bool:
        raise InvalidInput(f"the output of step {self.node!r} is not known while the pipeline is built; branch on it "
                           "inside a step", field=self.node)


@dataclass
class Node:
    """One step call in the DAG: the step, its arguments (handles stand for upstream outputs), its upstream nodes."""

    id: str
    step: Step[Any]
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    after: set[str] = field(default_factory=set)

    @property
    def upstream(self) -> set[str]:
        """Nodes whose outputs this one consumes, plus explicit ``after`` dependencies."""
        return {h.node for h in walk_handles((self.args, self.kwargs))} | self.after


class _Builder:
    def __init__(self) -> None:
        self.nodes: dict[str, Node] = {}
        self._counts: dict[str, int] = {}

    def add(self, step: Step[Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> StepOutput:
        after = kwargs.pop("_after", None)
        count = self._counts.get(step.name, 0) + 1
        self._counts[step.name] = count
        node_id = step.name if count == 1 else f"{step.name}-{count}"
        node = Node(node_id, step, args, kwargs)
        for dep in [after] if isinstance(after, StepOutput) else after or []:
            node.after.add(dep.node)
        self.nodes[node_id] = node
        return StepOutput(node_id)


_BUILDER: contextvars.ContextVar[_Builder | None] = contextvars.ContextVar("keel_pipeline_builder", default=None)


def building(fn: Callable[..., Any], params: Mapping[str, Any]) -> tuple[dict[str, Node], Any]:
    """Call a pipeline body with ``params`` while recording step calls: ``(nodes, the body's return value)``."""
    builder = _Builder()
    token = _BUILDER.set(builder)
    try:
        result = fn(**params)
    finally:
        _BUILDER.reset(token)
    return builder.nodes, result


def walk_handles(value: Any) -> Iterator[StepOutput]:
    """Every :class:`StepOutput` inside nested lists, tuples and dict values."""
    if isinstance(value, StepOutput):
        yield value
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from walk_handles(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from walk_handles(item)


@overload
def step(fn: F) -> F: ...
@overload
def step(*, name: str | None = None, retries: int = 0, retry_backoff_s: float = 1.0, timeout_s: float | None = None,
         cache: bool = True, cpus: float = 1.0, gpus: float = 0.0, memory_mb: int | None = None,
         on_failure: Callable[[Any], None] | None = None, env: Mapping[str, str] | None = None) -> Callable[[F], F]: ...


def step(fn: Callable[..., Any] | None = None, *, name: str | None = None, retries: int = 0,
         retry_backoff_s: float = 1.0, timeout_s: float | None = None, cache: bool = True, cpus: float = 1.0,
         gpus: float = 0.0, memory_mb: int | None = None, on_failure: Callable[[Any], None] | None = None,
         env: Mapping[str, str] | None = None) -> Any:
    """Make a function a pipeline step: ``@keel.step`` or ``@keel.step(retries=2, timeout_s=60, cpus=2)``.

    Its return value is stored as an artifact (DataFrames as Parquet, arrays as .npy, JSON-able values as JSON,
    anything else pickled); an unchanged step (same code, inputs, parameters and declared env) is skipped and its
    stored outputs reused.
    """
    options = StepOptions(retries, retry_backoff_s, timeout_s, cache, cpus, gpus, memory_mb, on_failure, env or {})

    def wrap(f: Callable[..., Any]) -> Any:
        return Step(f, name or f.__name__, options)

    return wrap(fn) if fn is not None else wrap


class Pipeline:
    """A pipeline: calling it runs it locally with the given parameters and returns its result; use
    :func:`keel.pipelines.run_pipeline` (or ``keel run FILE:NAME``) for the run record and executor options."""

    def __init__(self, fn: Callable[..., Any], name: str) -> None:
        self.fn, self.name = fn, name
        self.signature = inspect.signature(fn)
        functools.update_wrapper(self, fn)

    def __repr__(self) -> str:
        return f"<keel pipeline {self.name}>"

    def __call__(self, **params: Any) -> Any:
        from keel.pipelines.runner import PipelineFailed, run_pipeline

        run = run_pipeline(self, params)
        if run.status != "SUCCEEDED":
            raise PipelineFailed(f"pipeline {self.name!r} run {run.id[:12]} failed: {run.error}", field="pipeline")
        return run.result


def pipeline(fn: Callable[..., Any] | None = None, *, name: str | None = None) -> Any:
    """Make a function a pipeline: its body calls steps, and the data passed between them defines the DAG."""
    def wrap(f: Callable[..., Any]) -> Pipeline:
        return Pipeline(f, name or f.__name__)

    return wrap(fn) if fn is not None else wrap
