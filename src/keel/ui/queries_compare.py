"""What the compare view shows: the runs side by side (param/metric diff) and their curves per metric."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from keel.errors import InvalidInput
from keel.tracking.entities import Run
from keel.tracking.repository import TrackingRepository
from keel.ui.queries_series import metric_series

__all__ = ["MAX_COMPARE", "compare_table", "compare_series", "parse_run_ids"]

MAX_COMPARE = 20


def parse_run_ids(runs: str) -> list[str]:
    """``a,b,c`` → ids (deduplicated, order kept); at least one, at most :data:`MAX_COMPARE`."""
    ids = list(dict.fromkeys(r.strip() for r in runs.split(",") if r.strip()))
    if not ids:
        raise InvalidInput("runs: give the run ids to compare, e.g. /ui/compare?runs=ID1,ID2", field="runs")
    if len(ids) > MAX_COMPARE:
        raise InvalidInput(f"runs: compare at most {MAX_COMPARE} runs at once, got {len(ids)}", field="runs")
    return ids


def _rows(runs: Sequence[Run], kind: str) -> list[dict[str, Any]]:
    keys = sorted({k for r in runs for k in (r.params if kind == "param" else r.metrics)})
    rows = []
    for key in keys:
        if kind == "param":
            values: list[Any] = [r.params.get(key) for r in runs]
        else:
            values = [r.metrics[key].value if key in r.metrics else None for r in runs]
        rows.append({"kind": kind, "key": key, "values": values, "differs": len({repr(v) for v in values}) > 1})
    return rows


def compare_table(tracking: TrackingRepository, run_ids: Sequence[str]) -> dict[str, Any]:
    """The runs, and one diff row per param and per metric (``differs`` when the runs disagree)."""
    runs = [tracking.get_run(r) for r in run_ids]
    columns = [{"run_id": r.info.run_id, "name": r.info.run_name or r.info.run_id[:8], "status": r.info.status,
                "start_time": r.info.start_time} for r in runs]
    points = [{"run_id": r.info.run_id, "name": c["name"], "params": r.params,
               "metrics": {k: m.value for k, m in r.metrics.items()}} for r, c in zip(runs, columns, strict=True)]
    return {"runs": columns, "params": _rows(runs, "param"), "metrics": _rows(runs, "metric"), "points": points}


def compare_series(tracking: TrackingRepository, run_ids: Sequence[str], x: str = "step",
                   max_points: int = 1500) -> list[dict[str, Any]]:
    """Per metric key: ``{"key", "series": [{run_id, label, points, x, y}]}``, each curve downsampled (LTTB)."""
    runs = [tracking.get_run(r) for r in run_ids]
    keys = sorted({k for r in runs for k in r.metrics})
    charts = []
    for key in keys:
        series = []
        for run in runs:
            if key not in run.metrics:
                continue
            curve = metric_series(tracking, run.info.run_id, key, x, max_points)
            curve["label"] = run.info.run_name or run.info.run_id[:8]
            series.append(curve)
        charts.append({"key": key, "series": series})
    return charts
