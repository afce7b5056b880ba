"""The monitoring REST routes and ``/metrics`` of ``keel server``: monitors, results, report data, runs, delayed
labels, alerts, and Prometheus gauges that match the stored results after a run."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

import keel.data
from keel.monitoring import PredictionLog, predictions
from keel.monitoring import monitors as m
from keel.monitoring.monitor_run import monitor_store
from keel.server import create_app
from keel.serving.metrics import ServingMetrics

HOUR = 3600.0
T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z
T0_MS = int(T0 * 1000)
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _traffic(rng: np.random.Generator, n: int, shift: float = 0.0) -> pd.DataFrame:
    return pd.DataFrame({"age": rng.normal(40 + shift, 10, n), "income": rng.normal(50, 5, n),
                         "city": rng.choice(["a", "b", "c"], n, p=[0.5, 0.3, 0.2]), "target": rng.integers(0, 2, n)})


@pytest.fixture
def api(keel_home: Path, tmp_path: Path) -> Iterator[TestClient]:
    """A server on the test's home with a reference, two logged hours (the second shifted), a monitor with a rule
    that fires on that shift, not run yet."""
    rng = np.random.default_rng(0)
    _traffic(rng, 2000).to_parquet(tmp_path / "ref.parquet", index=False)
    keel.data.add(tmp_path / "ref.parquet", "ref")
    with PredictionLog(flush_interval_s=0.05) as log:
        for hour, frame in enumerate([_traffic(rng, 200), _traffic(rng, 200, shift=15)]):
            for i, (_, row) in enumerate(frame.iterrows()):
                log.record(request_id=f"r{hour}-{i}", deployment="prod", model_name="m", model_version="1",
                           inputs=row.drop(labels=["target"]).to_frame().T, outputs=[int(row["age"] > 40)],
                           latency_ms=5.0, timestamp=T0 + hour * HOUR + 1 + i * 17)
    m.create_monitor("mon", "prod", "ref", window="1h", target="target", task="classification")
    m.add_alert_rule("age-drift", "mon", "drift[age] < 0.001", channels=["log"])
    with TestClient(create_app(), raise_server_exceptions=False) as client:
        yield client


def _run(api: TestClient) -> list[dict]:
    answer = api.post("/api/v1/monitors/mon/run", json={"now": T0 + 2 * HOUR})
    assert answer.status_code == 200, answer.text
    return list(answer.json()["windows"])


def _samples(api: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    answer = api.get("/metrics")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain")
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(answer.text) for s in family.samples}


def test_monitor_routes(api: TestClient) -> None:
    [listed] = api.get("/api/v1/monitors").json()["monitors"]
    assert (listed["name"], listed["deployment"], listed["window_s"]) == ("mon", "prod", 3600)
    one = api.get("/api/v1/monitors/mon").json()["monitor"]
    assert [r["name"] for r in one["rules"]] == ["age-drift"] and one["last_window_end"] is None

    windows = _run(api)
    assert [(w["start"], w["rows"], "age" in w["drifted"], w["fired"]) for w in windows] == [
        (T0_MS, 200, False, []), (T0_MS + 3_600_000, 200, True, ["age-drift"])]
    assert _run(api) == []  # nothing new

    drift = api.get("/api/v1/monitors/mon/results", params={"metric": "drift"}).json()["results"]
    stored = monitor_store().results("mon", metric="drift")
    assert [(r["window_end"], r["column"], r["value"], r["flagged"]) for r in drift] == [
        (r.window_end, r.column, r.value, r.flagged) for r in stored]
    later = api.get("/api/v1/monitors/mon/results", params={"since": T0_MS + 3_600_000}).json()["results"]
    assert later and {r["window_end"] for r in later} == {T0_MS + 7_200_000}

    report = api.get("/api/v1/monitors/mon/report").json()
    assert report["current"]["rows"] == 200 and [f["name"] for f in report["features"]] == ["age", "income", "city"]
    assert report["drift"]["age"][-1]["flagged"] is True and len(report["alerts"]) == 1
    both = api.get("/api/v1/monitors/mon/report", params={"windows": 2}).json()
    assert both["current"]["rows"] == 400
    ranged = api.get("/api/v1/monitors/mon/report", params={"since": T0_MS, "until": T0_MS + 3_600_000}).json()
    assert ranged["current"]["rows"] == 200
    half = api.get("/api/v1/monitors/mon/report", params={"since": T0_MS})
    assert half.status_code == 400 and half.json()["field"] == "until"


@pytest.mark.parametrize(("method", "path"), [
    ("get", "/api/v1/monitors/nope"), ("get", "/api/v1/monitors/nope/results"),
    ("get", "/api/v1/monitors/nope/report"), ("post", "/api/v1/monitors/nope/run")])
def test_unknown_monitor_is_a_json_404(api: TestClient, method: str, path: str) -> None:
    answer = getattr(api, method)(path)
    assert answer.status_code == 404
    body = answer.json()
    assert body["error_code"] == "RESOURCE_DOES_NOT_EXIST" and "'nope'" in body["message"] and "mon" in body["message"]


def test_labels_report_unknown_keys_and_give_performance(api: TestClient) -> None:
    _run(api)
    labels = [{"key": f"r0-{i}", "label": 1} for i in range(200)] + [{"key": "ghost", "label": 0}]
    answer = api.post("/api/v1/deployments/prod/labels", json={"labels": labels, "key": "request_id"})
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"received": 201, "matched": 200, "unknown": 1, "unknown_examples": ["ghost"]}
    [accuracy] = api.get("/api/v1/monitors/mon/results", params={"metric": "accuracy"}).json()["results"]
    logged = predictions("prod")
    first = logged[logged["request_id"].str.startswith("r0-")]
    assert accuracy["window_end"] == T0_MS + 3_600_000
    assert accuracy["value"] == pytest.approx(float((first["output"] == 1).mean()))

    empty = api.post("/api/v1/deployments/prod/labels", json={"labels": []})
    assert empty.status_code == 400 and empty.json()["field"] == "labels"
    malformed = api.post("/api/v1/deployments/prod/labels", json={"key": "request_id"})
    assert malformed.status_code == 400 and malformed.json()["error_code"] == "INVALID_PARAMETER_VALUE"


def test_alerts_list_and_ack(api: TestClient) -> None:
    _run(api)
    [alert] = api.get("/api/v1/alerts", params={"state": "firing"}).json()["alerts"]
    assert (alert["rule"], alert["monitor"], alert["acked_by"]) == ("age-drift", "mon", None)
    assert api.get("/api/v1/alerts", params={"state": "resolved"}).json()["alerts"] == []
    assert api.get("/api/v1/alerts", params={"state": "asleep"}).status_code == 400

    acked = api.post(f"/api/v1/alerts/{alert['id']}/ack", json={"user": "ops"})
    assert acked.status_code == 200 and acked.json()["alert"]["acked_by"] == "ops"
    assert acked.json()["alert"]["acked_at"] is not None
    again = api.post(f"/api/v1/alerts/{alert['id']}/ack")
    assert again.status_code == 409 and "ops" in again.json()["message"]
    assert api.post("/api/v1/alerts/999/ack").status_code == 404


def test_metrics_expose_monitor_gauges_and_requests(api: TestClient) -> None:
    before = _samples(api)
    assert not [k for k in before if k[0] == "keel_monitor_value"]  # nothing run yet
    assert before[("keel_alerts_firing", (("monitor", "mon"), ("rule", "age-drift")))] == 0.0

    _run(api)
    samples = _samples(api)
    latest = [r for r in monitor_store().results("mon") if r.window_end == T0_MS + 7_200_000]
    assert latest
    for r in latest:
        labels = (("column", r.column or ""), ("metric", r.metric), ("monitor", "mon"))
        if r.value is not None:
            assert samples[("keel_monitor_value", labels)] == pytest.approx(r.value)
        assert samples[("keel_monitor_flagged", labels)] == float(r.flagged)
    age = (("column", "age"), ("metric", "drift"), ("monitor", "mon"))
    assert samples[("keel_monitor_flagged", age)] == 1.0
    assert samples[("keel_monitor_value", (("column", ""), ("metric", "rows"), ("monitor", "mon")))] == 200.0
    assert samples[("keel_monitor_window_end_timestamp_seconds", (("monitor", "mon"),))] == T0 + 2 * HOUR
    assert samples[("keel_alerts_firing", (("monitor", "mon"), ("rule", "age-drift")))] == 1.0

    for _ in range(3):
        api.get("/api/v1/monitors/mon")
    api.get("/api/v1/monitors/nope")
    api.get("/no/such/route")
    counted = _samples(api)
    route = "/api/v1/monitors/{name}"
    assert counted[("keel_server_requests_total", (("method", "GET"), ("route", route), ("status", "200")))] == 3
    assert counted[("keel_server_requests_total", (("method", "GET"), ("route", route), ("status", "404")))] == 1
    assert counted[("keel_server_requests_total", (("method", "GET"), ("route", "(unmatched)"),
                                                   ("status", "404")))] == 1
    assert counted[("keel_server_latency_seconds_count", (("method", "GET"), ("route", route)))] == 4
    run = (("method", "POST"), ("route", "/api/v1/monitors/{name}/run"), ("status", "200"))
    assert counted[("keel_server_requests_total", run)] == 1
    _dashboard_queries_exported_names({name for name, _ in counted})


def _dashboard_queries_exported_names(server_names: set[str]) -> None:
    """The example Grafana dashboard and Prometheus config query only series keel server and keel serve export."""
    serving = ServingMetrics()
    serving.observe("m", "1", "v2", 0.01, 500)
    serving.observe_batch("m", "1", 4)
    exported = server_names | {s.name for f in text_string_to_metric_families(serving.render().decode())
                               for s in f.samples}
    dashboard = json.loads((EXAMPLES / "grafana-dashboard.json").read_text())
    assert dashboard["schemaVersion"] >= 36 and dashboard["uid"] and dashboard["title"]
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    queried = {name for e in exprs for name in re.findall(r"\bkeel_[a-z_]+", e)}
    assert queried and queried <= exported, queried - exported
    assert {"keel_serving_requests_total", "keel_monitor_flagged", "keel_alerts_firing"} <= queried
    scrape = yaml.safe_load((EXAMPLES / "prometheus.yml").read_text())
    targets = {t for job in scrape["scrape_configs"] for c in job["static_configs"] for t in c["targets"]}
    assert targets == {"localhost:5000", "localhost:8080"}
