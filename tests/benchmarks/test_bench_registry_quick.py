"""Smoke test of ``benchmarks/bench_registry.py --quick`` (Keel alone): it loads, predicts correctly, reports."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(180)
def test_bench_registry_quick_reports_a_keel_figure() -> None:
    results = ROOT / "benchmarks" / "RESULTS.md"
    before = results.read_bytes() if results.exists() else None
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_registry.py"), "--quick"], cwd=ROOT,
                          capture_output=True, text=True, timeout=170)
    assert proc.returncode == 0, proc.stderr
    row = next(line for line in proc.stdout.splitlines() if "keel.load_model" in line)
    load_ms, import_ms = (float(x) for x in re.findall(r"\d+\.\d+", row)[:2])
    assert 0 < load_ms < 60_000 and 0 < import_ms < 60_000
    assert "mlflow" not in proc.stdout  # quick mode runs Keel alone
    assert (results.read_bytes() if results.exists() else None) == before  # quick mode never writes results
