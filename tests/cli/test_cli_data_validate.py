"""`keel data validate|profile`: the gate's exit codes, reports, and a profiled suite that passes on its data."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from keel_testing import run_cli


@pytest.fixture
def table(tmp_path: Path) -> Path:
    path = tmp_path / "orders.parquet"
    pd.DataFrame({"id": [1, 2, 3, 4, 4], "amount": [5.0, 7.5, -1.0, 3.0, 2.0]}).to_parquet(path)
    return path


def _suite(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "suite.yaml"
    path.write_text(text)
    return path


def test_validate_exits_0_when_only_warn_checks_fail(table: Path, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    suite = _suite(tmp_path, "checks:\n  - {check: not_null, column: id}\n"
                             "  - {check: unique, column: id, severity: warn}\n")
    code, out, _ = run_cli("data", "validate", str(table), "--suite", str(suite), "--json", str(tmp_path / "r.json"),
                           "--html", str(tmp_path / "r.html"), capsys=capsys)
    assert code == 0 and "passed" in out and "1 warnings" in out
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["success"] is True and report["checks"][1]["failing_rows"] == 1
    assert "unique(id)" in (tmp_path / "r.html").read_text()


def test_validate_exits_1_when_an_error_check_fails(table: Path, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    suite = _suite(tmp_path, "checks:\n  - {check: in_range, column: amount, min: 0}\n")
    code, out, _ = run_cli("data", "validate", str(table), "--suite", str(suite), capsys=capsys)
    assert code == 1 and "FAILED" in out and "in_range(amount)" in out


def test_validate_exits_2_on_a_malformed_suite_or_missing_data(table: Path, tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    suite = _suite(tmp_path, "checks:\n  - check: not_null\n    column: id\n    max_fraction: half\n")
    code, _, err = run_cli("data", "validate", str(table), "--suite", str(suite), capsys=capsys)
    assert code == 2 and "line 4" in err and "checks[0].max_fraction" in err and len(err.strip().splitlines()) == 1
    suite = _suite(tmp_path, "checks: [{check: row_count, min: 1}]\n")
    code, _, err = run_cli("data", "validate", str(tmp_path / "gone.csv"), "--suite", str(suite), capsys=capsys)
    assert code == 2 and "gone.csv" in err
    code, _, err = run_cli("data", "validate", str(table), "--suite", str(tmp_path / "nope.yaml"), capsys=capsys)
    assert code == 2 and "nope.yaml" in err


def test_profile_then_validate_round_trip(table: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_path = tmp_path / "profiled.yaml"
    code, out, _ = run_cli("data", "profile", str(table), "-o", str(out_path), capsys=capsys)
    assert code == 0 and out_path.exists() and "check: in_range" in out_path.read_text()
    code, out, _ = run_cli("data", "validate", str(table), "--suite", str(out_path), capsys=capsys)
    assert code == 0 and "0 failed" in out


def test_validating_a_dataset_version_stores_the_report_with_it(keel_home: Path, tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    import keel.data

    data = tmp_path / "orders.csv"
    pd.DataFrame({"qty": [1, 2, 3, -1]}).to_csv(data, index=False)
    version = keel.data.add(data, "orders")
    suite = tmp_path / "suite.yaml"
    suite.write_text("checks:\n  - check: in_range\n    column: qty\n    min: 0\n")
    code, out, _ = run_cli("data", "validate", "orders@v1", "--suite", str(suite), capsys=capsys)
    assert code == 1 and "report stored with orders@v1" in out
    reports = keel.data.validation_reports(version)
    assert len(reports) == 1 and reports[0]["passed"] is False and reports[0]["success"] is False
    assert reports[0]["checks"][0]["failing_rows"] == 1
