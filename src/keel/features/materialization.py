"""``keel features materialize``: the latest row per entity key of each view's source, written to the online store.

A run covers source rows with ``start < event time <= end``; ``incremental`` starts after the newest event time the
previous run into the same store wrote (its watermark), so it reads only new rows. The store keeps the newer row
per key, so overlapping or replayed windows never roll values back.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from keel.errors import InvalidInput
from keel.features.offline_sources import connect, quote, resolve_source
from keel.features.online_store import OnlineRow, encode_key
from keel.features.registry import snapshot, sql_registry
from keel.features.registry_sql import Materialization
from keel.features.stores import online_store, store_label

__all__ = ["MaterializeResult", "materialize", "to_micros"]

BATCH_ROWS = 20_000
Progress = Callable[[str, int, int], None]  # (view, rows written so far, rows in total)


@dataclass(frozen=True)
class MaterializeResult:
    """One view's run: its window (epoch µs; start None = from the beginning) and the rows written."""

    view: str
    start_us: int | None
    end_us: int
    rows: int
    watermark_us: int | None


def to_micros(value: datetime | str | None) -> int | None:
    """Epoch microseconds of a datetime or ISO string (naive = UTC)."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError as exc:
            raise InvalidInput(f"{value!r} is not an ISO date/time such as 2026-01-31 or 2026-01-31T12:00:00",
                               field="start/end") from exc
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return int(value.timestamp() * 1_000_000)


def materialize(views: Sequence[str] | None = None, *, start: datetime | str | None = None,
                end: datetime | str | None = None, incremental: bool = False,
                progress: Progress | None = None) -> list[MaterializeResult]:
    """Write the latest value per entity of each view (all applied views by default) into the online store."""
    if incremental and start is not None:
        raise InvalidInput("give either start or incremental, not both", field="start")
    snap = snapshot()
    names = list(views) if views else sorted(snap.views)
    for name in names:
        snap.view(name)
    end_us = to_micros(end) or int(time.time() * 1_000_000)
    start_us = to_micros(start)
    if start_us is not None and start_us >= end_us:
        raise InvalidInput("start must be before end", field="start")
    registry, store = sql_registry(), online_store()
    label = store_label()
    results = []
    for name in names:
        since = start_us
        previous = registry.materializations(name, label)
        if incremental and previous:
            since = previous[0].watermark_us if previous[0].watermark_us is not None else previous[0].start_us
        rows, watermark, version = _run(snap.view(name), snap.join_keys(snap.view(name)), since, end_us, store,
                                        progress)
        if watermark is None and incremental and previous:
            watermark = previous[0].watermark_us
        registry.record_materialization(Materialization(name, since, end_us, watermark, rows, version, label,
                                                        int(time.time() * 1000)))
        results.append(MaterializeResult(name, since, end_us, rows, watermark))
    return results


def _run(view: Any, join_keys: list[str], start_us: int | None, end_us: int, store: Any,
         progress: Progress | None) -> tuple[int, int | None, str | None]:
    con = connect()
    try:
        resolved = resolve_source(con, view, join_keys, "__m")
        keys = sorted(join_keys)
        window = f"epoch_us(__t) <= {end_us}" + ("" if start_us is None else f" AND epoch_us(__t) > {start_us}")
        features = ", ".join(quote(f) for f in view.feature_names)
        partition = ", ".join(quote(k) for k in keys)
        query = (f"SELECT {partition}, epoch_us(__t) AS __ts, {features} FROM __m WHERE {window} "
                 f"QUALIFY row_number() OVER (PARTITION BY {partition} ORDER BY __k DESC) = 1")
        con.execute(f"CREATE TEMP TABLE __latest AS {query}")
        total = int(con.execute("SELECT count(*) FROM __latest").fetchall()[0][0])
        reader = con.sql("SELECT * FROM __latest").to_arrow_reader(BATCH_ROWS)
        written, watermark = 0, None
        for batch in reader:
            columns = batch.to_pydict()
            key_cols = [columns[k] for k in keys]
            stamps = columns["__ts"]
            feats = [(f, columns[f]) for f in view.feature_names]
            rows = [OnlineRow(encode_key([col[i] for col in key_cols]), stamps[i], {f: c[i] for f, c in feats})
                    for i in range(batch.num_rows)]
            store.write(view.name, rows)
            written += len(rows)
            if stamps:
                watermark = max(watermark or stamps[0], max(stamps))
            if progress is not None:
                progress(view.name, written, total)
        if progress is not None and total == 0:
            progress(view.name, 0, 0)
        return written, watermark, resolved.dataset_ref
    finally:
        con.close()
