"""Monitoring reports: one monitor's stored results and its reference and current data as JSON-ready figures
(:func:`report_data`, also served by ``GET /api/v1/monitors/{name}/report``), and as a self-contained HTML page
(:func:`render_html`, :func:`write_report` behind ``keel monitor report NAME -o report.html``).

The page holds, per feature, the reference and current histograms on shared bins next to the drift score of every
window; the share of drifted features over time; traffic; and performance once labels exist. Plotly draws it, with
its JavaScript inlined once, so the file opens offline.
"""

from __future__ import annotations

import html
import itertools
import os
import time
import uuid
from collections import defaultdict
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from keel.errors import InvalidInput
from keel.jsonable import json_safe
from keel.monitoring.monitor_run import PERFORMANCE_METRICS, monitor_store
from keel.monitoring.monitor_store import Monitor, Result

__all__ = ["BINS", "Windows", "render_html", "report_data", "write_report"]

BINS = 20
MAX_CATEGORIES = 30  # more categories than this: the rarest are summed into "(other)"
TRAFFIC_METRICS = ("rows", "error_rate", "p50_latency_ms", "p99_latency_ms")
Windows = int | tuple[int, int] | None
"""Which current data a report shows: None, the latest processed window; N, the last N windows; ``(since_ms,
until_ms)``, the windows ending inside that range (epoch milliseconds)."""


# -- data ---------------------------------------------------------------------------------------------------------

def report_data(name: str, *, windows: Windows = None, bins: int = BINS) -> dict[str, Any]:
    """The report of monitor ``name`` as plain JSON-ready data.

    Keys: ``monitor``; ``current`` (the window range shown, its rows) or None before the first run; ``features``
    (per feature: ``kind``, shared ``edges`` or ``categories``, ``reference`` and ``current`` counts, the latest
    drift verdict in range); ``drift`` (per feature, every window's score, threshold and flag); ``windows`` (every
    window's scalar metrics); ``traffic`` and ``performance`` (the windows holding those metrics); ``alerts``.
    """
    import keel.data

    if bins < 1:
        raise InvalidInput("bins must be at least 1", field="bins")
    store = monitor_store()
    monitor = store.get(name)
    results = store.results(name)
    span = _span(monitor, windows)
    reference = keel.data.load(monitor.reference)
    current = _current(monitor, span)
    in_span = [r for r in results if span is not None and span[0] < r.window_end <= span[1]]
    latest = {r.column: r for r in in_span if r.metric == "drift"}  # oldest first: the newest window wins
    features = [_feature(f, reference[f], current.get(f"input.{f}"), latest.get(f), bins)
                for f in _feature_names(monitor, reference, current)]
    per_window = _window_metrics(results)
    alerts = [a for a in store.alerts(limit=10_000) if a.monitor == name][:100]
    return json_safe({
        "monitor": asdict(monitor),
        "generated_at": int(time.time() * 1000),
        "current": None if span is None else {"start": span[0], "end": span[1], "rows": len(current)},
        "features": [f for f in features if f is not None],
        "drift": _drift_series(results),
        "windows": per_window,
        "traffic": _pick(per_window, TRAFFIC_METRICS),
        "performance": _pick(per_window, PERFORMANCE_METRICS),
        "alerts": [asdict(a) for a in alerts],
    })


def _span(monitor: Monitor, windows: Windows) -> tuple[int, int] | None:
    window_ms = monitor.window_s * 1000
    if isinstance(windows, tuple):
        since, until = (int(v) for v in windows)
        if until <= since:
            raise InvalidInput(f"windows: until ({until}) must be later than since ({since})", field="windows")
        return since, until
    if monitor.last_window_end is None:
        return None
    count = 1 if windows is None else windows
    if isinstance(count, bool) or count < 1:
        raise InvalidInput(f"windows must be a positive number of windows, got {windows!r}", field="windows")
    return monitor.last_window_end - count * window_ms, monitor.last_window_end


def _current(monitor: Monitor, span: tuple[int, int] | None) -> pd.DataFrame:
    """The answered (status < 400, not shadow) logged rows of ``span``."""
    from keel.monitoring.predictions import predictions

    if span is None:
        return pd.DataFrame()
    logged = predictions(monitor.deployment, since=pd.Timestamp(span[0], unit="ms", tz="UTC"),
                         until=pd.Timestamp(span[1], unit="ms", tz="UTC"), shadow=False)
    return logged[logged["status"] < 400] if "status" in logged and not logged.empty else logged


def _feature_names(monitor: Monitor, reference: pd.DataFrame, current: pd.DataFrame) -> list[str]:
    target = monitor.config.get("target")
    wanted = monitor.config.get("features") or [str(c) for c in reference.columns if c != target]
    logged = [c for c in current.columns if str(c).startswith("input.")]
    return [f for f in wanted if f in reference.columns and (not logged or f"input.{f}" in current.columns)]


def _feature(name: str, reference: pd.Series, current: pd.Series | None, drift: Result | None,
             bins: int) -> dict[str, Any] | None:
    from keel.monitoring.drift import infer_kind

    try:
        kind = infer_kind(reference.dropna(), name)
    except InvalidInput:
        return None  # datetimes have no drift test, so the monitor does not watch them either
    shape = _numeric(reference, current, bins) if kind == "numeric" else _categorical(reference, current)
    verdict = None if drift is None else {"window_end": drift.window_end, "value": drift.value,
                                          "threshold": drift.threshold, "flagged": drift.flagged,
                                          "stattest": (drift.detail or {}).get("stattest")}
    return {"name": name, "kind": kind, **shape, "drift": verdict}


def _numeric(reference: pd.Series, current: pd.Series | None, bins: int) -> dict[str, Any]:
    ref = _finite(reference)
    cur = _finite(current) if current is not None else np.empty(0)
    both = np.concatenate([ref, cur])
    edges = np.histogram_bin_edges(both, bins=bins) if both.size else np.array([0.0, 1.0])
    return {"edges": edges.tolist(), "reference": np.histogram(ref, edges)[0].tolist(),
            "current": None if current is None else np.histogram(cur, edges)[0].tolist(),
            "reference_nulls": int(reference.isna().sum()),
            "current_nulls": None if current is None else int(current.isna().sum())}


def _finite(values: pd.Series) -> np.ndarray:
    numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    return numbers[np.isfinite(numbers)]


def _categorical(reference: pd.Series, current: pd.Series | None) -> dict[str, Any]:
    ref = reference.dropna().astype(str).value_counts()
    cur = current.dropna().astype(str).value_counts() if current is not None else pd.Series(dtype=int)
    categories = [*ref.index, *(c for c in cur.index if c not in ref.index)]
    if len(categories) > MAX_CATEGORIES:
        kept = categories[:MAX_CATEGORIES - 1]
        ref = _fold(ref, kept)
        cur = _fold(cur, kept)
        categories = [*kept, "(other)"]
    return {"categories": categories, "reference": [int(ref.get(c, 0)) for c in categories],
            "current": None if current is None else [int(cur.get(c, 0)) for c in categories],
            "reference_nulls": int(reference.isna().sum()),
            "current_nulls": None if current is None else int(current.isna().sum())}


def _fold(counts: pd.Series, kept: list[str]) -> pd.Series:
    rest = int(counts[~counts.index.isin(kept)].sum())
    return pd.concat([counts[counts.index.isin(kept)], pd.Series({"(other)": rest})])


def _drift_series(results: list[Result]) -> dict[str, list[dict[str, Any]]]:
    series: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in results:
        if r.metric == "drift" and r.column is not None:
            series[r.column].append({"window_start": r.window_start, "window_end": r.window_end, "value": r.value,
                                     "threshold": r.threshold, "flagged": r.flagged,
                                     "stattest": (r.detail or {}).get("stattest")})
    return dict(series)


def _window_metrics(results: list[Result]) -> list[dict[str, Any]]:
    """Every window's whole-window metrics (``column`` None), oldest first; ``flagged`` lists the flagged ones."""
    by_end: dict[int, dict[str, Any]] = {}
    for r in results:
        if r.column is not None:
            continue
        row = by_end.setdefault(r.window_end, {"window_start": r.window_start, "window_end": r.window_end,
                                               "flagged": []})
        row[r.metric] = r.value
        if r.flagged:
            row["flagged"].append(r.metric)
    return [by_end[end] for end in sorted(by_end)]


def _pick(rows: list[dict[str, Any]], metrics: tuple[str, ...]) -> list[dict[str, Any]]:
    picked = []
    for row in rows:
        found = {m: row[m] for m in metrics if m in row}
        if found:
            picked.append({"window_start": row["window_start"], "window_end": row["window_end"], **found})
    return picked


# -- HTML ---------------------------------------------------------------------------------------------------------

def write_report(name: str, path: str | Path, *, windows: Windows = None) -> Path:
    """Write monitor ``name``'s HTML report to ``path`` atomically (a temporary file renamed into place)."""
    page = render_html(report_data(name, windows=windows))
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        temporary.write_text(page, encoding="utf-8")
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)
    return target


def render_html(data: dict[str, Any]) -> str:
    """A self-contained HTML page of :func:`report_data`'s ``data`` (Plotly's JavaScript inlined once)."""
    plotly = _plotly()
    monitor = data["monitor"]
    drift = data.get("drift", {})
    ids = itertools.count()
    sections = [_summary(data), _section("drift", "Drift over time", _share_figure(plotly, data), next(ids))]
    for feature in data["features"]:
        figure = _feature_figure(plotly, feature, drift.get(feature["name"], []))
        sections.append(_section("feature", f"Feature: {feature['name']}", figure, next(ids), feature["name"]))
    if data.get("traffic"):
        sections.append(_section("traffic", "Traffic", _traffic_figure(plotly, data["traffic"]), next(ids)))
    if data.get("performance"):
        figure = _performance_figure(plotly, data["performance"])
        sections.append(_section("performance", "Performance", figure, next(ids)))
    sections.append(_alerts(data.get("alerts", [])))
    title = html.escape(f"Keel monitor {monitor['name']}")
    body = "\n".join(sections)
    return (f"<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{title}</title>\n"
            f"<style>{_CSS}</style>\n<script type=\"text/javascript\">{plotly.get_plotlyjs()}</script>\n</head>\n"
            f"<body>\n<h1>{title}</h1>\n{body}\n</body>\n</html>\n")


class _Plotly:
    def __init__(self) -> None:
        import plotly.graph_objects as go
        from plotly.offline import get_plotlyjs
        from plotly.subplots import make_subplots

        self.go, self.make_subplots, self.get_plotlyjs = go, make_subplots, get_plotlyjs


def _plotly() -> _Plotly:
    try:
        return _Plotly()
    except ImportError as exc:
        raise InvalidInput("HTML reports need Plotly; install it with `pip install 'keel-mlops[plots]'` (or ask "
                           "for the JSON with `GET /api/v1/monitors/NAME/report`)", field="format") from exc


def _section(kind: str, heading: str, figure: Any, index: int, feature: str | None = None) -> str:
    data_attr = f' data-feature="{html.escape(feature)}"' if feature is not None else ""
    div = figure.to_html(full_html=False, include_plotlyjs=False, div_id=f"figure-{index}",
                         config={"responsive": True})
    return f'<section class="{kind}"{data_attr}>\n<h2>{html.escape(heading)}</h2>\n{div}\n</section>'


def _when(ms: list[int]) -> list[str]:
    return [pd.Timestamp(m, unit="ms", tz="UTC").isoformat() for m in ms]


def _share_figure(p: _Plotly, data: dict[str, Any]) -> Any:
    rows = [w for w in data["windows"] if "share_drifted_features" in w]
    figure = p.go.Figure()
    figure.add_trace(p.go.Scatter(x=_when([w["window_end"] for w in rows]),
                                  y=[w["share_drifted_features"] for w in rows], mode="lines+markers",
                                  name="share of drifted features"))
    drifted = [w for w in rows if "share_drifted_features" in w["flagged"]]
    figure.add_trace(p.go.Scatter(x=_when([w["window_end"] for w in drifted]),
                                  y=[w["share_drifted_features"] for w in drifted], mode="markers",
                                  marker={"color": "crimson", "size": 11, "symbol": "x"}, name="dataset drift"))
    figure.update_layout(yaxis={"title": "share of features drifted", "range": [0, 1.05]},
                         xaxis={"title": "window end (UTC)"}, height=360, margin={"t": 30})
    return figure


def _feature_figure(p: _Plotly, feature: dict[str, Any], series: list[dict[str, Any]]) -> Any:
    figure = p.make_subplots(rows=1, cols=2, column_widths=[0.5, 0.5],
                             subplot_titles=("reference vs current (share of rows)", "drift score per window"))
    if feature["kind"] == "numeric":
        edges = np.asarray(feature["edges"], dtype=float)
        x, width = ((edges[:-1] + edges[1:]) / 2).tolist(), np.diff(edges).tolist()
    else:
        x, width = feature["categories"], None
    for label, counts, color in (("reference", feature["reference"], "#636efa"),
                                 ("current", feature["current"], "#ef553b")):
        if counts is not None:
            total = sum(counts) or 1
            figure.add_trace(p.go.Bar(x=x, y=[c / total for c in counts], width=width, name=label, opacity=0.6,
                                      marker_color=color, customdata=counts,
                                      hovertemplate="%{x}: %{y:.1%} (%{customdata} rows)"), row=1, col=1)
    stattest = next((s["stattest"] for s in reversed(series) if s.get("stattest")), None)
    ends = _when([s["window_end"] for s in series])
    figure.add_trace(p.go.Scatter(x=ends, y=[s["value"] for s in series], mode="lines+markers",
                                  name=f"score ({stattest or 'drift'})", line={"color": "#00a676"}), row=1, col=2)
    figure.add_trace(p.go.Scatter(x=ends, y=[s["threshold"] for s in series], mode="lines", name="threshold",
                                  line={"dash": "dash", "color": "grey"}), row=1, col=2)
    flagged = [s for s in series if s["flagged"]]
    figure.add_trace(p.go.Scatter(x=_when([s["window_end"] for s in flagged]), y=[s["value"] for s in flagged],
                                  mode="markers", name="drifted", marker={"color": "crimson", "size": 11,
                                                                          "symbol": "x"}), row=1, col=2)
    figure.update_layout(barmode="overlay" if feature["kind"] == "numeric" else "group", height=380,
                         margin={"t": 40})
    return figure


def _traffic_figure(p: _Plotly, rows: list[dict[str, Any]]) -> Any:
    figure = p.make_subplots(rows=3, cols=1, shared_xaxes=True, vertical_spacing=0.06,
                             subplot_titles=("rows", "error rate", "p99 latency (ms)"))
    ends = _when([r["window_end"] for r in rows])
    figure.add_trace(p.go.Bar(x=ends, y=[r.get("rows") for r in rows], name="rows"), row=1, col=1)
    figure.add_trace(p.go.Scatter(x=ends, y=[r.get("error_rate") for r in rows], name="error rate",
                                  mode="lines+markers"), row=2, col=1)
    figure.add_trace(p.go.Scatter(x=ends, y=[r.get("p99_latency_ms") for r in rows], name="p99 latency",
                                  mode="lines+markers"), row=3, col=1)
    figure.update_layout(height=560, showlegend=False, margin={"t": 40})
    return figure


def _performance_figure(p: _Plotly, rows: list[dict[str, Any]]) -> Any:
    figure = p.go.Figure()
    ends = _when([r["window_end"] for r in rows])
    labeled = [r.get("labeled_rows") for r in rows]
    for metric in (m for m in PERFORMANCE_METRICS if m != "labeled_rows"):
        if any(metric in r for r in rows):
            figure.add_trace(p.go.Scatter(x=ends, y=[r.get(metric) for r in rows], mode="lines+markers",
                                          name=metric, customdata=labeled,
                                          hovertemplate=f"{metric} %{{y:.4g}} (%{{customdata}} labeled rows)"))
    figure.update_layout(xaxis={"title": "window end (UTC)"}, yaxis={"title": "metric"}, height=360,
                         margin={"t": 30})
    return figure


def _summary(data: dict[str, Any]) -> str:
    monitor, current = data["monitor"], data["current"]
    shown = "no window processed yet; run `keel monitor run`" if current is None else (
        f"{_when([current['start']])[0]} to {_when([current['end']])[0]} ({current['rows']} rows)")
    facts = [("deployment", monitor["deployment"]), ("reference", monitor["reference"]),
             ("window", f"{monitor['window_s']} s"), ("current data", shown)]
    rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>" for k, v in facts)
    verdicts = "".join(
        f"<tr><td>{html.escape(f['name'])}</td><td>{f['kind']}</td><td>{_fmt((f['drift'] or {}).get('value'))}"
        f"</td><td>{_fmt((f['drift'] or {}).get('threshold'))}</td>"
        f"<td class=\"{'bad' if (f['drift'] or {}).get('flagged') else ''}\">"
        f"{'drifted' if (f['drift'] or {}).get('flagged') else ('ok' if f['drift'] else '-')}</td></tr>"
        for f in data["features"])
    return (f'<section class="summary">\n<table>{rows}</table>\n<h2>Features</h2>\n<table><tr><th>feature</th>'
            f"<th>kind</th><th>score</th><th>threshold</th><th>verdict</th></tr>{verdicts}</table>\n</section>")


def _alerts(alerts: list[dict[str, Any]]) -> str:
    if not alerts:
        return '<section class="alerts">\n<h2>Alerts</h2>\n<p>No alerts.</p>\n</section>'
    rows = "".join(
        f"<tr><td>{a['id']}</td><td>{html.escape(a['rule'])}</td><td class=\"{a['state']}\">{a['state']}</td>"
        f"<td>{_when([a['fired_at']])[0]}</td><td>{_fmt(a['value'])}</td><td>{html.escape(a['message'])}</td>"
        f"<td>{html.escape(a['acked_by'] or '')}</td></tr>" for a in alerts)
    return ('<section class="alerts">\n<h2>Alerts</h2>\n<table><tr><th>id</th><th>rule</th><th>state</th>'
            f"<th>fired</th><th>value</th><th>message</th><th>acked by</th></tr>{rows}</table>\n</section>")


def _fmt(value: Any) -> str:
    return "-" if value is None else f"{value:.4g}" if isinstance(value, float) else html.escape(str(value))


_CSS = ("body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:1200px;color:#222}"
        "table{border-collapse:collapse;margin:.5rem 0}th,td{border:1px solid #ddd;padding:.3rem .6rem;"
        "text-align:left}section{margin:2rem 0}.bad,.firing{color:#c00;font-weight:600}")
