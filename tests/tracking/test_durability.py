"""The server killed with SIGKILL while a client logs: the SDK retries and no acknowledged point is lost."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from keel.store import open_database
from keel.tracking.sql import SqlTrackingStore
from keel_testing import ServerProcess

N = 20_000
CLIENT = f"""
import sys, time, keel
keel.set_experiment("durability")
with keel.start_run() as run:
    print("run", run.run_id, flush=True)
    for i in range({N}):
        keel.log_metric("m", float(i), step=i)
        if i % 50 == 0:
            time.sleep(0.002)
            print("acked", run.batcher.acknowledged, flush=True)
    keel.flush()
    print("acked", run.batcher.acknowledged, flush=True)
print("done", flush=True)
"""


def test_sigkill_mid_logging_loses_nothing(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    server = ServerProcess(home).start()
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEEL_")}
    env.update(KEEL_TRACKING_URI=server.url, KEEL_METRIC_BATCH_SIZE="500", KEEL_METRIC_FLUSH_INTERVAL_S="0.02")
    client = subprocess.Popen([sys.executable, "-u", "-c", CLIENT], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    try:
        assert client.stdout is not None
        run_id = client.stdout.readline().split()[1]
        acked_before_kill = 0
        for line in client.stdout:
            acked_before_kill = int(line.split()[1])
            if acked_before_kill >= 2000:
                break
        server.kill()
        time.sleep(1.5)  # the client keeps logging into its buffer and retrying
        server = ServerProcess(home, port=server.port).start()
        out, err = client.communicate(timeout=180)
    finally:
        client.kill()
        server.stop()
    assert client.returncode == 0, err
    lines = out.strip().splitlines()
    assert lines[-1] == "done"
    final_acked = int(lines[-2].split()[1])
    assert final_acked == N and acked_before_kill < N
    points, _ = SqlTrackingStore(open_database(f"sqlite:///{home / 'keel.db'}")).get_metric_history(run_id, "m")
    # Every acknowledged point is there, exactly once (a retried batch is not stored twice).
    assert [p.step for p in points] == list(range(N))
