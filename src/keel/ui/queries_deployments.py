"""What the Deployments pages show: each deployment's routes and weights, its revision history (roll-outs and
rollbacks), its live traffic bucketed from the prediction log (request rate, latency, error rate per model
version), and the ``keel server`` process's own request counters (its Prometheus registry)."""

from __future__ import annotations

import math
import time
from typing import Any
from urllib.parse import quote

import numpy as np
import pandas as pd

from keel.errors import InvalidInput
from keel.serving.deployment import Deployment, DeploymentRepository, Route

__all__ = ["deployment_detail", "list_deployments", "server_counters", "traffic", "traffic_buckets"]


def _route(r: Route, total: float) -> dict[str, Any]:
    share = r.weight / total * 100 if total > 0 else 0.0
    model = quote(r.model, safe="")
    href = f"/ui/models/{model}/versions/{r.version}" if r.version is not None else f"/ui/models/{model}"
    return {"model": r.model, "target": r.target, "href": href, "version": r.version, "alias": r.alias,
            "weight": r.weight, "percent": round(share, 2)}


def _revision(d: Deployment) -> dict[str, Any]:
    total = sum(r.weight for r in d.routes)
    return {"name": d.name, "revision": d.revision, "action": d.action, "updated_at": d.updated_at,
            "updated_by": d.updated_by, "created_at": d.created_at, "description": d.description,
            "routes": [_route(r, total) for r in d.routes], "shadows": [_route(s, 0.0) for s in d.shadows],
            "sticky_key": d.sticky_key, "max_batch_size": d.max_batch_size, "max_wait_ms": d.max_wait_ms,
            "summary": ", ".join(f"{r.target} {_route(r, total)['percent']:g}%" for r in d.routes)
            + "".join(f", shadow {s.target}" for s in d.shadows)}


def list_deployments(repo: DeploymentRepository) -> list[dict[str, Any]]:
    """The latest revision of every live deployment, by name."""
    return [_revision(d) for d in sorted(repo.list_deployments(), key=lambda d: d.name)]


def deployment_detail(repo: DeploymentRepository, name: str) -> dict[str, Any]:
    """The current revision and the whole history (newest first); each older revision with a route table unlike
    the current one can be rolled back to (``rollback_target``)."""
    current = repo.get_deployment(name)
    history = [_revision(d) for d in repo.deployment_history(name)]
    for row in history:
        row["current"] = row["revision"] == current.revision
        row["rollback_target"] = not row["current"] and row["action"] != "delete"
    return {"deployment": _revision(current), "history": history}


def traffic_buckets(log: pd.DataFrame, since_ms: int, until_ms: int, bucket_s: int) -> dict[str, Any]:
    """Bucket logged predictions (one row per predicted row, as :func:`keel.monitoring.predictions` returns them)
    into ``bucket_s`` buckets from ``since_ms`` to ``until_ms``: per bucket the answered requests per second, the
    p50/p99 latency (ms) and the error rate, overall and per answering model version; shadow traffic is counted
    apart. Empty buckets hold 0 requests and null latencies so charts show the gaps."""
    if bucket_s < 1:
        raise InvalidInput("bucket must be at least 1 second", field="bucket")
    width = bucket_s * 1000
    starts = list(range(since_ms - since_ms % width, until_ms, width))
    out: dict[str, Any] = {"bucket_s": bucket_s, "t": [s / 1000 for s in starts], "since_ms": since_ms,
                           "until_ms": until_ms}
    # one row per predicted row: a request is its first row; a shadow's answer shares the request id
    requests = log.drop_duplicates(["request_id", "shadow"]) if not log.empty else log
    answered = requests[~requests["shadow"].astype(bool)] if not requests.empty else requests
    out.update(_series(answered, starts, width, bucket_s))
    shadow = requests[requests["shadow"].astype(bool)] if not requests.empty else requests
    out["shadow_rate"] = _series(shadow, starts, width, bucket_s)["rate"]
    versions = sorted(answered["model_version"].astype(str).unique()) if not answered.empty else []
    out["by_version"] = {v: _series(answered[answered["model_version"].astype(str) == v], starts, width,
                                    bucket_s)["rate"] for v in versions}
    out["total_requests"] = len(answered)
    return out


def _series(frame: pd.DataFrame, starts: list[int], width: int, bucket_s: int) -> dict[str, list[Any]]:
    rate: list[float] = []
    p50: list[float | None] = []
    p99: list[float | None] = []
    errors: list[float | None] = []
    if frame.empty:
        n = len(starts)
        return {"rate": [0.0] * n, "p50_ms": [None] * n, "p99_ms": [None] * n, "error_rate": [None] * n}
    ms = ((frame["timestamp"] - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(milliseconds=1)).to_numpy()
    index = (ms - starts[0]) // width if starts else np.empty(0, dtype=int)
    latency = frame["latency_ms"].to_numpy(dtype=float)
    failed = frame["status"].to_numpy() >= 400
    for i in range(len(starts)):
        hit = index == i
        count = int(hit.sum())
        rate.append(count / bucket_s)
        lat = latency[hit & np.isfinite(latency)]
        p50.append(float(np.percentile(lat, 50)) if lat.size else None)
        p99.append(float(np.percentile(lat, 99)) if lat.size else None)
        errors.append(float(failed[hit].mean()) if count else None)
    return {"rate": rate, "p50_ms": p50, "p99_ms": p99, "error_rate": errors}


def traffic(name: str, *, minutes: int = 60, bucket_s: int | None = None, root: str | None = None,
            now_ms: int | None = None) -> dict[str, Any]:
    """The deployment's live traffic over the last ``minutes`` from the prediction log (``root``: its location,
    default the configured one), in buckets of ``bucket_s`` (default: about 60 buckets)."""
    from keel.monitoring.predictions import predictions

    if not 1 <= minutes <= 60 * 24 * 31:
        raise InvalidInput(f"minutes must be between 1 and {60 * 24 * 31}, got {minutes}", field="minutes")
    until_ms = int(time.time() * 1000) if now_ms is None else now_ms
    since_ms = until_ms - minutes * 60_000
    bucket = bucket_s or max(1, math.ceil(minutes * 60 / 60))
    log = predictions(name, since=since_ms / 1000, until=until_ms / 1000 + 0.001, expand=False, root=root)
    return traffic_buckets(log, since_ms, until_ms, bucket)


def server_counters(metrics: Any) -> dict[str, Any]:
    """The ``keel server`` process's own request counters (cumulative; the page turns two readings into rates)
    from its :class:`~keel.server.metrics.ServerMetrics`: requests, 4xx and 5xx answers, latency sum and count."""
    totals = {"requests": 0.0, "client_errors": 0.0, "server_errors": 0.0, "latency_sum_s": 0.0,
              "latency_count": 0.0}
    for metric in [*metrics.requests.collect(), *metrics.latency.collect()]:
        for sample in metric.samples:
            if sample.name == "keel_server_requests_total":
                status = int(sample.labels.get("status", "200"))
                totals["requests"] += sample.value
                if 400 <= status < 500:
                    totals["client_errors"] += sample.value
                elif status >= 500:
                    totals["server_errors"] += sample.value
            elif sample.name == "keel_server_latency_seconds_sum":
                totals["latency_sum_s"] += sample.value
            elif sample.name == "keel_server_latency_seconds_count":
                totals["latency_count"] += sample.value
    return {**totals, "at": time.time()}
