"""Tabular snapshots: which file sets are tables, their schema and column statistics, and reading them back.

A snapshot is tabular when every file has one format: Parquet (``.parquet``/``.pq``), CSV (``.csv``), TSV (``.tsv``)
or JSON lines (``.jsonl``/``.ndjson``). Files are read by pyarrow; statistics are computed in one streaming pass by
DuckDB over the Arrow dataset: per column the type, null count, min, max, mean (numeric columns) and an approximate
distinct count (HyperLogLog).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.dataset as pads

from keel.data.entities import TABLE_SUFFIXES
from keel.errors import InvalidInput

if TYPE_CHECKING:
    import pyarrow.csv as pacsv

__all__ = ["FORMATS", "ColumnStats", "describe", "file_format", "open_dataset", "read_table", "table_format"]

ColumnStats = dict[str, Any]

FORMATS = ("parquet", "csv", "tsv", "jsonl")
"""The tabular formats, as :func:`table_format` names them."""


def table_format(paths: Sequence[str]) -> str | None:
    """One of :data:`FORMATS` when every path has that format's suffix, else ``None``."""
    kinds = {TABLE_SUFFIXES.get(Path(p).suffix.lower()) for p in paths}
    return kinds.pop() if len(kinds) == 1 and None not in kinds else None


def describe(paths: Sequence[Path], fmt: str) -> tuple[int, list[dict[str, Any]], dict[str, ColumnStats]] | None:
    """``(row count, schema, column stats)`` of the files read as one table (JSON-ready); ``None`` if unparsable."""
    try:
        dataset = open_dataset([str(p) for p in paths], fmt)
        schema = dataset.schema
        rows, stats = _stats(dataset, schema)
    except (pa.ArrowException, OSError, ValueError):
        return None
    fields = [{"name": f.name, "type": str(f.type), "nullable": f.nullable} for f in schema]
    return rows, fields, json.loads(json.dumps(stats, default=str))


def open_dataset(paths: Sequence[str], fmt: str, filesystem: Any = None) -> pads.Dataset:
    """The files as one pyarrow dataset, read in place: its schema is every file's columns (a column only some files
    have is null in the others, as :func:`read_table` reads them), and a column no file gives a type (all empty, or
    a CSV with only a header) is a string column rather than Arrow's ``null`` type."""
    dataset = pads.dataset(list(paths), format=file_format(fmt), filesystem=filesystem)
    fragments = list(dataset.get_fragments())
    schema = pa.unify_schemas([f.physical_schema for f in fragments], promote_options="permissive") \
        if len(fragments) > 1 else dataset.schema
    typed = pa.schema([f.with_type(pa.string()) if pa.types.is_null(f.type) else f for f in schema])
    return dataset if typed.equals(dataset.schema) else dataset.replace_schema(typed)


def file_format(fmt: str) -> pads.FileFormat:
    """The pyarrow dataset format reading files of ``fmt`` (one of :data:`FORMATS`); InvalidInput for another."""
    if fmt == "parquet":
        return pads.ParquetFileFormat()
    if fmt == "jsonl":
        return pads.JsonFileFormat()
    if fmt in ("csv", "tsv"):
        parse, convert = _csv_options(fmt)
        return pads.CsvFileFormat(parse_options=parse, convert_options=convert)
    raise _not_tabular(fmt)


def _not_tabular(fmt: str) -> InvalidInput:
    return InvalidInput(f"{fmt!r} is not a tabular format; use one of {', '.join(FORMATS)}", field="format")


def _csv_options(fmt: str) -> tuple[pacsv.ParseOptions, pacsv.ConvertOptions]:
    """CSV or TSV (tab-delimited) parsing; empty fields are nulls for every type, as pandas reads them."""
    import pyarrow.csv as pacsv

    return (pacsv.ParseOptions(delimiter="\t" if fmt == "tsv" else ","),
            pacsv.ConvertOptions(strings_can_be_null=True))


def _stats(dataset: pads.Dataset, schema: pa.Schema) -> tuple[int, dict[str, ColumnStats]]:
    import duckdb

    parts, plan = ["count(*)"], []
    for i, field in enumerate(schema):
        col = '"' + field.name.replace('"', '""') + '"'
        aggs = {"null_count": f"count(*) - count({col})"}
        if _orderable(field.type):
            # temporal bounds as text: a tz-aware value would need pytz to reach Python, and ends up JSON text anyway
            cast = "::VARCHAR" if pa.types.is_temporal(field.type) else ""
            aggs |= {"min": f"min({col}){cast}", "max": f"max({col}){cast}",
                     "distinct_estimate": f"approx_count_distinct({col})"}
        if _numeric(field.type):
            aggs["mean"] = f"avg({col})"
        plan.append((field, list(aggs)))
        parts += [f"{sql} AS c{i}_{key}" for key, sql in aggs.items()]
    con = duckdb.connect()
    try:
        con.register("snapshot", dataset)
        row = con.execute(f"SELECT {', '.join(parts)} FROM snapshot").fetchone() or ()
    except duckdb.Error as exc:
        raise ValueError(str(exc)) from exc
    finally:
        con.close()
    values = iter(row[1:])
    stats = {field.name: {"type": str(field.type), **{key: next(values) for key in keys}} for field, keys in plan}
    return int(row[0]) if row else 0, stats


def _orderable(t: pa.DataType) -> bool:
    checks: list[Callable[[pa.DataType], bool]] = [
        pa.types.is_integer, pa.types.is_floating, pa.types.is_decimal, pa.types.is_boolean, pa.types.is_string,
        pa.types.is_large_string, pa.types.is_temporal]
    return any(check(t) for check in checks)


def _numeric(t: pa.DataType) -> bool:
    return bool(pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t))


def read_table(chunks: Sequence[bytes], fmt: str, what: str) -> pa.Table:
    """One Arrow table from the files' bytes (already verified) of format ``fmt``, concatenated; InvalidInput if
    they do not parse (``what`` names them in the message) or ``fmt`` is not one of :data:`FORMATS`."""
    try:
        tables = [_read_one(pa.BufferReader(b), fmt) for b in chunks]
        return pa.concat_tables(tables, promote_options="default")
    except (pa.ArrowException, OSError) as exc:
        raise InvalidInput(f"{what} cannot be read as {fmt} tables ({exc})", field="ref") from exc


def _read_one(buffer: pa.BufferReader, fmt: str) -> pa.Table:
    if fmt == "parquet":
        import pyarrow.parquet as pq

        return pq.read_table(buffer)
    if fmt == "jsonl":
        import pyarrow.json as pajson

        return pajson.read_json(buffer)
    if fmt in ("csv", "tsv"):
        import pyarrow.csv as pacsv

        parse, convert = _csv_options(fmt)
        return pacsv.read_csv(buffer, parse_options=parse, convert_options=convert)
    raise _not_tabular(fmt)
