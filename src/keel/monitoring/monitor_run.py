"""Running monitors: each complete window of a deployment's prediction log since the last run is compared with the
reference dataset version — data drift per feature, prediction drift, data quality, traffic (rows, error rate,
latency) and, where labels have arrived, performance — then stored and checked against the alert rules."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from keel.errors import InvalidInput
from keel.local_store import local_database
from keel.monitoring.alerting import evaluate_rules
from keel.monitoring.monitor_store import Monitor, Result, SqlMonitorStore
from keel.monitoring.performance import performance

__all__ = ["PERFORMANCE_METRICS", "WindowSummary", "monitor_store", "recompute_performance", "run_monitor"]

PERFORMANCE_METRICS = ("accuracy", "f1", "auc", "rmse", "mae", "labeled_rows")
MIN_ROWS = 30  # fewer rows than this in a window: traffic figures only, no drift verdict
# Evidently's defaults (normalised Wasserstein / Jensen-Shannon at 0.1) fit large samples; a window with fewer rows
# than this is tested with KS / chi-square (p < 0.05) unless the monitor names a stattest for the column.
SMALL_WINDOW = 1000


@dataclass
class WindowSummary:
    """One processed window: its bounds (epoch ms), row count, drifted features and the alerts it fired."""

    start: int
    end: int
    rows: int
    share_drifted: float | None
    drifted: list[str] = field(default_factory=list)
    fired: list[str] = field(default_factory=list)
    resolved: list[str] = field(default_factory=list)


def monitor_store() -> SqlMonitorStore:
    """Monitors of the configured project (local metadata store)."""
    return SqlMonitorStore(*local_database("monitors run against"))


def run_monitor(name: str, *, now: float | None = None) -> list[WindowSummary]:
    """Process every complete window since the monitor's last run (one pass: ``keel monitor run``)."""
    store = monitor_store()
    monitor = store.get(name)
    end_ms = int((now if now is not None else time.time()) * 1000)
    window_ms = monitor.window_s * 1000
    if monitor.last_window_end is not None and monitor.last_window_end + window_ms > end_ms:
        return []  # the next window has not ended yet
    logged = _predictions(monitor, monitor.last_window_end, end_ms)
    start = monitor.last_window_end
    if start is None:
        if logged.empty:
            return []
        start = int(logged["timestamp"].min().timestamp() * 1000) // window_ms * window_ms
    reference = _reference(monitor)
    labels = _labels(monitor)
    summaries = []
    stamps = None if logged.empty else \
        ((logged["timestamp"] - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(milliseconds=1)).to_numpy()  # epoch ms
    while start + window_ms <= end_ms:
        window = _slice(logged, start, start + window_ms)
        if window.empty:  # skip a quiet stretch in one step instead of window by window
            later = stamps[stamps >= start + window_ms] if stamps is not None else np.empty(0, dtype=np.int64)
            jump = int(later.min()) // window_ms * window_ms if len(later) else end_ms // window_ms * window_ms
            if jump > start + window_ms:
                store.save_window(monitor.name, [], advance_to=jump)
                start = jump
                continue
        results = window_results(monitor, reference, window, labels, start, start + window_ms)
        store.save_window(monitor.name, results, advance_to=start + window_ms)
        fired, resolved = evaluate_rules(store, monitor.name, [(start + window_ms, results)])
        drifted = [r.column for r in results if r.metric == "drift" and r.flagged and r.column]
        share = next((r.value for r in results if r.metric == "share_drifted_features"), None)
        summaries.append(WindowSummary(start, start + window_ms, len(window), share, drifted, fired, resolved))
        start += window_ms
    return summaries


def window_results(monitor: Monitor, reference: pd.DataFrame, window: pd.DataFrame, labels: pd.DataFrame | None,
                   start: int, end: int) -> list[Result]:
    """Every metric of one window (pure over the frames given)."""
    out = _traffic(window, start, end)
    answered = window[window["status"] < 400] if "status" in window else window
    features = _features(monitor, reference, answered)
    current = pd.DataFrame({f: answered[f"input.{f}"] for f in features}) if features else pd.DataFrame()
    if len(current) >= monitor.config.get("min_rows", MIN_ROWS) and features:
        out += _drift(monitor, reference[features], current, start, end)
        out += _prediction_drift(monitor, reference, answered, start, end)
        out += _quality(reference[features], current, start, end)
    if labels is not None and not labels.empty:
        out += _performance(monitor, answered, labels, start, end)
    return out


def _traffic(window: pd.DataFrame, start: int, end: int) -> list[Result]:
    requests = window.drop_duplicates("request_id") if "request_id" in window else window
    rows = [Result(start, end, "rows", None, float(len(window)))]
    if len(requests):
        errors = float((requests["status"] >= 400).mean()) if "status" in requests else 0.0
        latency = requests["latency_ms"].dropna() if "latency_ms" in requests else pd.Series(dtype=float)
        rows.append(Result(start, end, "error_rate", None, errors))
        if len(latency):
            rows.append(Result(start, end, "p50_latency_ms", None, float(np.percentile(latency, 50))))
            rows.append(Result(start, end, "p99_latency_ms", None, float(np.percentile(latency, 99))))
    return rows


def _features(monitor: Monitor, reference: pd.DataFrame, window: pd.DataFrame) -> list[str]:
    wanted = monitor.config.get("features") or [
        c for c in reference.columns if c != monitor.config.get("target")
        and not pd.api.types.is_datetime64_any_dtype(reference[c])]  # event times drift by nature
    return [f for f in wanted if f"input.{f}" in window.columns]


def _drift(monitor: Monitor, reference: pd.DataFrame, current: pd.DataFrame, start: int, end: int) -> list[Result]:
    from keel.monitoring.drift import dataset_drift, infer_kind

    present = [c for c in reference.columns if reference[c].notna().any() and current[c].notna().any()]
    reference, current = reference[present], current[present]  # an all-null column is a quality finding
    stattests = dict(monitor.config.get("stattests") or {})
    if len(current) < SMALL_WINDOW:  # distances are noisy on small samples: test them instead (p < 0.05)
        for column in reference.columns:
            stattests.setdefault(column, "ks" if infer_kind(reference[column], column) == "numeric" else "chisquare")
    report = dataset_drift(reference, current, stattests=stattests or None,
                           thresholds=monitor.config.get("thresholds") or None)
    rows = [Result(start, end, "drift", c.column, c.score, c.threshold, c.drifted,
                   {"stattest": c.stattest, "kind": c.kind}) for c in report.columns]
    rows.append(Result(start, end, "share_drifted_features", None, report.share_drifted, None, report.dataset_drift,
                       {"drifted": report.drifted_columns}))
    rows.append(Result(start, end, "dataset_drift", None, float(report.dataset_drift)))
    return rows


def _prediction_drift(monitor: Monitor, reference: pd.DataFrame, window: pd.DataFrame, start: int,
                      end: int) -> list[Result]:
    target = monitor.config.get("target")
    if not target or target not in reference.columns or "output" not in window.columns:
        return []
    from keel.monitoring.drift import column_drift

    outputs = window["output"].dropna()
    if outputs.empty or outputs.map(lambda v: isinstance(v, (list, dict))).any():
        return []
    verdict = column_drift(reference[target].dropna(), pd.Series(outputs.tolist()))
    return [Result(start, end, "prediction_drift", None, verdict.score, verdict.threshold, verdict.drifted,
                   {"stattest": verdict.stattest})]


def _quality(reference: pd.DataFrame, current: pd.DataFrame, start: int, end: int) -> list[Result]:
    from keel.monitoring.quality import data_quality

    report = data_quality(reference, current)
    rows, worst_null, worst_range, unseen = [], 0.0, 0.0, 0
    for q in report.columns:
        worst_null = max(worst_null, q.null_fraction)
        worst_range = max(worst_range, q.out_of_range_fraction)
        unseen += q.unseen_count
        rows.append(Result(start, end, "null_fraction", q.column, q.null_fraction))
    rows += [Result(start, end, "max_null_fraction", None, worst_null),
             Result(start, end, "out_of_range_fraction", None, worst_range),
             Result(start, end, "unseen_categories", None, float(unseen))]
    return rows


def _performance(monitor: Monitor, window: pd.DataFrame, labels: pd.DataFrame, start: int, end: int) -> list[Result]:
    from keel.monitoring.labels import join_labels

    task = monitor.config.get("task")
    if task is None or "output" not in window.columns:
        return []
    joined = join_labels(window, labels, monitor.config.get("label_key", "request_id"))
    joined = joined[joined["label"].notna()]
    if joined.empty:
        return []
    metrics = performance(joined["output"].tolist(), joined["label"].tolist(), task)
    return [Result(start, end, metric, None, value) for metric, value in metrics.items()
            if not (isinstance(value, float) and math.isnan(value))]


def recompute_performance(monitor: Monitor) -> list[tuple[int, list[Result]]]:
    """After labels arrive: performance of every completed window again, stored in place of the old figures, and
    performance rules stepped over those windows; returns the windows recomputed."""
    store = monitor_store()
    labels = _labels(monitor)
    if monitor.last_window_end is None or labels is None or labels.empty or not monitor.config.get("task"):
        return []
    logged = _predictions(monitor, None, monitor.last_window_end)
    if logged.empty:
        return []
    window_ms = monitor.window_s * 1000
    first = int(logged["timestamp"].min().timestamp() * 1000) // window_ms * window_ms
    updated = []
    for start in range(first, monitor.last_window_end, window_ms):
        window = _slice(logged, start, start + window_ms)
        answered = window[window["status"] < 400] if "status" in window else window
        results = _performance(monitor, answered, labels, start, start + window_ms)
        if results:
            store.save_window(monitor.name, results, replace_metrics=PERFORMANCE_METRICS)
            updated.append((start + window_ms, results))
    evaluate_rules(store, monitor.name, updated, metrics=PERFORMANCE_METRICS)
    return updated


def _predictions(monitor: Monitor, since_ms: int | None, until_ms: int) -> pd.DataFrame:
    from keel.monitoring.predictions import predictions

    since = None if since_ms is None else pd.Timestamp(since_ms, unit="ms", tz="UTC")
    return predictions(monitor.deployment, since=since, until=pd.Timestamp(until_ms, unit="ms", tz="UTC"),
                       shadow=False)


def _slice(logged: pd.DataFrame, start: int, end: int) -> pd.DataFrame:
    if logged.empty:
        return logged
    stamps = logged["timestamp"]
    lo, hi = pd.Timestamp(start, unit="ms", tz="UTC"), pd.Timestamp(end, unit="ms", tz="UTC")
    return logged[(stamps >= lo) & (stamps < hi)]


_REFERENCES: dict[str, pd.DataFrame] = {}


def _reference(monitor: Monitor) -> pd.DataFrame:
    import keel.data

    version = keel.data.get_version(monitor.reference)
    if version.id not in _REFERENCES:
        _REFERENCES[version.id] = keel.data.load(version)
    return _REFERENCES[version.id]


def _labels(monitor: Monitor) -> pd.DataFrame | None:
    if not monitor.config.get("task"):
        return None
    from keel.monitoring.labels import read_labels

    return read_labels(monitor.deployment)


def check_features(reference: pd.DataFrame, features: Sequence[str] | None, target: str | None) -> None:
    """InvalidInput naming a watched feature (or the target) the reference lacks."""
    for column in [*(features or []), *([target] if target else [])]:
        if column not in reference.columns:
            raise InvalidInput(f"the reference has no column {column!r}; it has {', '.join(map(str, reference))}",
                               field="features" if column != target else "target")


def describe(value: Any) -> str:
    """A short text for a metric value."""
    return "-" if value is None else f"{value:.4g}" if isinstance(value, float) else str(value)
