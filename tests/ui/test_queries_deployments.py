"""The Deployments pages' queries: routes and weights, revision history with rollback targets, traffic bucketed
from the prediction log, and the server's own request counters."""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd
import pytest

from keel.errors import InvalidInput, NotFound
from keel.local_store import local_database
from keel.monitoring import PredictionLog
from keel.registry.sql import SqlRegistryStore
from keel.server.metrics import ServerMetrics
from keel.serving.deployment import Deployment, Route
from keel.serving.deployment_sql import SqlDeploymentStore
from keel.ui import queries_deployments as q


def test_routes_history_and_rollback_targets(keel_home: Path) -> None:
    db, project = local_database("tests read")
    registry = SqlRegistryStore(db, project)
    registry.create_registered_model("m")
    for _ in range(3):
        registry.create_model_version("m", "s")
    registry.set_registered_model_alias("m", "champion", 1)
    store = SqlDeploymentStore(db, project, user="ann")
    store.create_deployment(Deployment("prod", (Route("m", alias="champion", weight=90), Route("m", 2, weight=10)),
                                       (Route("m", 3),)))
    store.update_deployment("prod", routes=(Route("m", alias="champion", weight=50), Route("m", 2, weight=50)))
    store.rollback_deployment("prod")

    (listed,) = q.list_deployments(store)
    assert listed["revision"] == 3 and listed["action"] == "rollback"
    assert [(r["target"], r["percent"]) for r in listed["routes"]] == [("m@champion", 90), ("m/2", 10)]
    assert listed["summary"] == "m@champion 90%, m/2 10%, shadow m/3"
    assert [r["href"] for r in listed["routes"]] == ["/ui/models/m", "/ui/models/m/versions/2"]
    detail = q.deployment_detail(store, "prod")
    assert [(h["revision"], h["action"], h["current"], h["rollback_target"]) for h in detail["history"]] == [
        (3, "rollback", True, False), (2, "update", False, True), (1, "create", False, True)]
    assert detail["history"][1]["summary"] == "m@champion 50%, m/2 50%, shadow m/3"
    with pytest.raises(NotFound):
        q.deployment_detail(store, "nope")


def test_traffic_buckets_from_the_prediction_log(keel_home: Path) -> None:
    now = time.time()
    start = int(now // 60 * 60) - 600  # ten minutes ago, on a minute
    with PredictionLog(flush_interval_s=0.05) as log:
        for i in range(30):  # 30 requests in the first minute (v1: 20, v2: 10, two failed), 5 in the third
            log.record(request_id=f"r{i}", deployment="prod", model_name="m", model_version="1" if i % 3 else "2",
                       inputs=pd.DataFrame({"x": [i]}), outputs=[0], latency_ms=float(i),
                       timestamp=start + i, status=500 if i in (4, 5) else 200)
        for i in range(5):
            log.record(request_id=f"s{i}", deployment="prod", model_name="m", model_version="1",
                       inputs=pd.DataFrame({"x": [i]}), outputs=[0], latency_ms=2.0, timestamp=start + 125 + i)
        log.record(request_id="sh", deployment="prod", model_name="m", model_version="3",
                   inputs=pd.DataFrame({"x": [1]}), outputs=[0], latency_ms=1.0, timestamp=start + 1, shadow=True)
    data = q.traffic("prod", minutes=15, bucket_s=60, now_ms=(start + 600) * 1000)
    first = data["t"].index(start)
    assert data["rate"][first] == 30 / 60 and data["rate"][first + 1] == 0 and data["rate"][first + 2] == 5 / 60
    assert data["error_rate"][first] == pytest.approx(2 / 30) and data["error_rate"][first + 1] is None
    assert data["p50_ms"][first] == pytest.approx(14.5) and data["p50_ms"][first + 2] == 2.0
    assert data["by_version"]["2"][first] == 10 / 60 and data["by_version"]["1"][first] == 20 / 60
    assert "3" not in data["by_version"] and data["shadow_rate"][first] == 1 / 60
    assert data["total_requests"] == 35
    assert q.traffic("nothing-here", minutes=5)["total_requests"] == 0
    with pytest.raises(InvalidInput, match="minutes"):
        q.traffic("prod", minutes=0)


def test_server_counters() -> None:
    metrics = ServerMetrics()
    metrics.observe("GET", "/api/v1/x", 200, 0.5)
    metrics.observe("GET", "/api/v1/x", 404, 0.25)
    metrics.observe("POST", "/api/v1/y", 500, 0.25)
    counters = q.server_counters(metrics)
    assert (counters["requests"], counters["client_errors"], counters["server_errors"]) == (3, 1, 1)
    assert counters["latency_sum_s"] == 1.0 and counters["latency_count"] == 3
