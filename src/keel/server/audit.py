"""``GET /api/v1/audit``: the audit log, filtered and paged; ``GET /api/v1/audit/export``: all of it as JSON lines.

Both need the ``admin`` permission. There is no route that changes or removes an entry. A server admin (and
anyone with auth off) reads every entry; a project admin reads the entries of the request's project.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any, Literal

import orjson
from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import StreamingResponse

from keel.governance.audit import AuditEntry, AuditQuery, SqlAuditLog, parse_time
from keel.server.permissions import requires
from keel.server.state import blocking, request_project
from keel.store import Database

__all__ = ["install_audit", "router"]

router = APIRouter(prefix="/api/v1", tags=["audit"], dependencies=[requires("admin")])

_Action = Literal["insert", "update", "delete"]


def install_audit(app: FastAPI, db: Database) -> None:
    """Serve the audit log of ``db`` from ``app``."""
    app.state.keel_audit = SqlAuditLog(db)
    app.include_router(router)


def _only_project(request: Request) -> str | None:
    """None when the caller may read every entry (auth off, or a server admin), else the request's project."""
    principal = getattr(request.state, "keel_principal", None)
    return None if principal is None or principal.admin else request_project(request)


def _entries(log: SqlAuditLog, query: AuditQuery, project: str | None) -> list[AuditEntry]:
    """A page of ``query`` -- of ``project``'s entries only, unless None -- read on until it is full."""
    if project is None:
        return log.entries(query)
    found: list[AuditEntry] = []
    while len(found) < query.limit:
        page = log.entries(query)
        found += [e for e in page if e.project == project][:query.limit - len(found)]
        if len(page) < query.limit:
            break
        query = replace(query, after_id=page[-1].id)
    return found


def _query(obj: str | None, user: str | None, action: str | None, since: str | None, until: str | None,
           request_id: str | None, after_id: int | None, limit: int = 100) -> AuditQuery:
    return AuditQuery(object=obj or None, user=user or None, action=action, since=parse_time(since),
                      until=parse_time(until, field="until"), request_id=request_id or None, after_id=after_id,
                      limit=limit)


@router.get("/audit", summary="List audit entries")
async def list_audit(request: Request,
                     object: str | None = Query(None, description="A kind, an id (or part of one), or KIND:ID."),
                     user: str | None = Query(None), action: _Action | None = Query(None),
                     since: str | None = Query(None, description="Duration back (2h, 7d), ISO time or epoch ms."),
                     until: str | None = Query(None), request_id: str | None = Query(None),
                     after_id: int | None = Query(None, ge=0, le=2**62, description="Page after this entry id."),
                     limit: int = Query(100, ge=1, le=10_000)) -> dict[str, Any]:
    """Entries oldest first; ``next_after_id`` pages on when the page is full."""
    query = _query(object, user, action, since, until, request_id, after_id, limit)
    entries = await blocking(_entries, request.app.state.keel_audit, query, _only_project(request))
    return {"entries": [e.to_dict() for e in entries],
            "next_after_id": entries[-1].id if len(entries) == limit else None}


@router.get("/audit/export", summary="Export audit entries as JSON lines")
async def export_audit(request: Request, object: str | None = Query(None), user: str | None = Query(None),
                       action: _Action | None = Query(None), since: str | None = Query(None),
                       until: str | None = Query(None)) -> StreamingResponse:
    """Every matching entry, one JSON object per line (``application/x-ndjson``)."""
    log: SqlAuditLog = request.app.state.keel_audit
    query = _query(object, user, action, since, until, None, None)
    project = _only_project(request)

    def lines() -> Iterator[bytes]:
        for entry in log.iter_entries(query):
            if project is not None and entry.project != project:
                continue
            yield orjson.dumps(entry.to_dict()) + b"\n"

    return StreamingResponse(lines(), media_type="application/x-ndjson")
