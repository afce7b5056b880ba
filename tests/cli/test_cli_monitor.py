"""`keel monitor ...` and `keel alerts ...` in process, on a prediction log written as a deployment would."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import keel.data
from keel_testing import log_traffic, run_cli

T0 = 1_767_225_600.0


def test_monitor_lifecycle(keel_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rng = np.random.default_rng(0)
    reference = pd.DataFrame({"age": rng.normal(40, 10, 1500), "target": rng.integers(0, 2, 1500)})
    reference.to_parquet(tmp_path / "ref.parquet", index=False)
    keel.data.add(tmp_path / "ref.parquet", "ref")
    stable = pd.DataFrame({"age": np.random.default_rng(2).normal(40, 10, 200)})
    shifted = pd.DataFrame({"age": np.random.default_rng(3).normal(70, 10, 200)})
    ids = log_traffic([(T0, stable), (T0 + 3600, shifted)])

    code, out, _ = run_cli("monitor", "create", "m1", "-d", "prod", "-r", "ref@v1", "--window", "1h",
                           "--target", "target", "--task", "classification", capsys=capsys)
    assert code == 0 and "windows of 3600 s" in out
    code, out, err = run_cli("monitor", "create", "m2", "-d", "prod", "-r", "ref@v1", "--stattest", "age",
                             capsys=capsys)
    assert code == 2 and "not COLUMN=VALUE" in out + err
    code, out, _ = run_cli("alerts", "add-rule", "shifted", "-m", "m1", "--when", "share_drifted_features > 0.5",
                           capsys=capsys)
    assert code == 0 and "share_drifted_features > 0.5 for 1 window(s) -> log" in out
    code, out, _ = run_cli("monitor", "run", "--json", capsys=capsys)
    assert code == 0
    windows = json.loads(out)["m1"]
    assert [w["drifted"] for w in windows] == [[], ["age"]] and windows[1]["fired"] == ["shifted"]
    code, out, _ = run_cli("alerts", "list", "--json", capsys=capsys)
    [alert] = json.loads(out)
    assert alert["rule"] == "shifted" and alert["state"] == "firing"
    assert run_cli("alerts", "ack", str(alert["id"]), "--user", "ops", capsys=capsys)[0] == 0
    code, out, err = run_cli("alerts", "ack", str(alert["id"]), capsys=capsys)
    assert code == 2 and "acknowledged by ops already" in out + err

    labels = pd.DataFrame({"request_id": ids, "label": [1] * len(ids)})
    labels.to_csv(tmp_path / "labels.csv", index=False)
    code, out, _ = run_cli("monitor", "labels", "add", str(tmp_path / "labels.csv"), "-d", "prod", capsys=capsys)
    assert code == 0 and "400 label(s): 400 matched" in out
    from keel.monitoring.monitor_run import monitor_store

    accuracy = [r.value for r in monitor_store().results("m1", metric="accuracy")]
    assert accuracy == [pytest.approx((stable.age > 40).mean()), pytest.approx((shifted.age > 40).mean())]
    code, out, _ = run_cli("monitor", "list", capsys=capsys)
    assert code == 0 and "m1" in out and "ref@v1" in out
