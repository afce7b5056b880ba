"""Keel's deployment routes: ``/api/v1/deployments`` (create, list, show, update, delete), ``/history`` and
``/rollback``. Bodies and answers are :func:`~keel.serving.deployment.deployment_to_dict` shapes."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from keel.server.permissions import requires
from keel.server.state import blocking, state
from keel.serving.deployment import UNSET, Deployment, Route, deployment_to_dict

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", tags=["deployments"], dependencies=[requires("read")])
_ONE = "/deployments/{name}"


class RouteBody(BaseModel):
    """One route or shadow: a model with exactly one of ``version`` and ``alias``."""

    model: str
    version: int | None = None
    alias: str | None = None
    weight: float = 1.0

    def route(self) -> Route:
        """As a :class:`Route`."""
        return Route(self.model, self.version, self.alias, self.weight)


class CreateDeployment(BaseModel):
    """Body of ``POST /api/v1/deployments``."""

    name: str
    routes: list[RouteBody]
    shadows: list[RouteBody] = Field(default_factory=list)
    sticky_key: str | None = None
    max_batch_size: int = 1
    max_wait_ms: float = 2.0
    description: str = ""
    updated_by: str | None = None


class UpdateDeployment(BaseModel):
    """Body of ``PATCH /api/v1/deployments/{name}``: only the fields present change (``sticky_key: null`` clears
    stickiness; an absent ``sticky_key`` keeps it)."""

    routes: list[RouteBody] | None = None
    shadows: list[RouteBody] | None = None
    sticky_key: str | None = None
    max_batch_size: int | None = None
    max_wait_ms: float | None = None
    description: str | None = None
    updated_by: str | None = None


class Rollback(BaseModel):
    """Body of ``POST /api/v1/deployments/{name}/rollback``: the revision to restore (default: the previous)."""

    to_revision: int | None = None
    updated_by: str | None = None


class Deletion(BaseModel):
    """Optional body of ``DELETE /api/v1/deployments/{name}``."""

    updated_by: str | None = None


def _routes(items: list[RouteBody] | None) -> tuple[Route, ...] | None:
    return None if items is None else tuple(item.route() for item in items)


def _one(d: Deployment) -> dict[str, Any]:
    return {"deployment": deployment_to_dict(d)}


@router.post("/deployments", dependencies=[requires("maintain")])
async def create_deployment(body: CreateDeployment, request: Request) -> dict[str, Any]:
    """Create a deployment (revision 1); every target must exist in the registry."""
    d = Deployment(body.name, _routes(body.routes) or (), _routes(body.shadows) or (), body.sticky_key,
                   body.max_batch_size, body.max_wait_ms, body.description, updated_by=body.updated_by or "")
    return _one(await blocking(state(request).deployments.create_deployment, d))


@router.get("/deployments")
async def list_deployments(request: Request) -> dict[str, Any]:
    """The latest revision of every deployment."""
    found = await blocking(state(request).deployments.list_deployments)
    return {"deployments": [deployment_to_dict(d) for d in found]}


@router.get(_ONE)
async def get_deployment(name: str, request: Request, revision: int | None = None) -> dict[str, Any]:
    """The latest revision of a deployment, or ``?revision=N``."""
    return _one(await blocking(state(request).deployments.get_deployment, name, revision))


@router.get(_ONE + "/history")
async def deployment_history(name: str, request: Request) -> dict[str, Any]:
    """Every revision, newest first."""
    found = await blocking(state(request).deployments.deployment_history, name)
    return {"deployments": [deployment_to_dict(d) for d in found]}


@router.patch(_ONE, dependencies=[requires("maintain")])
async def update_deployment(name: str, body: UpdateDeployment, request: Request) -> dict[str, Any]:
    """Write the next revision with the fields present changed (``routes`` replaces the route table)."""
    sticky = body.sticky_key if "sticky_key" in body.model_fields_set else UNSET
    d = await blocking(state(request).deployments.update_deployment, name, routes=_routes(body.routes),
                       shadows=_routes(body.shadows), sticky_key=sticky, max_batch_size=body.max_batch_size,
                       max_wait_ms=body.max_wait_ms, description=body.description, updated_by=body.updated_by)
    return _one(d)


@router.post(_ONE + "/rollback", dependencies=[requires("maintain")])
async def rollback_deployment(name: str, request: Request, body: Rollback | None = None) -> dict[str, Any]:
    """Write a new revision serving the previous (or ``to_revision``'s) route table."""
    body = body or Rollback()
    return _one(await blocking(state(request).deployments.rollback_deployment, name, body.to_revision,
                               updated_by=body.updated_by))


@router.delete(_ONE, dependencies=[requires("maintain")])
async def delete_deployment(name: str, request: Request, body: Deletion | None = None) -> dict[str, Any]:
    """End a deployment; its revisions stay as history."""
    await blocking(state(request).deployments.delete_deployment, name,
                   updated_by=body.updated_by if body is not None else None)
    return {}
