"""Promotion requests: with approvals required, an editor's move of a protected alias (``champion``,
``production``) waits as a pending request until a maintainer approves it; only then does the alias move."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import insert, select, update

from keel.errors import Conflict, NotFound
from keel.governance.tables import promotion_requests
from keel.registry.entities import check_alias, check_version
from keel.store import Database

__all__ = ["PromotionRequest", "approve_request", "get_request", "list_requests", "reject_request",
           "request_promotion"]

State = Literal["pending", "approved", "rejected"]
_R = promotion_requests.c
_COLUMNS = (_R.id, _R.project, _R.model, _R.alias, _R.version, _R.state, _R.requested_by, _R.requested_at,
            _R.decided_by, _R.decided_at)


@dataclass(frozen=True)
class PromotionRequest:
    """A request to point ``alias`` of ``model`` at ``version``."""

    id: str
    project: str
    model: str
    alias: str
    version: int
    state: State
    requested_by: str
    requested_at: int
    decided_by: str | None = None
    decided_at: int | None = None


def _request(row: Any) -> PromotionRequest:
    return PromotionRequest(**row._mapping)


def _now() -> int:
    return int(time.time() * 1000)


def request_promotion(db: Database, project: str, model: str, alias: str, version: int | str,
                      requested_by: str) -> PromotionRequest:
    """Record a pending request; the version must exist (so approving it cannot fail on a typo)."""
    from keel.registry.sql import SqlRegistryStore

    number = check_version(version)
    SqlRegistryStore(db, project).get_model_version(model, number)
    req = PromotionRequest(uuid.uuid4().hex, project, model, check_alias(alias), number, "pending", requested_by,
                           _now())
    with db.write() as conn:
        conn.execute(insert(promotion_requests).values(
            id=req.id, project=project, model=model, alias=req.alias, version=number, state="pending",
            requested_by=requested_by, requested_at=req.requested_at))
    return req


def get_request(db: Database, request_id: str) -> PromotionRequest:
    """One request, or :class:`NotFound`."""
    with db.read() as conn:
        row = conn.execute(select(*_COLUMNS).where(_R.id == request_id)).first()
    if row is None:
        raise NotFound(f"promotion request {request_id!r} not found; see `keel models requests`", field="id")
    return _request(row)


def list_requests(db: Database, project: str | None = None, state: str | None = "pending") -> list[PromotionRequest]:
    """Requests of ``project`` (or all) in ``state`` (or any), oldest first."""
    query = select(*_COLUMNS).order_by(_R.requested_at, _R.id)
    if project is not None:
        query = query.where(_R.project == project)
    if state is not None:
        query = query.where(_R.state == state)
    with db.read() as conn:
        return [_request(row) for row in conn.execute(query).all()]


def _decide(db: Database, request_id: str, state: State, by: str) -> PromotionRequest:
    req = get_request(db, request_id)
    if req.state != "pending":
        raise Conflict(f"promotion request {request_id} is {req.state} already", field="id")
    with db.write() as conn:
        done = conn.execute(update(promotion_requests).where(_R.id == request_id, _R.state == "pending")
                            .values(state=state, decided_by=by, decided_at=_now())).rowcount
    if not done:
        raise Conflict(f"promotion request {request_id} was decided meanwhile", field="id")
    return get_request(db, request_id)


def approve_request(db: Database, request_id: str, by: str) -> PromotionRequest:
    """Approve a pending request and move the alias."""
    from keel.registry.sql import SqlRegistryStore

    req = get_request(db, request_id)
    if req.state == "pending":
        SqlRegistryStore(db, req.project).set_registered_model_alias(req.model, req.alias, req.version)
    return _decide(db, request_id, "approved", by)


def reject_request(db: Database, request_id: str, by: str) -> PromotionRequest:
    """Reject a pending request; the alias stays where it is."""
    return _decide(db, request_id, "rejected", by)
