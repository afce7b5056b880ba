"""Metric curves for charts: one run's history of one key, on step / wall-time / relative-time x, downsampled."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from keel.errors import InvalidInput
from keel.tracking.repository import TrackingRepository
from keel.ui.downsample import lttb

__all__ = ["XAxis", "metric_series", "series_for_runs"]

XAxis = Literal["step", "time", "relative"]
X_AXES: tuple[str, ...] = ("step", "time", "relative")


def metric_series(tracking: TrackingRepository, run_id: str, key: str, x: str = "step",
                  max_points: int = 1500) -> dict[str, Any]:
    """``{"run_id", "key", "points", "x": [...], "y": [...]}`` with at most ``max_points`` points (LTTB).

    ``x`` is ``step``, ``time`` (seconds since the epoch) or ``relative`` (seconds since the run's first point).
    ``points`` is the stored count before downsampling.
    """
    if x not in X_AXES:
        raise InvalidInput(f"x: must be one of {', '.join(X_AXES)}, got {x!r}", field="x")
    history, _ = tracking.get_metric_history(run_id, key)
    history = sorted(history, key=lambda m: (m.step, m.timestamp)) if x == "step" else \
        sorted(history, key=lambda m: (m.timestamp, m.step))
    ys = [m.value for m in history]
    if x == "step":
        xs: list[float] = [float(m.step) for m in history]
    else:
        start = history[0].timestamp if history and x == "relative" else 0
        xs = [(m.timestamp - start) / 1000 for m in history]
    xs, ys = _finite(xs, ys)
    out_x, out_y = lttb(xs, ys, max_points)
    return {"run_id": run_id, "key": key, "points": len(history), "x": out_x, "y": out_y}


def _finite(xs: list[float], ys: list[float]) -> tuple[list[float], list[float]]:
    """Drop NaN/inf values (a chart cannot draw them) and collapse duplicate x by keeping the last value."""
    keep_x: list[float] = []
    keep_y: list[float] = []
    for xv, yv in zip(xs, ys, strict=True):
        if yv != yv or yv in (float("inf"), float("-inf")):
            continue
        if keep_x and keep_x[-1] == xv:
            keep_y[-1] = yv
            continue
        keep_x.append(xv)
        keep_y.append(yv)
    return keep_x, keep_y


def series_for_runs(tracking: TrackingRepository, run_ids: Sequence[str], key: str, x: str = "step",
                    max_points: int = 1500) -> list[dict[str, Any]]:
    """:func:`metric_series` for each run that logged ``key`` (labelled with the run's name)."""
    out = []
    for run_id in run_ids:
        run = tracking.get_run(run_id)
        if key not in run.metrics:
            continue
        series = metric_series(tracking, run_id, key, x, max_points)
        series["label"] = run.info.run_name or run_id[:8]
        out.append(series)
    return out
