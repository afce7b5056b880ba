"""Monitoring reports: report_data matches the stored results and the logged data; the HTML page is self-contained
(Plotly inlined once, no external script) with one section per feature and the drift and performance figures."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import keel.data
from keel.errors import InvalidInput
from keel.monitoring import PredictionLog
from keel.monitoring import monitors as m
from keel.monitoring.monitor_run import monitor_store
from keel.monitoring.report import render_html, report_data, write_report

pytest.importorskip("plotly")

HOUR = 3600.0
T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z
T0_MS = int(T0 * 1000)


def _traffic(rng: np.random.Generator, n: int, shift: float = 0.0) -> pd.DataFrame:
    return pd.DataFrame({"age": rng.normal(40 + shift, 10, n), "income": rng.normal(50, 5, n),
                         "city": rng.choice(["a", "b", "c"], n, p=[0.5, 0.3, 0.2]), "target": rng.integers(0, 2, n)})


def _serve(hours: list[tuple[float, pd.DataFrame]]) -> list[str]:
    ids = []
    with PredictionLog(flush_interval_s=0.05) as log:
        for start, frame in hours:
            for i, (_, row) in enumerate(frame.iterrows()):
                ids.append(f"r{len(ids)}")
                log.record(request_id=ids[-1], deployment="prod", model_name="m", model_version="1",
                           inputs=row.drop(labels=["target"]).to_frame().T, outputs=[int(row["age"] > 40)],
                           latency_ms=5.0 + i % 7, timestamp=start + 1 + i * (HOUR - 2) / len(frame))
    return ids


@pytest.fixture
def served(keel_home: Path, tmp_path: Path) -> tuple[pd.DataFrame, list[pd.DataFrame], list[str]]:
    """A reference, two logged hours (stable, then age shifted) and a monitor run over both."""
    rng = np.random.default_rng(0)
    reference = _traffic(rng, 2000)
    reference.to_parquet(tmp_path / "ref.parquet", index=False)
    keel.data.add(tmp_path / "ref.parquet", "ref")
    hours = [_traffic(rng, 300), _traffic(rng, 250, shift=15)]
    ids = _serve([(T0, hours[0]), (T0 + HOUR, hours[1])])
    m.create_monitor("mon", "prod", "ref", window="1h", target="target", task="classification")
    m.run_monitor("mon", now=T0 + 2 * HOUR)
    return reference, hours, ids


def test_report_data_matches_stored_results_and_data(served: tuple[pd.DataFrame, list[pd.DataFrame], list[str]]
                                                     ) -> None:
    reference, hours, _ = served
    data = report_data("mon")
    assert data["monitor"]["name"] == "mon" and data["monitor"]["deployment"] == "prod"
    assert data["current"] == {"start": T0_MS + 3_600_000, "end": T0_MS + 7_200_000, "rows": 250}
    features = {f["name"]: f for f in data["features"]}
    assert list(features) == ["age", "income", "city"]

    age = features["age"]
    assert age["kind"] == "numeric" and len(age["edges"]) == 21
    assert sum(age["reference"]) == 2000 and sum(age["current"]) == 250
    expected, _ = np.histogram(hours[1]["age"], np.asarray(age["edges"]))
    assert age["current"] == expected.tolist()  # the latest window's rows on the shared bins
    assert age["edges"][0] == pytest.approx(min(reference["age"].min(), hours[1]["age"].min()))

    city = features["city"]
    assert city["kind"] == "categorical" and city["categories"] == ["a", "b", "c"]
    assert city["reference"] == [int((reference["city"] == c).sum()) for c in "abc"]
    assert city["current"] == [int((hours[1]["city"] == c).sum()) for c in "abc"]

    stored = monitor_store().results("mon", metric="drift")
    for column in ("age", "income", "city"):
        mine = [(r.window_end, r.value, r.flagged) for r in stored if r.column == column]
        assert [(s["window_end"], s["value"], s["flagged"]) for s in data["drift"][column]] == mine
        latest = mine[-1]
        assert (features[column]["drift"]["value"], features[column]["drift"]["flagged"]) == latest[1:]
    assert features["age"]["drift"]["flagged"] is True

    shares = {r.window_end: r.value for r in monitor_store().results("mon", metric="share_drifted_features")}
    assert {w["window_end"]: w["share_drifted_features"] for w in data["windows"]} == shares
    assert [t["rows"] for t in data["traffic"]] == [300.0, 250.0]
    assert all(t["p99_latency_ms"] <= 11.0 for t in data["traffic"])
    assert data["performance"] == [] and data["alerts"] == []


def test_report_with_labels_and_alerts_has_performance(served: tuple[pd.DataFrame, list[pd.DataFrame], list[str]],
                                                       tmp_path: Path) -> None:
    _, hours, ids = served
    truth = [int(a > 40) for a in pd.concat(hours)["age"]]
    truth[:30] = [1 - t for t in truth[:30]]  # wrong on 30 of the first hour's 300
    m.add_monitor_labels("prod", pd.DataFrame({"request_id": ids, "label": truth}))
    data = report_data("mon")
    assert [(p["window_end"], p["accuracy"]) for p in data["performance"]] == [
        (T0_MS + 3_600_000, pytest.approx(270 / 300)), (T0_MS + 7_200_000, 1.0)]
    assert [p["labeled_rows"] for p in data["performance"]] == [300.0, 250.0]

    path = write_report("mon", tmp_path / "out" / "report.html")
    page = path.read_text(encoding="utf-8")
    assert '<section class="performance">' in page and '<section class="drift">' in page
    assert page.count('<section class="feature"') == 3
    assert 'data-feature="city"' in page
    assert not list(path.parent.glob("*.tmp"))


def test_html_is_self_contained(served: tuple[pd.DataFrame, list[pd.DataFrame], list[str]]) -> None:
    from plotly.offline import get_plotlyjs

    page = render_html(report_data("mon"))
    assert not re.search(r"<script[^>]*\bsrc=", page, re.IGNORECASE)  # no external script
    assert not re.search(r"<link[^>]*\bhref=", page, re.IGNORECASE)
    assert page.count(get_plotlyjs()[:2000]) == 1  # the library inlined exactly once
    assert page.count("Plotly.newPlot") == 1 + 3 + 1  # drift over time, one per feature, traffic
    assert '<section class="performance">' not in page  # no labels yet
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")


def test_window_choice_and_before_first_run(served: tuple[pd.DataFrame, list[pd.DataFrame], list[str]]) -> None:
    assert report_data("mon", windows=2)["current"]["rows"] == 550
    first = report_data("mon", windows=(T0_MS, T0_MS + 3_600_000))
    assert first["current"]["rows"] == 300
    assert {f["name"]: f["drift"]["flagged"] for f in first["features"]}["age"] is False
    with pytest.raises(InvalidInput, match="positive number"):
        report_data("mon", windows=0)
    with pytest.raises(InvalidInput, match="later than"):
        report_data("mon", windows=(T0_MS, T0_MS))

    m.create_monitor("fresh", "prod", "ref")
    fresh = report_data("fresh")
    assert fresh["current"] is None and fresh["drift"] == {}
    assert all(f["current"] is None and sum(f["reference"]) == 2000 for f in fresh["features"])
    assert "no window processed yet" in render_html(fresh)


def test_missing_plotly_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "plotly.graph_objects", None)  # what an import of a missing module meets
    with pytest.raises(InvalidInput, match=r"pip install 'keel-mlops\[plots\]'"):
        render_html({"monitor": {"name": "mon"}, "features": []})
