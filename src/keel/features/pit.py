"""Point-in-time join planning (pure): the DuckDB query giving, per entity row, each view's latest feature values at
or before the row's event time and within the view's ttl — never a later value — or nulls.

Relations the query expects (see :mod:`keel.features.offline_sources`): the entity table ``entity`` with a
``__row`` position column, and one relation per view with its join keys, ``__t`` (TIMESTAMPTZ), ``__k`` (its
order key) and the features. Among rows of one key with the same timestamp, the one later in the source wins: the ASOF
join compares one HUGEINT ``time_µs * 2^64 + order`` (:func:`order_key`), the entity side's order being the largest
BIGINT — as fast as comparing times alone, where a (time, order) struct costs twice as much.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

__all__ = ["JoinedView", "order_key", "pit_query"]

_MAX_ORDER = 9_223_372_036_854_775_807


def order_key(time_sql: str, order_sql: str) -> str:
    """The HUGEINT ``epoch_us(time) * 2^64 + order`` the ASOF join compares."""
    return f"(epoch_us({time_sql})::HUGEINT * 18446744073709551616 + {order_sql})"


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@dataclass(frozen=True)
class JoinedView:
    """One view in the join: its relation, join keys, ttl, and (feature, output column) pairs."""

    relation: str
    join_keys: Sequence[str]
    ttl: timedelta | None
    outputs: Sequence[tuple[str, str]]
    unique_times: bool = False  # known: no two rows share a key and a time, so plain times order the rows


def pit_query(entity: str, entity_time_sql: str, views: Sequence[JoinedView]) -> str:
    """The query returning the output columns in entity-row order (one row per entity row)."""
    keys = sorted({k for v in views for k in v.join_keys})
    select, joins = [], []
    for i, view in enumerate(views):
        alias = f"v{i}"
        on = [f"e.{_q(k)} = {alias}.{_q(k)}" for k in view.join_keys]
        on.append(f"e.__kb >= {alias}.__kb" if view.unique_times else f"e.__k >= {alias}.__k")
        joins.append(f"ASOF LEFT JOIN {view.relation} {alias} ON {' AND '.join(on)}")
        fresh = None if view.ttl is None else \
            f"{alias}.__t >= e.__t - INTERVAL {int(view.ttl.total_seconds() * 1_000_000)} MICROSECONDS"
        for feature, output in view.outputs:
            value = f"{alias}.{_q(feature)}"
            select.append(f"CASE WHEN {fresh} THEN {value} END AS {_q(output)}" if fresh else
                          f"{value} AS {_q(output)}")
    entity_cols = ", ".join(["__row", *(_q(k) for k in keys), "__t", f"{order_key('__t', str(_MAX_ORDER))} AS __k",
                             "epoch_us(__t) AS __kb"])
    return (f"SELECT {', '.join(select)} FROM (SELECT {entity_cols} FROM (SELECT *, {entity_time_sql} AS __t "
            f"FROM {entity})) e "
            f"{' '.join(joins)} ORDER BY e.__row")
