"""Non-blocking metric logging: points are buffered and sent in batches by a background thread.

A batch that fails to send is retried with backoff under the same batch id (the server ignores a batch id it has
stored already), and is never dropped silently: an error that retrying cannot fix is raised by the next
:meth:`MetricBatcher.log`, :meth:`~MetricBatcher.flush` or :meth:`~MetricBatcher.close`.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid

from keel.errors import KeelError, Unavailable
from keel.tracking.points import MetricPoints
from keel.tracking.repository import TrackingRepository

__all__ = ["MetricBatcher"]

log = logging.getLogger(__name__)


class MetricBatcher:
    """Buffers metric points for one run and ships them in the background."""

    def __init__(self, repo: TrackingRepository, run_id: str, *, batch_size: int = 20_000,
                 flush_interval_s: float = 0.5, retry_for_s: float = 600.0, max_pending: int = 5_000_000) -> None:
        self.repo = repo
        self.run_id = run_id
        self.batch_size = batch_size
        self.flush_interval_s = flush_interval_s
        self.retry_for_s = retry_for_s
        self.max_pending = max_pending
        self.acknowledged = 0
        self._buf = MetricPoints()
        self._in_flight = 0
        self._seq = 0
        self._prefix = uuid.uuid4().hex[:16]
        self._error: KeelError | None = None
        self._closed = False
        self._flushing = False
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._thread = threading.Thread(target=self._loop, name=f"keel-metrics-{run_id[:8]}", daemon=True)
        self._thread.start()

    def log(self, key: str, value: float, timestamp: int, step: int) -> None:
        """Queue one point (returns at once unless the buffer is full)."""
        with self._lock:  # the condition's own lock, taken directly: this is the hot path
            if self._error is not None:
                self._raise()
            buf = self._buf
            buf.keys.append(key)
            buf.values.append(value)
            buf.timestamps.append(timestamp)
            buf.steps.append(step)
            if len(buf.keys) >= self.batch_size:
                self._cond.notify_all()
                while len(self._buf.keys) >= self.max_pending and self._error is None:
                    self._cond.wait(0.1)

    def log_many(self, points: MetricPoints) -> None:
        """Queue many points at once."""
        with self._cond:
            if self._error is not None:
                self._raise()
            self._buf.keys.extend(points.keys)
            self._buf.values.extend(points.values)
            self._buf.timestamps.extend(points.timestamps)
            self._buf.steps.extend(points.steps)
            if len(self._buf.keys) >= self.batch_size:
                self._cond.notify_all()

    @property
    def pending(self) -> int:
        """Points queued or in flight but not yet acknowledged by the store."""
        with self._cond:
            return len(self._buf.keys) + self._in_flight

    def flush(self) -> None:
        """Block until every queued point is stored; raise if they cannot be."""
        with self._cond:
            self._flushing = True
            self._cond.notify_all()
            while (self._buf.keys or self._in_flight) and self._error is None:
                self._cond.wait(0.05)
            self._flushing = False
            if self._error is not None:
                self._raise()

    def close(self) -> None:
        """Flush and stop the background thread."""
        try:
            self.flush()
        finally:
            with self._cond:
                self._closed = True
                self._cond.notify_all()
            self._thread.join(timeout=5)

    def _raise(self) -> None:
        err = self._error
        assert err is not None
        kept = len(self._buf.keys) + self._in_flight  # caller holds the lock
        raise type(err)(f"metrics for run {self.run_id} were not stored ({kept} points kept): "
                        f"{err.message}")

    def _loop(self) -> None:
        while True:
            with self._cond:
                deadline = time.monotonic() + self.flush_interval_s
                while not (self._closed or self._flushing) and len(self._buf.keys) < self.batch_size:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self._cond.wait(left)
                if self._closed and not self._buf.keys:
                    return
                if not self._buf.keys or self._error is not None:
                    if self._closed:
                        return
                    if self._flushing:
                        self._cond.wait(0.05)
                    continue
                batch = self._take()
            self._send(batch)

    def _take(self) -> MetricPoints:
        buf = self._buf
        n = min(len(buf.keys), self.batch_size)
        batch = MetricPoints(buf.keys[:n], buf.values[:n], buf.timestamps[:n], buf.steps[:n])
        self._buf = MetricPoints(buf.keys[n:], buf.values[n:], buf.timestamps[n:], buf.steps[n:])
        self._in_flight = n
        return batch

    def _send(self, batch: MetricPoints) -> None:
        self._seq += 1
        batch_id = f"{self._prefix}-{self._seq}"
        deadline = time.monotonic() + self.retry_for_s
        delay = 0.1
        while True:
            try:
                self.repo.log_metric_columns(self.run_id, batch, batch_id=batch_id)
            except Unavailable as exc:
                if time.monotonic() + delay > deadline:
                    self._fail(batch, exc)
                    return
                log.warning("keel: metric batch for run %s not sent yet (%s); retrying", self.run_id, exc)
                time.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            except KeelError as exc:
                self._fail(batch, exc)
                return
            with self._cond:
                self.acknowledged += len(batch)
                self._in_flight = 0
                self._cond.notify_all()
            return

    def _fail(self, batch: MetricPoints, exc: KeelError) -> None:
        with self._cond:
            # Put the points back in front so nothing is lost; the error surfaces to the caller.
            self._buf = MetricPoints(batch.keys + self._buf.keys, batch.values + self._buf.values,
                                     batch.timestamps + self._buf.timestamps, batch.steps + self._buf.steps)
            self._in_flight = 0
            self._error = exc
            self._cond.notify_all()
