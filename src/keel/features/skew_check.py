"""``keel features skew VIEW --sample N``: do the online values equal the offline truth?

For sampled keys of the online store, the offline truth is the latest source row at or before the end of the last
materialization into that store (the point-in-time join, ttl ignored). A value differs when it is not equal (floats:
within 1e-9 relative), or when one side is null and the other is not.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Any

import orjson

from keel.errors import Conflict
from keel.features.offline import join_views
from keel.features.registry import snapshot, sql_registry
from keel.features.stores import online_store, store_label

__all__ = ["Mismatch", "SkewReport", "skew"]


@dataclass(frozen=True)
class Mismatch:
    """One differing value: the entity key, the feature, and both sides' values."""

    key: dict[str, Any]
    feature: str
    online: Any
    offline: Any


@dataclass
class SkewReport:
    """The outcome: how many keys were compared, how many matched on every feature, and the differences."""

    view: str
    as_of_us: int
    sampled: int
    matched: int
    mismatches: list[Mismatch] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every sampled key matched."""
        return not self.mismatches

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {"view": self.view, "as_of_us": self.as_of_us, "sampled": self.sampled, "matched": self.matched,
                "mismatches": [m.__dict__ for m in self.mismatches]}


def skew(view: str, sample: int = 100, *, seed: int | None = None) -> SkewReport:
    """Compare ``sample`` random keys' online values with the offline truth as of the last materialization."""
    import pyarrow as pa

    snap = snapshot()
    fv = snap.view(view)
    runs = sql_registry().materializations(view, store_label())
    if not runs:
        raise Conflict(f"feature view {view!r} was never materialized into {store_label()}; run "
                       "`keel features materialize` first", field="view")
    as_of = runs[0].end_us
    store = online_store()
    keys = store.keys(view)
    chosen = random.Random(seed).sample(keys, min(sample, len(keys)))
    join_keys = sorted(snap.join_keys(fv))
    decoded = [orjson.loads(k) for k in chosen]
    table = pa.table({**{k: [d[i] for d in decoded] for i, k in enumerate(join_keys)},
                      "__as_of": pa.array([as_of] * len(chosen), pa.timestamp("us", tz="UTC"))})
    truth, _ = join_views(table, "__as_of", snap, {view: fv.feature_names}, {}, use_ttl=False)
    rows = store.read(view, chosen)
    report = SkewReport(view, as_of, len(chosen), 0)
    offline_cols = {f: truth.column(f"__in_{view}__{f}").to_pylist() for f in fv.feature_names}
    for i, (key, row) in enumerate(zip(decoded, rows, strict=False)):
        named = dict(zip(join_keys, key, strict=False))
        found = [Mismatch(named, f, None if row is None else row.values.get(f), offline_cols[f][i])
                 for f in fv.feature_names if not _same(None if row is None else row.values.get(f), offline_cols[f][i])]
        report.mismatches.extend(found)
        report.matched += not found
    return report


def _same(a: Any, b: Any) -> bool:
    if _null(a) or _null(b):
        return _null(a) and _null(b)
    if isinstance(a, float) or isinstance(b, float):
        try:
            return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-12)
        except (TypeError, ValueError):
            return False
    return bool(a == b)


def _null(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))
