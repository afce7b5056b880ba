"""Filters and ordering for experiment search: ``name``, times and tags, as MLflow's search_experiments."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, exists, func

from keel.errors import InvalidInput
from keel.store.tables import experiment_tags, experiments

__all__ = ["experiment_filter"]

_CLAUSE = re.compile(
    r"""^\s*(?:(?P<prefix>attributes?|attr|tags?)\.)?(?P<key>`[^`]+`|[\w.]+)\s*
        (?P<op>!=|>=|<=|=|>|<|(?:NOT\s+)?I?LIKE)\s*
        (?P<value>'[^']*'|"[^"]*"|-?\d+)\s*$""",
    re.IGNORECASE | re.VERBOSE,
)
_AND = re.compile(r"\s+and\s+", re.IGNORECASE)
_ATTRS = {"name": experiments.c.name, "creation_time": experiments.c.creation_time,
          "last_update_time": experiments.c.last_update_time, "experiment_id": experiments.c.experiment_id}


def experiment_filter(stmt: Select[Any], filter_string: str | None, order_by: Sequence[str] | None) -> Select[Any]:
    """Apply a filter string and order_by clauses to a ``select(experiments)``."""
    for clause in _AND.split(filter_string.strip()) if filter_string and filter_string.strip() else []:
        stmt = stmt.where(_condition(clause))
    orders = [_order(o) for o in order_by or []]
    return stmt.order_by(*orders, experiments.c.creation_time.desc(), experiments.c.experiment_id.asc())


def _condition(clause: str) -> Any:
    m = _CLAUSE.match(clause)
    if m is None:
        raise InvalidInput(f"filter: cannot parse {clause!r}; expected e.g. \"name LIKE 'exp%'\" or "
                           "\"tags.team = 'ml'\"", field="filter")
    key, op, raw = m["key"].strip("`"), m["op"].upper(), m["value"]
    value: Any = raw[1:-1] if raw[0] in "'\"" else int(raw)
    if (m["prefix"] or "").lower().startswith("tag"):
        cond = _compare(experiment_tags.c.value, op, value)
        return exists().where(experiment_tags.c.experiment_id == experiments.c.experiment_id,
                              experiment_tags.c.key == key, cond)
    column = _ATTRS.get(key)
    if column is None:
        raise InvalidInput(f"filter: unknown experiment attribute {key!r}; use one of {sorted(_ATTRS)}",
                           field="filter")
    return _compare(column, op, value)


def _compare(column: Any, op: str, value: Any) -> Any:
    if op.endswith("LIKE"):
        if not isinstance(value, str):
            raise InvalidInput(f"filter: {op} needs a quoted string, got {value!r}", field="filter")
        cond = func.lower(column).like(value.lower()) if "ILIKE" in op else column.like(value)
        return ~cond if op.startswith("NOT") else cond
    return {"=": column == value, "!=": column != value, ">": column > value, ">=": column >= value,
            "<": column < value, "<=": column <= value}[op]


def _order(clause: str) -> Any:
    parts = clause.strip().rsplit(None, 1)
    key, direction = (parts[0], parts[1].upper()) if len(parts) == 2 else (clause.strip(), "ASC")
    if direction not in ("ASC", "DESC"):
        key, direction = clause.strip(), "ASC"
    column = _ATTRS.get(key.removeprefix("attributes.").removeprefix("attribute."))
    if column is None:
        raise InvalidInput(f"order_by: unknown experiment attribute {key!r}; use one of {sorted(_ATTRS)}",
                           field="order_by")
    return column.desc() if direction == "DESC" else column.asc()


