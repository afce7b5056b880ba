"""Adaptive micro-batching: concurrent requests share predict calls, answers go back to the right caller, one bad
request never fails its neighbours, a lone client never waits, and a batch waits for company only while requests
keep coming, never longer than max_wait_ms."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import numpy as np
import pandas as pd
import pytest

from keel.errors import InvalidInput
from keel.serving.batching import BatchConfig, MicroBatcher, split_rows, stack_rows


class Recorder:
    """A 'model' that doubles column x and records the size of every call; rows with x < 0 make it raise."""

    def __init__(self, delay_s: float = 0.0) -> None:
        self.calls: list[int] = []
        self.delay_s = delay_s
        self.lock = threading.Lock()

    def __call__(self, key: Any, frame: pd.DataFrame) -> np.ndarray:
        with self.lock:
            self.calls.append(len(frame))
        time.sleep(self.delay_s)
        if (frame["x"] < 0).any():
            raise ValueError("negative x")
        return frame["x"].to_numpy() * 2


def _frame(*values: float) -> pd.DataFrame:
    return pd.DataFrame({"x": list(values), "y": ["s"] * len(values)})


def test_stack_and_split_round_trip() -> None:
    parts = [_frame(1), _frame(2, 3), _frame(4)]
    stacked = stack_rows(parts)
    assert stacked is not None and stacked["x"].tolist() == [1, 2, 3, 4]
    pieces = split_rows(stacked["x"].to_numpy() * 10, [1, 2, 1])
    assert [p.tolist() for p in pieces] == [[10], [20, 30], [40]]
    frames = split_rows(pd.DataFrame({"p": [1, 2, 3, 4]}), [3, 1])
    assert frames[1]["p"].tolist() == [4] and frames[1].index.tolist() == [0]
    assert stack_rows([np.ones((1, 3)), np.zeros((2, 3))]).shape == (3, 3)  # type: ignore[union-attr]


def test_unstackable_parts_are_detected() -> None:
    assert stack_rows([_frame(1), pd.DataFrame({"z": [1]})]) is None
    assert stack_rows([np.ones((1, 3)), np.ones((1, 4))]) is None
    assert stack_rows([{"a": 1}, {"a": 2}]) is None
    with pytest.raises(ValueError, match="3 predictions for 4 rows"):
        split_rows(np.arange(3), [2, 2])


def test_bad_knobs_name_the_field() -> None:
    with pytest.raises(InvalidInput) as excinfo:
        BatchConfig(max_batch_size=0)
    assert excinfo.value.field == "max_batch_size"
    with pytest.raises(InvalidInput):
        BatchConfig(max_wait_ms=-1)


def test_concurrent_requests_are_stacked_and_answered_in_order() -> None:
    model = Recorder(delay_s=0.005)

    async def scenario() -> list[Any]:
        batcher = MicroBatcher(model, BatchConfig(max_batch_size=16, max_wait_ms=20))
        return await asyncio.gather(*(batcher.submit("m", _frame(i), 1) for i in range(64)))

    results = asyncio.run(scenario())
    assert [r.tolist() for r in results] == [[2 * i] for i in range(64)]
    assert sum(model.calls) == 64
    assert max(model.calls) <= 16 and len(model.calls) <= 8  # 64 rows in batches of at most 16


def test_a_failing_request_does_not_fail_its_batch() -> None:
    model = Recorder()

    async def scenario() -> list[Any]:
        batcher = MicroBatcher(model, BatchConfig(max_batch_size=8, max_wait_ms=20))
        values = [1, 2, -1, 4]
        return await asyncio.gather(*(batcher.submit("m", _frame(v), 1) for v in values), return_exceptions=True)

    results = asyncio.run(scenario())
    assert isinstance(results[2], ValueError)
    assert [r.tolist() for i, r in enumerate(results) if i != 2] == [[2], [4], [8]]
    assert model.calls[0] == 4  # tried together first, then one by one


def test_a_lone_client_never_waits() -> None:
    model = Recorder()

    async def scenario() -> list[float]:
        batcher = MicroBatcher(model, BatchConfig(max_batch_size=64, max_wait_ms=200))
        times = []
        for value in range(3):  # one request at a time, as a lone client sends them
            start = time.perf_counter()
            await batcher.submit("m", _frame(value), 1)
            times.append(time.perf_counter() - start)
        return times

    times = asyncio.run(scenario())
    assert max(times) < 0.1  # far below max_wait_ms
    assert model.calls == [1, 1, 1]


async def _burst_then(batcher: MicroBatcher[str], gaps_s: list[float]) -> tuple[list[float], list[Any]]:
    """A burst of 4 concurrent requests, then one request per gap (each ``gap`` seconds after the previous one),
    all in flight together; returns how long each of those waited and their answers."""
    await asyncio.gather(*(batcher.submit("m", _frame(i), 1) for i in range(4)))
    started: list[float] = []

    async def one(value: int) -> Any:
        started.append(time.perf_counter())
        answer = await batcher.submit("m", _frame(value), 1)
        return time.perf_counter() - started[value - 10], answer

    tasks = []
    for i, gap in enumerate(gaps_s):
        tasks.append(asyncio.ensure_future(one(10 + i)))
        await asyncio.sleep(gap)
    results = await asyncio.gather(*tasks)
    return [r[0] for r in results], [r[1] for r in results]


def test_after_a_burst_a_batch_waits_for_company_while_requests_keep_coming() -> None:
    model = Recorder()

    async def scenario() -> tuple[list[float], list[Any]]:
        batcher = MicroBatcher(model, BatchConfig(max_batch_size=64, max_wait_ms=400))
        return await _burst_then(batcher, [0.02, 0.02, 0.0])  # each well within the quiet time (100 ms)

    waits, answers = asyncio.run(scenario())
    assert model.calls == [4, 3]  # the three stragglers shared one call
    assert [a.tolist() for a in answers] == [[20], [22], [24]]
    assert waits[0] >= 0.04  # the first one waited for the other two


def test_a_batch_leaves_when_requests_stop_coming_and_never_after_max_wait() -> None:
    model = Recorder()

    async def scenario(gaps: list[float]) -> list[float]:
        batcher = MicroBatcher(model, BatchConfig(max_batch_size=64, max_wait_ms=200))
        waits, _ = await _burst_then(batcher, gaps)
        return waits

    quiet = asyncio.run(scenario([0.0]))  # a lone straggler: it leaves after the quiet time (50 ms)
    assert 0.04 <= quiet[0] < 0.19
    model.calls.clear()
    steady = asyncio.run(scenario([0.03] * 12))  # company keeps coming: the deadline closes the batch
    assert max(steady) < 0.35
    assert model.calls[0] == 4 and len(model.calls) >= 3  # no batch outlived max_wait_ms


def test_requests_for_different_models_are_never_mixed() -> None:
    seen: list[tuple[str, int]] = []

    def run(key: str, frame: pd.DataFrame) -> np.ndarray:
        seen.append((key, len(frame)))
        return frame["x"].to_numpy() + (100 if key == "new" else 0)

    async def scenario() -> list[Any]:
        batcher = MicroBatcher(run, BatchConfig(max_batch_size=32, max_wait_ms=10))
        keys = ["old"] * 3 + ["new"] * 3
        return await asyncio.gather(*(batcher.submit(k, _frame(i), 1) for i, k in enumerate(keys)))

    results = asyncio.run(scenario())
    assert [r.tolist()[0] for r in results] == [0, 1, 2, 103, 104, 105]
    assert sorted(seen) == [("new", 3), ("old", 3)]
