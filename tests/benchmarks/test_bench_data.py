"""``benchmarks/bench_data.py``: the ``--quick`` run (Keel alone) and the pieces the full run relies on."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

import bench_data  # noqa: E402


@pytest.mark.timeout(300)
def test_bench_data_quick_reports_keel_figures_and_cleans_up() -> None:
    results = ROOT / "benchmarks" / "RESULTS.md"
    before = results.read_bytes() if results.exists() else None
    work = ROOT / "benchmarks" / ".work"
    leftovers = set(work.glob("data-*")) if work.exists() else set()
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_data.py"), "--quick"], cwd=ROOT,
                          capture_output=True, text=True, timeout=290)
    assert proc.returncode == 0, proc.stderr
    shapes = [line for line in proc.stdout.splitlines() if line.startswith("P8 ") and "file" in line]
    assert len(shapes) == 2  # the big file and the small files
    for line in shapes:
        add_s, readd_s, stat_s = (float(x) for x in re.findall(r"\d+\.\d+", line)[-3:])
        assert 0 < add_s < 120 and 0 < readd_s < 120 and 0 <= stat_s < add_s
    validate = next(line for line in proc.stdout.splitlines() if "keel data validate" in line)
    assert "20,000 rows x 20 checks" in validate
    assert "ratio" not in proc.stdout and "great_expectations" not in proc.stdout  # Keel alone
    assert all(len(re.findall(r"\d+\.\d+", line)) == 3 for line in shapes)  # no DVC columns
    assert (results.read_bytes() if results.exists() else None) == before  # quick mode never writes results
    assert set(work.glob("data-*")) == leftovers  # generated data is deleted


def test_generated_table_passes_the_suite_and_has_the_checked_shape(tmp_path: Path) -> None:
    from keel.data.suite_yaml import load_suite
    from keel.data.validate_run import validate

    data = tmp_path / "orders.parquet"
    bench_data.make_table(data, 5_000)
    table = pq.read_table(data)
    assert table.num_rows == 5_000
    assert 0 < table.column("score").null_count < 100  # ~0.5% nulls: the not_null check with max_fraction matters
    suite = load_suite(bench_data.yaml_suite())
    assert len(suite.checks) == len(bench_data.SUITE) == 20
    result = validate(str(data), suite)
    assert result.success, [c.name for c in result.failed]


def test_suite_catches_bad_rows_so_the_benchmark_is_not_vacuous(tmp_path: Path) -> None:
    import pyarrow as pa

    from keel.data.suite_yaml import load_suite
    from keel.data.validate_run import validate

    data = tmp_path / "orders.parquet"
    bench_data.make_table(data, 2_000)
    table = pq.read_table(data)
    bad = table.set_column(table.schema.get_field_index("country"), "country",
                           pa.array(["XX"] + table.column("country").to_pylist()[1:]))
    pq.write_table(bad, data)
    result = validate(str(data), load_suite(bench_data.yaml_suite()))
    assert not result.success
    assert [c.column for c in result.failed] == ["country"]


def test_both_sides_get_the_same_twenty_checks_in_the_same_order() -> None:
    keel_kinds = [keel["check"] for keel, _ in bench_data.SUITE]
    ge_kinds = [ge[0] for _, ge in bench_data.SUITE]
    assert keel_kinds.count("not_null") == ge_kinds.count("ExpectColumnValuesToNotBeNull") == 6
    for keel, (_, ge_kwargs) in bench_data.SUITE:
        assert keel.get("column") == ge_kwargs.get("column")


def test_fit_disk_scales_the_big_file_down_and_says_so() -> None:
    sizes = bench_data.Sizes(2048, 50_000, 10_000_000, 10_000_000)
    same, note = bench_data.fit_disk(sizes, 100 << 30)
    assert same == sizes and note == ""
    smaller, note = bench_data.fit_disk(sizes, 8 << 30)
    assert smaller.big_mb == 1024 and "2,048 MiB to 1,024 MiB" in note


def test_small_files_are_distinct_and_spread_over_folders(tmp_path: Path) -> None:
    bench_data._make_small(tmp_path / "s", 1_500)
    files = sorted((tmp_path / "s").rglob("*.bin"))
    assert len(files) == 1_500 and len({f.parent for f in files}) == 2
    assert len({f.read_bytes() for f in files}) == 1_500  # no two alike: dedup cannot shortcut the benchmark
    assert all(1024 <= f.stat().st_size < 4096 for f in files)


def test_p8_rounds_take_turns_and_report_each_sides_median(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    order: list[str] = []
    keel_times = iter([(3.0, 0.3), (1.0, 0.1), (2.0, 0.2)] * 2)
    dvc_times = iter([(9.0, 2.0), (7.0, 1.0), (8.0, 3.0)] * 2)
    monkeypatch.setattr(bench_data, "_keel_add", lambda *a: order.append("keel") or next(keel_times))
    monkeypatch.setattr(bench_data, "_dvc_add", lambda *a: order.append("dvc") or next(dvc_times))
    rows = bench_data.bench_add(tmp_path, bench_data.Sizes(1, 5, 10, 10, 1, 3), "dvc")
    assert order == ["keel", "dvc", "dvc", "keel", "keel", "dvc"] * 2  # each shape: the sides take turns
    for row in rows:
        assert (row["keel_add_s"], row["keel_readd_s"], row["dvc_add_s"], row["dvc_readd_s"]) == (2.0, 0.2, 8.0, 3.0)
        assert row["keel_runs"] == [3.0, 1.0, 2.0] and row["dvc_readd_runs"] == [2.0, 1.0, 3.0]
    assert list(tmp_path.iterdir()) == []  # every round's data is deleted


def test_a_p7_only_run_keeps_the_earlier_p8_table_and_notes(tmp_path: Path) -> None:
    results = tmp_path / "RESULTS.md"
    results.write_text("\n".join([
        "<!-- begin data -->", "## Data", "", "P8 intro.", "", "| benchmark | Keel | DVC |", "|---|---|---|",
        "| P8 add one file | 1.80 s | 9.18 s |", "", "P7: intro.", "", "| P7 validate | 1.55 s | 13.27 s |", "",
        "Note: P8 one file: Keel add 1.80, 1.41 s (round by round).", "Note: P7 something else.", "",
        "Machine: x", "<!-- end data -->", ""]))
    assert bench_data._kept_p8(results)[-1] == "| P8 add one file | 1.80 s | 9.18 s |"
    assert bench_data._kept_p8_notes(results) == ["P8 one file: Keel add 1.80, 1.41 s (round by round)"]
