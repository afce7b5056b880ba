"""Prometheus metrics of ``keel server`` at ``GET /metrics``.

- ``keel_server_requests_total{method,route,status}`` and ``keel_server_latency_seconds{method,route}``: every HTTP
  request, labelled by its route template (``/api/v1/monitors/{name}``), so ids never explode the label space.
- ``keel_monitor_value{monitor,metric,column}`` and ``keel_monitor_flagged{...}``: each monitor's latest window
  (``column`` is empty for whole-window metrics); performance metrics come from the newest window that has them,
  since labels arrive late. ``keel_monitor_window_end_timestamp_seconds{monitor}`` tells how fresh that is.
- ``keel_alerts_firing{rule,monitor}``: firing alerts per rule (0 when quiet).

Monitor figures are read from the store at scrape time, so they are never stale and cost nothing between scrapes.
Names follow ``keel serve``'s (:mod:`keel.serving.metrics`): ``keel_<component>_...``, latency in seconds. Each app
owns its :class:`~prometheus_client.CollectorRegistry`.
"""

from __future__ import annotations

import logging
import math
import time
from collections import Counter as Tally
from collections.abc import Callable, Iterator

from fastapi import FastAPI
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from keel.monitoring.monitor_run import PERFORMANCE_METRICS
from keel.monitoring.monitor_store import Result, SqlMonitorStore
from keel.server.permissions import requires

__all__ = ["MonitorCollector", "RequestMetrics", "ServerMetrics", "install_metrics"]

log = logging.getLogger("keel.server")

_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class ServerMetrics:
    """The server's registry: request metrics, plus the monitor gauges when given the monitor store."""

    def __init__(self, monitors: MonitorSource | None = None) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("keel_server_requests", "HTTP requests answered, by route template and status.",
                                ["method", "route", "status"], registry=self.registry)
        self.latency = Histogram("keel_server_latency_seconds", "Time to answer an HTTP request.",
                                 ["method", "route"], buckets=_LATENCY_BUCKETS, registry=self.registry)
        if monitors is not None:
            self.registry.register(MonitorCollector(monitors))

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        """Record one answered request."""
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric (monitor gauges read now)."""
        return generate_latest(self.registry)


class RequestMetrics:
    """ASGI middleware timing each HTTP request and labelling it with the route template the router matched."""

    def __init__(self, app: ASGIApp, metrics: ServerMetrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start, status = time.perf_counter(), 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = scope.get("route")  # set by the router on the (shared, mutated) scope once a route matched
            template = getattr(route, "path", None) or "(unmatched)"
            self.metrics.observe(scope.get("method", "GET"), template, status, time.perf_counter() - start)


#: A monitor store, or a function giving the one to read at scrape time (the scrape's project in ``keel server``).
MonitorSource = SqlMonitorStore | Callable[[], SqlMonitorStore]


class MonitorCollector(Collector):
    """Monitor gauges collected at scrape time from a :class:`SqlMonitorStore`."""

    def __init__(self, store: MonitorSource) -> None:
        self.source = store

    @property
    def store(self) -> SqlMonitorStore:
        """The store to read now."""
        return self.source if isinstance(self.source, SqlMonitorStore) else self.source()

    def describe(self) -> list[Metric]:
        return []  # registering must not read the store

    def collect(self) -> Iterator[Metric]:
        value = GaugeMetricFamily("keel_monitor_value", "A monitor's metric in its latest window.",
                                  labels=["monitor", "metric", "column"])
        flagged = GaugeMetricFamily("keel_monitor_flagged", "1 when the metric is past its threshold.",
                                    labels=["monitor", "metric", "column"])
        window_end = GaugeMetricFamily("keel_monitor_window_end_timestamp_seconds",
                                       "End of the monitor's latest processed window.", labels=["monitor"])
        firing = GaugeMetricFamily("keel_alerts_firing", "Firing alerts of an alert rule.", labels=["rule", "monitor"])
        try:
            self._fill(self.store, value, flagged, window_end, firing)
        except Exception:  # a scrape must answer even when the store does not; the log says why
            log.exception("reading monitors for /metrics failed")
            return
        yield from (value, flagged, window_end, firing)

    def _fill(self, store: SqlMonitorStore, value: GaugeMetricFamily, flagged: GaugeMetricFamily,
              window_end: GaugeMetricFamily, firing: GaugeMetricFamily) -> None:
        for monitor in store.list():
            if monitor.last_window_end is None:
                continue
            window_end.add_metric([monitor.name], monitor.last_window_end / 1000)
            for r in _latest(store, monitor.name, monitor.last_window_end, bool(monitor.config.get("task"))):
                labels = [monitor.name, r.metric, r.column or ""]
                if r.value is not None and not math.isnan(r.value):
                    value.add_metric(labels, r.value)
                flagged.add_metric(labels, float(r.flagged))
        counts = Tally((a.rule, a.monitor) for a in store.alerts(state="firing", limit=100_000))
        for rule in store.rules():
            firing.add_metric([rule.name, rule.monitor], float(counts.pop((rule.name, rule.monitor), 0)))
        for (rule_name, monitor_name), count in counts.items():  # alerts of rules deleted since they fired
            firing.add_metric([rule_name, monitor_name], float(count))


def _latest(store: SqlMonitorStore, monitor: str, last_end: int, labelled: bool) -> list[Result]:
    """The latest window's results, with each performance metric from the newest window holding it."""
    rows = store.results(monitor, since=last_end - 1)
    if labelled:
        have = {r.metric for r in rows}
        for metric in PERFORMANCE_METRICS:
            if metric not in have:
                rows += store.results(monitor, metric=metric)[-1:]
    seen: dict[tuple[str, str | None], Result] = {}
    for r in rows:
        seen[(r.metric, r.column)] = r
    return list(seen.values())


def install_metrics(app: FastAPI, monitors: MonitorSource | None = None) -> ServerMetrics:
    """Count and time ``app``'s requests and serve ``GET /metrics`` (with the gauges of ``monitors``' monitors; a
    function giving the store is called at each scrape, in the scrape's project scope)."""
    metrics = ServerMetrics(monitors)
    app.add_middleware(RequestMetrics, metrics=metrics)
    app.state.metrics = metrics

    @app.get("/metrics", include_in_schema=False, dependencies=[requires("public")])
    async def prometheus(_request: Request) -> Response:
        body = await run_in_threadpool(metrics.render)  # the monitor collector reads the database
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    return metrics
