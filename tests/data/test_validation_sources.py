"""What validation reads: dataset versions where they are stored (never loaded whole into memory), text files
parsed as strictly as ingestion parses them, and distribution references given as dataset versions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import keel.data
from keel.data import versioning
from keel.data.validate_run import validate
from keel.data.validation import Distribution, InRange, NotNull, Regex, RowCount, Suite, Unique
from keel.errors import InvalidInput, NotFound
from keel_testing import run_cli

N = 2000


def _orders(shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    ids = np.arange(N)
    ids[:3] = 0  # three repeats of id 0
    return pd.DataFrame({
        "id": ids,
        "amount": rng.normal(100.0 + shift, 10.0, N),
        "email": [f"user{i}@example.com" if i % 100 else f"broken-{i}" for i in range(N)],
        "score": [None if i % 50 == 0 else i / N for i in range(N)],
    })


SUITE = Suite(checks=[Unique(column="id"), NotNull(column="score"), Regex(column="email", pattern=r"^\w+@\w+\.com$"),
                      InRange(column="amount", min=0), RowCount(min=N, max=N)])


def _expect_defects(result: keel.data.ValidationResult) -> None:
    unique, not_null, regex, in_range, rows = result.checks
    assert unique.failing_rows == 2 and not_null.failing_rows == N // 50 and regex.failing_rows == N // 100
    assert in_range.passed and rows.passed and result.row_count == N
    assert len(regex.examples) == 5 and all(row["email"].startswith("broken-") for row in regex.examples)


@pytest.fixture
def no_load(monkeypatch: pytest.MonkeyPatch) -> None:
    """A version must be read where it is stored, not loaded into a DataFrame first."""

    def boom(*args: object, **kwargs: object) -> None:
        raise AssertionError("validation loaded the whole version into memory")

    monkeypatch.setattr(versioning, "load", boom)


@pytest.mark.parametrize("suffix", [".parquet", ".csv", ".tsv", ".jsonl"])
def test_a_version_is_validated_in_place(keel_home: Path, tmp_path: Path, no_load: None, suffix: str) -> None:
    path = tmp_path / f"orders{suffix}"
    frame = _orders()
    if suffix == ".parquet":
        frame.to_parquet(path)
    elif suffix == ".jsonl":
        frame.to_json(path, orient="records", lines=True)
    else:
        frame.to_csv(path, index=False, sep="\t" if suffix == ".tsv" else ",")
    keel.data.add(path, "orders")
    result = validate("orders@v1", SUITE)
    assert result.source == "orders@v1"
    _expect_defects(result)
    # Parquet gets the statistics-first plan (two statements before the examples); text one statement
    examples = sum(1 for c in result.checks if c.examples)
    assert result.queries == (2 if suffix == ".parquet" else 1) + examples


def test_the_cli_validates_a_version_and_stores_the_report(keel_home: Path, tmp_path: Path, no_load: None,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    _orders().to_parquet(tmp_path / "orders.parquet")
    keel.data.add(tmp_path / "orders.parquet", "orders")
    suite = tmp_path / "suite.yaml"
    suite.write_text("checks:\n  - {check: unique, column: id}\n  - {check: row_count, min: 1}\n")
    code, out, _ = run_cli("data", "validate", "orders@v1", "--suite", str(suite), capsys=capsys)
    assert code == 1 and "unique(id)" in out and "report stored with orders@v1" in out
    (report,) = keel.data.validation_reports("orders@v1")
    assert report["passed"] is False and report["checks"][0]["failing_rows"] == 2


def test_a_missing_version_is_a_clear_error(keel_home: Path, tmp_path: Path) -> None:
    _orders().to_parquet(tmp_path / "orders.parquet")
    keel.data.add(tmp_path / "orders.parquet", "orders")
    with pytest.raises(NotFound, match="v7"):
        validate("orders@v7", SUITE)
    with pytest.raises(NotFound):
        validate("nothing@v1", SUITE)


def test_a_distribution_reference_may_be_a_version(keel_home: Path, tmp_path: Path, no_load: None) -> None:
    for shift in (0.0, 5.0):
        _orders(shift).to_parquet(tmp_path / "orders.parquet")
        keel.data.add(tmp_path / "orders.parquet", "orders")
    same = Suite(checks=[Distribution(column="amount", reference="orders@v1")])
    result = validate("orders@v1", same)
    assert result.checks[0].passed and result.checks[0].observed["statistic"] == 0.0
    shifted = validate("orders@v2", same).checks[0]
    assert not shifted.passed and shifted.observed["test"] == "ks" and shifted.observed["p_value"] < 1e-6


def test_a_csv_with_a_ragged_row_is_an_error_not_a_guess(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """DuckDB's CSV sniffer would read around a row with an extra field; validation parses as ingestion does."""
    early = tmp_path / "early.csv"
    early.write_text("a,b\n1,2\n3,4,5\n")
    with pytest.raises(InvalidInput, match=r"early\.csv cannot be read as csv: .*Expected 2 columns, got 3"):
        validate(str(early), Suite(checks=[RowCount(min=1)]))
    late = tmp_path / "late.csv"  # the bad row comes after the first block that pyarrow infers the schema from
    late.write_text("a,b\n" + "".join(f"{i},{i}\n" for i in range(200_000)) + "3,4,5\n")
    with pytest.raises(InvalidInput, match=r"the data could not be read: .*Expected 2 columns, got 3"):
        validate(str(late), Suite(checks=[RowCount(min=1)]))
    suite = tmp_path / "suite.yaml"
    suite.write_text("checks: [{check: row_count, min: 1}]\n")
    code, _, err = run_cli("data", "validate", str(late), "--suite", str(suite), capsys=capsys)
    assert code == 2 and "Expected 2 columns" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_a_column_only_later_files_have_is_read_as_load_reads_it(keel_home: Path, tmp_path: Path, no_load: None,
                                                                suffix: str) -> None:
    folder = tmp_path / "parts"
    folder.mkdir()
    for name, frame in (("p0", pd.DataFrame({"a": [1, 2, 3]})), ("p1", pd.DataFrame({"a": [4], "b": ["x"]}))):
        path = folder / f"{name}{suffix}"
        frame.to_parquet(path) if suffix == ".parquet" else frame.to_csv(path, index=False)
    version = keel.data.add(folder, "parts")
    assert [f["name"] for f in version.schema or []] == ["a", "b"]  # add() records every file's columns too
    for data in ("parts@v1", str(folder)):
        (not_null,) = validate(data, Suite(checks=[NotNull(column="b")])).checks
        assert not_null.failing_rows == 3, data


def test_an_all_empty_csv_column_is_a_string_column(tmp_path: Path) -> None:
    """pyarrow types a column without a single value as null; validation (like DuckDB's reader before) sees text."""
    from keel.data.validate_run import profile
    from keel.data.validation import Dtype

    (tmp_path / "empty_b.csv").write_text("a,b\n1,\n2,\n")
    (tmp_path / "header.csv").write_text("a,b\n")
    for name, rows in (("empty_b.csv", 2), ("header.csv", 0)):
        result = validate(str(tmp_path / name), Suite(checks=[Dtype(column="b", dtype="string"), RowCount(max=9)]))
        assert result.success and result.row_count == rows, name
    dtypes = {c.column: c.dtype for c in profile(str(tmp_path / "empty_b.csv")).checks if isinstance(c, Dtype)}
    assert dtypes == {"a": "integer", "b": "string"}


def test_a_ragged_row_in_profile_or_a_reference_is_a_clear_error(tmp_path: Path) -> None:
    from keel.data.validate_run import profile

    late = tmp_path / "late.csv"
    late.write_text("a,b\n" + "".join(f"{i},{i}\n" for i in range(200_000)) + "3,4,5\n")
    good = tmp_path / "good.csv"
    good.write_text("a,b\n1,2\n3,4\n")
    with pytest.raises(InvalidInput, match=r"^the data could not be read: .*Expected 2 columns, got 3"):
        profile(str(late))
    with pytest.raises(InvalidInput, match=r"^the reference data could not be read: .*Expected 2 columns, got 3"):
        validate(str(good), Suite(checks=[Distribution(column="a", reference=str(late))]))


def test_a_version_whose_bytes_changed_is_not_validated(keel_home: Path, tmp_path: Path) -> None:
    from keel.artifacts import BlobStore
    from keel.config import get_settings
    from keel.errors import CorruptArtifact

    (tmp_path / "o.csv").write_text("a\n1\n2\n")
    version = keel.data.add(tmp_path / "o.csv", "o")
    (digest,) = [d for d in BlobStore(get_settings().resolved_artifact_root).digests()
                 if d != version.manifest_digest]
    path = Path(BlobStore(get_settings().resolved_artifact_root).readable_path(digest))
    path.chmod(0o644)
    path.write_text("a\n1\n2\n3\n")
    with pytest.raises(CorruptArtifact):
        validate("o@v1", Suite(checks=[RowCount(min=1)]))


def test_a_pointer_file_stands_for_the_version_it_pins(keel_home: Path, tmp_path: Path, no_load: None,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    _orders().to_parquet(tmp_path / "orders.parquet")
    keel.data.add(tmp_path / "orders.parquet", "orders")
    pointer = tmp_path / "orders.keel.yaml"
    _orders(shift=1.0).to_parquet(tmp_path / "orders.parquet")
    keel.data.add(tmp_path / "orders.parquet", "orders")  # v2 moves the pointer on
    assert keel.data.get_version(str(pointer)).ref == "orders@v2"
    result = validate(str(pointer), SUITE)
    assert result.source == "orders@v2"
    _expect_defects(result)
    suite = tmp_path / "suite.yaml"
    suite.write_text("checks:\n  - {check: unique, column: id}\n")
    code, out, _ = run_cli("data", "validate", str(pointer), "--suite", str(suite), capsys=capsys)
    assert code == 1 and "report stored with orders@v2" in out
    assert [r["passed"] for r in keel.data.validation_reports("orders@v2")] == [False]
    assert keel.data.validation_reports("orders@v1") == []
