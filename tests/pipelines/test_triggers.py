"""Triggers end to end: a new dataset version emits ``dataset:NAME`` and its trigger runs a real pipeline; REST and
CLI emit; ``keel schedule|trigger`` commands; ``keel scheduler`` as a real process (``--once`` and SIGTERM)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi.testclient import TestClient

import keel.data
import keel.pipelines
from keel.config import get_settings
from keel.errors import InvalidInput, NotFound
from keel.pipelines.scheduler import Scheduler
from keel.pipelines.schedules import Schedule, Trigger
from keel.pipelines.triggers import emit, schedule_store
from keel_testing import run_cli

FLOW = '''
from keel.pipelines import pipeline, step

@step
def count_rows(data: str) -> str:
    return "rows of " + data

@pipeline
def retrain(data: str = "none", lr: float = 0.1):
    return count_rows(data)
'''


def _flow(folder: Path) -> Path:
    path = folder / "flow.py"
    path.write_text(textwrap.dedent(FLOW))
    return path


def _csv(folder: Path, rows: int) -> Path:
    path = folder / "churn.csv"
    path.write_text("a,b\n" + "".join(f"{i},{i * 2}\n" for i in range(rows)))
    return path


def test_new_dataset_version_fires_its_trigger_with_a_real_pipeline(keel_home: Path, tmp_path: Path) -> None:
    store = schedule_store()
    store.add_trigger(Trigger("retrain-on-churn", "dataset:churn", f"{_flow(tmp_path)}:retrain", {"data": "$ref"}))
    version = keel.data.add(_csv(tmp_path, 5), "churn")
    keel.data.add(_csv(tmp_path, 5), "churn")  # unchanged data: no new version, no event
    events = store.list_events()
    assert [(e.event, e.payload) for e in events] == [("dataset:churn", {"ref": "churn@v1", "id": version.id})]
    result = Scheduler(holder="t", poll_s=0.1, lease_s=5).tick()
    assert [f.status for f in result.fired] == ["SUCCEEDED"] and result.events == [events[0].id]
    from keel.pipelines.runner import pipeline_store

    run = pipeline_store().get(result.fired[0].run_id or "")
    assert run.params["data"] == "churn@v1" and run.trigger.startswith("trigger:retrain-on-churn <- dataset:churn")
    assert Scheduler(holder="t", poll_s=0.1, lease_s=5).tick().fired == []  # handled once


def test_dataset_event_is_part_of_the_version_transaction(keel_home: Path, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    import keel.data.versions_sql as versions_sql

    def broken(*args: Any, **kwargs: Any) -> int:
        raise RuntimeError("event table unavailable")

    monkeypatch.setattr(versions_sql, "record_event", broken)
    with pytest.raises(RuntimeError):
        keel.data.add(_csv(tmp_path, 3), "churn")
    monkeypatch.undo()
    with pytest.raises(NotFound):  # the version rolled back with its event
        keel.data.versions("churn")


def test_emit_validates_and_records(keel_home: Path) -> None:
    event_id = keel.pipelines.emit("alert:drift", {"rule": "psi", "value": 0.3})
    assert schedule_store().list_events()[0].id == event_id
    with pytest.raises(InvalidInput) as err:
        emit("bad event")
    assert err.value.field == "event"
    with pytest.raises(InvalidInput) as err:
        emit("ok", ["not", "a", "mapping"])  # type: ignore[arg-type]
    assert err.value.field == "payload"


def test_rest_emit_answers_202_with_the_event_id(keel_home: Path) -> None:
    from keel.server.app import create_app

    client = TestClient(create_app(get_settings()))
    answer = client.post("/api/v1/triggers/ci:build", json={"sha": "abc123"})
    assert answer.status_code == 202
    event = schedule_store().list_events()[0]
    assert answer.json() == {"event_id": event.id, "event": "ci:build"} and event.payload == {"sha": "abc123"}
    assert client.post("/api/v1/triggers/deploy/prod").status_code == 202  # no body; '/' in the name
    assert schedule_store().list_events()[0].event == "deploy/prod"
    bad = client.post("/api/v1/triggers/bad%20name")
    assert bad.status_code == 400 and bad.json()["field"] == "event"
    assert client.post("/api/v1/triggers/ci:x", json=[1, 2]).status_code == 400


def test_cli_schedules_and_triggers(keel_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    _flow(tmp_path)
    assert run_cli("schedule", "add", "nightly", "--pipeline", "flow.py:retrain", "--cron", "0 3 * * *", "-p",
                   "lr=0.5", capsys=capsys)[0] == 0
    code, out, _ = run_cli("schedule", "list", capsys=capsys)
    assert code == 0 and "nightly" in out and "0 3 * * *" in out and "lr=0.5" in out
    assert schedule_store().get_schedule("nightly").pipeline_ref == f"{tmp_path / 'flow.py'}:retrain"
    code, _, err = run_cli("schedule", "add", "x", "--pipeline", "flow.py:retrain", "--cron", "0 25 * * *",
                           capsys=capsys)
    assert code == 2 and "cron" in err
    code, _, err = run_cli("schedule", "add", "y", "--pipeline", "flow.py:retrain", "--cron", "@daily", "-p",
                           "epochs=3", capsys=capsys)
    assert code == 2 and "epochs" in err
    assert run_cli("schedule", "add", "nightly", "--pipeline", "flow.py:retrain", "--cron", "@daily",
                   capsys=capsys)[0] == 2  # name taken
    assert run_cli("schedule", "remove", "nightly", capsys=capsys)[0] == 0
    assert run_cli("schedule", "remove", "nightly", capsys=capsys)[0] == 2

    assert run_cli("trigger", "add", "on-ci", "--on", "ci:*", "--pipeline", "flow.py:retrain", "-p", "data=$sha",
                   capsys=capsys)[0] == 0
    code, out, _ = run_cli("trigger", "ci:build", "--payload", '{"sha": "abc"}', capsys=capsys)
    assert code == 0 and "ci:build" in out
    assert schedule_store().list_events()[0].payload == {"sha": "abc"}
    code, out, _ = run_cli("trigger", "list", capsys=capsys)
    assert code == 0 and "on-ci" in out and "ci:build" in out
    code, _, err = run_cli("trigger", "ci:build", "--payload", "{oops", capsys=capsys)
    assert code == 2 and "payload" in err
    assert run_cli("trigger", "remove", "on-ci", capsys=capsys)[0] == 0
    assert run_cli("trigger", "list", capsys=capsys)[0] == 0


def _keel(home: Path, *args: str, cwd: Path) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEEL_")}
    return subprocess.Popen([sys.executable, "-m", "keel", *args], env={**env, "KEEL_HOME": str(home)}, cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_keel_scheduler_once_runs_a_due_schedule(keel_home: Path, tmp_path: Path) -> None:
    minute_ago = int(time.time() * 1000) - 61_000
    ref = f"{_flow(tmp_path)}:retrain"
    schedule_store().add_schedule(Schedule("often", ref, "* * * * *", {"data": "x"}, created_at=minute_ago))
    proc = _keel(keel_home, "scheduler", "--once", cwd=tmp_path)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, out
    assert "schedule:often" in out and "succeeded" in out
    from keel.pipelines.runner import pipeline_store

    [run] = pipeline_store().list("retrain")
    assert run.status == "SUCCEEDED" and run.trigger == "schedule:often" and run.params["data"] == "x"


def test_keel_scheduler_stops_on_sigterm_and_frees_the_lease(keel_home: Path, tmp_path: Path) -> None:
    proc = _keel(keel_home, "scheduler", "--poll-s", "0.1", "--lease-s", "30", cwd=tmp_path)
    store, deadline = schedule_store(), time.monotonic() + 60
    while store.lease() is None and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.1)
    assert store.lease() is not None
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0 and "scheduler stopped" in out, out
    assert store.lease() is None  # a standby can take over at once


def test_failing_scheduled_pipeline_is_reported(keel_home: Path, tmp_path: Path) -> None:
    calls: list[str] = []

    def run(ref: str, params: dict[str, str], *, trigger: str) -> Any:
        calls.append(trigger)
        return SimpleNamespace(id="r1", status="FAILED", error="step 'fit' failed: boom")

    schedule_store().add_schedule(Schedule("s", "f.py:p", "* * * * *", created_at=int(time.time() * 1000) - 61_000))
    result = Scheduler(holder="t", poll_s=0.1, lease_s=5, run=run).tick()
    assert calls == ["schedule:s"] and result.fired[0].status == "FAILED" and "boom" in (result.fired[0].error or "")


def test_emit_posts_to_a_remote_server(keel_home: Path, live_server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from keel.pipelines.schedules_sql import SqlScheduleStore
    from keel.store import open_database

    monkeypatch.setenv("KEEL_TRACKING_URI", live_server.url)
    event_id = emit("ci:deploy", {"env": "prod"})
    server_store = SqlScheduleStore(open_database(f"sqlite:///{(live_server.home / 'keel.db').absolute()}"))
    [event] = [e for e in server_store.list_events() if e.id == event_id]
    assert event.event == "ci:deploy" and event.payload == {"env": "prod"}
