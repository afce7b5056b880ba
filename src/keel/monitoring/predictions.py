"""Reading the prediction log: ``keel.predictions(...)`` returns served predictions as a DataFrame.

Partitions are pruned while listing: only the requested deployment's directory and the dates that can overlap
``[since, until)`` are listed, so reading one deployment's last hour never lists the rest of the log. The other
filters (model, version, shadow, the exact time window) are pushed down into the Parquet scan by
``pyarrow.dataset``. Writing is :class:`~keel.monitoring.prediction_log.PredictionLog` (re-exported here).
"""

from __future__ import annotations

import datetime as dt
import functools
import operator
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds

from keel.artifacts import FsspecStorage
from keel.errors import CorruptArtifact, InvalidInput
from keel.monitoring.prediction_log import FILE_PREFIX, FILE_SUFFIX, PredictionLog, default_root, deployment_dir
from keel.monitoring.prediction_rows import FILE_SCHEMA
from keel.monitoring.prediction_rows import expand as expand_columns

__all__ = ["COLUMNS", "PredictionLog", "TimeLike", "predictions"]

COLUMNS = ["timestamp", "request_id", "row", "deployment", "model_name", "model_version", "shadow", "status",
           "latency_ms", "inputs", "outputs"]
"""The columns of :func:`predictions` before expansion, in order."""

TimeLike = dt.datetime | str | float
"""A point in time: a datetime (naive means UTC), an ISO 8601 string, or epoch seconds."""

_PARTITIONS = pa.schema([("deployment", pa.string()), ("date", pa.string())])
_SCHEMA = pa.schema([*FILE_SCHEMA, *_PARTITIONS])
_PARTITIONING = ds.partitioning(_PARTITIONS, flavor="hive")
_SORT = [("timestamp", "ascending"), ("request_id", "ascending"), ("row", "ascending")]


def predictions(deployment: str | None = None, *, model: str | None = None, version: str | None = None,
                since: TimeLike | None = None, until: TimeLike | None = None, shadow: bool | None = None,
                limit: int | None = None, expand: bool = True, root: str | None = None) -> pd.DataFrame:
    """Logged predictions, one row per predicted row, oldest first.

    Filters: ``deployment``, ``model`` and ``version`` (exact), ``since`` (inclusive) and ``until`` (exclusive),
    ``shadow`` (True: only shadow traffic; False: only answered traffic). ``limit`` keeps the newest ``limit`` rows.
    Columns are :data:`COLUMNS` (``timestamp`` is tz-aware UTC; ``inputs``/``outputs`` are JSON text); with
    ``expand`` the inputs also appear as ``input.<name>`` columns and the outputs as ``output`` (scalars and lists)
    or ``output.<name>`` (dicts). A missing or empty log gives an empty frame with :data:`COLUMNS`.
    """
    start, end = _instant(since, "since"), _instant(until, "until")
    if start is not None and end is not None and end <= start:
        raise InvalidInput(f"until ({end.isoformat()}) must be later than since ({start.isoformat()})",
                           field="until")
    _check_limit(limit)
    storage = FsspecStorage(root or default_root())
    by_date = _discover(storage, deployment, start, end)
    table = _scan(storage, by_date, _filter(model, version, shadow, start, end), limit)
    frame = _frame(table, limit)
    return expand_columns(frame) if expand else frame


def _instant(value: TimeLike | None, field: str) -> pd.Timestamp | None:
    if value is None:
        return None
    problem = InvalidInput(f"{field}={value!r} is not a point in time; give a datetime, an ISO 8601 string such as "
                           "'2024-05-01T12:00:00Z', or epoch seconds", field=field)
    if isinstance(value, bool):
        raise problem
    try:
        stamp = pd.Timestamp(value, unit="s", tz="UTC") if isinstance(value, int | float) else pd.Timestamp(value)
    except (ValueError, TypeError, OverflowError) as exc:
        raise problem from exc
    if pd.isna(stamp):
        raise problem
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def _check_limit(limit: int | None) -> None:
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise InvalidInput(f"limit must be a positive integer or None, got {limit!r}", field="limit")


def _discover(storage: FsspecStorage, deployment: str | None, start: pd.Timestamp | None,
              end: pd.Timestamp | None) -> dict[str, list[str]]:
    """Data files by UTC date, listing only the partitions the deployment and time window can match."""
    if deployment is not None:
        deployments = [deployment_dir(deployment)]
    else:
        deployments = [e.name for e in storage.listdir("") if e.is_dir and e.name.startswith("deployment=")]
    first = start.strftime("%Y-%m-%d") if start is not None else ""
    last = end.strftime("%Y-%m-%d") if end is not None else "~"
    by_date: dict[str, list[str]] = defaultdict(list)
    for dep in deployments:
        for entry in storage.listdir(dep):
            date = entry.name.removeprefix("date=")
            if entry.is_dir and entry.name.startswith("date=") and first <= date <= last:
                by_date[date].extend(_data_files(storage, f"{dep}/{entry.name}"))
    return by_date


def _data_files(storage: FsspecStorage, rel: str) -> list[str]:
    return [storage.full(f"{rel}/{e.name}") for e in storage.listdir(rel)
            if not e.is_dir and e.name.startswith(FILE_PREFIX) and e.name.endswith(FILE_SUFFIX)]


def _filter(model: str | None, version: str | None, shadow: bool | None, start: pd.Timestamp | None,
            end: pd.Timestamp | None) -> ds.Expression | None:
    stamp = FILE_SCHEMA.field("timestamp").type
    conditions = []
    if model is not None:
        conditions.append(ds.field("model_name") == str(model))
    if version is not None:
        conditions.append(ds.field("model_version") == str(version))
    if shadow is not None:
        conditions.append(ds.field("shadow") == bool(shadow))
    if start is not None:
        conditions.append(ds.field("timestamp") >= pa.scalar(start.to_pydatetime(), type=stamp))
    if end is not None:
        conditions.append(ds.field("timestamp") < pa.scalar(end.to_pydatetime(), type=stamp))
    return functools.reduce(operator.and_, conditions) if conditions else None


def _scan(storage: FsspecStorage, by_date: dict[str, list[str]], where: ds.Expression | None,
          limit: int | None) -> pa.Table:
    """Read the files; with a limit, date by date from the newest, stopping once enough rows matched."""
    if limit is None:
        groups = [[path for paths in by_date.values() for path in paths]]
    else:
        groups = [by_date[date] for date in sorted(by_date, reverse=True)]
    tables, rows = [], 0
    for paths in groups:
        if not paths:
            continue
        tables.append(_read(storage, paths, where))
        rows += tables[-1].num_rows
        if limit is not None and rows >= limit:
            break
    return pa.concat_tables(tables) if tables else _SCHEMA.empty_table()


def _read(storage: FsspecStorage, paths: list[str], where: ds.Expression | None) -> pa.Table:
    with _unreadable_is_corrupt(storage), storage.mapped_errors("predictions"):
        dataset = ds.dataset(paths, schema=_SCHEMA, format="parquet", filesystem=storage.fs,
                             partitioning=_PARTITIONING, partition_base_dir=storage.root)
        return dataset.to_table(filter=where)


@contextmanager
def _unreadable_is_corrupt(storage: FsspecStorage) -> Iterator[None]:
    try:
        yield
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise CorruptArtifact(f"a prediction log file under {storage.url} is unreadable ({exc}); move the file "
                              "named there out of the log") from exc


def _frame(table: pa.Table, limit: int | None) -> pd.DataFrame:
    table = table.sort_by(_SORT)
    if limit is not None and table.num_rows > limit:
        table = table.slice(table.num_rows - limit)
    return table.select(COLUMNS).to_pandas()
