"""Compile a parsed run search (see :mod:`keel.tracking.search`) into one parameterized SQLAlchemy Core query.

Shape of the query, chosen so the ``(key, value)`` indexes serve filters and order::

    SELECT runs.* FROM runs
      JOIN latest_metrics AS m_0 ON m_0.run_id = runs.run_id AND m_0.key = :key     -- filtered metric
      LEFT OUTER JOIN params AS p_1 ON p_1.run_id = runs.run_id AND p_1.key = :key  -- ordered-only param
    WHERE runs.experiment_id = :id AND runs.lifecycle_stage = :stage AND m_0.value > :value AND ...
    ORDER BY m_0.value DESC, p_1.value ASC NULLS LAST, runs.start_time DESC, runs.run_id
    LIMIT :limit OFFSET :offset

Each distinct metric / param / tag key gets one alias (the tables' primary keys are ``(run_id, key)``, so a
join never multiplies runs); it is an inner join when a filter uses it and a left outer join when only
ordering does. ``IS NULL`` / ``IS NOT NULL`` and dataset clauses are ``[NOT] EXISTS`` subqueries. Values are
always bound parameters.

Semantics to know: a comparison never matches a missing value or a NULL (NaN metrics are stored as NULL), so
``params.x != 'a'`` skips runs without ``x``. Rows with no value sort last in both directions (``NULLS LAST``,
so SQLite must be 3.30 or newer; on SQLite a ``start_time DESC`` order still walks the runs index). ``LIKE``
is case-sensitive and ``ILIKE`` is not; both take ``%`` and ``_`` wildcards with ``\\`` as the escape
character. On SQLite, case-sensitive LIKE needs ``PRAGMA case_sensitive_like=ON`` on every connection (the
engine sets it).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, FromClause, Select, exists, func, select
from sqlalchemy.sql.elements import UnaryExpression

from keel.errors import InvalidInput
from keel.store.tables import latest_metrics, params, run_inputs, runs, tags
from keel.tracking.search import Comparison, OrderKey

__all__ = [
    "RUN_VIEW_TYPES",
    "build_search_query",
    "decode_page_token",
    "encode_page_token",
    "lifecycle_condition",
]

RUN_VIEW_TYPES: dict[str, tuple[str, ...]] = {
    "ACTIVE_ONLY": ("active",),
    "DELETED_ONLY": ("deleted",),
    "ALL": ("active", "deleted"),
}
_ESCAPE = "\\"
_KEYED_TABLES = {"metric": latest_metrics, "param": params, "tag": tags}
_ATTRIBUTE_COLUMNS = {
    "run_id": runs.c.run_id,
    "run_name": runs.c.name,
    "status": runs.c.status,
    "user_id": runs.c.user_id,
    "artifact_uri": runs.c.artifact_uri,
    "lifecycle_stage": runs.c.lifecycle_stage,
    "start_time": runs.c.start_time,
    "end_time": runs.c.end_time,
}
_DATASET_COLUMNS = {"name": run_inputs.c.name, "digest": run_inputs.c.digest, "context": run_inputs.c.context}


@dataclass
class _Join:
    alias: FromClause
    inner: bool


class _Joins:
    """One aliased join per (kind, key), upgraded to an inner join as soon as a filter needs it."""

    def __init__(self) -> None:
        self._joins: dict[tuple[str, str], _Join] = {}

    def value_column(self, kind: str, key: str, *, inner: bool) -> ColumnElement[Any]:
        join = self._joins.get((kind, key))
        if join is None:
            alias = _KEYED_TABLES[kind].alias(f"{kind[0]}_{len(self._joins)}")
            join = self._joins[(kind, key)] = _Join(alias, inner)
        join.inner = join.inner or inner
        return join.alias.c.value

    def is_inner(self, kind: str, key: str) -> bool:
        return self._joins[(kind, key)].inner

    def apply(self, base: FromClause) -> FromClause:
        for (_, key), join in self._joins.items():
            on = (join.alias.c.run_id == runs.c.run_id) & (join.alias.c.key == key)
            base = base.join(join.alias, on, isouter=not join.inner)
        return base


def _compare(column: ColumnElement[Any], op: str, value: Any) -> ColumnElement[bool]:
    if op == "=":
        return column == value
    if op == "!=":
        return column != value
    if op == ">":
        return column > value
    if op == ">=":
        return column >= value
    if op == "<":
        return column < value
    if op == "<=":
        return column <= value
    if op == "LIKE":
        return column.like(value, escape=_ESCAPE)
    if op == "ILIKE":
        return func.lower(column).like(func.lower(value), escape=_ESCAPE)
    if op == "IN":
        return column.in_(list(value))
    if op == "NOT IN":
        return column.not_in(list(value))
    raise InvalidInput(f"Invalid filter: unsupported operator {op!r}.", field="filter")


def _keyed_exists(kind: str, key: str) -> ColumnElement[bool]:
    table = _KEYED_TABLES[kind]
    return exists().where(table.c.run_id == runs.c.run_id, table.c.key == key)


def _condition(clause: Comparison, joins: _Joins) -> ColumnElement[bool]:
    if clause.kind == "attribute":
        return _compare(_ATTRIBUTE_COLUMNS[clause.key], clause.op, clause.value)
    if clause.kind == "dataset":
        match = _compare(_DATASET_COLUMNS[clause.key], clause.op, clause.value)
        return exists().where(run_inputs.c.run_id == runs.c.run_id, match)
    if clause.op == "IS NULL":
        return ~_keyed_exists(clause.kind, clause.key)
    if clause.op == "IS NOT NULL":
        return _keyed_exists(clause.kind, clause.key)
    return _compare(joins.value_column(clause.kind, clause.key, inner=True), clause.op, clause.value)


def _order_term(key: OrderKey, joins: _Joins) -> UnaryExpression[Any]:
    column: ColumnElement[Any]
    if key.kind == "attribute":
        column = _ATTRIBUTE_COLUMNS[key.key]
        nullable = bool(_ATTRIBUTE_COLUMNS[key.key].nullable)
    elif key.kind in _KEYED_TABLES:
        column = joins.value_column(key.kind, key.key, inner=False)
        # An inner join exists only for filters on the value, which never match NULL.
        nullable = not joins.is_inner(key.kind, key.key)
    else:
        raise InvalidInput(f"Invalid order_by: cannot order by {key.kind} keys.", field="order_by")
    term = column.asc() if key.ascending else column.desc()
    return term.nulls_last() if nullable else term


def _order_by(order: list[OrderKey], joins: _Joins) -> list[UnaryExpression[Any]]:
    terms = [_order_term(key, joins) for key in order]
    ordered = {key.key for key in order if key.kind == "attribute"}
    if "start_time" not in ordered:
        terms.append(runs.c.start_time.desc())
    if "run_id" not in ordered:
        terms.append(runs.c.run_id.asc())
    return terms


def lifecycle_condition(column: Any, view_type: str, field: str = "run_view_type") -> ColumnElement[bool]:
    """``column`` (a lifecycle_stage column) restricted to what a view type shows."""
    stages = RUN_VIEW_TYPES.get(str(view_type).upper())
    if stages is None:
        valid = ", ".join(RUN_VIEW_TYPES)
        raise InvalidInput(f"Invalid {field} {view_type!r}: use one of {valid}.", field=field)
    return column == stages[0] if len(stages) == 1 else column.in_(stages)


def _check_page(max_results: int, offset: int) -> None:
    if isinstance(max_results, bool) or not isinstance(max_results, int) or max_results < 1:
        raise InvalidInput(f"Invalid max_results {max_results!r}: use a positive integer.",
                           field="max_results")
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise InvalidInput(f"Invalid offset {offset!r}: use a non-negative integer (or a page_token).",
                           field="page_token")


def build_search_query(
    experiment_ids: Sequence[int],
    filters: list[Comparison],
    order: list[OrderKey],
    run_view_type: str = "ACTIVE_ONLY",
    max_results: int = 1000,
    offset: int = 0,
) -> Select[Any]:
    """A ``SELECT`` of all ``runs`` columns matching ``filters`` in ``experiment_ids``, ordered and paged.

    Ordering applies ``order`` first (rows lacking a value last), then ``runs.start_time DESC, runs.run_id``.
    ``max_results`` is the SQL LIMIT; the API's page-size cap (50000) is the caller's to enforce, so a caller
    may ask for one extra row to learn whether another page exists. Raises
    :class:`~keel.errors.InvalidInput` for an unknown ``run_view_type`` or a bad page.
    """
    _check_page(max_results, offset)
    ids = list(experiment_ids)
    conditions = [
        runs.c.experiment_id == ids[0] if len(ids) == 1 else runs.c.experiment_id.in_(ids),
        lifecycle_condition(runs.c.lifecycle_stage, run_view_type),
    ]
    joins = _Joins()
    conditions.extend(_condition(clause, joins) for clause in filters)
    order_terms = _order_by(order, joins)
    query = select(runs).select_from(joins.apply(runs)).where(*conditions).order_by(*order_terms)
    return query.limit(max_results).offset(offset)


def encode_page_token(offset: int) -> str:
    """The opaque ``page_token`` for the page starting at ``offset``."""
    return base64.b64encode(json.dumps({"offset": int(offset)}).encode()).decode()


def decode_page_token(token: str | None) -> int:
    """The offset inside a ``page_token``; None or empty means the first page."""
    if not token:
        return 0
    try:
        data = json.loads(base64.b64decode(token, validate=True))
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput("Invalid page_token: it is not a token this server issued; pass the "
                           "next_page_token from the previous response unchanged.",
                           field="page_token") from exc
    offset = data.get("offset") if isinstance(data, dict) else None
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise InvalidInput("Invalid page_token: it holds no valid offset; pass the next_page_token from the "
                           "previous response unchanged.", field="page_token")
    return offset
