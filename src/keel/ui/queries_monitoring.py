"""What the Monitoring pages show: monitors with their latest verdict and firing alerts; per monitor the drift
heatmap (feature × window), the reference vs current histograms of each feature, performance over time once labels
arrive, traffic, and its alerts. Built on :func:`keel.monitoring.report.report_data` (the same data as
``GET /api/v1/monitors/{name}/report``)."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict
from typing import Any

from keel.monitoring.monitor_store import SqlMonitorStore

__all__ = ["drift_heatmap", "list_monitors", "monitor_page"]


def list_monitors(store: SqlMonitorStore) -> dict[str, Any]:
    """Every monitor with its latest share of drifted features and firing alert count, and the newest alerts."""
    alerts = store.alerts(limit=200)
    firing = Counter(a.monitor for a in alerts if a.state == "firing")
    rows = []
    for monitor in sorted(store.list(), key=lambda m: m.name):
        latest = None
        if monitor.last_window_end is not None:
            # the newest window that had traffic to test (the very last window may have had none)
            found = store.results(monitor.name, metric="share_drifted_features")
            latest = found[-1] if found else None
        rows.append({**asdict(monitor), "share_drifted": None if latest is None else latest.value,
                     "drifting": bool(latest.flagged) if latest is not None else None,
                     "firing": firing.get(monitor.name, 0), "rules": len(store.rules(monitor.name))})
    return {"monitors": rows, "alerts": [asdict(a) for a in alerts]}


def drift_heatmap(drift: dict[str, list[dict[str, Any]]], *, max_windows: int = 200) -> dict[str, Any]:
    """A feature × window matrix from per-feature drift series (``report_data()['drift']``): ``windows`` (window
    ends, ms, oldest first; the newest ``max_windows``), ``features``, and ``values``/``flagged``/``thresholds``
    with one row per feature (null where a feature has no result in a window)."""
    ends = sorted({point["window_end"] for series in drift.values() for point in series})[-max_windows:]
    column = {end: i for i, end in enumerate(ends)}
    features = sorted(drift)
    values: list[list[float | None]] = []
    flagged: list[list[bool | None]] = []
    thresholds: list[list[float | None]] = []
    for feature in features:
        row_v: list[float | None] = [None] * len(ends)
        row_f: list[bool | None] = [None] * len(ends)
        row_t: list[float | None] = [None] * len(ends)
        for point in drift[feature]:
            i = column.get(point["window_end"])
            if i is not None:
                row_v[i], row_f[i], row_t[i] = point["value"], bool(point["flagged"]), point["threshold"]
        values.append(row_v)
        flagged.append(row_f)
        thresholds.append(row_t)
    return {"windows": ends, "features": features, "values": values, "flagged": flagged, "thresholds": thresholds}


def monitor_page(name: str, *, windows: int | None = None, bins: int = 20) -> dict[str, Any]:
    """Everything a monitor's page shows: the report's data (histograms of the last ``windows`` windows, default
    the latest), the drift heatmap, performance and traffic series, alerts, and the monitor's alert rules."""
    from keel.monitoring.monitor_run import monitor_store
    from keel.monitoring.report import report_data

    data = report_data(name, windows=windows, bins=bins)
    data["heatmap"] = drift_heatmap(data["drift"])
    data["rules"] = [asdict(r) for r in monitor_store().rules(name)]
    data["has_performance"] = any(len(row) > 2 for row in data["performance"])
    return data
