"""Ingestion connectors: :func:`read` turns a file, a SQL query or a paged JSON API into a stream of Arrow batches.

::

    read("data/train.csv")                                         files: CSV, TSV, Parquet, JSON lines, on any
    read("s3://bucket/events.parquet", batch_rows=100_000)          fsspec URL (local, memory://, s3://, http(s)://)
    read("postgresql+psycopg://u@host/db", query="SELECT ...")     SQL through a SQLAlchemy URL
    read("sql:sqlite:///local.db", query="SELECT ...")             the same, spelled explicitly
    read("https://api/items", format="json-api", records_path="data", next="links.next")   a paged JSON API

Every source is a :class:`Source`: ``.batches()`` yields ``pyarrow.RecordBatch``es of at most ``batch_rows`` rows
(a JSON API yields one batch per page), so a source bigger than memory can be streamed; ``.to_arrow()`` and
``.to_pandas()`` load it whole for convenience. :func:`ingest` streams any source into one Parquet file.

Third-party errors (fsspec/``OSError``, Arrow, SQLAlchemy, httpx) are mapped to Keel errors at each connector's
edge: a missing file or table is :class:`~keel.errors.NotFound` or :class:`~keel.errors.InvalidInput`, an
unreachable host :class:`~keel.errors.Unavailable`, each naming the source and the fix.
"""

from __future__ import annotations

import inspect
import os
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from keel.errors import InvalidInput, KeelError, NotFound, PermissionDenied, Unavailable

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["FORMATS", "Source", "ingest", "read"]

FORMATS = ("csv", "tsv", "parquet", "jsonl", "sql", "json-api")
"""The values ``format=`` accepts."""

_SQL_SCHEMES = ("postgresql", "postgres", "sqlite", "mysql", "mariadb", "mssql", "oracle", "duckdb", "snowflake")


class Source(ABC):
    """A tabular source read as a stream of Arrow record batches."""

    def __init__(self, name: str, batch_rows: int) -> None:
        if batch_rows < 1:
            raise InvalidInput(f"batch_rows must be a positive number of rows, got {batch_rows}", field="batch_rows")
        self.name = name
        self.batch_rows = batch_rows

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"

    @abstractmethod
    def batches(self) -> Iterator[pa.RecordBatch]:
        """Read the source from the start, one record batch at a time, all with the same :attr:`schema`."""

    @property
    def schema(self) -> pa.Schema:
        """The Arrow schema of the batches (sources that cannot know it up front read their first batch)."""
        stream = self.batches()
        try:
            return next(stream).schema
        except StopIteration:
            return pa.schema([])
        finally:
            close = getattr(stream, "close", None)
            if close is not None:
                close()

    @property
    def num_rows(self) -> int | None:
        """The row count when the source knows it without reading (Parquet footers); ``None`` otherwise."""
        return None

    def to_arrow(self) -> pa.Table:
        """The whole source as one Arrow table (loads everything into memory)."""
        batches = list(self.batches())
        return pa.Table.from_batches(batches, schema=batches[0].schema if batches else self.schema)

    def to_pandas(self) -> pd.DataFrame:
        """The whole source as a pandas DataFrame (loads everything into memory)."""
        return self.to_arrow().to_pandas()


def read(source: str | os.PathLike[str], *, format: str | None = None, batch_rows: int = 65_536,
         **options: Any) -> Source:
    """Open ``source`` for streaming as Arrow batches.

    ``format`` is one of :data:`FORMATS`; by default it comes from the file extension (``.csv``, ``.tsv``,
    ``.parquet``/``.pq``, ``.jsonl``/``.ndjson``, optionally compressed: ``.csv.gz``), or is ``sql`` for a
    SQLAlchemy URL (or a ``sql:`` prefix). ``options`` go to the connector: ``storage_options``, ``delimiter``,
    ``column_types`` for files; ``query`` (required) and ``params`` for SQL; ``records_path``, ``next``,
    ``page_param``, ``page_size_param``, ``page_size``, ``start_page``, ``params``, ``headers``, ``max_pages`` for
    a JSON API. SQL and JSON API sources also take ``schema`` (a ``pyarrow.Schema``) to fix column types instead
    of inferring them from the first batch.
    """
    text = os.fspath(source)
    if not text:
        raise InvalidInput("source is empty: give a path, an fsspec URL, a SQLAlchemy URL or an http(s) URL",
                           field="source")
    fmt = (format or _infer_format(text)).lower()
    if fmt not in FORMATS:
        raise InvalidInput(f"unknown format {format!r} for source {text!r}: use one of {', '.join(FORMATS)}",
                           field="format")
    if fmt == "sql":
        from keel.data.sources_sql import SqlSource

        return _build(SqlSource, fmt, text.removeprefix("sql:"), batch_rows=batch_rows, **options)
    if fmt == "json-api":
        from keel.data.sources_http import JsonApiSource

        return _build(JsonApiSource, fmt, text, batch_rows=batch_rows, **options)
    from keel.data.sources_files import FileSource

    return _build(FileSource, fmt, text, fmt, batch_rows=batch_rows, **options)


def _build(cls: type[Source], fmt: str, *args: Any, **options: Any) -> Source:
    """``cls(*args, **options)``, refusing options that connector does not take with a list of those it does."""
    accepted = [name for name, p in inspect.signature(cls).parameters.items() if p.kind is p.KEYWORD_ONLY]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise InvalidInput(f"{', '.join(unknown)}: not an option for {fmt} sources; they take "
                           f"{', '.join(accepted)}", field=unknown[0])
    return cls(*args, **options)


def ingest(source: str | os.PathLike[str] | Source, out: str | os.PathLike[str], *,
           progress: Callable[[int, int | None], None] | None = None, **read_options: Any) -> Path:
    """Stream ``source`` into the Parquet file ``out`` and return its path.

    ``read_options`` go to :func:`read` when ``source`` is not a :class:`Source` yet. ``progress(rows_done,
    total_rows_or_None)`` is called after each batch. The file is written under a temporary name beside ``out``
    and renamed when complete, so a failed ingest never leaves a truncated file at ``out``. The dataset
    versioning side snapshots the returned file (``keel data ingest --name``).
    """
    import pyarrow.parquet as pq

    src = source if isinstance(source, Source) else read(source, **read_options)
    target = Path(out)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp-{uuid.uuid4().hex}")
    total = src.num_rows
    done = 0
    try:
        writer: pq.ParquetWriter | None = None
        for batch in src.batches():
            if writer is None:
                writer = pq.ParquetWriter(tmp, batch.schema)
            writer.write_batch(batch)
            done += batch.num_rows
            if progress is not None:
                progress(done, total)
        if writer is None:
            pq.write_table(src.schema.empty_table(), tmp)
        else:
            writer.close()
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def rebatch(batches: Iterable[pa.RecordBatch], batch_rows: int) -> Iterator[pa.RecordBatch]:
    """Re-cut a stream of batches into batches of exactly ``batch_rows`` rows (the last may be shorter)."""
    pending: list[pa.RecordBatch] = []
    pending_rows = 0
    for batch in batches:
        if batch.num_rows == 0:
            continue
        pending.append(batch)
        pending_rows += batch.num_rows
        if pending_rows < batch_rows:
            continue
        table = pa.Table.from_batches(pending)
        full = (pending_rows // batch_rows) * batch_rows
        yield from table.slice(0, full).combine_chunks().to_batches(max_chunksize=batch_rows)
        pending = table.slice(full).combine_chunks().to_batches() if full < pending_rows else []
        pending_rows -= full
    if pending_rows:
        yield from pa.Table.from_batches(pending).combine_chunks().to_batches(max_chunksize=batch_rows)


def records_to_batch(records: list[dict[str, Any]], schema: pa.Schema | None, source: str) -> pa.RecordBatch:
    """Rows (dicts) as one batch: with ``schema`` when given, else inferred; the fix for a clash is named."""
    try:
        if schema is None:
            return pa.RecordBatch.from_pylist(records)
        extra = sorted({key for row in records for key in row} - set(schema.names))
        if extra:
            raise InvalidInput(f"{source}: column(s) {', '.join(extra)} appear after the first batch fixed the "
                               f"columns to {', '.join(schema.names)}; pass schema= to read() listing every column",
                               field="schema")
        return pa.RecordBatch.from_pylist(records, schema=schema)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise InvalidInput(f"{source}: values do not fit the column types {_describe(schema)} ({exc}); pass "
                           "schema= to read() with types that hold every batch", field="schema") from exc


def status_error(what: str, status: int, credentials_hint: str) -> KeelError:
    """The Keel error for an HTTP error status answered by ``what`` (e.g. ``"source 'http://…'"``)."""
    message = f"{what} answered HTTP {status}"
    if status == 404:
        return NotFound(f"{message}: nothing there; check the URL", field="source")
    if status in (401, 403):
        return PermissionDenied(f"{message}: {credentials_hint}", field="source")
    if status < 500:
        return InvalidInput(f"{message}: the request was refused; check the URL and its parameters", field="source")
    return Unavailable(f"{message}: the server failed; retry later or ask its owner", field="source")


def _describe(schema: pa.Schema | None) -> str:
    if schema is None:
        return "inferred from the values"
    return "{" + ", ".join(f"{f.name}: {f.type}" for f in schema) + "}"


def is_sql_url(source: str) -> bool:
    """True for a SQLAlchemy URL (``postgresql+psycopg://…``, ``sqlite:///…``) or a ``sql:`` source."""
    lowered = source.lower()
    return lowered.startswith("sql:") or lowered.split("://", 1)[0].split("+", 1)[0] in _SQL_SCHEMES


def _infer_format(source: str) -> str:
    lowered = source.lower()
    if is_sql_url(source):
        return "sql"
    name = lowered.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
    for compression in (".gz", ".bz2", ".xz", ".zst", ".zip"):
        name = name.removesuffix(compression)
    suffix = name.rsplit(".", 1)[-1] if "." in name else ""
    fmt = {"csv": "csv", "tsv": "tsv", "parquet": "parquet", "pq": "parquet", "jsonl": "jsonl",
           "ndjson": "jsonl"}.get(suffix)
    if fmt is None:
        raise InvalidInput(f"cannot tell the format of {source!r} from its name: pass format= (--format) with one "
                           f"of {', '.join(FORMATS)}", field="format")
    return fmt
