"""The continuous-training example driven the three ways the issue names: by hand, by a new dataset version (a
trigger passing the new version's ref) and by a schedule; the champion alias moves when the gate passes."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
FLOW = f"{EXAMPLES / 'continuous_training.py'}:ct"


@pytest.mark.timeout(900)
def test_ct_by_hand_by_new_data_and_by_schedule(keel_home: Path, tmp_path: Path) -> None:
    sys.path.insert(0, str(EXAMPLES))
    from continuous_training import sample_data

    import keel
    import keel.data
    from keel.pipelines.runner import pipeline_store, run_ref
    from keel.pipelines.scheduler import Scheduler
    from keel.pipelines.schedules import Schedule, Trigger
    from keel.pipelines.triggers import schedule_store

    suite = str(tmp_path / "suite.yaml")
    first = run_ref(FLOW, {"source": str(sample_data(tmp_path / "a.csv")), "suite": suite,
                           "n_trials": "2"})
    assert first.status == "SUCCEEDED", first.error
    assert first.result == {"version": 1, "promoted": True}
    assert keel.load_model("models:/ct-model@champion") is not None

    store = schedule_store()
    store.add_trigger(Trigger("on-new-data", "dataset:ct-raw", FLOW, {"source": "$ref", "suite": suite,
                                                                      "n_trials": "2"}))
    # new data lands as v2 of the raw dataset (within the ranges the suite learned from v1, so the gate passes)
    keel.data.add(sample_data(tmp_path / "b.csv", slice(0, 500)), "ct-raw")
    tick = Scheduler(holder="t").tick()
    [by_data] = [r for r in pipeline_store().list("ct") if r.trigger and "dataset:ct-raw" in r.trigger]
    assert by_data.status == "SUCCEEDED" and by_data.params["source"] == "ct-raw@v2", tick
    by_data_steps = {s.node: s.status for s in pipeline_store().get(by_data.id).steps}
    assert by_data_steps["ingest"] == "SUCCEEDED" and by_data_steps["train"] == "SUCCEEDED"

    store.add_schedule(Schedule("nightly", FLOW, "0 3 * * *", {"source": "ct-raw@v2", "suite": suite,
                                                                "n_trials": "2"}))
    Scheduler(holder="t").tick(now=_ms("2030-01-01T03:00:30"))
    [by_schedule] = [r for r in pipeline_store().list("ct") if r.trigger and "nightly" in r.trigger]
    assert by_schedule.status == "SUCCEEDED"
    assert {s.status for s in pipeline_store().get(by_schedule.id).steps} == {"CACHED"}  # same data: all cached


def _ms(iso: str) -> int:
    from datetime import UTC, datetime

    return int(datetime.fromisoformat(iso).replace(tzinfo=UTC).timestamp() * 1000)
