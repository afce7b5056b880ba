"""Adaptive micro-batching: concurrent requests for one model are stacked into one predict call and split back.

A batch closes when it holds ``max_batch_size`` rows, when its oldest request has waited ``max_wait_ms``, or when
no request has come for a quarter of ``max_wait_ms`` (the burst is over: waiting on would only add latency). The
wait counts from the oldest request's arrival, not from the moment the batcher looks: requests that queued up while
the previous batch was predicting have already waited, so under load batches leave at once and grow with the load.
A batch waits for company only when the previous one had some: a lone client's requests never wait at all.

One batch predicts at a time per model: inline on the event loop when the model is fast (a hop to a worker thread
would cost more than the predict call), else on a worker thread, so the event loop keeps reading requests meanwhile.
If a stacked batch fails, each request is retried alone, so one bad request never fails its neighbours.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import numpy as np
import pandas as pd

from keel.errors import InvalidInput

__all__ = ["ADAPTIVE", "BatchConfig", "MicroBatcher", "call_model", "split_rows", "stack_rows"]

K = TypeVar("K")


@dataclass(frozen=True)
class BatchConfig:
    """Micro-batching knobs of one model: ``max_batch_size`` rows per predict call (1 turns batching off) and the
    longest a request waits for company, in milliseconds."""

    max_batch_size: int = 1
    max_wait_ms: float = 2.0

    def __post_init__(self) -> None:
        if not 1 <= self.max_batch_size <= 100_000:
            raise InvalidInput(f"max_batch_size must be between 1 and 100000, got {self.max_batch_size}",
                               field="max_batch_size")
        if not 0 <= self.max_wait_ms <= 10_000:
            raise InvalidInput(f"max_wait_ms must be between 0 and 10000, got {self.max_wait_ms}",
                               field="max_wait_ms")

    @property
    def enabled(self) -> bool:
        """True when requests may be stacked."""
        return self.max_batch_size > 1


#: What a single model is served with when nothing is configured: up to 64 rows per predict call, and a batch waits
#: at most 2 ms for company, only while requests keep coming, and only when the previous batch had company (so a
#: lone client never waits).
ADAPTIVE = BatchConfig(max_batch_size=64, max_wait_ms=2.0)


def stack_rows(parts: Sequence[Any]) -> Any | None:
    """One input holding every part's rows in order, or ``None`` when the parts cannot be stacked (mixed kinds,
    different columns, tensors of different widths)."""
    first = parts[0]
    if isinstance(first, pd.DataFrame):
        columns = list(first.columns)
        if all(isinstance(p, pd.DataFrame) and list(p.columns) == columns for p in parts):
            return pd.concat(parts, ignore_index=True, copy=False)
        return None
    same = all(isinstance(p, np.ndarray) and p.shape[1:] == first.shape[1:] and p.dtype == first.dtype for p in parts)
    return np.concatenate(parts) if isinstance(first, np.ndarray) and first.ndim >= 1 and same else None


def split_rows(predictions: Any, counts: Sequence[int]) -> list[Any]:
    """Cut a stacked prediction back into one piece per request (``counts`` rows each)."""
    total = sum(counts)
    rows = len(predictions) if hasattr(predictions, "__len__") else -1
    if rows != total:
        raise ValueError(f"the model returned {rows} predictions for {total} rows")
    bounds = np.cumsum([0, *counts])
    if isinstance(predictions, pd.DataFrame | pd.Series):
        return [predictions.iloc[a:b].reset_index(drop=True) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    return [predictions[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


@dataclass
class _Item(Generic[K]):
    key: K
    data: Any
    rows: int
    future: asyncio.Future[Any]
    arrived: float = field(default_factory=time.perf_counter)


class MicroBatcher(Generic[K]):
    """Stacks concurrent ``submit`` calls that share a ``key`` (the loaded model they target) into one
    ``run(key, batch)`` call on ``executor``; answers each caller with its own rows of the result."""

    def __init__(self, run: Callable[[K, Any], Any], config: BatchConfig, executor: Executor | None = None,
                 on_batch: Callable[[int], None] | None = None, inline: Callable[[], bool] | None = None) -> None:
        self._run, self.config, self._executor, self._on_batch = run, config, executor, on_batch
        self._inline = inline
        self._pending: deque[_Item[K]] = deque()
        self._rows = 0
        self._last_arrival = 0.0
        self._had_company = False
        self._arrived: asyncio.Event | None = None
        self._worker: asyncio.Task[None] | None = None

    async def submit(self, key: K, data: Any, rows: int) -> Any:
        """Queue ``rows`` rows of ``data`` for the model ``key``; returns their predictions."""
        loop = asyncio.get_running_loop()
        item = _Item(key, data, rows, loop.create_future())
        self._last_arrival = item.arrived
        self._pending.append(item)
        self._rows += rows
        if self._arrived is None:
            self._arrived = asyncio.Event()
        self._arrived.set()
        if self._worker is None or self._worker.done():
            self._worker = loop.create_task(self._drain())
        return await item.future

    async def _drain(self) -> None:
        while self._pending:
            await self._gather()
            batch = self._take()
            await self._predict(batch)

    async def _gather(self) -> None:
        """Wait until the pending rows fill a batch, the oldest pending request has waited ``max_wait_ms``, or
        requests stop coming; at once when the previous batch was a lone request."""
        assert self._arrived is not None
        if not self._had_company and len(self._pending) == 1:
            return
        wait_s = self.config.max_wait_ms / 1000.0
        deadline, quiet_s = self._pending[0].arrived + wait_s, wait_s / 4
        while self._rows < self.config.max_batch_size:
            until = min(deadline, self._last_arrival + quiet_s)
            remaining = until - time.perf_counter()
            if remaining <= 0:
                return
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), remaining)
            except TimeoutError:
                return

    def _take(self) -> list[_Item[K]]:
        """Pop the next batch: requests for the same model as the oldest one, up to ``max_batch_size`` rows."""
        first = self._pending.popleft()
        batch, rows = [first], first.rows
        while self._pending and self._pending[0].key is first.key:
            if rows + self._pending[0].rows > self.config.max_batch_size:
                break
            item = self._pending.popleft()
            batch.append(item)
            rows += item.rows
        self._rows -= rows
        self._had_company = len(batch) > 1
        return batch

    async def _predict(self, batch: list[_Item[K]]) -> None:
        stacked = stack_rows([item.data for item in batch]) if len(batch) > 1 else batch[0].data
        if stacked is None:
            await self._one_by_one(batch)
            return
        try:
            predictions = await call_model(self._run, batch[0].key, stacked, self._executor, self._inline)
            parts = [predictions] if len(batch) == 1 else split_rows(predictions, [item.rows for item in batch])
        except Exception as exc:
            if len(batch) == 1:
                _settle(batch[0].future, exc=exc)
            else:
                await self._one_by_one(batch)
            return
        if self._on_batch is not None:
            self._on_batch(sum(item.rows for item in batch))
        for item, part in zip(batch, parts, strict=True):
            _settle(item.future, part)

    async def _one_by_one(self, batch: list[_Item[K]]) -> None:
        for item in batch:
            try:
                result = await call_model(self._run, item.key, item.data, self._executor, self._inline)
            except Exception as exc:
                _settle(item.future, exc=exc)
            else:
                if self._on_batch is not None:
                    self._on_batch(item.rows)
                _settle(item.future, result)


async def call_model(run: Callable[[K, Any], Any], key: K, data: Any, executor: Executor | None,
                     inline: Callable[[], bool] | None) -> Any:
    """``run(key, data)``: on the event loop when ``inline()`` says the model is fast, else on ``executor``."""
    if inline is not None and inline():
        return run(key, data)
    return await asyncio.get_running_loop().run_in_executor(executor, run, key, data)


def _settle(future: asyncio.Future[Any], result: Any = None, exc: BaseException | None = None) -> None:
    if future.done():  # the caller went away (client disconnected)
        return
    if exc is not None:
        future.set_exception(exc)
    else:
        future.set_result(result)
