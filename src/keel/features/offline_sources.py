"""A feature view's source as a DuckDB relation: join keys, ``__t`` (event time, TIMESTAMPTZ in UTC), ``__k`` (time and
the row's position in the source as one key, breaking timestamp ties: the later row wins; see
:func:`keel.features.pit.order_key`) and the features cast to their dtypes.

Parquet (a file, a directory of files, or a tabular dataset version) is scanned in place, so a large source streams;
CSV, TSV, JSON-lines and SQL sources are read through pyarrow / SQLAlchemy into Arrow first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from keel.errors import InvalidInput, KeelError, NotFound
from keel.features.definitions import FeatureView, Source
from keel.features.pit import order_key
from keel.features.source_facts import file_identity, lookup_unique_times

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

__all__ = ["DUCK_TYPES", "ResolvedSource", "connect", "quote", "resolve_source", "time_expr"]

DUCK_TYPES = {"int64": "BIGINT", "int32": "INTEGER", "float64": "DOUBLE", "float32": "FLOAT", "string": "VARCHAR",
              "bool": "BOOLEAN", "timestamp": "TIMESTAMP WITH TIME ZONE"}
_ORDER_BITS = 40  # a source's n-th file's rows are ordered after every row of the files before it


@dataclass(frozen=True)
class ResolvedSource:
    """The relation (``view``: a temp view name in the connection), for a dataset source its resolved version, the
    content's identity (None when it has none, e.g. a SQL query) and whether its times are known unique per key."""

    view: str
    dataset_version_id: str | None
    dataset_ref: str | None
    identity: str | None = None
    unique_times: bool = False


def quote(name: str) -> str:
    """A DuckDB identifier, quoted."""
    return '"' + name.replace('"', '""') + '"'


def connect(memory_limit: str | None = None, temp_dir: Path | None = None) -> duckdb.DuckDBPyConnection:
    """A fresh in-memory DuckDB connection in UTC, optionally memory-bounded with a spill directory."""
    import duckdb

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    if memory_limit:
        con.execute(f"SET memory_limit = '{memory_limit}'")
    if temp_dir is not None:
        temp_dir.mkdir(parents=True, exist_ok=True)
        con.execute(f"SET temp_directory = '{temp_dir}'")
    return con


def time_expr(column: str, duck_type: str) -> str:
    """The SQL turning a timestamp-like column into TIMESTAMPTZ (naive timestamps are taken as UTC)."""
    return quote(column) if duck_type.startswith("TIMESTAMP WITH TIME ZONE") else \
        f"CAST({quote(column)} AS TIMESTAMP WITH TIME ZONE)"


def resolve_source(con: duckdb.DuckDBPyConnection, view: FeatureView, join_keys: Sequence[str],
                   alias: str) -> ResolvedSource:
    """Create temp view ``alias`` over ``view``'s source with the layout this module describes; InvalidInput naming
    the view when the source lacks the timestamp field, a join key or a feature."""
    raw, version_id, ref, identity = _raw_relation(con, view.src, view.name)
    columns = _columns(con, raw, view)
    needed = {view.timestamp_field: "the timestamp_field", **{k: "a join key" for k in join_keys},
              **{f: "a feature" for f in view.feature_names}}
    for column, role in needed.items():
        if column not in columns:
            raise InvalidInput(f"feature view {view.name!r}: its source ({view.src.describe()}) has no column "
                               f"{column!r} ({role}); it has {', '.join(columns)}",
                               field="timestamp_field" if role == "the timestamp_field" else "schema")
    features = []
    for f in view.schema:
        wanted = DUCK_TYPES[f.dtype]
        expr = quote(f.name) if columns[f.name] == wanted else f"TRY_CAST({quote(f.name)} AS {wanted})"
        features.append(f"{expr} AS {quote(f.name)}")
    keys = ", ".join(quote(k) for k in join_keys)
    t = time_expr(view.timestamp_field, columns[view.timestamp_field])
    con.execute(f"CREATE OR REPLACE TEMP VIEW {quote(alias)} AS SELECT {keys}, {t} AS __t, {order_key(t, '__o')} "
                f"AS __k, epoch_us({t}) AS __kb, {', '.join(features)} FROM {raw} "
                f"WHERE {quote(view.timestamp_field)} IS NOT NULL")
    unique = lookup_unique_times(identity, join_keys, view.timestamp_field)
    return ResolvedSource(alias, version_id, ref, identity, unique)


def times_unique(con: duckdb.DuckDBPyConnection, resolved: ResolvedSource, join_keys: Sequence[str]) -> bool:
    """Whether no two rows of the resolved source share a key and an event time (one aggregation pass)."""
    keys = ", ".join(quote(k) for k in join_keys)
    rows = con.execute(f"SELECT count(*) FROM (SELECT 1 FROM {quote(resolved.view)} GROUP BY {keys}, __kb "
                       "HAVING count(*) > 1 LIMIT 1)").fetchall()
    return int(rows[0][0]) == 0


def _columns(con: duckdb.DuckDBPyConnection, raw: str, view: FeatureView) -> dict[str, str]:
    import duckdb

    try:
        rows = con.execute(f"DESCRIBE SELECT * FROM {raw}").fetchall()
    except duckdb.Error as exc:
        raise InvalidInput(f"feature view {view.name!r}: cannot read its source ({view.src.describe()}): "
                           f"{str(exc).splitlines()[0]}", field="source") from exc
    return {str(name): str(kind) for name, kind, *_ in rows}


def _raw_relation(con: duckdb.DuckDBPyConnection, src: Source,
                  view: str) -> tuple[str, str | None, str | None, str | None]:
    """A FROM-expression over the source with an ``__o`` column, the dataset version it resolved to, and the
    content's identity."""
    if src.kind == "sql":
        from keel.data.sources import read

        try:
            table = read(src.ref, format="sql", query=src.query).to_arrow()
        except KeelError as exc:
            raise type(exc)(f"feature view {view!r}: {exc.message}", field="source") from exc
        return _register(con, table, view), None, None, None
    if src.kind == "dataset":
        from keel.data.table_files import table_files

        try:
            files = table_files(src.ref)
        except NotFound as exc:
            raise NotFound(f"feature view {view!r}: its source dataset {src.ref!r} does not exist: {exc.message}",
                           field="source") from exc
        if files.fs is not None:
            con.register_filesystem(files.fs)
        return (_files_relation(con, files.urls, files.format, view), files.version.id, files.version.ref,
                f"dataset:{files.version.id}")
    urls, fmt = _expand(src.ref, view)
    if "://" in src.ref and not src.ref.startswith("file://"):
        import fsspec

        con.register_filesystem(fsspec.core.url_to_fs(src.ref)[0])
    return _files_relation(con, urls, fmt, view), None, None, file_identity(urls)


def _expand(ref: str, view: str) -> tuple[list[str], str]:
    """The files of a path or URL (a directory's table files, sorted) and their one format."""
    from keel.data.tabular import table_format

    if "://" in ref and not ref.startswith("file://"):
        import fsspec

        from keel.artifacts.storage import protocol_of

        fs, path = fsspec.core.url_to_fs(ref)
        protocol = protocol_of(fs)
        found = sorted(fs.find(path)) if fs.isdir(path) else [path] if fs.exists(path) else []
        urls = [f"{protocol}://{p}" for p in found]
    else:
        local = Path(ref.removeprefix("file://"))
        urls = sorted(str(p) for p in local.rglob("*") if p.is_file()) if local.is_dir() else \
            [str(local)] if local.is_file() else []
    if not urls:
        raise NotFound(f"feature view {view!r}: its source {ref!r} does not exist (or is an empty directory)",
                       field="source")
    fmt = table_format(urls)
    if fmt is None:
        raise InvalidInput(f"feature view {view!r}: source {ref!r} is not Parquet, CSV, TSV or JSON-lines files of "
                           "one format", field="source")
    return urls, fmt


def _files_relation(con: duckdb.DuckDBPyConnection, urls: list[str], fmt: str, view: str) -> str:
    if fmt != "parquet":
        import fsspec

        from keel.data.tabular import read_table

        chunks = []
        for url in urls:
            with fsspec.open(url, "rb") as fh:
                chunks.append(fh.read())
        return _register(con, read_table(chunks, fmt, view), view)
    scans = [f"SELECT * EXCLUDE (file_row_number), (file_row_number + {i << _ORDER_BITS}) AS __o FROM "
             f"read_parquet({_literal(url)}, file_row_number = true)" for i, url in enumerate(urls)]
    return "(" + " UNION ALL ".join(scans) + ")"


def _register(con: duckdb.DuckDBPyConnection, table: pa.Table, view: str) -> str:
    import pyarrow as pa

    ordered = table.append_column("__o", pa.array(range(table.num_rows), type=pa.int64()))
    name = f"__arrow_{view}"
    con.register(name, ordered)
    return quote(name)


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
