"""16 processes logging 5,000 points each to one store: every point is stored, no "database is locked"."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from keel.store import open_database
from keel.tracking.sql import SqlTrackingStore

WRITER = """
import sys, keel
keel.set_experiment("concurrency")
with keel.start_run(run_name=sys.argv[1]) as run:
    for i in range(5000):
        keel.log_metric("m", float(i), step=i)
        if i % 1000 == 0:
            keel.log_param(f"p{i}", i)
print(run.run_id)
"""


def _spawn(n: int, env: dict[str, str]) -> list[str]:
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, f"w{i}"], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for i in range(n)]
    run_ids = []
    for proc in procs:
        out, err = proc.communicate(timeout=240)
        assert proc.returncode == 0, err
        assert "locked" not in err.lower()
        run_ids.append(out.strip().splitlines()[-1])
    return run_ids


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEEL_")}
    env.update(extra)
    return env


@pytest.mark.parametrize("transport", ["server", "local"])
def test_sixteen_writers_lose_nothing(transport: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    # Small batches make 800 concurrent write transactions instead of 16.
    if transport == "server":
        server = request.getfixturevalue("live_server")
        env = _env(KEEL_TRACKING_URI=server.url, KEEL_METRIC_BATCH_SIZE="100", KEEL_METRIC_FLUSH_INTERVAL_S="0.01")
        db_path = server.home / "keel.db"
    else:
        env = _env(KEEL_HOME=str(tmp_path / "home"), KEEL_METRIC_BATCH_SIZE="100",
                   KEEL_METRIC_FLUSH_INTERVAL_S="0.01")
        db_path = tmp_path / "home" / "keel.db"
    run_ids = _spawn(16, env)
    assert len(set(run_ids)) == 16
    store = SqlTrackingStore(open_database(f"sqlite:///{db_path}"))
    for run_id in run_ids:
        points, _ = store.get_metric_history(run_id, "m")
        assert [p.step for p in points] == list(range(5000))
        assert [p.value for p in points] == [float(i) for i in range(5000)]
        run = store.get_run(run_id)
        assert run.info.status == "FINISHED"
        assert set(run.params) == {f"p{i}" for i in range(0, 5000, 1000)}
    if transport == "server":
        log = (server.home.parent / f"server-{server.port}.log").read_text()
        assert "locked" not in log.lower()
