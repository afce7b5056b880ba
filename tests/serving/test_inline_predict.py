"""Where a model predicts: a fast one inline on the event loop (a hop to a thread would cost more than the call),
a slow one on a worker thread (the loop keeps reading requests); the median of recent calls decides, so one slow
call does not move a fast model."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from serving_models import FEATURES, ThreadRecorder, register

from keel.serving.batching import BatchConfig
from keel.serving.model import ServedModel


def _served(delay_s: float, name: str, executor: ThreadPoolExecutor, batch: BatchConfig) -> ServedModel:
    version = register(ThreadRecorder(delay_s), name)
    served = ServedModel(f"models:/{name}/{version}", name, str(version), batch, executor)
    served.swap(served.load())
    return served


async def _predict_times(served: ServedModel, count: int) -> None:
    for _ in range(count):
        await served.predict(FEATURES)


@pytest.mark.parametrize("batch", [BatchConfig(max_batch_size=8, max_wait_ms=0), BatchConfig(max_batch_size=1)],
                         ids=["batched", "unbatched"])
def test_fast_models_run_inline_and_slow_ones_on_a_worker_thread(keel_home: Path, batch: BatchConfig) -> None:
    with ThreadPoolExecutor(2, thread_name_prefix="predict-pool") as executor:
        fast = _served(0.0, "fast", executor, batch)
        slow = _served(0.01, "slow", executor, batch)  # 10 ms per call: far above the inline limit
        ThreadRecorder.threads.clear()
        asyncio.run(_predict_times(fast, 10))
        assert ThreadRecorder.threads == ["MainThread"] * 10
        ThreadRecorder.threads.clear()
        asyncio.run(_predict_times(slow, 10))
        assert ThreadRecorder.threads[0] == "MainThread"  # nothing measured yet
        assert all(name.startswith("predict-pool") for name in ThreadRecorder.threads[1:])


def test_one_slow_call_does_not_move_a_fast_model_to_a_thread(keel_home: Path) -> None:
    with ThreadPoolExecutor(2, thread_name_prefix="predict-pool") as executor:
        fast = _served(0.0, "fast", executor, BatchConfig(max_batch_size=8, max_wait_ms=0))
        asyncio.run(_predict_times(fast, 5))
        fast._recent_s.append(0.5)  # a call that a pause elsewhere held up for half a second
        ThreadRecorder.threads.clear()
        asyncio.run(_predict_times(fast, 3))
        assert ThreadRecorder.threads == ["MainThread"] * 3
