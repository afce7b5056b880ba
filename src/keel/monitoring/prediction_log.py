"""The prediction log writer: every served prediction is appended without blocking the request path.

:meth:`PredictionLog.record` only appends a reference to the request's inputs and outputs to an in-memory buffer
(O(1) under one briefly held lock). A daemon writer thread wakes every ``flush_interval_s`` (or on
:meth:`~PredictionLog.flush`), encodes what was buffered (:mod:`keel.monitoring.prediction_rows`) and writes it
as Parquet under the log's root, by default ``<artifact root>/predictions``::

    <root>/deployment=<name>/date=YYYY-MM-DD/part-<epoch_ms>-<uuid8>.parquet

``<name>`` is URL-quoted (hive partitioning decodes it on read) and dates are UTC. Each file is written to a
``.tmp-`` name and renamed into place (a single PUT on object stores), so readers never see half a file; the
random suffix lets many processes (uvicorn workers, replicas) write to the same root at once.

**Crash window.** Rows live only in memory until the writer flushes them. A process killed without running its exit
hooks (SIGKILL, out of memory, power loss) loses what it recorded since the last flush began: at most
``flush_interval_s`` plus the time one write takes. Everything recorded before the last completed flush is on disk.
A normal exit (interpreter shutdown, uvicorn's SIGTERM handling, ``sys.exit``) flushes through
:meth:`~PredictionLog.close`, which is registered with :mod:`atexit`.

**Back-pressure.** Recording never waits for storage. When the buffer holds more than ``max_buffer_rows`` rows
(storage is slow or down), the oldest requests are dropped, counted in :attr:`~PredictionLog.dropped` and warned
about (at most once a minute); a single request larger than the whole buffer is dropped alone. Requests that
cannot be encoded, and rows whose write still fails after retrying for ~10 s, are counted there too, and the next
:meth:`~PredictionLog.flush` (or :meth:`~PredictionLog.close`) raises the error.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
import uuid
import weakref
from collections import deque
from collections.abc import Iterator
from types import TracebackType
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import pyarrow as pa
import pyarrow.parquet as pq

from keel.artifacts import FsspecStorage
from keel.config import get_settings
from keel.errors import InvalidInput, KeelError, Unavailable
from keel.monitoring.prediction_rows import PredictionRecord, encode_batch, row_count

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["FILE_PREFIX", "FILE_SUFFIX", "PredictionLog", "default_root", "deployment_dir", "partition_dir"]

log = logging.getLogger("keel.monitoring")

FILE_PREFIX = "part-"
FILE_SUFFIX = ".parquet"

_RETRY_FOR_S = 10.0
_JOIN_TIMEOUT_S = 60.0
_WARN_EVERY_S = 60.0

_Buffer = deque[tuple[PredictionRecord, int]]


def default_root() -> str:
    """Where the prediction log lives unless told otherwise: ``<artifact root>/predictions``."""
    return f"{get_settings().resolved_artifact_root.rstrip('/')}/predictions"


def deployment_dir(deployment: str) -> str:
    """The directory of one deployment's predictions, relative to the root (the name URL-quoted)."""
    return f"deployment={quote(deployment, safe='')}"


def partition_dir(deployment: str, date: str) -> str:
    """The partition directory of one deployment's predictions on one UTC date, relative to the root."""
    return f"{deployment_dir(deployment)}/date={date}"


def _file_name() -> str:
    return f"{FILE_PREFIX}{time.time_ns() // 1_000_000}-{uuid.uuid4().hex[:8]}{FILE_SUFFIX}"


def _parquet_bytes(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd")
    return bytes(sink.getvalue().to_pybytes())


class PredictionLog:
    """A buffered, append-only log of served predictions, written as Parquet partitions by a background thread.

    ``root`` is any fsspec URL or local path (default ``<artifact root>/predictions``). The writer thread starts
    on the first :meth:`record`. Use one instance per process; several processes may share a root.
    """

    def __init__(self, root: str | None = None, *, flush_interval_s: float = 1.0,
                 max_buffer_rows: int = 50_000) -> None:
        if not flush_interval_s > 0:
            raise InvalidInput(f"flush_interval_s must be a positive number of seconds, got {flush_interval_s!r}",
                               field="flush_interval_s")
        if isinstance(max_buffer_rows, bool) or not isinstance(max_buffer_rows, int) or max_buffer_rows < 1:
            raise InvalidInput(f"max_buffer_rows must be a positive integer, got {max_buffer_rows!r}",
                               field="max_buffer_rows")
        self.root = root or default_root()
        self.flush_interval_s = float(flush_interval_s)
        self.max_buffer_rows = max_buffer_rows
        self._storage = FsspecStorage(self.root)
        self._reset()
        _OPEN.add(self)

    def _reset(self) -> None:
        """Fresh state: at construction, and in a forked child (the parent keeps and writes its own buffer)."""
        self._cond = threading.Condition(threading.Lock())
        self._buffer: _Buffer = deque()
        self._buffered_rows = 0
        self._seq = self._done_seq = self._flush_target = 0
        self._dropped = self._written = 0
        self._error: KeelError | None = None
        self._thread: threading.Thread | None = None
        self._closed = False
        self._warned_at = float("-inf")

    def __repr__(self) -> str:
        return f"PredictionLog({self.root!r})"

    def __enter__(self) -> PredictionLog:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    @property
    def dropped(self) -> int:
        """Rows lost so far: buffer overflow, recorded after close, unencodable, or failed writes."""
        return self._dropped

    @property
    def written_rows(self) -> int:
        """Rows written to storage so far by this process."""
        return self._written

    def record(self, *, request_id: str, deployment: str, model_name: str, model_version: str,
               inputs: pd.DataFrame, outputs: Any, latency_ms: float, shadow: bool = False,
               timestamp: float | None = None, status: int = 200) -> None:
        """Queue one served request for the log; returns at once (nothing is encoded or written here).

        ``inputs`` is the request's frame (one log row per frame row) and ``outputs`` the prediction (array,
        Series, DataFrame, dict of arrays, list or scalar); both are kept by reference, so do not mutate them
        afterwards. ``timestamp`` is in epoch seconds (default: now).
        """
        rec = PredictionRecord(request_id, deployment, model_name, model_version, inputs, outputs, latency_ms,
                               shadow, time.time() if timestamp is None else timestamp, status)
        rows = row_count(inputs)
        with self._cond:
            if self._closed:
                self._drop(rows, "the log is closed")
                return
            if rows > self.max_buffer_rows:
                self._drop(rows, f"a request of {rows} rows is larger than max_buffer_rows={self.max_buffer_rows}")
                return
            if self._thread is None:
                self._start()
            self._seq += 1
            self._buffer.append((rec, rows))
            self._buffered_rows += rows
            while self._buffered_rows > self.max_buffer_rows:
                _, old = self._buffer.popleft()
                self._buffered_rows -= old
                self._drop(old, f"the buffer is full ({self.max_buffer_rows} rows; storage is too slow)")

    def flush(self) -> None:
        """Block until everything recorded so far is written; raise the error if some rows could not be."""
        with self._cond:
            if self._thread is not None:
                target = self._seq
                self._flush_target = max(self._flush_target, target)
                self._cond.notify_all()
                while self._done_seq < target and self._thread.is_alive():
                    self._cond.wait(0.1)
            self._raise_pending()

    def close(self) -> None:
        """Flush, stop the writer thread and stop accepting records (idempotent; also run at exit)."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            thread = self._thread
            self._cond.notify_all()
        if thread is not None:
            thread.join(_JOIN_TIMEOUT_S)
        _OPEN.discard(self)
        with self._cond:
            self._raise_pending()

    # -- under the lock ------------------------------------------------------------------------------------

    def _start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="keel-prediction-log", daemon=True)
        self._thread.start()

    def _drop(self, rows: int, why: str) -> None:
        self._dropped += rows
        now = time.monotonic()
        if now - self._warned_at >= _WARN_EVERY_S:
            self._warned_at = now
            log.warning("keel: prediction log %s dropped %d rows so far: %s", self.root, self._dropped, why)

    def _raise_pending(self) -> None:
        error, self._error = self._error, None
        if error is not None:
            raise type(error)(f"prediction log {self.root}: some rows were not written ({self._dropped} dropped "
                              f"so far): {error.message}", field=error.field)

    # -- on the writer thread ------------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._cond:
                deadline = time.monotonic() + self.flush_interval_s
                while not self._closed and self._flush_target <= self._done_seq:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self._cond.wait(left)
                records, last, stop = self._buffer, self._seq, self._closed
                self._buffer, self._buffered_rows = deque(), 0
            self._write(records)
            with self._cond:
                self._done_seq = last
                self._cond.notify_all()
            if stop:
                return

    def _write(self, records: _Buffer) -> None:
        if not records:
            return
        total = sum(rows for _, rows in records)
        try:
            parts, failed = encode_batch(_paced(records))
        except Exception as exc:  # noqa: BLE001 - the writer thread must survive anything
            self._fail(total, exc)
            return
        if failed:
            self._fail(failed, InvalidInput(f"{failed} rows could not be encoded; see the warnings logged"))
        for (deployment, date), table in parts.items():
            try:
                self._put(f"{partition_dir(deployment, date)}/{_file_name()}", _parquet_bytes(table))
            except Exception as exc:  # noqa: BLE001 - the writer thread must survive anything
                self._fail(table.num_rows, exc)
            else:
                with self._cond:
                    self._written += table.num_rows

    def _put(self, rel: str, data: bytes) -> None:
        deadline, delay = time.monotonic() + _RETRY_FOR_S, 0.1
        while True:
            try:
                self._storage.write_atomic(rel, [data])
                return
            except Unavailable as exc:
                if time.monotonic() + delay > deadline:
                    raise
                log.warning("keel: prediction log write to %s failed (%s); retrying", self.root, exc)
                time.sleep(delay)
                delay = min(delay * 2, 2.0)

    def _fail(self, rows: int, exc: Exception) -> None:
        error = exc if isinstance(exc, KeelError) else Unavailable(f"{type(exc).__name__}: {exc}")
        log.error("keel: %d prediction rows not written to %s: %s", rows, self.root, error.message)
        with self._cond:
            self._dropped += rows
            self._error = error


_OPEN: weakref.WeakSet[PredictionLog] = weakref.WeakSet()


def _close_all() -> None:
    for plog in list(_OPEN):
        try:
            plog.close()
        except Exception:  # noqa: BLE001 - at exit, report and go on closing the rest
            log.exception("keel: could not flush prediction log %s at exit", plog.root)


def _reset_in_child() -> None:
    for plog in list(_OPEN):
        plog._reset()


atexit.register(_close_all)
os.register_at_fork(after_in_child=_reset_in_child)


_PACE_S = 0.0005  # longest stretch of encoding between two hand-overs of the GIL


def _paced(records: _Buffer) -> Iterator[PredictionRecord]:
    """Take the records out of ``records`` one by one (each is freed once encoded, not all together at the end, a
    stall of milliseconds), handing the GIL to the serving thread every half millisecond: encoding a second's
    requests holds it for tens of milliseconds, and a request waiting that long for it is a request the tail
    latency counts."""
    last = time.perf_counter()
    while records:
        now = time.perf_counter()
        if now - last >= _PACE_S:
            time.sleep(0)
            last = time.perf_counter()
        yield records.popleft()[0]
