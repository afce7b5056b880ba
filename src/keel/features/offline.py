"""Training sets: :func:`get_historical_features`, the point-in-time join executed by DuckDB.

The entity rows (a DataFrame, an Arrow table, or a Parquet/CSV path) are held as Arrow; each view's source is
scanned in place by an ASOF join, so 10M feature rows stream through a memory-bounded DuckDB (spilling to
``<home>/tmp``) instead of being loaded. On-demand views run on the joined frame afterwards.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from keel.errors import InvalidInput, KeelError
from keel.features.definitions import OnDemandFeatureView
from keel.features.offline_sources import connect, quote, resolve_source, time_expr
from keel.features.pit import JoinedView, pit_query
from keel.features.plan import group_refs
from keel.features.registry import Snapshot, snapshot
from keel.tracking.context import get_backend

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

__all__ = ["TrainingSet", "get_historical_features", "get_training_set"]

MEMORY_LIMIT = os.environ.get("KEEL_FEATURES_MEMORY_LIMIT", "2GB")


@dataclass(frozen=True)
class TrainingSet:
    """A point-in-time-correct frame, the views (``name@vN``) and source dataset versions it came from, and the
    dataset version it was saved as (when asked)."""

    frame: pd.DataFrame
    views: list[str]
    source_versions: list[str]
    dataset_version: Any = None


def get_historical_features(entity_df: pd.DataFrame | pa.Table | str | os.PathLike[str], features: Sequence[str],
                            *, timestamp_column: str = "event_timestamp", full_feature_names: bool = False,
                            save_as: str | None = None) -> pd.DataFrame:
    """For each entity row, each feature's latest value at or before the row's ``timestamp_column`` and within the
    view's ttl — never a later one — or null; entity rows keep their order and columns, features are appended
    (named ``feature``, or ``view__feature`` with ``full_feature_names``). ``save_as`` stores the result as the next
    version of that dataset with lineage to the views and their source versions."""
    return get_training_set(entity_df, features, timestamp_column=timestamp_column,
                            full_feature_names=full_feature_names, save_as=save_as).frame


def get_training_set(entity_df: pd.DataFrame | pa.Table | str | os.PathLike[str], features: Sequence[str], *,
                     timestamp_column: str = "event_timestamp", full_feature_names: bool = False,
                     save_as: str | None = None) -> TrainingSet:
    """:func:`get_historical_features` returning the frame with its provenance (see :class:`TrainingSet`)."""
    snap = snapshot()
    grouped = group_refs(features, snap.available())
    plain, on_demand = _split(snap, grouped)
    table = _entity_table(entity_df)
    outputs = _output_names(grouped, full_feature_names)
    needed = _with_odfv_inputs(snap, plain, on_demand)
    _check_entity(table, timestamp_column, snap, needed, on_demand)
    joined, sources = join_views(table, timestamp_column, snap, needed, outputs)
    frame = joined.to_pandas()
    if on_demand:
        frame = _apply_on_demand(frame, snap, on_demand, outputs)
    frame = frame.drop(columns=[c for c in frame.columns if str(c).startswith("__in_")])
    views = [snap.lineage_id("feature_view", v) for v in needed] + \
        [snap.lineage_id("on_demand_feature_view", v) for v in on_demand]
    result = TrainingSet(frame, views, sorted(set(sources)))
    if save_as is not None:
        from keel.features.training_sets import save_training_set

        result = save_training_set(result, save_as)
    return result


def _split(snap: Snapshot, grouped: dict[str, list[str]]) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    plain = {v: f for v, f in grouped.items() if v in snap.views}
    return plain, {v: f for v, f in grouped.items() if v in snap.on_demand}


def _with_odfv_inputs(snap: Snapshot, plain: dict[str, list[str]],
                      on_demand: dict[str, list[str]]) -> dict[str, list[str]]:
    """The plain views to join: those asked for plus every feature of the views on-demand views read."""
    needed = {v: list(f) for v, f in plain.items()}
    for name in on_demand:
        for view in snap.on_demand[name].view_sources:
            have = needed.setdefault(view, [])
            have.extend(f for f in snap.view(view).feature_names if f not in have)
    return needed


def _output_names(grouped: dict[str, list[str]], full: bool) -> dict[tuple[str, str], str]:
    names: dict[tuple[str, str], str] = {}
    seen: dict[str, str] = {}
    for view, feats in grouped.items():
        for feat in feats:
            out = f"{view}__{feat}" if full else feat
            if out in seen:
                raise InvalidInput(f"feature name {feat!r} comes from both {seen[out]!r} and {view!r}; pass "
                                   "full_feature_names=True to name columns view__feature", field="features")
            seen[out] = view
            names[(view, feat)] = out
    return names


def _entity_table(entity_df: Any) -> pa.Table:
    import pyarrow as pa

    if isinstance(entity_df, pa.Table):
        return entity_df
    if isinstance(entity_df, (str, os.PathLike)):
        from keel.data.sources import read

        try:
            return read(os.fspath(entity_df)).to_arrow()
        except KeelError as exc:
            raise type(exc)(f"entity_df: {exc.message}", field="entity_df") from exc
    import pandas as pd

    if not isinstance(entity_df, pd.DataFrame):
        raise InvalidInput("entity_df must be a pandas DataFrame, a pyarrow Table, or a Parquet/CSV path",
                           field="entity_df")
    return pa.Table.from_pandas(entity_df, preserve_index=False)


def _check_entity(table: pa.Table, ts: str, snap: Snapshot, needed: dict[str, list[str]],
                  on_demand: dict[str, list[str]]) -> None:
    columns = table.column_names
    if ts not in columns:
        raise InvalidInput(f"entity_df has no timestamp column {ts!r} (columns: {', '.join(columns)}); add it or "
                           "pass timestamp_column=", field="entity_df")
    for view in needed:
        missing = [k for k in snap.join_keys(snap.view(view)) if k not in columns]
        if missing:
            raise InvalidInput(f"entity_df lacks join key {missing[0]!r} that feature view {view!r} needs "
                               f"(columns: {', '.join(columns)})", field="entity_df")
    for name in on_demand:
        missing = [f.name for f in snap.on_demand[name].request_fields if f.name not in columns]
        if missing:
            raise InvalidInput(f"entity_df lacks request field {missing[0]!r} that on-demand view {name!r} needs",
                               field="entity_df")


def join_views(table: pa.Table, ts: str, snap: Snapshot, needed: dict[str, list[str]],
          outputs: dict[tuple[str, str], str], *, use_ttl: bool = True) -> tuple[pa.Table, list[str]]:
    """``table`` with each needed view's features appended (named by ``outputs``, else ``__in_view__feature``), and
    the dataset versions the sources resolved to."""
    import pyarrow as pa

    home = get_backend().settings.home
    con = connect(MEMORY_LIMIT, Path(home) / "tmp" / "duckdb")
    try:
        con.register("__entity_arrow", table.append_column("__row", pa.array(range(table.num_rows), pa.int64())))
        ts_type = dict((str(n), str(t)) for n, t, *_ in con.execute("DESCRIBE __entity_arrow").fetchall())[ts]
        joined, sources = [], []
        for i, (name, feats) in enumerate(needed.items()):
            view = snap.view(name)
            resolved = resolve_source(con, view, snap.join_keys(view), f"__v{i}")
            if resolved.dataset_version_id:
                sources.append(resolved.dataset_version_id)
            joined.append(JoinedView(quote(resolved.view), snap.join_keys(view), view.ttl if use_ttl else None,
                                     [(f, outputs.get((name, f), f"__in_{name}__{f}")) for f in feats],
                                     resolved.unique_times))
        query = pit_query("__entity_arrow", time_expr(ts, ts_type), joined)
        result = con.sql(query).to_arrow_table()
    except KeelError:
        raise
    except Exception as exc:  # DuckDB errors: a type mismatch between entity and source keys, a full disk
        raise InvalidInput(f"the point-in-time join failed: {str(exc).splitlines()[0]}", field="entity_df") from exc
    finally:
        con.close()
    for column in result.column_names:
        table = table.append_column(column, result.column(column))
    return table, sources


def _apply_on_demand(frame: pd.DataFrame, snap: Snapshot, on_demand: dict[str, list[str]],
                     outputs: dict[tuple[str, str], str]) -> pd.DataFrame:
    import pandas as pd

    from keel.features.on_demand import run_on_demand

    for name, feats in on_demand.items():
        odfv: OnDemandFeatureView = snap.on_demand[name]
        columns = {f: frame[outputs.get((v, f), f"__in_{v}__{f}")] for v in odfv.view_sources
                   for f in snap.view(v).feature_names}
        columns.update({f.name: frame[f.name] for f in odfv.request_fields})
        computed = run_on_demand(odfv, pd.DataFrame(columns))
        for feat in feats:
            frame[outputs[(name, feat)]] = computed[feat].to_numpy()
    return frame
