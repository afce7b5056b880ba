"""The data both sides of ``bench_features.py`` join: driver feature rows and entity (label) rows as Parquet.

Imported by Keel's side (``bench_features.py``) and by Feast's (``feast_anchor.py``, another venv), so it needs
only numpy and pyarrow. Timestamps are random microseconds over ``days`` days, so exact ties (within a key, or
between an entity row and a feature row) are possible but vanishingly rare; the point-in-time answer is then the
same whichever tie-break a store uses, which the correctness cross-check relies on.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

__all__ = ["CHUNK_ROWS", "START", "TTL_DAYS", "feature_names", "generate"]

START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
TTL_DAYS = 2  # the feature view's ttl on both sides: entity rows with no feature row in the 2 days before get nulls
CHUNK_ROWS = 1_000_000  # rows generated and written at a time (one row group each)
_TS = pa.timestamp("us", tz="UTC")


def feature_names(n_features: int) -> list[str]:
    """``["f0", ..., "f{n-1}"]``."""
    return [f"f{i}" for i in range(n_features)]


def _timestamps(rng: np.random.Generator, rows: int, start: dt.datetime, days: int) -> pa.Array:
    start_us = int(start.timestamp() * 1_000_000)
    offsets = rng.integers(0, days * 86_400 * 1_000_000, size=rows, dtype=np.int64)
    return pa.array(start_us + offsets, type=pa.int64()).cast(_TS)


def _write(path: Path, schema: pa.Schema, rows: int, make_chunk: Callable[[int], dict[str, object]]) -> None:
    with pq.ParquetWriter(path, schema) as writer:
        done = 0
        while done < rows:
            size = min(CHUNK_ROWS, rows - done)
            writer.write_table(pa.Table.from_pydict(make_chunk(size), schema=schema), row_group_size=size)
            done += size


def generate(out_dir: str | Path, *, feature_rows: int, entity_rows: int, keys: int, n_features: int,
             days: int = 30, seed: int = 0, start: dt.datetime = START) -> dict[str, Path]:
    """Write ``features.parquet`` and ``entities.parquet`` under ``out_dir``; return their paths.

    ``features.parquet``: ``driver_id`` int64 in ``[0, keys)``, ``event_timestamp`` timestamp[us, UTC] over
    ``days`` days from ``start`` (timezone-aware), ``f0..f{n-1}`` float64 in [0, 1), in random (not time) order.
    ``entities.parquet``: ``driver_id`` int64 and ``event_timestamp`` over the same span. The same arguments
    always give the same files.
    """
    if start.tzinfo is None:
        raise ValueError("start must be timezone-aware")
    if min(feature_rows, entity_rows, keys, n_features, days) < 1:
        raise ValueError("feature_rows, entity_rows, keys, n_features and days must all be >= 1")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    names = feature_names(n_features)

    def feature_chunk(size: int) -> dict[str, object]:
        cols: dict[str, object] = {"driver_id": rng.integers(0, keys, size=size, dtype=np.int64),
                                   "event_timestamp": _timestamps(rng, size, start, days)}
        cols.update({name: rng.random(size) for name in names})
        return cols

    def entity_chunk(size: int) -> dict[str, object]:
        return {"driver_id": rng.integers(0, keys, size=size, dtype=np.int64),
                "event_timestamp": _timestamps(rng, size, start, days)}

    paths = {"features": out / "features.parquet", "entities": out / "entities.parquet"}
    feature_schema = pa.schema([("driver_id", pa.int64()), ("event_timestamp", _TS)]
                               + [(name, pa.float64()) for name in names])
    _write(paths["features"], feature_schema, feature_rows, feature_chunk)
    entity_schema = pa.schema([("driver_id", pa.int64()), ("event_timestamp", _TS)])
    _write(paths["entities"], entity_schema, entity_rows, entity_chunk)
    return paths
