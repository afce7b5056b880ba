"""``benchmarks/bench_monitoring.py``: the ``--quick`` run (Keel alone) and the data and checks both sides rely on."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

import bench_monitoring  # noqa: E402
import monitoring_data  # noqa: E402


@pytest.mark.timeout(300)
def test_bench_monitoring_quick_reports_keel_figures_finds_the_drift_and_cleans_up() -> None:
    results = ROOT / "benchmarks" / "RESULTS.md"
    before = results.read_bytes() if results.exists() else None
    work = ROOT / "benchmarks" / ".work"
    leftovers = set(work.glob("monitoring-*")) if work.exists() else set()
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_monitoring.py"), "--quick"], cwd=ROOT,
                          capture_output=True, text=True, timeout=290)
    assert proc.returncode == 0, proc.stderr
    drift = [line for line in proc.stdout.splitlines() if line.startswith("P6 drift")]
    assert len(drift) == 1 and "20,000 rows x 10 columns (8 numeric, 2 categorical)" in drift[0]
    match = re.search(r"keel (\d+\.\d+) s drift, ([\d,]+) MiB peak, (\d+\.\d+) s process", drift[0])
    assert match
    seconds, peak, process = float(match.group(1)), int(match.group(2).replace(",", "")), float(match.group(3))
    assert 0 < seconds < process < 240 and 0 < peak < 4096
    assert "P6 check Keel: 4 of 4 drifted columns found, 0 clean columns flagged" in proc.stdout
    assert "evidently" not in proc.stdout.lower() and "ratio" not in proc.stdout  # Keel alone
    assert (results.read_bytes() if results.exists() else None) == before  # quick mode never writes results
    assert set(work.glob("monitoring-*")) == leftovers  # generated data is deleted


def test_generate_writes_the_promised_schema_in_row_groups_and_is_repeatable(tmp_path: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(monitoring_data, "CHUNK_ROWS", 1_000)
    paths = monitoring_data.generate(tmp_path / "a", rows=2_500, n_numeric=12, n_categorical=4)
    ref = pq.ParquetFile(paths["reference"])
    assert ref.metadata.num_row_groups == 3 and ref.metadata.num_rows == 2_500
    table = ref.read()
    names = monitoring_data.column_names(12, 4)
    assert table.schema == pa.schema([(n, pa.float64()) for n in names[:12]] + [(n, pa.string()) for n in names[12:]])
    assert sum(col.null_count for col in table.columns) == 0
    levels = [len(set(table.column(f"cat_{j:02d}").to_pylist())) for j in range(4)]
    assert levels[0] == 5 and levels[-1] == 50 and levels == sorted(levels)
    assert min(len(np.unique(table.column(n).to_numpy())) for n in names[:12]) > 5  # numeric, not category-like
    again = monitoring_data.generate(tmp_path / "b", rows=2_500, n_numeric=12, n_categorical=4)
    assert pq.read_table(again["reference"]).equals(table)
    assert pq.read_table(again["current"]).equals(pq.read_table(paths["current"]))
    other = monitoring_data.generate(tmp_path / "c", rows=2_500, n_numeric=12, n_categorical=4, seed=1)
    assert not pq.read_table(other["reference"]).equals(table)


def test_drift_is_where_the_known_answer_says_and_nowhere_else(tmp_path: Path) -> None:
    assert len(monitoring_data.drifted_columns(40, 10)) == 15  # 12 numeric + 3 categorical
    paths = monitoring_data.generate(tmp_path, rows=40_000, n_numeric=10, n_categorical=3)
    ref, cur = pq.read_table(paths["reference"]), pq.read_table(paths["current"])
    drifted = set(monitoring_data.drifted_columns(10, 3))
    assert drifted == {"num_01", "num_04", "num_07", "cat_01"}
    for name in monitoring_data.column_names(10, 3)[:10]:
        a, b = ref.column(name).to_numpy(), cur.column(name).to_numpy()
        moved = abs(np.median(b) - np.median(a)) / a.std() + abs(np.log(b.std() / a.std()))
        assert (moved > 0.3) == (name in drifted), name
    for name in ("cat_00", "cat_01", "cat_02"):
        a, b = ref.column(name).value_counts(), cur.column(name).value_counts()
        share_a = {v["values"].as_py(): v["counts"].as_py() / ref.num_rows for v in a}
        share_b = {v["values"].as_py(): v["counts"].as_py() / cur.num_rows for v in b}
        gap = max(abs(share_a[k] - share_b.get(k, 0.0)) for k in share_a)
        assert (gap > 0.05) == (name in drifted), name


def test_compare_and_agreement_name_missed_flagged_and_untested_columns() -> None:
    names = ["a", "b", "c", "d"]
    result = {"drifted": ["b", "c"], "share": 0.5, "dataset_drift": True,
              "columns": {n: {} for n in ("a", "b", "c", "e")}}
    diff = bench_monitoring.compare(result, ["a", "b"], names)
    assert diff == {"missed": ["a"], "flagged": ["c"], "untested": ["d", "e"]}
    line = bench_monitoring.agreement("Keel", result, diff, ["a", "b"])
    assert line.startswith("Keel: 1 of 2 drifted columns found, 1 clean columns flagged (drifted share 0.50, "
                           "dataset drift yes)")
    assert "missed: a" in line and "flagged: c" in line and "untested: d, e" in line


def _side(seconds: float, peak: float, process: float) -> dict[str, object]:
    return {"seconds": seconds, "peak_rss_mib": peak, "process_seconds": process, "read_seconds": 1.0,
            "import_seconds": 2.0, "columns": {"num_00": {"method": "wasserstein"},
                                               "cat_00": {"method": "jensenshannon"}}}


def test_results_section_shows_ratios_memory_and_a_stopped_evidently(monkeypatch: pytest.MonkeyPatch) -> None:
    written: dict[str, list[str]] = {}
    monkeypatch.setattr(bench_monitoring, "write_section", lambda name, lines: written.__setitem__(name, lines))
    versions: dict[str, str | None] = {"evidently": "0.7.23", "pandas": "2.3.3"}
    result = {"truth": ["num_00"], "checks": ["Keel: 1 of 1 drifted columns found"], "max_score_gap": 0.001,
              "keel": _side(2.0, 1500.0, 10.0), "evidently": _side(200.0, 6000.0, 260.0)}
    bench_monitoring.write_results(result, bench_monitoring.FULL, versions, "1.0, 1.0, 1.0")
    text = "\n".join(written["monitoring"])
    assert "| 2.00 s | 200.00 s | 100.0x | >= 10x |" in text
    assert "| 1,500 MiB | 6,000 MiB | 4.0x | (reported) |" in text
    assert "| 10.00 s | 260.00 s | 26.0x | (reported) |" in text
    assert "Evidently 0.7.23" in text and "jensenshannon, wasserstein" in text and "- Keel: 1 of 1" in text
    stopped = {"truth": ["num_00"], "checks": [], "keel": _side(2.0, 1500.0, 10.0),
               "evidently_stopped": "did not finish in 3600 s"}
    bench_monitoring.write_results(stopped, bench_monitoring.FULL, versions, "1.0, 1.0, 1.0")
    text = "\n".join(written["monitoring"])
    assert "| 2.00 s | did not finish in 3600 s | - | >= 10x |" in text


@pytest.mark.timeout(60)
def test_jobs_are_stopped_at_the_time_limit_and_the_memory_cap() -> None:
    env = {"PATH": "/usr/bin:/bin"}
    tight = bench_monitoring.Sizes(10, 1, 1, timeout_s=1.0, mem_cap_mib=4096)
    slow = [sys.executable, "-c", "import time; time.sleep(30)"]
    assert bench_monitoring.run_job(slow, env, "slow", tight) == (None, "did not finish in 1 s")
    small = bench_monitoring.Sizes(10, 1, 1, timeout_s=20.0, mem_cap_mib=200)
    hungry = [sys.executable, "-c", "import time; x = bytearray(400 << 20); time.sleep(30)"]
    result, why = bench_monitoring.run_job(hungry, env, "hungry", small)
    assert result is None and why.startswith("stopped at the 0.195312 GiB memory cap after")
    ok = [sys.executable, "-c", "print('noise'); print('{\"seconds\": 1.5}')"]
    done, why = bench_monitoring.run_job(ok, env, "ok", small)
    assert why == "" and done is not None and done["seconds"] == 1.5 and 0 < done["process_seconds"] < 20
    with pytest.raises(bench_monitoring.BenchError, match="boom"):
        bench_monitoring.run_job([sys.executable, "-c", "raise SystemExit('boom')"], env, "bad", small)
