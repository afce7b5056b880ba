"""Keel's registry routes: ``/api/v1/registered-models`` (with versions, tags and aliases) and
``/api/v1/model-versions`` (search). Shapes are MLflow's, as on the compatible API."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, Field

from keel.registry.codec import model_version_to_dict, registered_model_to_dict
from keel.server.auth import alias_gate, stage_gate
from keel.server.permissions import requires
from keel.server.state import blocking, state

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", tags=["registry"], dependencies=[requires("read")])
_MODEL = "/registered-models/{name}"
_VERSION = _MODEL + "/versions/{version}"


class CreateModel(BaseModel):
    """Body of ``POST /api/v1/registered-models``."""

    name: str
    description: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)


class UpdateModel(BaseModel):
    """Body of ``PATCH /api/v1/registered-models/{name}``: a new description and/or a new name."""

    description: str | None = None
    new_name: str | None = None


class CreateVersion(BaseModel):
    """Body of ``POST /api/v1/registered-models/{name}/versions``."""

    source: str | None = None
    run_id: str | None = None
    model_id: str | None = None
    run_link: str | None = None
    description: str | None = None
    signature: str | None = None
    user_id: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)


class UpdateVersion(BaseModel):
    """Body of ``PATCH .../versions/{version}``: description and/or stage."""

    description: str | None = None
    stage: str | None = None
    archive_existing_versions: bool = False


class TagValue(BaseModel):
    """Body of ``PUT .../tags/{key}``."""

    value: str = ""


class Promotion(BaseModel):
    """Body of ``POST .../versions/{version}/promotions``: a gate decision to record."""

    alias: str
    promoted: bool
    decided_at: int = Field(ge=0)


class AliasTarget(BaseModel):
    """Body of ``PUT .../aliases/{alias}``."""

    version: int = Field(ge=1)


def _page(key: str, items: list[dict[str, Any]], token: str | None) -> dict[str, Any]:
    return {key: items, "next_page_token": token}


@router.post("/registered-models", dependencies=[requires("write")])
async def create_model(body: CreateModel, request: Request) -> dict[str, Any]:
    """Register a model name."""
    rm = await blocking(state(request).registry.create_registered_model, body.name, body.tags, body.description)
    return {"registered_model": registered_model_to_dict(rm)}


@router.get("/registered-models")
async def search_models(request: Request, filter: str | None = None,
                        max_results: int = Query(100, ge=1, le=200_000),
                        order_by: list[str] = Query(default_factory=list),
                        page_token: str | None = None) -> dict[str, Any]:
    """Search registered models (``name LIKE 'iris%'``, ``tags.team = 'ml'``)."""
    found, token = await blocking(state(request).registry.search_registered_models, filter, max_results, order_by,
                                  page_token)
    return _page("registered_models", [registered_model_to_dict(rm) for rm in found], token)


@router.get(_MODEL)
async def get_model(name: str, request: Request) -> dict[str, Any]:
    """A registered model."""
    return {"registered_model": registered_model_to_dict(await blocking(state(request).registry.get_registered_model,
                                                                        name))}


@router.patch(_MODEL, dependencies=[requires("write")])
async def update_model(name: str, body: UpdateModel, request: Request) -> dict[str, Any]:
    """Change the description and/or rename."""
    registry = state(request).registry
    rm = await blocking(registry.get_registered_model, name)
    if body.description is not None:
        rm = await blocking(registry.update_registered_model, name, body.description)
    if body.new_name is not None:
        rm = await blocking(registry.rename_registered_model, name, body.new_name)
    return {"registered_model": registered_model_to_dict(rm)}


@router.delete(_MODEL, dependencies=[requires("write")])
async def delete_model(name: str, request: Request) -> dict[str, Any]:
    """Delete a model and all its versions."""
    await blocking(state(request).registry.delete_registered_model, name)
    return {}


@router.put(_MODEL + "/tags/{key}", dependencies=[requires("write")])
async def set_model_tag(name: str, key: str, body: TagValue, request: Request) -> dict[str, Any]:
    """Set a tag on a model."""
    await blocking(state(request).registry.set_registered_model_tag, name, key, body.value)
    return {}


@router.delete(_MODEL + "/tags/{key}", dependencies=[requires("write")])
async def delete_model_tag(name: str, key: str, request: Request) -> dict[str, Any]:
    """Remove a tag from a model."""
    await blocking(state(request).registry.delete_registered_model_tag, name, key)
    return {}


@router.put(_MODEL + "/aliases/{alias}", dependencies=[requires("write")])
async def set_alias(name: str, alias: str, body: AliasTarget, request: Request,
                    response: Response) -> dict[str, Any]:
    """Point an alias at a version (a protected alias may answer 202 with a pending promotion request instead)."""
    if (pending := await alias_gate(request, name, alias, body.version)) is not None:
        response.status_code = 202
        return pending
    await blocking(state(request).registry.set_registered_model_alias, name, alias, body.version)
    return {}


@router.get(_MODEL + "/aliases/{alias}")
async def get_alias(name: str, alias: str, request: Request) -> dict[str, Any]:
    """The version an alias points at."""
    mv = await blocking(state(request).registry.get_model_version_by_alias, name, alias)
    return {"model_version": model_version_to_dict(mv)}


@router.delete(_MODEL + "/aliases/{alias}", dependencies=[requires("write")])
async def delete_alias(name: str, alias: str, request: Request) -> dict[str, Any]:
    """Remove an alias."""
    await alias_gate(request, name, alias, 0)
    await blocking(state(request).registry.delete_registered_model_alias, name, alias)
    return {}


@router.post(_MODEL + "/versions", dependencies=[requires("write")])
async def create_version(name: str, body: CreateVersion, request: Request) -> dict[str, Any]:
    """Add the next version (lineage run → version is recorded when ``run_id`` is known)."""
    mv = await blocking(state(request).registry.create_model_version, name, body.source, body.run_id, body.tags,
                        body.run_link, body.description, body.model_id, body.user_id, body.signature)
    return {"model_version": model_version_to_dict(mv)}


@router.get(_VERSION)
async def get_version(name: str, version: str, request: Request) -> dict[str, Any]:
    """One version."""
    mv = await blocking(state(request).registry.get_model_version, name, version)
    return {"model_version": model_version_to_dict(mv)}


@router.patch(_VERSION, dependencies=[requires("write")])
async def update_version(name: str, version: str, body: UpdateVersion, request: Request) -> dict[str, Any]:
    """Change a version's description and/or stage."""
    registry = state(request).registry
    mv = await blocking(registry.get_model_version, name, version)
    if body.description is not None:
        mv = await blocking(registry.update_model_version, name, version, body.description)
    if body.stage is not None:
        await stage_gate(request, body.stage)
        mv = await blocking(registry.transition_model_version_stage, name, version, body.stage,
                            body.archive_existing_versions)
    return {"model_version": model_version_to_dict(mv)}


@router.delete(_VERSION, dependencies=[requires("write")])
async def delete_version(name: str, version: str, request: Request) -> dict[str, Any]:
    """Delete a version (its number is not reused)."""
    await blocking(state(request).registry.delete_model_version, name, version)
    return {}


@router.put(_VERSION + "/tags/{key}", dependencies=[requires("write")])
async def set_version_tag(name: str, version: str, key: str, body: TagValue, request: Request) -> dict[str, Any]:
    """Set a tag on a version."""
    await blocking(state(request).registry.set_model_version_tag, name, version, key, body.value)
    return {}


@router.delete(_VERSION + "/tags/{key}", dependencies=[requires("write")])
async def delete_version_tag(name: str, version: str, key: str, request: Request) -> dict[str, Any]:
    """Remove a tag from a version."""
    await blocking(state(request).registry.delete_model_version_tag, name, version, key)
    return {}


@router.post(_VERSION + "/promotions", dependencies=[requires("write")])
async def record_promotion(name: str, version: str, body: Promotion, request: Request) -> dict[str, Any]:
    """Record a promotion gate's decision as a lineage edge (version → alias)."""
    await blocking(state(request).registry.record_promotion, name, version, body.alias, body.promoted,
                   body.decided_at)
    return {}


@router.get("/model-versions")
async def search_versions(request: Request, filter: str | None = None,
                          max_results: int = Query(1000, ge=1, le=200_000),
                          order_by: list[str] = Query(default_factory=list),
                          page_token: str | None = None) -> dict[str, Any]:
    """Search versions (``name = 'iris'``, ``run_id = '…'``, ``tags.k = 'v'``)."""
    found, token = await blocking(state(request).registry.search_model_versions, filter, max_results, order_by,
                                  page_token)
    return _page("model_versions", [model_version_to_dict(mv) for mv in found], token)
