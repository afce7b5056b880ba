"""Capture every mutation of the metadata store as audit rows, inside the mutation's own transaction.

:meth:`keel.store.Database.write` wraps its transaction in :func:`recording`. While it is open, an engine listener
(:func:`install`) notes each ``INSERT``/``UPDATE``/``DELETE`` executed on that connection: the table, the primary
keys, the new values (after), and for updates and deletes the affected rows read first with the same ``WHERE``
(before, a few rows). When the block ends without error, one audit row per statement is inserted in one
``executemany`` before the commit, so an audit row exists exactly when its mutation does. A batch statement (e.g.
a metric chunk of thousands of points) is one audit row with its row count.

Not audited: the audit table itself (which refuses updates and deletes here as well as in the database), and the
schema migrations (a transaction that moves ``alembic_version``).
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import lru_cache
from typing import Any
from weakref import WeakSet

import orjson
from sqlalchemy import Connection, Engine, Table, event, insert, inspect, select
from sqlalchemy.sql import visitors
from sqlalchemy.sql.dml import Delete, Insert, Update, UpdateBase
from sqlalchemy.sql.elements import BindParameter, ClauseElement, TextClause

from keel.config import current_user
from keel.errors import PermissionDenied
from keel.governance.audit_tables import AUDIT_TABLE, audit_log
from keel.governance.context import principal, request_id
from keel.redact import redact_row

__all__ = ["install", "recording"]

_PENDING = "keel_audit_pending"  # conn.info: list of statements seen in the open write transaction
_BUSY = "keel_audit_busy"  # conn.info: the capture itself is executing (before-image select, flush)
_MIGRATION = "alembic_version"
_BEFORE_ROWS = 3  # rows kept in a before/after summary
_MAX_TEXT = 200  # characters kept of one value
_MAX_SUMMARY = 2000  # characters kept of one summary
_MAX_IDS = 5
_TEXT_DML = re.compile(r"^\s*(?P<verb>insert|update|delete|replace)\b(?:\s+or\s+\w+)?\s+(?:into\s+|from\s+)?"
                       r"[\"`]?(?P<table>\w+)", re.IGNORECASE)
_watched: WeakSet[Engine] = WeakSet()
_ready: WeakSet[Engine] = WeakSet()  # engines whose database has the audit table


def install(engine: Engine) -> None:
    """Listen to ``engine``'s statements (once per engine); only connections inside :func:`recording` are noted."""
    if engine in _watched:
        return
    _watched.add(engine)
    event.listen(engine, "before_execute", _before_execute)
    event.listen(engine, "after_execute", _after_execute)


@contextmanager
def recording(conn: Connection) -> Iterator[None]:
    """Note the mutations of the block on ``conn`` and append their audit rows when it succeeds."""
    if _PENDING in conn.info:  # nested write on the same connection: the outer block records
        yield
        return
    conn.info[_PENDING] = []
    try:
        yield
        _flush(conn, conn.info[_PENDING])
    finally:
        conn.info.pop(_PENDING, None)


def _before_execute(conn: Connection, statement: Any, multiparams: Any, params: Any, _options: Any) -> None:
    if isinstance(statement, (Update, Delete)) and getattr(statement.table, "name", None) == AUDIT_TABLE:
        raise PermissionDenied("the audit log is append-only: its entries cannot be updated or deleted")
    pending: list[dict[str, Any]] | None = conn.info.get(_PENDING)
    if pending is None or conn.info.get(_BUSY):
        return
    if pending and "statement" in pending[-1]:
        pending.pop()  # the previous statement raised (and the caller went on): it changed nothing
    if isinstance(statement, UpdateBase):
        note = _note_dml(conn, statement, _rows_of(multiparams, params))
    elif isinstance(statement, (str, TextClause)):
        note = _note_text(str(statement))
    else:
        return
    if note is not None:
        pending.append({**note, "statement": statement})


def _after_execute(conn: Connection, statement: Any, _multi: Any, _params: Any, _options: Any, result: Any) -> None:
    pending: list[dict[str, Any]] | None = conn.info.get(_PENDING)
    if not pending or conn.info.get(_BUSY) or pending[-1].get("statement") is not statement:
        return
    note = pending[-1]
    note.pop("statement")
    rowcount = getattr(result, "rowcount", -1)
    note["row_count"] = rowcount if isinstance(rowcount, int) and rowcount >= 0 else note["row_count"]
    if note["action"] == "insert" and not note["object_id"] and note["row_count"] == 1:
        try:
            key = result.inserted_primary_key
        except Exception:  # not available for this statement/dialect: the audit row keeps no id
            key = None
        if key and any(v is not None for v in key):
            note["object_id"] = "/".join(str(v) for v in key)


def _rows_of(multiparams: Any, params: Any) -> list[dict[str, Any]]:
    if multiparams:
        first = multiparams[0] if isinstance(multiparams, (list, tuple)) else multiparams
        if isinstance(first, (list, tuple)):  # 1.x style: execute(stmt, [dict, dict])
            return [dict(r) for r in first if isinstance(r, Mapping)]
        return [dict(r) for r in multiparams if isinstance(r, Mapping)]
    return [dict(params)] if params else []


def _note_dml(conn: Connection, stmt: UpdateBase, rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    table = stmt.table
    name = str(getattr(table, "name", table))
    action = "insert" if isinstance(stmt, Insert) else "update" if isinstance(stmt, Update) else "delete"
    if name == AUDIT_TABLE:
        return None
    values = _statement_values(stmt)
    count = len(rows) or (1 if values else 0)
    after = [{**values, **row} for row in rows[:_MAX_IDS]] or ([values] if values else [])
    before: list[dict[str, Any]] = []
    if isinstance(stmt, (Update, Delete)) and isinstance(table, Table) and len(rows) <= 1 and name != _MIGRATION:
        before = _before_image(conn, stmt, table)
    keys = _key_columns(table)
    ids = [i for i in (_row_id(r, keys) for r in before or after) if i]
    project = next((r.get("project") for r in before or after if r.get("project")), None)
    return {"action": action, "object_kind": name, "row_count": count or len(before),
            "object_id": _join_ids(ids, count if not before else len(ids)), "project": project,
            "before": before, "after": after if action != "delete" else []}


def _statement_values(stmt: UpdateBase) -> dict[str, Any]:
    # The values given with .values(...): literal values; SQL expressions are summarised as "<expr>".
    raw = getattr(stmt, "_values", None) or {}
    multi = getattr(stmt, "_multi_values", None)
    if not raw and multi:
        raw = multi[0][0] if multi[0] and isinstance(multi[0][0], Mapping) else {}
    out: dict[str, Any] = {}
    for key, value in raw.items():
        name = key if isinstance(key, str) else str(getattr(key, "key", key))
        if isinstance(value, BindParameter):
            out[name] = value.value if not callable(value.value) else None
        else:
            out[name] = "<expr>" if isinstance(value, ClauseElement) else value
    return out


def _before_image(conn: Connection, stmt: Update | Delete, table: Table) -> list[dict[str, Any]]:
    where = stmt.whereclause
    if where is not None and any(b.required or b.value is None
                                 for b in visitors.iterate(where) if isinstance(b, BindParameter)):
        return []  # the WHERE takes its values from the execute() parameters: no safe pre-read
    query = select(table).limit(_BEFORE_ROWS)
    if where is not None:
        query = query.where(where)
    conn.info[_BUSY] = True
    try:
        return [dict(r) for r in conn.execute(query).mappings()]
    finally:
        conn.info[_BUSY] = False


def _note_text(sql: str) -> dict[str, Any] | None:
    match = _TEXT_DML.match(sql)
    if match is None:
        return None
    verb = match["verb"].lower()
    return {"action": "insert" if verb == "replace" else verb, "object_kind": match["table"], "row_count": -1,
            "object_id": None, "project": None, "before": [], "after": []}


def _key_columns(table: Any) -> list[str]:
    columns = [c.name for c in getattr(table, "primary_key", ())]
    return [c for c in columns if c != "project"] or columns


def _row_id(row: Mapping[str, Any], keys: Sequence[str]) -> str | None:
    parts = [str(row[k]) for k in keys if row.get(k) is not None]
    return "/".join(parts) if parts else None


def _join_ids(ids: list[str], total: int) -> str | None:
    if not ids:
        return None
    shown = ", ".join(dict.fromkeys(ids[:_MAX_IDS]))
    more = max(total, len(ids)) - min(len(ids), _MAX_IDS)
    return f"{shown} (+{more} more)" if more > 0 else shown


def _flush(conn: Connection, pending: list[dict[str, Any]]) -> None:
    if not pending or any(n["object_kind"] == _MIGRATION for n in pending):
        return
    notes = [n for n in pending if n["row_count"] != 0 and "statement" not in n]
    if not notes or not _has_audit_table(conn):
        return
    user, request, now = _acting_user(), request_id(), int(time.time() * 1000)
    rows = [{"at": now, "user": user[:256], "request_id": (request or None) and request[:128],
             "project": n["project"], "action": n["action"], "object_kind": n["object_kind"][:128],
             "object_id": (n["object_id"] or None) and n["object_id"][:512], "row_count": max(n["row_count"], 0),
             "before": _summary(n["before"]), "after": _summary(n["after"], n["row_count"])} for n in notes]
    conn.info[_BUSY] = True
    try:
        conn.execute(insert(audit_log), rows)
    finally:
        conn.info[_BUSY] = False


def _acting_user() -> str:
    # acting_user() falls back to the login name, which costs a passwd lookup: remember it per KEEL_USER value.
    return principal() or _local_user(os.environ.get("KEEL_USER"))


@lru_cache(maxsize=8)
def _local_user(_keel_user: str | None) -> str:
    return current_user()


def _has_audit_table(conn: Connection) -> bool:
    # A database not yet migrated to 0011 (only while it is being upgraded, or in tests) has nowhere to write.
    if conn.engine in _ready:
        return True
    conn.info[_BUSY] = True
    try:
        found = inspect(conn).has_table(AUDIT_TABLE)
    finally:
        conn.info[_BUSY] = False
    if found:
        _ready.add(conn.engine)
    return found


def _summary(rows: list[dict[str, Any]], total: int = 0) -> str | None:
    if not rows:
        return None
    shown = [{str(k): _short(v) for k, v in redact_row(row).items()} for row in rows[:_BEFORE_ROWS]]
    body: dict[str, Any] = {"rows": shown}
    if max(total, len(rows)) > len(shown):
        body["more"] = max(total, len(rows)) - len(shown)
    text = orjson.dumps(body, default=str).decode()
    return text if len(text) <= _MAX_SUMMARY else text[:_MAX_SUMMARY - 1] + "…"


def _short(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return f"<{len(value)} bytes>"
    if isinstance(value, str) and len(value) > _MAX_TEXT:
        return value[:_MAX_TEXT] + "…"
    if isinstance(value, (int, float, bool)) or value is None:
        return value
    return _short(str(value)) if not isinstance(value, str) else value
