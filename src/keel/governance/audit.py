"""Reading the audit log: filter entries by object, user, action and time; export them as JSON lines.

Entries are written by :mod:`keel.governance.audit_capture` inside each mutation's transaction; this module only
reads. There is no API to change or remove an entry, and the database refuses it too (migration ``0011``).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import orjson
from sqlalchemy import Select, or_, select

from keel.errors import InvalidInput
from keel.governance.audit_tables import audit_log
from keel.local_store import local_database
from keel.store import Database

__all__ = ["ACTIONS", "AuditEntry", "AuditQuery", "SqlAuditLog", "audit_entries", "export_audit", "parse_time",
           "write_jsonl"]

ACTIONS = ("insert", "update", "delete")
_AL = audit_log.c
_DURATION = re.compile(r"^(?P<n>\d+)\s*(?P<unit>s|m|h|d|w)$")
_UNIT_MS = {"s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
_EXPORT_CHUNK = 1_000


@dataclass(frozen=True)
class AuditEntry:
    """One mutation: when (epoch ms), who, in which request, what (action on ``object_kind``/``object_id``, rows),
    and a redacted, truncated before/after summary (JSON text)."""

    id: int
    at: int
    user: str
    request_id: str | None
    project: str | None
    action: str
    object_kind: str
    object_id: str | None
    row_count: int
    before: str | None
    after: str | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form; ``time`` is the ISO-8601 UTC form of ``at``; ``before``/``after`` are parsed."""
        body = asdict(self)
        body["time"] = datetime.fromtimestamp(self.at / 1000, tz=UTC).isoformat(timespec="milliseconds")
        for side in ("before", "after"):
            body[side] = orjson.loads(body[side]) if body[side] and body[side][:1] == "{" else body[side]
        return body


@dataclass(frozen=True)
class AuditQuery:
    """Filters of an audit listing; ``None`` means any. ``object`` matches a kind (``runs``), an id (or part of
    one) or ``KIND:ID``; ``since``/``until`` are epoch ms; ``after_id`` pages forward."""

    object: str | None = None
    user: str | None = None
    action: str | None = None
    since: int | None = None
    until: int | None = None
    request_id: str | None = None
    after_id: int | None = None
    limit: int = 100

    def __post_init__(self) -> None:
        if self.action is not None and self.action not in ACTIONS:
            raise InvalidInput(f"action {self.action!r} is unknown; use one of {', '.join(ACTIONS)}", field="action")
        if not 1 <= self.limit <= 10_000:
            raise InvalidInput(f"limit {self.limit} is out of range; give 1 to 10000", field="limit")


def parse_time(value: str | None, *, field: str = "since", now_ms: int | None = None) -> int | None:
    """``value`` as epoch ms: a duration back from now (``30m``, ``2h``, ``7d``), an ISO-8601 time, or epoch ms."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    now = now_ms if now_ms is not None else int(time.time() * 1000)
    if match := _DURATION.match(text):
        return now - int(match["n"]) * _UNIT_MS[match["unit"]]
    if text.isdigit():
        return int(text)
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(f"{field} {value!r} is not a time; give a duration like 2h or 7d, an ISO time like "
                           "2026-01-31T12:00, or epoch milliseconds", field=field) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp() * 1000)


class SqlAuditLog:
    """The audit log of a :class:`~keel.store.Database` (all projects: entries carry their project when known)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def entries(self, query: AuditQuery) -> list[AuditEntry]:
        """Entries matching ``query``, oldest first, at most ``query.limit``."""
        with self.db.read() as conn:
            return [AuditEntry(*row) for row in conn.execute(_select(query).limit(query.limit)).all()]

    def iter_entries(self, query: AuditQuery) -> Iterator[AuditEntry]:
        """Every entry matching ``query`` (its limit ignored), oldest first, read in pages."""
        after = query.after_id
        while True:
            page = self.entries(AuditQuery(query.object, query.user, query.action, query.since, query.until,
                                           query.request_id, after, _EXPORT_CHUNK))
            yield from page
            if len(page) < _EXPORT_CHUNK:
                return
            after = page[-1].id


def _select(query: AuditQuery) -> Select[Any]:
    stmt = select(*audit_log.columns).order_by(_AL.id)
    if query.object:
        kind, sep, ident = query.object.partition(":")
        if sep and ident:
            stmt = stmt.where(_AL.object_kind == kind, _AL.object_id.contains(ident, autoescape=True))
        else:
            stmt = stmt.where(or_(_AL.object_kind == query.object,
                                  _AL.object_id.contains(query.object, autoescape=True)))
    filters = [(query.user, _AL.user), (query.action, _AL.action), (query.request_id, _AL.request_id)]
    stmt = stmt.where(*[column == value for value, column in filters if value is not None])
    if query.since is not None:
        stmt = stmt.where(_AL.at >= query.since)
    if query.until is not None:
        stmt = stmt.where(_AL.at <= query.until)
    if query.after_id is not None:
        stmt = stmt.where(_AL.id > query.after_id)
    return stmt


def _local() -> SqlAuditLog:
    return SqlAuditLog(local_database("the audit log reads")[0])


def audit_entries(query: AuditQuery | None = None) -> list[AuditEntry]:
    """Entries of the local store's audit log matching ``query`` (default: the first 100)."""
    return _local().entries(query or AuditQuery())


def write_jsonl(entries: Iterator[AuditEntry], out: IO[bytes]) -> int:
    """Write ``entries`` to ``out`` as JSON lines; the number written."""
    count = 0
    for entry in entries:
        out.write(orjson.dumps(entry.to_dict()) + b"\n")
        count += 1
    return count


def export_audit(path: str | Path, query: AuditQuery | None = None) -> int:
    """Write every matching entry of the local audit log to ``path`` as JSON lines; the number written."""
    target = Path(path)
    if target.is_dir():
        raise InvalidInput(f"output {str(target)!r} is a directory; give a file name like audit.jsonl", field="output")
    log = _local()
    with target.open("wb") as out:
        return write_jsonl(log.iter_entries(query or AuditQuery()), out)
