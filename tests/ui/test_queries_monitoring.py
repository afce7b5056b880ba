"""The Monitoring pages' queries over monitors run by the SDK: the list with firing alerts, the drift heatmap
(feature × window), histograms and alerts of one monitor."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

import keel.data
from keel.local_store import local_database
from keel.monitoring import monitors as m
from keel.monitoring.monitor_store import SqlMonitorStore
from keel.ui import queries_monitoring as q
from keel_testing import log_traffic

HOUR = 3600.0
T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z


def test_heatmap_is_feature_by_window() -> None:
    drift = {"b": [{"window_end": 2, "value": 0.9, "threshold": 0.1, "flagged": True}],
             "a": [{"window_end": 1, "value": 0.01, "threshold": 0.1, "flagged": False},
                   {"window_end": 2, "value": 0.02, "threshold": 0.1, "flagged": False}]}
    heat = q.drift_heatmap(drift)
    assert heat["windows"] == [1, 2] and heat["features"] == ["a", "b"]
    assert heat["values"] == [[0.01, 0.02], [None, 0.9]] and heat["flagged"] == [[False, False], [None, True]]
    assert q.drift_heatmap(drift, max_windows=1)["values"] == [[0.02], [0.9]]


def test_monitor_list_page_and_alerts(keel_home: Path, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    reference = pd.DataFrame({"age": rng.normal(40, 10, 500), "city": rng.choice(["a", "b"], 500)})
    reference.to_parquet(tmp_path / "ref.parquet", index=False)
    keel.data.add(tmp_path / "ref.parquet", "ref")
    shifted = pd.DataFrame({"age": rng.normal(80, 10, 200), "city": rng.choice(["a", "b"], 200)})
    log_traffic([(T0, reference.sample(200, random_state=1)), (T0 + HOUR, shifted)])
    m.create_monitor("drift", "prod", "ref", window="1h")
    m.add_alert_rule("drifting", "drift", "share_drifted_features > 0.3")
    m.run_monitor("drift", now=T0 + 2 * HOUR)
    store = SqlMonitorStore(*local_database("tests read"))

    listed = q.list_monitors(store)
    (row,) = listed["monitors"]
    assert row["name"] == "drift" and row["deployment"] == "prod" and row["firing"] == 1 and row["drifting"]
    assert row["share_drifted"] == 0.5 and row["rules"] == 1
    assert [(a["rule"], a["state"]) for a in listed["alerts"]] == [("drifting", "firing")]

    page = q.monitor_page("drift")
    heat = page["heatmap"]
    assert heat["features"] == ["age", "city"] and heat["windows"] == [int((T0 + HOUR) * 1000),
                                                                       int((T0 + 2 * HOUR) * 1000)]
    assert [row[1] for row in heat["flagged"]] == [True, False] and heat["flagged"][0][0] is False
    age = next(f for f in page["features"] if f["name"] == "age")
    assert sum(age["reference"]) == 500 and sum(age["current"]) == 200  # the latest window against the reference
    assert page["rules"][0]["name"] == "drifting" and page["alerts"][0]["state"] == "firing"
    assert not page["has_performance"]
