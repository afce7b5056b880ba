"""`keel data ingest SOURCE --out PATH`: a Parquet file, a summary line, and exit code 2 on bad input."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from keel_testing import run_cli


def test_ingest_csv_to_parquet(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "in.data"
    pd.DataFrame({"a": range(2_500), "b": ["x"] * 2_500}).to_csv(src, index=False)
    out = tmp_path / "out.parquet"
    code, stdout, _ = run_cli("data", "ingest", str(src), "--out", str(out), "--format", "csv",
                              "--batch-rows", "1000", capsys=capsys)
    assert code == 0
    assert "2,500 rows × 2 columns" in stdout
    assert pq.read_table(out).column("a").to_pylist() == list(range(2_500))
    assert pq.ParquetFile(out).metadata.num_row_groups == 3  # written batch by batch


def test_ingest_errors_exit_2_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out.parquet"
    code, _, err = run_cli("data", "ingest", str(tmp_path / "missing.csv"), "-o", str(out), capsys=capsys)
    assert code == 2 and "does not exist" in err and "Traceback" not in err
    code, _, err = run_cli("data", "ingest", "sqlite:///x.db", "-o", str(out), capsys=capsys)
    assert code == 2 and "--query" in err
    code, _, err = run_cli("data", "ingest", str(tmp_path / "a.csv"), "-o", str(out), "--query", "SELECT 1",
                           capsys=capsys)
    assert code == 2 and "query: not an option for csv" in err
    assert not out.exists()


def test_ingest_with_a_name_snapshots_a_dataset_version(keel_home: Path, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    import keel.data

    source = tmp_path / "events.csv"
    pd.DataFrame({"id": range(50), "value": [i * 0.5 for i in range(50)]}).to_csv(source, index=False)
    code, out, _ = run_cli("data", "ingest", str(source), "-o", str(tmp_path / "events.parquet"), "--name", "events",
                           capsys=capsys)
    assert code == 0 and "dataset events@v1" in out
    loaded = keel.data.load("events@v1")
    assert len(loaded) == 50 and loaded["value"].iloc[-1] == 24.5
