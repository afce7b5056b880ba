"""``keel.features.get_online_features``: feature values for entity keys from the online store, with a status per
value (``PRESENT``, ``NOT_FOUND``, ``OUTSIDE_MAX_AGE``, ``NULL_VALUE``, as Feast reports them) instead of errors.

Built for the request path: the registry comes from the per-process snapshot, each view costs one store read, and
on-demand views run on the fetched values plus the request's own fields.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC
from typing import TYPE_CHECKING, Any

from keel.errors import InvalidInput
from keel.features.online_store import encode_key
from keel.features.plan import group_refs
from keel.features.registry import Snapshot, snapshot
from keel.features.stores import online_store

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["OnlineResponse", "get_online_features"]

PRESENT, NOT_FOUND, OUTSIDE_MAX_AGE, NULL_VALUE = "PRESENT", "NOT_FOUND", "OUTSIDE_MAX_AGE", "NULL_VALUE"


@dataclass
class OnlineResponse:
    """Columns of the request's entity keys and the features, each with statuses and event times (epoch µs)."""

    entities: dict[str, list[Any]]
    values: dict[str, list[Any]] = field(default_factory=dict)
    statuses: dict[str, list[str]] = field(default_factory=dict)
    event_timestamps: dict[str, list[int | None]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, list[Any]]:
        """``{join key: [...], feature: [...]}`` (the shape Feast's ``to_dict`` returns)."""
        return {**self.entities, **self.values}

    def to_df(self) -> pd.DataFrame:
        """The same as a pandas DataFrame."""
        import pandas as pd

        return pd.DataFrame(self.to_dict())

    def to_feature_server_json(self) -> dict[str, Any]:
        """The body Feast's feature server answers ``/get-online-features`` with: metadata and one result per
        column (entity keys first), each holding values, statuses and event timestamps (ISO, UTC)."""
        names = [*self.entities, *self.values]
        results = [{"values": v, "statuses": [PRESENT] * len(v), "event_timestamps": ["1970-01-01T00:00:00Z"] * len(v)}
                   for v in self.entities.values()]
        for name, vals in self.values.items():
            results.append({"values": vals, "statuses": self.statuses[name],
                            "event_timestamps": [_iso(t) for t in self.event_timestamps[name]]})
        return {"metadata": {"feature_names": names}, "results": results}


def get_online_features(entity_rows: Sequence[Mapping[str, Any]] | Mapping[str, Sequence[Any]],
                        features: Sequence[str], *, full_feature_names: bool = False) -> OnlineResponse:
    """Look up ``features`` (``view:feature``) for each entity row (``[{"driver_id": 7}, ...]`` or
    ``{"driver_id": [7, 8]}``); a missing entity gives nulls with status ``NOT_FOUND``, never an error."""
    snap = snapshot()
    grouped = group_refs(features, snap.available())
    columns, n = _columns(entity_rows)
    now_us = int(time.time() * 1_000_000)
    response = OnlineResponse({k: v for k, v in columns.items()})
    fetched: dict[str, dict[str, tuple[list[Any], list[str], list[int | None]]]] = {}
    for view_name in _views_to_read(snap, grouped):
        fetched[view_name] = _read_view(snap, view_name, columns, n, now_us)
    for view_name, feats in grouped.items():
        if view_name in snap.on_demand:
            computed = _on_demand(snap, view_name, fetched, columns, n)
            for feat in feats:
                out = f"{view_name}__{feat}" if full_feature_names else feat
                vals = computed[feat]
                response.values[out] = vals
                response.statuses[out] = [NULL_VALUE if v is None else PRESENT for v in vals]
                response.event_timestamps[out] = [now_us] * n
            continue
        for feat in feats:
            out = f"{view_name}__{feat}" if full_feature_names else feat
            if out in response.values:
                raise InvalidInput(f"feature name {feat!r} is asked from two views; pass full_feature_names=True",
                                   field="features")
            vals, stats, stamps = fetched[view_name][feat]
            response.values[out], response.statuses[out], response.event_timestamps[out] = vals, stats, stamps
    return response


def _columns(entity_rows: Any) -> tuple[dict[str, list[Any]], int]:
    if isinstance(entity_rows, Mapping):
        columns = {str(k): list(v) for k, v in entity_rows.items()}
        lengths = {len(v) for v in columns.values()}
        if len(lengths) > 1:
            raise InvalidInput("entity columns have different lengths", field="entities")
        return columns, lengths.pop() if lengths else 0
    if isinstance(entity_rows, (str, bytes)) or not isinstance(entity_rows, Sequence):
        raise InvalidInput("entity_rows must be a list of {join key: value} dicts or a {join key: [values]} dict",
                           field="entities")
    if all(type(row) is dict for row in entity_rows):  # the common case, without per-row ABC checks
        names = list(dict.fromkeys(k for row in entity_rows for k in row))
        return {str(k): [row.get(k) for row in entity_rows] for k in names}, len(entity_rows)
    found: dict[str, list[Any]] = {}
    for i, row in enumerate(entity_rows):
        if not isinstance(row, Mapping):
            raise InvalidInput(f"entity row {i} is not a mapping of join key to value", field="entities")
        for key in row:
            found.setdefault(str(key), [None] * i)
        for key, col in found.items():
            col.append(row.get(key))
    return found, len(entity_rows)


def _views_to_read(snap: Snapshot, grouped: dict[str, list[str]]) -> list[str]:
    names: list[str] = []
    for name in grouped:
        for view in snap.on_demand[name].view_sources if name in snap.on_demand else [name]:
            if view not in names:
                names.append(view)
    return names


def _read_view(snap: Snapshot, name: str, columns: dict[str, list[Any]], n: int,
               now_us: int) -> dict[str, tuple[list[Any], list[str], list[int | None]]]:
    view = snap.view(name)
    keys = sorted(snap.join_keys(view))
    for key in keys:
        if key not in columns:
            raise InvalidInput(f"the request lacks join key {key!r} that feature view {name!r} needs", field=key)
    key_cols = [columns[k] for k in keys]
    encoded = [encode_key(k) for k in zip(*key_cols, strict=False)] if len(key_cols) > 1 else \
        [encode_key((v,)) for v in key_cols[0]]
    rows = online_store().read(name, encoded)
    oldest = None if view.ttl is None else now_us - int(view.ttl.total_seconds() * 1_000_000)
    stamps: list[int | None] = [None if row is None else row.ts for row in rows]
    fresh = [row is not None and (oldest is None or row.ts >= oldest) for row in rows]
    out: dict[str, tuple[list[Any], list[str], list[int | None]]] = {}
    for feat in view.feature_names:
        vals = [row.values.get(feat) if ok else None for row, ok in zip(rows, fresh, strict=False)]  # type: ignore[union-attr]
        stats = [(PRESENT if v is not None else NULL_VALUE) if ok else NOT_FOUND if row is None else OUTSIDE_MAX_AGE
                 for v, row, ok in zip(vals, rows, fresh, strict=False)]
        out[feat] = (vals, stats, stamps)
    return out


def _on_demand(snap: Snapshot, name: str, fetched: dict[str, dict[str, tuple[list[Any], list[str], list[int | None]]]],
               columns: dict[str, list[Any]], n: int) -> dict[str, list[Any]]:
    import pandas as pd

    from keel.features.on_demand import run_on_demand

    odfv = snap.on_demand[name]
    data: dict[str, list[Any]] = {}
    for view in odfv.view_sources:
        for feat, (vals, _, _) in fetched[view].items():
            data[feat] = vals
    for f in odfv.request_fields:
        if f.name not in columns:
            raise InvalidInput(f"the request lacks field {f.name!r} that on-demand view {name!r} needs", field=f.name)
        data[f.name] = columns[f.name]
    frame = run_on_demand(odfv, pd.DataFrame(data, index=range(n)))
    return {f: [None if pd.isna(v) else v for v in frame[f].tolist()] for f in odfv.feature_names}


def _iso(micros: int | None) -> str | None:
    if micros is None:
        return None
    from datetime import datetime

    return datetime.fromtimestamp(micros / 1_000_000, tz=UTC).isoformat().replace("+00:00", "Z")
