"""Prometheus metrics of one model server: requests, errors, latency and batch size per model version.

Each app owns its :class:`~prometheus_client.CollectorRegistry`, so several apps (tests, multi-model servers) in one
process never share or clash on counters.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest

__all__ = ["CONTENT_TYPE_LATEST", "ServingMetrics"]

_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096, 16384)


class ServingMetrics:
    """The server's metrics, labelled by ``model`` and ``version`` (and ``protocol``, ``status`` where useful)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("keel_serving_requests", "Prediction requests received.",
                                ["model", "version", "protocol"], registry=self.registry)
        self.errors = Counter("keel_serving_errors", "Prediction requests that failed, by HTTP status.",
                              ["model", "version", "protocol", "status"], registry=self.registry)
        self.latency = Histogram("keel_serving_latency_seconds", "Time to decode, predict and encode a request.",
                                 ["model", "version", "protocol"], buckets=_LATENCY_BUCKETS, registry=self.registry)
        self.batch_size = Histogram("keel_serving_batch_size", "Rows per predict call.", ["model", "version"],
                                    buckets=_BATCH_BUCKETS, registry=self.registry)
        # Labelled children, looked up once: ``labels()`` takes a lock and builds a key on every call.
        self._per_request: dict[tuple[str, str, str], tuple[Any, Any]] = {}
        self._per_batch: dict[tuple[str, str], Any] = {}

    def observe(self, model: str, version: str, protocol: str, seconds: float, status: int) -> None:
        """Record one finished request: its latency and any error status."""
        key = (model, version, protocol)
        children = self._per_request.get(key)
        if children is None:
            children = self._per_request[key] = (self.requests.labels(*key), self.latency.labels(*key))
        children[0].inc()
        children[1].observe(seconds)
        if status >= 400:
            self.errors.labels(model, version, protocol, str(status)).inc()

    def observe_batch(self, model: str, version: str, rows: int) -> None:
        """Record one predict call of ``rows`` rows (several requests when micro-batching stacked them)."""
        child = self._per_batch.get((model, version))
        if child is None:
            child = self._per_batch[model, version] = self.batch_size.labels(model, version)
        child.observe(rows)

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)
