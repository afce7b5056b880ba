"""Trigger events over REST, for external CI: ``POST /api/v1/triggers/{event}`` with an optional JSON object body
(the payload) records the event and answers 202 with its id; ``keel scheduler`` runs the matching triggers."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Request

from keel.pipelines.schedules_sql import SqlScheduleStore
from keel.server.permissions import requires
from keel.server.state import blocking, state

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", tags=["triggers"], dependencies=[requires("read")])


def _store(request: Request) -> SqlScheduleStore:
    return state(request).triggers


@router.post("/triggers/{event:path}", status_code=202, dependencies=[requires("write")])
async def emit_event(event: str, request: Request,
                     payload: dict[str, Any] | None = Body(None)) -> dict[str, Any]:  # noqa: B008 - FastAPI idiom
    """Record ``event`` (e.g. ``ci:build``) with the body as its payload; the scheduler answers it."""
    event_id = await blocking(_store(request).emit, event, payload)
    return {"event_id": event_id, "event": event}
