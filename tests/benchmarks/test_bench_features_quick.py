"""``benchmarks/bench_features.py``: the ``--quick`` run (Keel alone) and the data and checks both sides rely on."""

from __future__ import annotations

import datetime as dt
import json
import re
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

import feature_checks  # noqa: E402
import feature_data  # noqa: E402

NAMES = ["f0", "f1"]


@pytest.mark.timeout(300)
def test_bench_features_quick_reports_keel_figures_and_cleans_up() -> None:
    results = ROOT / "benchmarks" / "RESULTS.md"
    before = results.read_bytes() if results.exists() else None
    work = ROOT / "benchmarks" / ".work"
    leftovers = set(work.glob("features-*")) if work.exists() else set()
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_features.py"), "--quick"], cwd=ROOT,
                          capture_output=True, text=True, timeout=290)
    assert proc.returncode == 0, proc.stderr
    pit = [line for line in proc.stdout.splitlines() if line.startswith("P4 pit")]
    assert len(pit) == 1 and "20,000 feature rows x 2,000 entity rows" in pit[0]
    match = re.search(r"keel (\d+\.\d+) s join, ([\d,]+) MiB peak", pit[0])
    assert match and 0 < float(match.group(1)) < 120 and 0 < int(match.group(2).replace(",", "")) < 4096
    assert "P4 check: 0 of 2,000 rows differ from a pandas merge_asof reference" in proc.stdout
    online = next(line for line in proc.stdout.splitlines() if line.startswith("P5 online keel sqlite"))
    p50, p99 = (float(x) for x in re.findall(r"p(?:50|99) (\d+\.\d+) ms", online))
    assert 0 < p50 <= p99 < 1000
    assert "found 100.0%" in online  # every looked-up key was materialized: the timings are of real answers
    assert "feast" not in proc.stdout.lower()  # Keel alone
    assert (results.read_bytes() if results.exists() else None) == before  # quick mode never writes results
    assert set(work.glob("features-*")) == leftovers  # generated data is deleted


def test_generate_writes_the_promised_schema_in_row_groups_and_is_repeatable(tmp_path: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(feature_data, "CHUNK_ROWS", 1_000)
    paths = feature_data.generate(tmp_path / "a", feature_rows=5_000, entity_rows=700, keys=50, n_features=3, days=4)
    features = pq.ParquetFile(paths["features"])
    assert features.metadata.num_row_groups == 5 and features.metadata.num_rows == 5_000
    table = features.read()
    assert table.schema == pa.schema([("driver_id", pa.int64()), ("event_timestamp", pa.timestamp("us", tz="UTC")),
                                      ("f0", pa.float64()), ("f1", pa.float64()), ("f2", pa.float64())])
    ids = table.column("driver_id").to_pylist()
    assert min(ids) >= 0 and max(ids) < 50 and len(set(ids)) == 50
    stamps = table.column("event_timestamp").to_pylist()
    assert min(stamps) >= feature_data.START and max(stamps) < feature_data.START + dt.timedelta(days=4)
    entities = pq.read_table(paths["entities"])
    assert entities.num_rows == 700 and entities.column_names == ["driver_id", "event_timestamp"]
    again = feature_data.generate(tmp_path / "b", feature_rows=5_000, entity_rows=700, keys=50, n_features=3, days=4)
    assert pq.read_table(again["features"]).equals(table)
    other = feature_data.generate(tmp_path / "c", feature_rows=5_000, entity_rows=700, keys=50, n_features=3, days=4,
                                  seed=1)
    assert not pq.read_table(other["features"]).equals(table)


def _write(path: Path, rows: list[tuple[int, float, list[float]]]) -> None:
    """Rows of (driver_id, hours after START, feature values)."""
    start = feature_data.START
    cols: dict[str, object] = {
        "driver_id": pa.array([r[0] for r in rows], pa.int64()),
        "event_timestamp": pa.array([start + dt.timedelta(hours=r[1]) for r in rows], pa.timestamp("us", tz="UTC")),
    }
    if rows and rows[0][2]:
        cols.update({name: pa.array([r[2][i] for r in rows], pa.float64()) for i, name in enumerate(NAMES)})
    pq.write_table(pa.table(cols), path)


def test_reference_join_takes_the_latest_row_within_the_ttl_and_nulls_otherwise(tmp_path: Path) -> None:
    _write(tmp_path / "features.parquet", [(1, 0, [1.0, 10.0]), (1, 24, [2.0, 20.0]), (1, 72, [3.0, 30.0]),
                                           (2, 10, [9.0, 90.0])])
    _write(tmp_path / "entities.parquet", [(1, 25, []), (1, 60, []), (1, 132, []), (1, -1, []), (2, 11, []),
                                           (3, 11, [])])
    ref = feature_checks.reference_join(tmp_path, NAMES)
    got = {(int(r.driver_id), r.event_timestamp): None if r.f0 != r.f0 else (r.f0, r.f1) for r in ref.itertuples()}

    def at(hours: float) -> dt.datetime:
        return feature_data.START + dt.timedelta(hours=hours)

    assert got == {(1, at(25)): (2.0, 20.0), (1, at(60)): (2.0, 20.0),  # 36 h old: within the 2-day ttl
                   (1, at(132)): None,  # the latest row is 60 h old: past the ttl
                   (1, at(-1)): None, (2, at(11)): (9.0, 90.0), (3, at(11)): None}


def test_count_differences_sees_changed_values_nulls_and_missing_rows(tmp_path: Path) -> None:
    feature_data.generate(tmp_path, feature_rows=3_000, entity_rows=400, keys=40, n_features=2, days=6)
    ref = feature_checks.reference_join(tmp_path, NAMES)
    shuffled = ref.sample(frac=1.0, random_state=0)  # order does not matter, entity rows are matched
    assert feature_checks.count_differences(shuffled, ref, NAMES) == (400, 0)
    changed = ref.copy()
    filled = changed.index[changed["f0"].notna()]
    changed.loc[filled[0], "f1"] += 1e-6
    changed.loc[filled[1], "f0"] = None
    assert feature_checks.count_differences(changed, ref, NAMES) == (400, 2)
    dropped = ref.drop(index=ref.index[:3])
    assert feature_checks.count_differences(dropped, ref, NAMES) == (400, 3)
    assert feature_checks.count_differences(dropped, ref, NAMES, inner=True) == (397, 0)


def test_online_sample_is_checked_against_the_latest_row_per_key(tmp_path: Path) -> None:
    _write(tmp_path / "features.parquet", [(1, 0, [1.0, 10.0]), (1, 30, [2.0, 20.0]), (2, 5, [5.0, 50.0])])
    truth = feature_checks.latest_values(tmp_path, [1, 2, 3], NAMES)
    assert truth == {1: [2.0, 20.0], 2: [5.0, 50.0], 3: None}
    sample = tmp_path / "sample.json"
    sample.write_text(json.dumps({"driver_id": [1, 2, 3], "f0": [2.0, 5.0, None], "f1": [20.0, 50.0, None]}))
    assert feature_checks.check_online_sample(sample, truth, NAMES) == 0
    sample.write_text(json.dumps({"driver_id": [1, 2, 3], "f0": [1.0, None, None], "f1": [10.0, 50.0, 7.0]}))
    assert feature_checks.check_online_sample(sample, truth, NAMES) == 3


def test_results_section_shows_ratios_stopped_jobs_and_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    import bench_features

    written: dict[str, list[str]] = {}
    monkeypatch.setattr(bench_features, "write_section", lambda name, lines: written.setdefault(name, lines))
    keel = {"seconds": 0.5, "peak_rss_mib": 400.0, "setup_seconds": 1.0}
    pit_rows = [
        {"label": "1 x 1", "feature_rows": 1, "entity_rows": 1, "keel": keel, "check": ["0 of 1 rows differ"],
         "file": {"seconds": 10.0, "peak_rss_mib": 1900.0}, "duckdb": {"seconds": 1.5, "peak_rss_mib": 450.0}},
        {"label": "2 x 2", "feature_rows": 2, "entity_rows": 2, "keel": keel,
         "file": {"stopped": "did not finish in 300 s"}, "duckdb": {"seconds": 2.0, "peak_rss_mib": 900.0}},
    ]
    side = {"entities": 100, "p50_ms": 0.5, "p99_ms": 1.0, "materialize_seconds": 2.0, "found_fraction": 1.0}
    online = {"keys": 10, "notes": [], "keel_sqlite": side, "feast": dict(side, p99_ms=8.0)}
    versions: dict[str, str | None] = {"feast": "0.67.0", "pandas": "2", "dask": "1", "duckdb": "1"}
    bench_features.write_results(pit_rows, online, bench_features.FULL, versions, "1.0, 1.0, 1.0")
    text = "\n".join(written["features"])
    assert "| 0.50 s, 400 MiB | 10.00 s, 1,900 MiB | 1.50 s, 450 MiB | 20.0x; 3.0x |" in text
    assert "| did not finish in 300 s | 2.00 s, 900 MiB | -; 4.0x |" in text
    assert "| p50 0.50 ms, p99 1.00 ms | p50 0.50 ms, p99 8.00 ms | 8.0x | Keel p99 < 2 ms |" in text
    assert "- 0 of 1 rows differ." in text and "Feast 0.67.0" in text


@pytest.mark.timeout(60)
def test_jobs_are_stopped_at_the_time_limit_and_the_memory_cap(tmp_path: Path) -> None:
    import bench_features

    env = {"PATH": "/usr/bin:/bin"}
    slow = [sys.executable, "-c", "import time; time.sleep(30)"]
    assert bench_features.run_job(slow, env, tmp_path, "slow", 1.0, 4096) == (None, "did not finish in 1 s")
    hungry = [sys.executable, "-c", "import time; x = bytearray(400 << 20); time.sleep(30)"]
    result, why = bench_features.run_job(hungry, env, tmp_path, "hungry", 20.0, 200)
    assert result is None and why.startswith("stopped at the 0.195312 GiB memory cap after")
    ok = [sys.executable, "-c", "print('noise'); print('{\"seconds\": 1.5}')"]
    assert bench_features.run_job(ok, env, tmp_path, "ok", 20.0, 4096) == ({"seconds": 1.5}, "")
    with pytest.raises(bench_features.BenchError, match="boom"):
        bench_features.run_job([sys.executable, "-c", "raise SystemExit('boom')"], env, tmp_path, "bad", 20.0, 4096)
