"""Smoke test of ``benchmarks/bench_ui.py --quick`` (Keel alone, tiny store): the pages draw and are timed."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(240)
def test_bench_ui_quick_times_the_runs_page_and_the_compare_view() -> None:
    if not Path("/usr/bin/chromium").exists():
        pytest.skip("Debian's chromium is not installed at /usr/bin/chromium")
    results = ROOT / "benchmarks" / "RESULTS.md"
    before = results.read_bytes() if results.exists() else None
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_ui.py"), "--quick"], cwd=ROOT,
                          capture_output=True, text=True, timeout=230)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = {m.group(1): (float(m.group(2)), m.group(3)) for m in
            re.finditer(r"^keel  (.+?): median ([\d.]+) s, cold [\d.]+ s, check (\S+)$", proc.stdout, re.MULTILINE)}
    assert set(rows) == {"runs page", "runs page sorted by metrics.acc", "runs page, page 50", "compare view"}
    assert rows["runs page"][1] == "100"  # the first server-side page of the 150 runs
    assert rows["compare view"][1] == "2"  # both curves drawn
    assert all(0 < seconds < 60 for seconds, _ in rows.values())
    assert "mlflow" not in proc.stdout  # quick mode runs Keel alone
    assert (results.read_bytes() if results.exists() else None) == before  # quick mode never writes results
