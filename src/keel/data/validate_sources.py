"""Where validation reads its data: files (Parquet by DuckDB; CSV, TSV and JSON lines by pyarrow, as ingestion
parses them), dataset versions read where they are stored, and frames or Arrow tables in memory."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import duckdb

from keel.data.entities import TABLE_SUFFIXES, DatasetVersion, is_pointer
from keel.data.validation import sql_literal
from keel.errors import InvalidInput, NotFound

__all__ = ["Attached", "Resolver", "attach", "read_error"]

Resolver = Callable[[str], Any]


class Attached(NamedTuple):
    """What :func:`attach` exposed: a description of the source for reports; its kind, ``parquet``, ``memory`` (a
    DataFrame, an Arrow table) or ``text`` (CSV, TSV, JSON: costly to parse twice); and, for Parquet on the local
    disk, its files (other engines may read them too)."""

    source: str
    kind: str
    local_parquet: list[str]

_FORMATS = {**TABLE_SUFFIXES, ".json": "json"}  # a .json file (an array, or lines) goes to DuckDB's JSON reader


def attach(con: duckdb.DuckDBPyConnection, view: str, data: Any, resolve: Resolver | None) -> Attached:
    """Expose ``data`` as the view ``view``.

    A dataset ref ``NAME@v`` (or a ``NAME.keel.yaml`` pointer file: the version it pins, reported as ``NAME@v``) is
    read where its files are stored (Parquet by DuckDB, text through pyarrow), unless a ``resolve`` function is
    given, whose result (a frame, a table or a path) is attached instead."""
    if isinstance(data, str | Path) and is_pointer(str(data)) and resolve is None:  # NAME.keel.yaml
        from keel.data.versioning import get_version

        version = get_version(str(data))
        return Attached(version.ref, *_attach_version(con, view, version))
    if isinstance(data, str | Path) and Path(data).exists():
        return Attached(str(data), *_attach_path(con, view, Path(data)))
    if isinstance(data, str):
        if "@" not in data:
            raise NotFound(f"{data} does not exist; give a table file (Parquet, CSV, TSV, JSON lines) or a dataset "
                           "ref NAME@VERSION", field="data")
        if resolve is None:
            return Attached(data, *_attach_version(con, view, data))
        return attach(con, view, resolve(data), None)._replace(source=data)
    try:
        con.register(view, data)
    except (duckdb.Error, TypeError, ValueError) as exc:
        raise InvalidInput(f"cannot validate a {type(data).__name__}; give a DataFrame, an Arrow table or a path",
                           field="data") from exc
    return Attached(type(data).__name__, "memory", [])


def _attach_path(con: duckdb.DuckDBPyConnection, view: str, path: Path) -> tuple[str, list[str]]:
    """Create the view over the file(s) at ``path``; returns the kind (``parquet`` or ``text``) and the local
    Parquet files. Parquet is read
    by DuckDB; CSV, TSV and JSON lines by pyarrow, as Keel reads tables elsewhere (ingestion, ``keel.data.load``: a
    row with a wrong number of fields is an error, where DuckDB's sniffer would guess around it); a ``.json`` file
    (an array, or lines) by DuckDB's JSON reader."""
    files = sorted(p for p in path.rglob("*") if p.suffix.lower() in _FORMATS) if path.is_dir() else [path]
    formats = {_FORMATS.get(p.suffix.lower()) for p in files}
    if not files or None in formats or len(formats) > 1:
        raise InvalidInput(f"{path}: expected Parquet, CSV, TSV or JSON-lines file(s) of one format", field="data")
    fmt = str(formats.pop())
    if fmt == "json":
        listing = "[" + ", ".join(sql_literal(str(p)) for p in files) + "]"
        _create_view(con, view, f"read_json_auto({listing}, union_by_name = true)", str(path))
        return "text", []
    listed = [str(p) for p in files]
    return _attach_files(con, view, listed, listed, fmt, None, str(path))


def _attach_version(con: duckdb.DuckDBPyConnection, view: str, ref: str | DatasetVersion) -> tuple[str, list[str]]:
    """The view over a tabular dataset version's stored files, read in place (nothing is copied)."""
    from keel.data.table_files import table_files

    files = table_files(ref)
    return _attach_files(con, view, files.urls, files.paths, files.format, files.fs, files.version.ref)


def _attach_files(con: duckdb.DuckDBPyConnection, view: str, urls: list[str], paths: list[str], fmt: str, fs: Any,
                  what: str) -> tuple[str, list[str]]:
    """Files of one format as the view: Parquet by DuckDB, the text formats by pyarrow. Either way a column only some
    files have is null in the others (as ``keel.data.load`` reads them)."""
    if fmt == "parquet":
        if fs is not None:
            from keel.artifacts.storage import protocol_of

            if not con.filesystem_is_registered(protocol_of(fs)):  # a distribution reference on the same store
                con.register_filesystem(fs)
        listing = ", ".join(sql_literal(u) for u in urls)
        _create_view(con, view, f"read_parquet([{listing}], union_by_name = true)", what)
        return "parquet", (paths if fs is None else [])
    import pyarrow as pa

    from keel.data.tabular import open_dataset

    try:
        dataset = open_dataset(paths, fmt, fs)
    except (pa.ArrowException, OSError) as exc:
        raise InvalidInput(f"{what} cannot be read as {fmt}: {str(exc).splitlines()[0]}", field="data") from exc
    con.register(view, dataset)
    return "text", []


def _create_view(con: duckdb.DuckDBPyConnection, view: str, reader: str, what: str) -> None:
    try:
        con.sql(f"CREATE OR REPLACE VIEW {view} AS SELECT * FROM {reader}")
    except duckdb.Error as exc:
        raise InvalidInput(f"{what} cannot be read: {str(exc).splitlines()[0]}", field="data") from exc


def read_error(exc: duckdb.Error) -> InvalidInput | None:
    """A scan that failed because pyarrow could not parse a CSV/TSV/JSON-lines file part-way (a ragged row, a value
    of another type) as a clear error naming the row; None for any other DuckDB error."""
    found = re.search(r"reading the stream registered as '([^']*)' failed: (.*)", str(exc).splitlines()[0])
    if found is None:
        return None
    what = "the reference data" if "reference" in found.group(1) else "the data"
    return InvalidInput(f"{what} could not be read: {found.group(2)}; fix the file", field="data")
