"""Emitting trigger events: ``keel.pipelines.emit("ci:build", {...})``, ``keel trigger EVENT``, ``POST
/api/v1/triggers/{event}``, every new dataset version (``dataset:NAME``) and, later, alerts (``alert:RULE``).

An event is a row the scheduler (``keel scheduler``) claims once and answers by running every trigger whose
``--on`` matches it. With ``KEEL_TRACKING_URI=http(s)://...`` the event is posted to that ``keel server``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from keel.config import get_settings
from keel.errors import InvalidInput
from keel.local_store import local_database
from keel.pipelines.schedules import check_event
from keel.pipelines.schedules_sql import SqlScheduleStore

__all__ = ["emit", "schedule_store"]


def schedule_store() -> SqlScheduleStore:
    """Schedules, triggers and events of the configured project (local metadata store)."""
    return SqlScheduleStore(*local_database("schedules and triggers are kept in"))


def emit(event: str, payload: Mapping[str, Any] | None = None) -> int:
    """Record ``event`` with an optional JSON-able ``payload`` for the scheduler and return the event's id.

    Triggers may use payload values as parameters: ``-p data='$ref'`` receives ``payload["ref"]``.
    """
    check_event(event)
    if payload is not None and not isinstance(payload, Mapping):
        raise InvalidInput(f"payload must be a JSON object (a mapping), got {type(payload).__name__}",
                           field="payload")
    settings = get_settings()
    if settings.is_remote:
        from keel.client.http import HttpSession

        session = HttpSession(settings.tracking_uri or "", token=settings.token, timeout_s=settings.http_timeout_s,
                              retry_for_s=settings.http_retry_for_s)
        try:
            answer = session.json("POST", f"/api/v1/triggers/{quote(event, safe=':@/')}", json=dict(payload or {}),
                                  idempotent=False)
        finally:
            session.close()
        return int(answer["event_id"])
    return schedule_store().emit(event, payload)
