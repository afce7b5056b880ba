"""Access-control routes: ``GET /api/v1/auth/whoami`` (what the web UI shows or hides), project members
(``/api/v1/members``, in the request's project) and alias-promotion requests (``/api/v1/promotion-requests``).

:func:`alias_gate` is the one place a protected alias's move is held for approval: the registry routes (Keel's and
the MLflow-compatible one) call it before moving an alias.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel

from keel.errors import NotFound, PermissionDenied
from keel.governance.access import ACCESS_STATE, AccessControl, Principal
from keel.governance.approvals import approve_request, get_request, list_requests, reject_request, request_promotion
from keel.governance.context import acting_user
from keel.governance.projects import add_member, list_members, remove_member
from keel.governance.roles import grants
from keel.server.permissions import requires
from keel.server.state import blocking, request_project

__all__ = ["alias_gate", "router", "stage_gate"]

router = APIRouter(prefix="/api/v1", tags=["access control"])


class MemberRole(BaseModel):
    """Body of ``PUT /api/v1/members/{user}``."""

    role: str


def _access(request: Request) -> AccessControl | None:
    return getattr(request.app.state, ACCESS_STATE, None)


def _server_project(request: Request) -> str:
    """The request's project (``X-Keel-Project``, resolved by the server's ProjectScope; default: the server's)."""
    return request_project(request)


def _in_project(request: Request, request_id: str) -> str:
    """``request_id`` if that promotion request belongs to the request's project (NotFound otherwise: a
    maintainer of one project decides nothing in another)."""
    found = get_request(request.app.state.keel_db, request_id)
    if found.project != _server_project(request):
        raise NotFound(f"promotion request {request_id!r} not found in project {_server_project(request)!r}; "
                       "see `keel models requests`", field="id")
    return request_id


@router.get("/auth/whoami", dependencies=[requires("public")])
async def whoami(request: Request) -> dict[str, Any]:
    """Who the presented token (or ``keel_token`` cookie) belongs to, and their role in the request's project."""
    access = _access(request)
    if access is None:
        return {"auth_enabled": False, "user": None, "admin": True, "project": _server_project(request),
                "role": "admin"}
    project = access.project_of(request)
    found = await access.identify(request)
    return {"auth_enabled": True, "user": found.user if found else None, "admin": bool(found and found.admin),
            "project": project, "role": found.role if found else None}


@router.get("/members", dependencies=[requires("read")])
async def members(request: Request) -> dict[str, Any]:
    """The members of the request's project and their roles."""
    db = request.app.state.keel_db
    found = await blocking(list_members, db, _server_project(request))
    return {"members": [asdict(m) for m in found]}


@router.put("/members/{user}", dependencies=[requires("admin")])
async def set_member(user: str, body: MemberRole, request: Request) -> dict[str, Any]:
    """Give ``user`` a role in the request's project."""
    member = await blocking(add_member, request.app.state.keel_db, _server_project(request), user, body.role)
    return {"member": asdict(member)}


@router.delete("/members/{user}", dependencies=[requires("admin")])
async def delete_member(user: str, request: Request) -> dict[str, Any]:
    """Take ``user``'s role in the request's project away."""
    await blocking(remove_member, request.app.state.keel_db, _server_project(request), user)
    return {}


@router.get("/promotion-requests", dependencies=[requires("read")])
async def promotion_requests(request: Request, state: str | None = "pending") -> dict[str, Any]:
    """Promotion requests of the project (pending ones unless ``?state=`` says otherwise; ``any`` for all)."""
    found = await blocking(list_requests, request.app.state.keel_db, _server_project(request),
                           None if state == "any" else state)
    return {"promotion_requests": [asdict(r) for r in found]}


@router.post("/promotion-requests/{request_id}/approve", dependencies=[requires("maintain")])
async def approve(request_id: str, request: Request) -> dict[str, Any]:
    """Approve a pending request: the alias moves now."""
    await blocking(_in_project, request, request_id)
    req = await blocking(approve_request, request.app.state.keel_db, request_id, acting_user())
    return {"promotion_request": asdict(req)}


@router.post("/promotion-requests/{request_id}/reject", dependencies=[requires("maintain")])
async def reject(request_id: str, request: Request) -> dict[str, Any]:
    """Reject a pending request: the alias stays."""
    await blocking(_in_project, request, request_id)
    req = await blocking(reject_request, request.app.state.keel_db, request_id, acting_user())
    return {"promotion_request": asdict(req)}


async def alias_gate(request: Request, model: str, alias: str, version: int | str) -> dict[str, Any] | None:
    """None when the caller may move (or remove, with ``version`` 0) ``alias`` of ``model`` now.

    A protected alias needs the maintainer role. With approvals required, an editor's move becomes a pending
    request instead, returned as the body to answer with HTTP 202; otherwise an editor gets
    :class:`PermissionDenied`.
    """
    access = _access(request)
    if access is None or alias not in access.protected_aliases:
        return None
    principal: Principal = await access.authorize(request, "write")
    if grants(principal.level, "maintain"):
        return None
    if not access.require_approval or not version:
        raise PermissionDenied(f"alias {alias!r} is protected: moving it needs the maintainer role in project "
                               f"{principal.project!r}")
    req = await blocking(request_promotion, access.db, principal.project, model, alias, version, principal.user)
    return {"promotion_request": asdict(req),
            "message": f"promotion of {model} v{req.version} to {alias!r} awaits a maintainer's approval "
                       f"(`keel models approve {req.id}`)"}


async def stage_gate(request: Request, stage: str) -> None:
    """Moving a version into a stage named like a protected alias (MLflow's ``Production``) needs the maintainer
    role, as the alias does; the stage API has no approval flow, so an editor is told to ask a maintainer."""
    access = _access(request)
    if access is None or stage.lower() not in {a.lower() for a in access.protected_aliases}:
        return
    principal: Principal = await access.authorize(request, "write")
    if not grants(principal.level, "maintain"):
        raise PermissionDenied(f"stage {stage!r} is protected: moving a version there needs the maintainer role in "
                               f"project {principal.project!r} (or request the alias {stage.lower()!r} for approval)")
