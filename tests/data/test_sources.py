"""File connectors: CSV, TSV, Parquet, JSON lines on local paths and memory://, streamed in batches; their errors."""

from __future__ import annotations

import gzip
import uuid
from collections.abc import Iterator
from pathlib import Path

import fsspec
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import keel.data
from keel.data.sources import rebatch
from keel.errors import InvalidInput, NotFound

ROWS = 10_000


@pytest.fixture
def frame() -> pd.DataFrame:
    return pd.DataFrame({"id": range(ROWS), "x": [i * 0.5 for i in range(ROWS)],
                         "label": [f"c{i % 7}" for i in range(ROWS)]})


def _write(frame: pd.DataFrame, path: Path, fmt: str) -> Path:
    if fmt == "csv":
        frame.to_csv(path, index=False)
    elif fmt == "tsv":
        frame.to_csv(path, index=False, sep="\t")
    elif fmt == "parquet":
        frame.to_parquet(path, index=False, row_group_size=3_000)
    else:
        frame.to_json(path, orient="records", lines=True)
    return path


@pytest.mark.parametrize("fmt,suffix", [("csv", ".csv"), ("tsv", ".tsv"), ("parquet", ".parquet"),
                                        ("jsonl", ".jsonl")])
def test_local_file_streams_in_batches_of_batch_rows(tmp_path: Path, frame: pd.DataFrame, fmt: str,
                                                     suffix: str) -> None:
    path = _write(frame, tmp_path / f"data{suffix}", fmt)
    source = keel.data.read(path, batch_rows=4_000)
    sizes = [batch.num_rows for batch in source.batches()]
    assert sizes == [4_000, 4_000, 2_000]
    assert source.schema.names == ["id", "x", "label"]
    back = source.to_pandas()
    pd.testing.assert_frame_equal(back, frame, check_dtype=False)


def test_format_option_overrides_the_extension_and_gzip_is_inferred(tmp_path: Path, frame: pd.DataFrame) -> None:
    plain = _write(frame, tmp_path / "data.txt", "csv")
    assert keel.data.read(plain, format="csv").to_arrow().num_rows == ROWS
    packed = tmp_path / "data.csv.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    assert keel.data.read(packed).to_arrow().column("label").to_pylist() == frame["label"].tolist()


def test_memory_url_and_a_directory_of_parquet(tmp_path: Path, frame: pd.DataFrame) -> None:
    root = f"memory://keel-test-{uuid.uuid4().hex}"
    fs = fsspec.filesystem("memory")
    fs.pipe(f"{root}/data.csv", frame.to_csv(index=False).encode())
    fs.pipe(f"{root}/data.jsonl", frame.to_json(orient="records", lines=True).encode())
    try:
        assert keel.data.read(f"{root}/data.csv").to_arrow().num_rows == ROWS
        assert keel.data.read(f"{root}/data.jsonl", batch_rows=2_500).to_arrow().column("id").to_pylist() == \
            list(range(ROWS))
    finally:
        fs.rm(root, recursive=True)
    parts = tmp_path / "parts"
    parts.mkdir()
    frame.iloc[:6_000].to_parquet(parts / "a.parquet", index=False)
    frame.iloc[6_000:].to_parquet(parts / "b.parquet", index=False)
    source = keel.data.read(parts, format="parquet", batch_rows=5_000)
    assert [b.num_rows for b in source.batches()] == [5_000, 5_000]
    assert sorted(source.to_arrow().column("id").to_pylist()) == list(range(ROWS))


def test_parquet_knows_its_row_count_and_schema_without_reading(tmp_path: Path, frame: pd.DataFrame) -> None:
    source = keel.data.read(_write(frame, tmp_path / "d.parquet", "parquet"))
    assert source.num_rows == ROWS
    assert source.schema.field("x").type == pa.float64()
    assert keel.data.read(_write(frame, tmp_path / "d.csv", "csv")).num_rows is None


def test_ingest_writes_parquet_atomically_and_reports_progress(tmp_path: Path, frame: pd.DataFrame) -> None:
    src = _write(frame, tmp_path / "in.csv", "csv")
    seen: list[int] = []
    out = keel.data.ingest(src, tmp_path / "out" / "data.parquet", batch_rows=3_000,
                           progress=lambda done, total: seen.append(done))
    assert seen == [3_000, 6_000, 9_000, 10_000]
    assert pq.read_table(out).num_rows == ROWS
    assert [p.name for p in out.parent.iterdir()] == ["data.parquet"]


def test_failed_ingest_leaves_no_file(tmp_path: Path) -> None:
    src = tmp_path / "bad.csv"
    # the type of column a changes after the first block: pyarrow fails part-way through the stream
    src.write_text("a\n" + "1\n" * 700_000 + "oops\n")
    out = tmp_path / "out.parquet"
    with pytest.raises(InvalidInput, match="column_types"):
        keel.data.ingest(src, out)
    assert list(tmp_path.iterdir()) == [src]
    fixed = keel.data.read(src, column_types={"a": "string"}).to_arrow()
    assert fixed.column("a")[-1].as_py() == "oops"


def test_empty_csv_with_header_gives_columns_and_no_rows(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_text("a,b\n")
    out = keel.data.ingest(path, tmp_path / "empty.parquet")
    assert pq.read_table(out).column_names == ["a", "b"] and pq.read_metadata(out).num_rows == 0


def test_missing_file_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="missing.csv.*does not exist"):
        keel.data.read(tmp_path / "missing.csv")
    with pytest.raises(NotFound, match="does not exist"):
        keel.data.read("memory://nowhere/missing.parquet")


def test_unknown_format_and_unknown_option_name_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "data.xlsx"
    path.write_bytes(b"x")
    with pytest.raises(InvalidInput, match="format=") as info:
        keel.data.read(path)
    assert info.value.field == "format"
    with pytest.raises(InvalidInput, match="unknown format 'excel'"):
        keel.data.read(path, format="excel")
    with pytest.raises(InvalidInput, match="query: not an option for csv") as info:
        keel.data.read(path, format="csv", query="SELECT 1")
    assert info.value.field == "query"
    with pytest.raises(InvalidInput, match="batch_rows"):
        keel.data.read(path, format="csv", batch_rows=0)


def test_unparsable_parquet_is_invalid_input(tmp_path: Path) -> None:
    path = tmp_path / "broken.parquet"
    path.write_bytes(b"not a parquet file at all")
    with pytest.raises(InvalidInput, match="broken.parquet.*parquet"):
        keel.data.read(path).to_arrow()


def _batches(*sizes: int) -> Iterator[pa.RecordBatch]:
    start = 0
    for size in sizes:
        yield pa.record_batch({"n": list(range(start, start + size))})
        start += size


@pytest.mark.parametrize("sizes", [(3,), (10, 10), (1, 1, 1, 1, 1, 1, 1), (25,), (0, 7, 0, 8), ()])
def test_rebatch_cuts_exact_sizes_and_keeps_order(sizes: tuple[int, ...]) -> None:
    out = list(rebatch(_batches(*sizes), 5))
    total = sum(sizes)
    assert [b.num_rows for b in out] == [5] * (total // 5) + ([total % 5] if total % 5 else [])
    assert [v for b in out for v in b.column("n").to_pylist()] == list(range(total))
