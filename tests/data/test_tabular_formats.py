"""JSON-lines and TSV snapshots are tables: recorded schema and stats, load (pandas or Arrow), row diff by key, and
feature views reading them."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as pads
import pytest

from keel import data
from keel.data import tabular, versioning
from keel.data.entities import TABLE_SUFFIXES
from keel.errors import InvalidInput


def _jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


PEOPLE: list[dict[str, Any]] = [{"id": 1, "score": 2.5, "name": "ann"}, {"id": 2, "score": None, "name": "bob"},
                              {"id": 3, "score": 7.5, "name": "cy"}]


def test_table_format_and_file_format_cover_every_ingestion_format() -> None:
    assert tabular.table_format(["a.tsv", "b.TSV"]) == "tsv"
    assert tabular.table_format(["a.jsonl", "b.ndjson"]) == "jsonl"
    assert tabular.table_format(["a.jsonl", "b.csv"]) is None  # one format per table
    assert tabular.table_format(["a.json"]) is None
    assert isinstance(tabular.file_format("jsonl"), pads.JsonFileFormat)
    assert isinstance(tabular.file_format("parquet"), pads.ParquetFileFormat)
    csv, tsv = tabular.file_format("csv"), tabular.file_format("tsv")
    assert isinstance(csv, pads.CsvFileFormat) and isinstance(tsv, pads.CsvFileFormat)
    assert (csv.parse_options.delimiter, tsv.parse_options.delimiter) == (",", "\t")
    assert csv.default_fragment_scan_options.convert_options.strings_can_be_null
    assert tsv.default_fragment_scan_options.convert_options.strings_can_be_null
    with pytest.raises(InvalidInput, match="not a tabular format") as caught:
        tabular.file_format("xlsx")
    assert caught.value.field == "format"
    with pytest.raises(InvalidInput, match="not a tabular format"):
        tabular.read_table([b"a\n1\n"], "xlsx", "t")
    # every suffix that makes a snapshot a table names a format that file_format can read
    assert set(TABLE_SUFFIXES.values()) == set(tabular.FORMATS)


def test_read_table_parses_tsv_and_jsonl_bytes() -> None:
    tsv = tabular.read_table([b"a\tb\n1\tx,y\n2\t\n"], "tsv", "t")
    assert tsv.column("a").to_pylist() == [1, 2] and tsv.column("b").to_pylist() == ["x,y", None]
    jsonl = tabular.read_table([b'{"a": 1}\n', b'{"a": 2, "b": "z"}\n'], "jsonl", "j")
    assert jsonl.column("a").to_pylist() == [1, 2] and jsonl.column("b").to_pylist() == [None, "z"]
    with pytest.raises(InvalidInput, match="cannot be read as jsonl"):
        tabular.read_table([b"not json\n"], "jsonl", "broken")


def test_add_jsonl_records_schema_and_stats_and_loads(keel_home: Path, tmp_path: Path) -> None:
    version = data.add(_jsonl(tmp_path / "people.jsonl", PEOPLE), "people")
    assert version.row_count == 3
    assert [(c["name"], c["type"]) for c in version.schema or []] == [("id", "int64"), ("score", "double"),
                                                                     ("name", "string")]
    stats = version.stats or {}
    assert (stats["id"]["min"], stats["id"]["max"], stats["id"]["mean"]) == (1, 3, 2.0)
    assert (stats["score"]["null_count"], stats["score"]["min"], stats["score"]["max"]) == (1, 2.5, 7.5)
    assert (stats["name"]["min"], stats["name"]["max"]) == ("ann", "cy")

    frame = data.load("people@v1")
    assert frame["id"].tolist() == [1, 2, 3] and frame["name"].tolist() == ["ann", "bob", "cy"]
    assert frame["score"].isna().tolist() == [False, True, False] and frame["score"][2] == 7.5


def test_add_directory_of_ndjson_files_is_one_table(keel_home: Path, tmp_path: Path) -> None:
    root = tmp_path / "events"
    root.mkdir()
    _jsonl(root / "part-0.ndjson", PEOPLE[:2])
    _jsonl(root / "part-1.ndjson", PEOPLE[2:])
    version = data.add(root, "events")
    assert version.row_count == 3 and (version.stats or {})["id"]["max"] == 3
    assert data.load(version.ref)["id"].tolist() == [1, 2, 3]


def test_add_tsv_records_schema_and_stats_and_loads(keel_home: Path, tmp_path: Path) -> None:
    src = tmp_path / "scores.tsv"
    # a comma inside a value: read as CSV this would be two columns' worth of text in one
    src.write_text("x\tlabel\n1.5\ta,b\n\tc\n4.5\td\n")
    version = data.add(src, "scores")
    assert version.row_count == 3
    assert [(c["name"], c["type"]) for c in version.schema or []] == [("x", "double"), ("label", "string")]
    x = (version.stats or {})["x"]
    assert (x["null_count"], x["min"], x["max"], x["mean"]) == (1, 1.5, 4.5, 3.0)

    frame = data.load("scores")
    assert frame["label"].tolist() == ["a,b", "c", "d"]
    assert frame["x"].isna().tolist() == [False, True, False]


def test_load_as_arrow_or_pandas(keel_home: Path, tmp_path: Path) -> None:
    data.add(_jsonl(tmp_path / "people.jsonl", PEOPLE), "people")
    table = data.load("people@v1", format="arrow")
    assert isinstance(table, pa.Table)
    assert table.schema.field("id").type == pa.int64()
    frame = data.load("people@v1", format="pandas")
    assert isinstance(frame, pd.DataFrame)
    assert table.to_pydict() == pa.Table.from_pandas(frame, preserve_index=False).to_pydict()
    assert table.column("score").to_pylist() == [2.5, None, 7.5]


def test_load_refuses_an_unknown_format_naming_the_field(keel_home: Path, tmp_path: Path) -> None:
    data.add(_jsonl(tmp_path / "people.jsonl", PEOPLE), "people")
    with pytest.raises(InvalidInput, match="'polars'") as caught:
        versioning.load("people@v1", format="polars")  # type: ignore[call-overload]  # the overloads refuse it too
    assert caught.value.field == "format"


def test_diff_by_key_between_jsonl_versions(keel_home: Path, tmp_path: Path) -> None:
    path = _jsonl(tmp_path / "people.jsonl", PEOPLE)
    data.add(path, "people")
    _jsonl(path, [PEOPLE[0], {"id": 2, "score": 9.0, "name": "bob"}, PEOPLE[2], {"id": 4, "score": 1.0, "name": "d"}])
    data.add(path, "people")
    result = data.diff("people@v1", "people@v2", key="id")
    assert (result.old_rows, result.new_rows) == (3, 4)
    rows = result.rows
    assert rows is not None
    assert (rows.added, rows.removed, rows.changed) == (1, 0, 1)
    assert (rows.added_examples, rows.changed_examples) == ([4], [2])
    by = {(d.column, d.stat): d for d in result.stats}
    assert by[("score", "max")].new == 9.0 and by[("id", "max")].delta == 1


def test_feature_view_reads_a_jsonl_dataset_version(keel_home: Path, tmp_path: Path) -> None:
    import keel.features as kf
    from keel.data.table_files import table_files
    from keel.features.definitions import Source

    now = datetime.now(UTC).replace(microsecond=0)
    rows = [{"driver_id": 1, "event_timestamp": (now - timedelta(hours=h)).strftime("%Y-%m-%d %H:%M:%S"),
             "trips": trips} for h, trips in ((3, 5), (1, 6))]
    data.add(_jsonl(tmp_path / "stats.jsonl", rows), "driver_stats_raw")
    assert table_files("driver_stats_raw").format == "jsonl"
    assert Source.parse("stats.jsonl").kind == "file" and Source.parse("stats.tsv").kind == "file"

    driver = kf.Entity("driver", join_keys=["driver_id"])
    view = kf.FeatureView("stats", entities=[driver], source="driver_stats_raw", schema=[kf.Field("trips", "int64")])
    kf.apply([driver, view])
    entities = pd.DataFrame({"driver_id": [1, 1], "event_timestamp": [now - timedelta(hours=2), now]})
    df = kf.get_historical_features(entities, ["stats:trips"])
    assert df["trips"].tolist() == [5, 6]  # the value as of each entity row's time, not a later one
