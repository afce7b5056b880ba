"""The Ray executor for batch scoring: one Ray task per chunk, a bounded number in flight.

The driver keeps reading chunks and submitting :func:`keel.serving.batch.score_chunk` tasks; the model is put in
the object store once and shared by every task. Ray's errors become Keel errors here: a Keel error raised inside a
task (bad input, a failing model) comes back as itself, anything else Ray reports is :class:`Unavailable`.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Generator, Iterable
from typing import Any

import pyarrow as pa

from keel.errors import InvalidInput, KeelError, Unavailable
from keel.registry.model_files import LoadedModel
from keel.serving.batch import Chunk, ScoreSpec, score_chunk

__all__ = ["RayExecutor", "import_ray"]

_INSTALL = 'pip install "keel-mlops[ray]"'


def import_ray() -> Any:
    """The ``ray`` module, or :class:`InvalidInput` saying how to install it."""
    try:
        import ray
    except ImportError as exc:
        raise InvalidInput(f"executor 'ray' needs Ray, which is not installed; {_INSTALL}", field="executor") from exc
    return ray


class RayExecutor:
    """Scores chunks as Ray tasks on the cluster at ``address`` (a new local Ray when ``None``).

    A Ray already initialised in this process is used as it is; one started here is shut down when scoring ends.
    At most ``max_in_flight`` chunks (default: twice the cluster's CPUs) are submitted and not yet written.
    """

    def __init__(self, address: str | None = None, max_in_flight: int | None = None) -> None:
        self.address = address
        self.max_in_flight = max_in_flight
        self.ray = import_ray()

    def map(self, model: LoadedModel, spec: ScoreSpec, chunks: Iterable[Chunk]) -> Generator[tuple[int, pa.Table]]:
        """Submit one task per chunk and yield each result as it completes (no Ray is started when every chunk
        was done already)."""
        ray = self.ray
        remaining = iter(chunks)
        first = next(remaining, None)
        if first is None:
            return
        started_here = self._connect()
        pending: dict[Any, int] = {}
        try:
            limit = self.max_in_flight or max(2, 2 * int(ray.cluster_resources().get("CPU", 1)))
            task = ray.remote(score_chunk)
            shared = ray.put(model)
            for chunk in itertools.chain([first], remaining):
                pending[task.remote(shared, spec, chunk.start, chunk.table)] = chunk.index
                while len(pending) >= limit:
                    yield self._next_result(pending)
            while pending:
                yield self._next_result(pending)
        finally:
            for ref in pending:
                ray.cancel(ref)
            if started_here:
                ray.shutdown()

    def _connect(self) -> bool:
        """Initialise Ray unless it is already; True when this call started it."""
        ray = self.ray
        if ray.is_initialized():
            return False
        kwargs: dict[str, Any] = {"address": self.address} if self.address else {"include_dashboard": False}
        try:
            ray.init(logging_level=logging.WARNING, **kwargs)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            where = self.address or "a new local cluster"
            raise Unavailable(f"cannot start or reach Ray at {where}: {exc}; check --ray-address (e.g. "
                              "ray://host:10001 or host:6379) and that the cluster is up") from exc
        return True

    def _next_result(self, pending: dict[Any, int]) -> tuple[int, pa.Table]:
        ray = self.ray
        [ready], _ = ray.wait(list(pending), num_returns=1)
        index = pending.pop(ready)
        try:
            return index, ray.get(ready)
        except ray.exceptions.RayTaskError as exc:
            cause = getattr(exc, "cause", None)
            if isinstance(cause, KeelError):
                raise type(cause)(cause.message, field=cause.field) from exc
            raise Unavailable(f"Ray task for chunk {index} failed: {cause or exc}") from exc
        except ray.exceptions.RayError as exc:
            raise Unavailable(f"Ray lost chunk {index}: {exc}; rerun to resume from the finished chunks") from exc
