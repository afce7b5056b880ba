"""Feature-store routes: ``POST /api/v1/features/online`` (also at Feast's feature-server path
``/get-online-features``) answers online features in Feast's response shape; ``GET /api/v1/features`` and
``/api/v1/features/{name}`` list and describe what is applied."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from keel.server.permissions import requires
from keel.server.state import blocking

__all__ = ["router"]

router = APIRouter(tags=["features"], dependencies=[requires("read")])


class OnlineRequest(BaseModel):
    """Feast's feature-server body: feature references and entity key columns."""

    features: list[str] = Field(min_length=1)
    entities: dict[str, list[Any]] = Field(min_length=1)
    full_feature_names: bool = False


def _lookup(body: OnlineRequest) -> dict[str, Any]:
    from keel.features.online import get_online_features

    response = get_online_features(body.entities, body.features, full_feature_names=body.full_feature_names)
    return response.to_feature_server_json()


@router.post("/api/v1/features/online")
@router.post("/get-online-features")
async def online_features(body: OnlineRequest) -> dict[str, Any]:
    """Values, statuses and event times per requested feature; unknown entities give NOT_FOUND, not errors."""
    return await blocking(_lookup, body)


@router.get("/api/v1/features")
async def list_features() -> dict[str, Any]:
    """Every applied entity, feature view and on-demand view."""
    from keel.features.catalog import list_views

    return {"definitions": await blocking(list_views)}


@router.get("/api/v1/features/{name}")
async def describe_feature_view(name: str) -> dict[str, Any]:
    """One definition: spec, history, materializations."""
    from keel.features.catalog import describe_view

    return await blocking(describe_view, name)
