"""``benchmarks/bench_pipelines.py``: the ``--quick`` run (Keel alone) and the checks the full run relies on."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

import bench_pipelines  # noqa: E402


@pytest.mark.timeout(600)
def test_bench_pipelines_quick_reports_keel_figures_and_cleans_up() -> None:
    results = ROOT / "benchmarks" / "RESULTS.md"
    before = results.read_bytes() if results.exists() else None
    work = ROOT / "benchmarks" / ".work"
    leftovers = set(work.glob("pipelines-*")) if work.exists() else set()
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_pipelines.py"), "--quick"], cwd=ROOT,
                          capture_output=True, text=True, timeout=590)
    assert proc.returncode == 0, proc.stderr
    lines = [line for line in proc.stdout.splitlines() if line.startswith("P9 keel")]
    assert [line.split(":")[0] for line in lines] == ["P9 keel fan-out of 20 no-op steps", "P9 keel chain of 20 steps"]
    for line in lines:
        first, cached, first_inner, cached_inner = (float(x) for x in re.findall(r"(\d+\.\d+) s", line))
        assert 0 < first_inner < first < 300 and 0 <= cached_inner < cached < 300
    assert "P9 target (keel, fan-out): < 5 s first run" in proc.stdout
    assert "prefect" not in proc.stdout.lower()  # Keel alone
    assert (results.read_bytes() if results.exists() else None) == before  # quick mode never writes results
    assert set(work.glob("pipelines-*")) == leftovers  # the temporary homes are deleted


def test_keel_summary_is_parsed_and_checked() -> None:
    shape = bench_pipelines.Shape("fanout", "many", "fanout", 1000)
    counts, ms = bench_pipelines.parse_keel_summary("noise\nmany succeeded run 0123abcd: 1000 cached in 412 ms\n")
    assert (counts, ms) == ({"cached": 1000}, 412)
    bench_pipelines.check_keel(counts, shape, "cached")
    with pytest.raises(bench_pipelines.BenchError, match="expected 1000 steps succeeded"):
        bench_pipelines.check_keel(counts, shape, "succeeded")
    mixed, _ = bench_pipelines.parse_keel_summary("many succeeded run 01ab: 3 cached, 997 succeeded in 9 ms")
    assert mixed == {"cached": 3, "succeeded": 997}
    with pytest.raises(bench_pipelines.BenchError, match="expected 1000 steps cached"):
        bench_pipelines.check_keel(mixed, shape, "cached")
    with pytest.raises(bench_pipelines.BenchError, match="no summary line"):
        bench_pipelines.parse_keel_summary("Traceback ...")


def test_prefect_results_must_cover_every_task_with_the_right_values() -> None:
    fanout = bench_pipelines.Shape("fanout", "many", "fanout", 10)
    chain = bench_pipelines.Shape("chain", "chain", "chain", 10)
    body: dict[str, Any] = {"tasks": 10, "completed": 10, "cached": 10, "result_sum": 45, "import_s": 1.0}
    bench_pipelines.check_prefect(body, fanout, cached=10)
    with pytest.raises(bench_pipelines.BenchError, match="'cached': 0"):
        bench_pipelines.check_prefect(body, fanout, cached=0)  # a "plain" run must not hit a cache
    with pytest.raises(bench_pipelines.BenchError, match="'result_sum': 10"):
        bench_pipelines.check_prefect(body, chain, cached=10)  # the chain ends at N, the fan-out sums 0..N-1
    bench_pipelines.check_prefect(dict(body, result_sum=10), chain, cached=10)
    with pytest.raises(bench_pipelines.BenchError):
        bench_pipelines.check_prefect(dict(body, completed=9), fanout, cached=10)


def test_prefect_env_drops_inherited_settings_and_uses_the_given_home(monkeypatch: pytest.MonkeyPatch,
                                                                      tmp_path: Path) -> None:
    monkeypatch.setenv("PREFECT_API_URL", "http://elsewhere:4200/api")
    monkeypatch.setenv("KEEL_HOME", "/somewhere")
    env = bench_pipelines.prefect_env(tmp_path)
    assert "PREFECT_API_URL" not in env and "KEEL_HOME" not in env
    assert env["PREFECT_HOME"] == str(tmp_path) and env["PREFECT_SERVER_ANALYTICS_ENABLED"] == "false"


def test_results_section_has_both_shapes_ratios_and_targets(monkeypatch: pytest.MonkeyPatch) -> None:
    written: dict[str, list[str]] = {}
    monkeypatch.setattr(bench_pipelines, "write_section", lambda name, lines: written.setdefault(name, lines))
    keel = {"first_s": 2.0, "cached_s": 0.5, "first_inner_s": 1.2, "cached_inner_s": 0.1}
    prefect = {"plain_s": 13.0, "inputs_first_s": 16.0, "cached_s": 11.5, "plain_import_s": 2.5,
               "inputs_first_import_s": 2.5, "cached_import_s": 2.5}
    rows = [{"shape": shape, "keel": keel, "prefect": prefect} for shape in bench_pipelines.shapes(1000, 100)]
    bench_pipelines.write_results(rows, {"prefect": "3.8.8"}, (0.1, 0.2))
    text = "\n".join(written["pipelines"])
    assert "| P9 fan-out of 1,000 no-op steps, end to end (Prefect without caching) | 2.00 s | 13.00 s | 6.5x | " \
           "Keel < 5 s |" in text
    assert "| P9 fan-out of 1,000 no-op steps, fully cached re-run | 0.50 s | 11.50 s | 23.0x | Keel < 1 s |" in text
    assert "| P9 chain of 100 steps, first run with caching (Prefect: cache_policy=INPUTS) | 2.00 s | 16.00 s | " \
           "8.0x | (reported) |" in text
    assert "Prefect 3.8.8" in text and "at the start: 0.1, at the end: 0.2" in text
    assert "busy" not in text  # an idle machine gets no warning


def test_a_busy_machine_is_flagged() -> None:
    assert bench_pipelines.busy_note((1.5, 2.0), cores=2) == ""
    note = bench_pipelines.busy_note((1.0, 9.6), cores=2)
    assert "busy" in note and "9.6 at the end, on 2 cores" in note and "upper bounds" in note


@pytest.mark.timeout(60)
def test_a_run_past_the_time_limit_is_stopped_with_its_children(monkeypatch: pytest.MonkeyPatch,
                                                                 tmp_path: Path) -> None:
    monkeypatch.setattr(bench_pipelines, "TIMEOUT_S", 2.0)
    pid_file = tmp_path / "child.pid"
    code = ("import subprocess, sys, time; child = subprocess.Popen([sys.executable, '-c', 'import time; "
            f"time.sleep(60)']); open({str(pid_file)!r}, 'w').write(str(child.pid)); time.sleep(60)")
    with pytest.raises(bench_pipelines.BenchError, match="did not finish in 2 s"):
        bench_pipelines._timed([sys.executable, "-c", code], dict(os.environ), tmp_path, "slow")
    child = int(pid_file.read_text())
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and Path(f"/proc/{child}").exists():
        time.sleep(0.1)  # killed; the zombie is reaped by init shortly after
    assert not Path(f"/proc/{child}").exists() or "Z" in Path(f"/proc/{child}/stat").read_text().split(")")[1][:3]
    assert bench_pipelines._timed([sys.executable, "-c", "print('hi')"], dict(os.environ), tmp_path, "ok")[1] == "hi\n"
