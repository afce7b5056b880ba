"""`keel data ingest SOURCE [--out PATH] [--name NAME]`: a Parquet file and/or a dataset version, a summary line,
and exit code 2 with one line on bad input."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from keel_testing import free_port, run_cli


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
    assert keel.data.get_version("events@v1").source == str(source)  # where the data came from, not the copy


def _no_leftovers(keel_home: Path, *folders: Path) -> None:
    staging = keel_home / "cache" / "staging"
    assert not staging.exists() or not any(staging.iterdir())
    for folder in folders:
        assert not list(folder.glob("*.keel.yaml")) and not list(folder.glob("*.parquet"))


def test_ingest_with_only_a_name_snapshots_csv_and_jsonl(keel_home: Path, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    import keel.data

    monkeypatch.chdir(tmp_path)
    csv = tmp_path / "events.csv"
    pd.DataFrame({"id": range(40), "value": [i * 0.25 for i in range(40)]}).to_csv(csv, index=False)
    code, out, err = run_cli("data", "ingest", str(csv), "--name", "events", capsys=capsys)
    assert code == 0, err
    assert f"40 rows × 2 columns from {csv}" in out and "dataset events@v1" in out
    version = keel.data.get_version("events@v1")
    assert version.row_count == 40 and version.source == str(csv) and version.path == "events.parquet"
    loaded = keel.data.load("events@v1")
    assert loaded["id"].tolist() == list(range(40)) and loaded["value"].iloc[-1] == 9.75

    jsonl = tmp_path / "users.jsonl"
    jsonl.write_text("".join(f'{{"user": "u{i}", "age": {20 + i}}}\n' for i in range(7)))
    code, out, err = run_cli("data", "ingest", str(jsonl), "-n", "users", capsys=capsys)
    assert code == 0, err
    version = keel.data.get_version("users@v1")
    assert version.row_count == 7 and version.source == str(jsonl)
    assert keel.data.load("users").to_dict("records")[-1] == {"user": "u6", "age": 26}
    _no_leftovers(keel_home, tmp_path)


def test_ingest_needs_out_or_name(keel_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    csv = tmp_path / "a.csv"
    csv.write_text("a\n1\n")
    code, out, err = run_cli("data", "ingest", str(csv), capsys=capsys)
    assert code == 2 and out == ""
    assert len(err.splitlines()) == 1 and "--out" in err and "--name" in err


def test_ingest_checks_the_name_first_and_takes_the_longest_name(keel_home: Path, tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    import keel.data

    csv = tmp_path / "a.csv"
    csv.write_text("a\n1\n2\n")
    code, out, err = run_cli("data", "ingest", str(tmp_path / "missing.csv"), "--name", "bad/name", capsys=capsys)
    assert code == 2 and "dataset name" in err and "missing.csv" not in err  # refused before reading the source
    longest = "n" * 200  # the longest dataset name: the staged file and NAME.keel.yaml must fit a file name
    code, out, err = run_cli("data", "ingest", str(csv), "--name", longest, capsys=capsys)
    assert code == 0, err
    assert keel.data.get_version(f"{longest}@v1").row_count == 2
    code, _, err = run_cli("data", "ingest", str(csv), "--name", longest + "n", capsys=capsys)
    assert code == 2 and "at most 200" in err and len(err.strip().splitlines()) == 1


def test_error_part_way_through_the_stream_is_one_line(keel_home: Path, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    csv = tmp_path / "bad.csv"
    csv.write_text("a,b\n" + "".join(f"{i},{i}\n" for i in range(3_000)) + "1,2,3\n")
    out = tmp_path / "bad.parquet"
    for target in (["-o", str(out)], ["--name", "bad"]):
        code, _, err = run_cli("data", "ingest", str(csv), *target, "--batch-rows", "100", capsys=capsys)
        assert code == 2
        assert err.startswith("error: ") and err.count("\n") == 1, repr(err)
        assert "Expected 2 columns, got 3" in err
    assert not out.exists()
    _no_leftovers(keel_home, tmp_path)


def test_unreachable_url_is_one_line_saying_so(keel_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"http://127.0.0.1:{free_port()}/x.csv"
    for command in (["ingest", url, "--name", "y"], ["add", url, "--name", "z"]):
        code, _, err = run_cli("data", *command, capsys=capsys)
        assert code == 2
        assert len(err.splitlines()) == 1 and "unreachable" in err and "does not exist" not in err, err
