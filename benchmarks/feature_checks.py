"""Correctness checks of ``bench_features.py``: a reference point-in-time join, row-by-row comparison of two joins,
and the expected online answer. Run in Keel's venv (pandas, pyarrow, numpy)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from feature_data import TTL_DAYS

__all__ = ["check_online_sample", "count_differences", "latest_values", "reference_join"]


def _normalized(df: Any, names: list[str]) -> Any:
    import pandas as pd

    out = df[["driver_id", "event_timestamp", *names]].copy()
    out["driver_id"] = out["driver_id"].astype("int64")
    out["event_timestamp"] = pd.to_datetime(out["event_timestamp"], utc=True).astype("datetime64[us, UTC]")
    return out.sort_values(["driver_id", "event_timestamp"], kind="stable").reset_index(drop=True)


def reference_join(data: Path, names: list[str]) -> Any:
    """The point-in-time answer by pandas ``merge_asof``: the latest feature row at or before each entity row and
    at most the ttl older, else nulls."""
    import pandas as pd

    feats = pd.read_parquet(data / "features.parquet").sort_values("event_timestamp", kind="stable")
    ents = pd.read_parquet(data / "entities.parquet").sort_values("event_timestamp", kind="stable")
    joined = pd.merge_asof(ents, feats, on="event_timestamp", by="driver_id", direction="backward",
                           tolerance=pd.Timedelta(days=TTL_DAYS))
    return _normalized(joined, names)


def count_differences(a: Any, b: Any, names: list[str], inner: bool = False) -> tuple[int, int]:
    """(rows compared, rows whose features differ beyond 1e-9 or null vs not) of two joins, matched by entity row
    (driver_id, event_timestamp); ``inner`` compares only the rows both have, else a missing row is a difference."""
    import numpy as np
    import pandas as pd

    merged = pd.merge(_normalized(a, names), _normalized(b, names), on=["driver_id", "event_timestamp"],
                      how="inner" if inner else "outer", suffixes=("_a", "_b"), indicator=True)
    bad = (merged["_merge"] != "both").to_numpy().copy()
    for name in names:
        x, y = merged[f"{name}_a"].to_numpy(dtype=float), merged[f"{name}_b"].to_numpy(dtype=float)
        nx, ny = np.isnan(x), np.isnan(y)
        bad |= (nx != ny) | (~nx & ~ny & (np.abs(np.where(nx, 0, x) - np.where(ny, 0, y)) > 1e-9))
    return len(merged), int(bad.sum())


def latest_values(data: Path, keys: list[int], names: list[str]) -> dict[int, list[float] | None]:
    """Each key's newest feature row (None for a key without rows): what an online store holds after
    materializing everything."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    table = pq.read_table(data / "features.parquet")
    df = table.filter(pc.is_in(table.column("driver_id"), value_set=pa.array(keys, pa.int64()))).to_pandas()
    latest = df.sort_values("event_timestamp", kind="stable").groupby("driver_id").last()
    return {k: [float(latest.at[k, n]) for n in names] if k in latest.index else None for k in keys}


def check_online_sample(path: Path, truth: dict[int, list[float] | None], names: list[str]) -> int:
    """How many of the sampled keys' answers differ from the latest row per key."""
    sample = json.loads(path.read_text())
    wrong = 0
    for i, key in enumerate(sample["driver_id"]):
        got = [sample[n][i] for n in names]
        want = truth[int(key)]
        if want is None:
            wrong += any(g is not None for g in got)
        elif any(g is None or abs(float(g) - w) > 1e-9 for g, w in zip(got, want, strict=True)):
            wrong += 1
    return wrong
