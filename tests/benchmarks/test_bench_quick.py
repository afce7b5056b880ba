"""Smoke test of the benchmark script: ``benchmarks/bench_tracking.py --quick`` (Keel alone, tiny sizes)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "bench_tracking.py"
RESULTS = ROOT / "benchmarks" / "RESULTS.md"


def _keel_figure(output: str, prefix: str, unit: str) -> float:
    """The Keel figure (first number with ``unit``) on the table row starting with ``prefix``."""
    for line in output.splitlines():
        if line.startswith(prefix):
            match = re.search(rf"([\d,]+(?:\.\d+)?) {re.escape(unit)}", line)
            assert match, f"no Keel figure in {unit} on row {line!r}"
            return float(match.group(1).replace(",", ""))
    raise AssertionError(f"no row starting with {prefix!r} in:\n{output}")


@pytest.mark.timeout(120)
def test_bench_quick_runs_and_reports_keel_figures() -> None:
    before = RESULTS.read_bytes() if RESULTS.exists() else None
    proc = subprocess.run([sys.executable, str(SCRIPT), "--quick"], cwd=ROOT, capture_output=True, text=True,
                          timeout=110)
    assert proc.returncode == 0, f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    assert _keel_figure(proc.stdout, "P1 ", "points/s") > 0
    assert _keel_figure(proc.stdout, "P2 ", "ms") > 0
    after = RESULTS.read_bytes() if RESULTS.exists() else None
    assert after == before, "--quick must not write benchmarks/RESULTS.md"
