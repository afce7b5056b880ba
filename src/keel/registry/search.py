"""Search grammar of the registry: MLflow's subset for registered models and model versions.

::

    filter  := clause (AND clause)*
    clause  := [tag(s). | param(s).]key op value
    op      := = | != | LIKE | ILIKE | IN | NOT IN      (IN only for run_id)
    value   := 'string' | "string" | integer | ( 'string', ... )

Registered models filter on ``name`` and tags; versions on ``name``, ``run_id``, ``source_path``,
``version_number``, ``current_stage``, ``model_id`` and tags. A ``!=`` on a tag matches objects without the tag
(the mlflow client appends ``tag.`mlflow.prompt.is_prompt` != 'true'`` to every model search).
Clauses become SQLAlchemy conditions; parsing is pure, the SQL columns are passed in.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import exists, func

from keel.errors import InvalidInput

__all__ = ["Clause", "parse_order_by", "parse_registry_filter", "to_condition"]

_CLAUSE = re.compile(
    r"""\s*(?:(?P<prefix>tags?|params?|attributes?|attr)\.)?(?P<key>`[^`]+`|[A-Za-z_][\w.]*)\s*
        (?P<op>!=|=|(?:NOT\s+)?I?LIKE\b|(?:NOT\s+)?IN\b)\s*
        (?P<value>'(?:[^']|'')*'|"(?:[^"]|"")*"|-?\d+|\((?:\s*(?:'[^']*'|"[^"]*")\s*,?)+\))\s*""",
    re.IGNORECASE | re.VERBOSE,
)
_AND = re.compile(r"AND\b", re.IGNORECASE)
_LIST_ITEM = re.compile(r"""'([^']*)'|"([^"]*)\"""")


@dataclass(frozen=True)
class Clause:
    """One parsed ``key op value``; ``kind`` is ``attribute``, ``tag`` or ``param``."""

    kind: str
    key: str
    op: str
    value: Any


def parse_registry_filter(filter_string: str | None, attributes: Sequence[str]) -> list[Clause]:
    """Parse a filter; attribute keys must be in ``attributes``."""
    text = (filter_string or "").strip()
    clauses: list[Clause] = []
    pos = 0
    while text and pos < len(text):
        m = _CLAUSE.match(text, pos)
        if m is None:
            raise InvalidInput(f"filter: cannot parse {text[pos:]!r} at position {pos}; expected e.g. "
                               "\"name = 'iris'\" or \"tags.team = 'ml'\" joined by AND", field="filter")
        clauses.append(_clause(m, attributes))
        pos = m.end()
        if pos < len(text):
            joined = _AND.match(text, pos)
            if joined is None or not text[joined.end():].strip():
                raise InvalidInput(f"filter: expected AND and another clause at position {pos} of {text!r}",
                                   field="filter")
            pos = joined.end()
    return clauses


def _clause(m: re.Match[str], attributes: Sequence[str]) -> Clause:
    prefix = (m["prefix"] or "attribute").lower()
    kind = "tag" if prefix.startswith("tag") else "param" if prefix.startswith("param") else "attribute"
    key = m["key"].strip("`")
    op = " ".join(m["op"].upper().split())
    raw = m["value"]
    if kind == "attribute" and key not in attributes:
        raise InvalidInput(f"filter: unknown attribute {key!r}; use one of {', '.join(attributes)} or tags.<key>",
                           field="filter")
    if op.endswith("IN") != raw.startswith("("):
        raise InvalidInput(f"filter: {op} needs {'a list' if op.endswith('IN') else 'a single value'}, got {raw}",
                           field="filter")
    value: Any
    if raw.startswith("("):
        value = tuple(a if a or not b else b for a, b in _LIST_ITEM.findall(raw))
    elif raw[0] in "'\"":
        value = raw[1:-1].replace(raw[0] * 2, raw[0])
    else:
        value = int(raw)
    if op.endswith("LIKE") and not isinstance(value, str):
        raise InvalidInput(f"filter: {op} needs a quoted pattern, got {raw}", field="filter")
    return Clause(kind, key, op, value)


def to_condition(clause: Clause, columns: Mapping[str, Any], keyed: Mapping[str, tuple[Any, Any]]) -> Any:
    """The SQL condition of a clause: attribute columns by name; tags (and params) through ``keyed[kind]``, a
    ``(key/value table, join condition)`` pair."""
    if clause.kind != "attribute":
        if clause.kind not in keyed:
            raise InvalidInput(f"filter: {clause.kind}s cannot be searched here; use tags.<key> or attributes",
                               field="filter")
        table, on = keyed[clause.kind]
        if isinstance(clause.value, int):
            raise InvalidInput(f"filter: compare {clause.kind} {clause.key!r} with a quoted string", field="filter")
        match = exists().where(on, table.c.key == clause.key,
                               _compare(table.c.value, _positive(clause.op), clause.value))
        return ~match if clause.op in ("!=", "NOT LIKE", "NOT ILIKE") else match
    column = columns[clause.key]
    return _compare(column, clause.op, _coerce(column, clause.key, clause.op, clause.value))


def _coerce(column: Any, key: str, op: str, value: Any) -> Any:
    numeric = column.type.python_type is int
    if not numeric:
        return tuple(str(v) for v in value) if isinstance(value, tuple) else str(value)
    if op not in ("=", "!="):
        raise InvalidInput(f"filter: {key} is a number; compare it with = or !=", field="filter")
    try:
        return int(value)
    except ValueError:
        raise InvalidInput(f"filter: {key} is a number, got {value!r}", field="filter") from None


def _positive(op: str) -> str:
    return {"!=": "=", "NOT LIKE": "LIKE", "NOT ILIKE": "ILIKE"}.get(op, op)


def _compare(column: Any, op: str, value: Any) -> Any:
    if op.endswith("IN"):
        cond = column.in_(list(value))
        return ~cond if op.startswith("NOT") else cond
    if op.endswith("LIKE"):
        if not isinstance(value, str):
            raise InvalidInput(f"filter: {op} needs a quoted pattern, got {value!r}", field="filter")
        like = func.lower(column).like(value.lower()) if "ILIKE" in op else column.like(value)
        return ~like if op.startswith("NOT") else like
    return column == value if op == "=" else column != value


def parse_order_by(order_by: Sequence[str] | None, columns: Mapping[str, Any]) -> list[Any]:
    """``["name ASC", "last_updated_timestamp DESC"]`` as SQL order terms over ``columns``."""
    terms = []
    for entry in order_by or []:
        if not isinstance(entry, str) or not entry.strip():
            raise InvalidInput(f"order_by: expected entries like 'name ASC', got {entry!r}", field="order_by")
        parts = entry.split()
        key = parts[0].removeprefix("attributes.").removeprefix("attribute.")
        direction = parts[1].upper() if len(parts) == 2 else "ASC" if len(parts) == 1 else ""
        if key not in columns or direction not in ("ASC", "DESC"):
            raise InvalidInput(f"order_by: cannot use {entry!r}; order by one of {', '.join(columns)} "
                               "with ASC or DESC", field="order_by")
        terms.append(columns[key].desc() if direction == "DESC" else columns[key].asc())
    return terms
