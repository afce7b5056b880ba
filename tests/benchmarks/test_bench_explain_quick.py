"""``benchmarks/bench_explain.py --quick``: Keel and bare SHAP explain the same rows alike, and RESULTS.md is left
alone."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytest.importorskip("shap")


@pytest.mark.timeout(240)
def test_bench_explain_quick_compares_keel_with_bare_shap() -> None:
    results = ROOT / "benchmarks" / "RESULTS.md"
    before = results.read_bytes() if results.exists() else None
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_explain.py"), "--quick"], cwd=ROOT,
                          capture_output=True, text=True, timeout=230)
    assert proc.returncode == 0, proc.stderr
    line = next(line for line in proc.stdout.splitlines() if line.startswith("E1 explain 1,000 rows"))
    match = re.search(r"keel (\d+\.\d+) s, shap (\d+\.\d+) s, ratio (\d+\.\d+)x .* max difference (\S+)", line)
    assert match, line
    keel_s, shap_s, ratio = (float(match.group(i)) for i in (1, 2, 3))
    assert 0 < keel_s < 120 and 0 < shap_s < 120 and ratio == pytest.approx(keel_s / shap_s, rel=0.02)
    assert float(match.group(4)) <= 1e-9  # the same contributions
    assert (results.read_bytes() if results.exists() else None) == before
