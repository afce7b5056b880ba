"""`keel data diff`: files, schema, row count, stat deltas and rows by key between two versions; clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from keel import data
from keel.data.changes import diff_files, diff_schema, diff_stats
from keel.errors import InvalidInput, NotFound
from keel_testing import run_cli


def test_diff_files_schema_and_stats_are_pure_comparisons() -> None:
    files = diff_files({"a": ("1", 1), "b": ("2", 1), "c": ("3", 1)}, {"b": ("2", 1), "c": ("9", 1), "d": ("4", 1)})
    assert (files.added, files.removed, files.changed) == (["d"], ["a"], ["c"])
    schema = diff_schema([{"name": "id", "type": "int64"}, {"name": "y", "type": "int64"},
                          {"name": "gone", "type": "string"}],
                         [{"name": "id", "type": "int64"}, {"name": "y", "type": "double"},
                          {"name": "z", "type": "string"}])
    assert schema.added == [("z", "string")] and schema.removed == [("gone", "string")]
    assert schema.type_changed == [("y", "int64", "double")]
    deltas = diff_stats({"x": {"mean": 2.0, "min": 1, "max": "b", "null_count": 0}, "gone": {"mean": 1.0}},
                        {"x": {"mean": 2.5, "min": 1, "max": "c", "null_count": 0}, "new": {"mean": 3.0}})
    assert [(d.column, d.stat, d.old, d.new, d.delta) for d in deltas] == [("x", "max", "b", "c", None),
                                                                          ("x", "mean", 2.0, 2.5, 0.5)]


@pytest.fixture
def table(keel_home: Path, tmp_path: Path) -> Path:
    path = tmp_path / "people.parquet"
    pd.DataFrame({"id": [1, 2, 3, 4], "x": [1.0, 2.0, 3.0, None], "y": [10, 20, 30, 40]}).to_parquet(path)
    data.add(path, "people")
    # v2: id 1 removed, 10 and 11 added, id 2's x changed, y became float (same values), z added
    pd.DataFrame({"id": [2, 3, 4, 10, 11], "x": [2.5, 3.0, None, 5.0, 6.0], "y": [20.0, 30.0, 40.0, 1.0, 2.0],
                  "z": list("abcde")}).to_parquet(path)
    data.add(path, "people")
    return path


def test_diff_of_two_table_versions_by_key(table: Path) -> None:
    result = data.diff("people@v1", "people@v2", key="id")
    assert (result.old, result.new) == ("people@v1", "people@v2")
    assert result.files.changed == ["people.parquet"] and not result.files.added and not result.identical
    assert (result.old_rows, result.new_rows) == (4, 5)
    assert result.schema is not None
    assert [c[0] for c in result.schema.added] == ["z"]
    assert result.schema.type_changed == [("y", "int64", "double")]
    by = {(d.column, d.stat): d for d in result.stats}
    assert by[("id", "max")].delta == 7 and by[("x", "mean")].old == 2.0
    assert by[("x", "mean")].delta == pytest.approx((2.5 + 3 + 5 + 6) / 4 - 2.0)
    assert ("x", "null_count") not in by  # one null on both sides: unchanged stats are not listed
    rows = result.rows
    assert rows is not None and rows.key == "id"
    assert (rows.added, rows.removed, rows.changed) == (2, 1, 1)  # y 20 → 20.0 is not a change
    assert (rows.added_examples, rows.removed_examples, rows.changed_examples) == ([10, 11], [1], [2])


def test_diff_without_key_reads_no_rows_and_same_version_is_identical(table: Path) -> None:
    assert data.diff("people@v1", "people@v2").rows is None
    same = data.diff("people@v2", "people@v2", key="id")
    assert same.identical and same.stats == [] and same.rows is not None
    assert (same.rows.added, same.rows.removed, same.rows.changed) == (0, 0, 0)


def test_directory_of_csv_files_diffs_files_and_rows(keel_home: Path, tmp_path: Path) -> None:
    root = tmp_path / "shards"
    root.mkdir()
    for i in range(3):
        pd.DataFrame({"k": [f"s{i}-{j}" for j in range(4)], "v": range(4)}).to_csv(root / f"part{i}.csv", index=False)
    data.add(root, "shards")
    pd.DataFrame({"k": [f"s1-{j}" for j in range(4)], "v": [0, 1, 2, 99]}).to_csv(root / "part1.csv", index=False)
    (root / "part2.csv").unlink()
    pd.DataFrame({"k": ["new-0"], "v": [7]}).to_csv(root / "part3.csv", index=False)
    data.add(root, "shards")

    result = data.diff("shards@v1", "shards@v2", key="k")
    assert (result.files.added, result.files.removed, result.files.changed) == (["part3.csv"], ["part2.csv"],
                                                                                 ["part1.csv"])
    assert result.rows is not None
    assert (result.rows.added, result.rows.removed, result.rows.changed) == (1, 4, 1)
    assert result.rows.removed_examples == [f"s2-{j}" for j in range(4)] and result.rows.changed_examples == ["s1-3"]


def test_example_keys_stop_at_five(keel_home: Path, tmp_path: Path) -> None:
    path = tmp_path / "big.parquet"
    pd.DataFrame({"id": range(1000), "v": 0}).to_parquet(path)
    data.add(path, "big")
    pd.DataFrame({"id": range(500, 1600), "v": [1 if i < 600 else 0 for i in range(500, 1600)]}).to_parquet(path)
    data.add(path, "big")
    rows = data.diff("big@v1", "big@v2", key="id").rows
    assert rows is not None and (rows.added, rows.removed, rows.changed) == (600, 500, 100)
    assert rows.added_examples == [1000, 1001, 1002, 1003, 1004] and rows.removed_examples == [0, 1, 2, 3, 4]
    assert rows.changed_examples == [500, 501, 502, 503, 504]


def test_errors_name_the_version_and_the_key(table: Path, tmp_path: Path) -> None:
    with pytest.raises(NotFound, match=r"'people' has no v7"):
        data.diff("people@v1", "people@v7")
    with pytest.raises(NotFound, match="nobody"):
        data.diff("nobody@v1", "people@v1")
    with pytest.raises(InvalidInput, match=r"'z' is not in people@v1") as missing:
        data.diff("people@v1", "people@v2", key="z")
    assert missing.value.field == "key"
    with pytest.raises(InvalidInput, match=r"'nope' is not in people@v1 \(columns: id, x, y\)"):
        data.diff("people@v1", "people@v2", key="nope")
    with pytest.raises(InvalidInput, match=r"'x' has 1 null value\(s\) in people@v1"):
        data.diff("people@v1", "people@v2", key="x")

    dupes = tmp_path / "dupes.parquet"
    pd.DataFrame({"id": [1, 1, 2]}).to_parquet(dupes)
    data.add(dupes, "dupes")
    with pytest.raises(InvalidInput, match=r"'id' has 1 repeated value\(s\) in dupes@v1"):
        data.diff("dupes@v1", "people@v1", key="id")

    blob = tmp_path / "notes.txt"
    blob.write_text("hello")
    data.add(blob, "notes")
    with pytest.raises(InvalidInput, match="notes@v1 is not a table"):
        data.diff("notes@v1", "notes@v1", key="id")
    assert data.diff("notes@v1", "notes@v1").schema is None


def test_cli_prints_tables_and_json(table: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli("data", "diff", "people@v1", "people@v2", "--key", "id", capsys=capsys)
    assert code == 0, err
    for shown in ("people@v1 → people@v2", "rows: 4 → 5 (+1)", "schema changes", "type changed", "rows by key id",
                  "10, 11"):
        assert shown in out
    code, out, _ = run_cli("data", "diff", "people@v1", "people@v2", "--key", "id", "--json", capsys=capsys)
    body = json.loads(out)
    assert code == 0 and body["rows"]["added"] == 2 and [c[0] for c in body["schema"]["added"]] == ["z"]


def test_cli_errors_are_one_line_exit_2(table: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli("data", "diff", "people@v1", "people@v2", "--key", "nope", capsys=capsys)
    assert code == 2 and "'nope' is not in people@v1" in err and len(err.strip().splitlines()) == 1
    code, _, err = run_cli("data", "diff", "people@v1", "people@v9", capsys=capsys)
    assert code == 2 and "v9" in err and len(err.strip().splitlines()) == 1
