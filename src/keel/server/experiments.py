"""Keel's experiment routes: ``/api/v1/experiments``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from keel.server.permissions import requires
from keel.server.state import blocking, state
from keel.tracking.codec import experiment_to_dict

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/experiments", tags=["experiments"], dependencies=[requires("read")])


class CreateExperiment(BaseModel):
    """Body of ``POST /api/v1/experiments``."""

    name: str = Field(min_length=1, max_length=500)
    artifact_location: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)


class UpdateExperiment(BaseModel):
    """Body of ``PATCH /api/v1/experiments/{id}``."""

    name: str = Field(min_length=1, max_length=500)


class Tag(BaseModel):
    """A key and a value."""

    key: str
    value: str


@router.post("", dependencies=[requires("write")])
async def create_experiment(body: CreateExperiment, request: Request) -> dict[str, Any]:
    """Create an experiment."""
    exp_id = await blocking(state(request).tracking.create_experiment, body.name, body.artifact_location, body.tags)
    return {"experiment_id": exp_id}


@router.get("")
async def search_experiments(request: Request, view_type: str = "ACTIVE_ONLY",
                             max_results: int = Query(1000, ge=1, le=50_000), filter: str = "",
                             order_by: list[str] = Query(default_factory=list),
                             page_token: str | None = None) -> dict[str, Any]:
    """Search experiments by name, times or tags."""
    found, token = await blocking(state(request).tracking.search_experiments, view_type, max_results,
                                  filter or None, order_by, page_token)
    return {"experiments": [experiment_to_dict(e) for e in found], "next_page_token": token}


@router.get("/by-name")
async def get_experiment_by_name(name: str, request: Request) -> dict[str, Any]:
    """The experiment with this name, or ``{"experiment": null}``."""
    exp = await blocking(state(request).tracking.get_experiment_by_name, name)
    return {"experiment": None if exp is None else experiment_to_dict(exp)}


@router.get("/{experiment_id}")
async def get_experiment(experiment_id: str, request: Request) -> dict[str, Any]:
    """The experiment with this id."""
    return {"experiment": experiment_to_dict(await blocking(state(request).tracking.get_experiment, experiment_id))}


@router.patch("/{experiment_id}", dependencies=[requires("write")])
async def rename_experiment(experiment_id: str, body: UpdateExperiment, request: Request) -> dict[str, Any]:
    """Rename an experiment."""
    await blocking(state(request).tracking.rename_experiment, experiment_id, body.name)
    return {}


@router.delete("/{experiment_id}", dependencies=[requires("write")])
async def delete_experiment(experiment_id: str, request: Request) -> dict[str, Any]:
    """Soft-delete an experiment and its runs."""
    await blocking(state(request).tracking.delete_experiment, experiment_id)
    return {}


@router.post("/{experiment_id}/restore", dependencies=[requires("write")])
async def restore_experiment(experiment_id: str, request: Request) -> dict[str, Any]:
    """Restore a deleted experiment."""
    await blocking(state(request).tracking.restore_experiment, experiment_id)
    return {}


@router.post("/{experiment_id}/tags", dependencies=[requires("write")])
async def set_experiment_tag(experiment_id: str, body: Tag, request: Request) -> dict[str, Any]:
    """Set a tag on an experiment."""
    await blocking(state(request).tracking.set_experiment_tag, experiment_id, body.key, body.value)
    return {}
