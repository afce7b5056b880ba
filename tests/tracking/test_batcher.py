"""The background metric batcher: retries with the same batch id, never drops points silently."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from keel.errors import InvalidInput, Unavailable
from keel.tracking.batcher import MetricBatcher
from keel.tracking.points import MetricPoints


class FlakyRepo:
    """Fails the first `failures` sends with `error`, then stores; remembers batch ids like the server."""

    def __init__(self, failures: int = 0, error: Exception | None = None) -> None:
        self.failures = failures
        self.error = error or Unavailable("server down")
        self.stored: list[tuple[str, float, int]] = []
        self.batch_ids: list[str | None] = []
        self.lock = threading.Lock()
        self.done: set[str | None] = set()

    def log_metric_columns(self, run_id: str, columns: MetricPoints, batch_id: str | None = None) -> int:
        with self.lock:
            self.batch_ids.append(batch_id)
            if self.failures:
                self.failures -= 1
                raise self.error
            if batch_id in self.done:
                return 0
            self.stored += list(zip(columns.keys, columns.values, columns.steps, strict=True))
            self.done.add(batch_id)
            return len(columns)


def _batcher(repo: Any, **kw: Any) -> MetricBatcher:
    return MetricBatcher(repo, "run1", batch_size=100, flush_interval_s=0.01, **kw)


def test_points_arrive_in_order_and_once() -> None:
    repo = FlakyRepo()
    b = _batcher(repo)
    for i in range(1050):
        b.log("m", float(i), 1, i)
    b.close()
    assert [s for _, _, s in repo.stored] == list(range(1050))
    assert b.acknowledged == 1050 and b.pending == 0


def test_transient_failures_are_retried_with_the_same_batch_id() -> None:
    repo = FlakyRepo(failures=3)
    b = _batcher(repo)
    for i in range(50):
        b.log("m", float(i), 1, i)
    b.flush()
    assert [s for _, _, s in repo.stored] == list(range(50))
    assert len(set(repo.batch_ids)) == 1 and len(repo.batch_ids) == 4  # 3 failures + 1 success, one id
    b.close()


def test_permanent_failure_surfaces_and_keeps_the_points() -> None:
    repo = FlakyRepo(failures=10**6, error=InvalidInput("run is deleted"))
    b = _batcher(repo)
    for i in range(30):
        b.log("m", float(i), 1, i)
    with pytest.raises(InvalidInput, match="30 points kept.*run is deleted"):
        b.flush()
    assert b.pending == 30 and repo.stored == []
    with pytest.raises(InvalidInput):
        b.log("m", 1.0, 1, 99)


def test_retry_window_exhausted_raises_unavailable() -> None:
    repo = FlakyRepo(failures=10**6)
    b = _batcher(repo, retry_for_s=0.3)
    b.log("m", 1.0, 1, 0)
    with pytest.raises(Unavailable, match="1 points kept"):
        b.flush()
