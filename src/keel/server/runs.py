"""Keel's run routes: ``/api/v1/runs`` (including the columnar fast path for metric points)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from keel.asgi import read_json
from keel.errors import InvalidInput
from keel.server.permissions import requires
from keel.server.state import blocking, state
from keel.tracking.codec import dataset_from_dict, metric_from_dict, run_info_to_dict, run_to_dict
from keel.tracking.entities import decode_float
from keel.tracking.points import MetricPoints

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/runs", tags=["runs"], dependencies=[requires("read")])


class CreateRun(BaseModel):
    """Body of ``POST /api/v1/runs``."""

    experiment_id: str = "0"
    user_id: str | None = None
    start_time: int | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    run_name: str | None = None


class UpdateRun(BaseModel):
    """Body of ``PATCH /api/v1/runs/{id}``."""

    status: str | None = None
    end_time: int | None = None
    run_name: str | None = None


class SearchRuns(BaseModel):
    """Body of ``POST /api/v1/runs/search``."""

    experiment_ids: list[str] = Field(default_factory=list)
    filter: str | None = None
    run_view_type: str = "ACTIVE_ONLY"
    max_results: int = Field(1000, ge=1, le=50_000)
    order_by: list[str] = Field(default_factory=list)
    page_token: str | None = None


@router.post("", dependencies=[requires("write")])
async def create_run(body: CreateRun, request: Request) -> dict[str, Any]:
    """Start a run."""
    run = await blocking(state(request).tracking.create_run, body.experiment_id, body.user_id, body.start_time,
                         body.tags, body.run_name)
    return {"run": run_to_dict(run)}


@router.post("/search")
async def search_runs(body: SearchRuns, request: Request) -> dict[str, Any]:
    """Search runs with MLflow's filter grammar."""
    runs, token = await blocking(state(request).tracking.search_runs, body.experiment_ids, body.filter,
                                 body.run_view_type, body.max_results, body.order_by, body.page_token)
    return {"runs": [run_to_dict(r) for r in runs], "next_page_token": token}


@router.get("/{run_id}")
async def get_run(run_id: str, request: Request) -> dict[str, Any]:
    """A run with its data."""
    return {"run": run_to_dict(await blocking(state(request).tracking.get_run, run_id))}


@router.patch("/{run_id}", dependencies=[requires("write")])
async def update_run(run_id: str, body: UpdateRun, request: Request) -> dict[str, Any]:
    """Change status, end time or name."""
    info = await blocking(state(request).tracking.update_run, run_id, body.status, body.end_time, body.run_name)
    return {"run_info": run_info_to_dict(info)}


@router.delete("/{run_id}", dependencies=[requires("write")])
async def delete_run(run_id: str, request: Request) -> dict[str, Any]:
    """Soft-delete a run."""
    await blocking(state(request).tracking.delete_run, run_id)
    return {}


@router.post("/{run_id}/restore", dependencies=[requires("write")])
async def restore_run(run_id: str, request: Request) -> dict[str, Any]:
    """Restore a deleted run."""
    await blocking(state(request).tracking.restore_run, run_id)
    return {}


@router.post("/{run_id}/batch", dependencies=[requires("write")])
async def log_batch(run_id: str, request: Request) -> dict[str, Any]:
    """Log metrics (list of ``{key, value, timestamp, step}``), params and tags (objects) at once."""
    body = await read_json(request)
    metrics = [metric_from_dict(m) for m in _list(body, "metrics")]
    params, tags = _mapping(body, "params"), _mapping(body, "tags")
    await blocking(state(request).tracking.log_batch, run_id, metrics, params, tags)
    return {}


@router.post("/{run_id}/metrics", dependencies=[requires("write")])
async def log_metric_columns(run_id: str, request: Request) -> dict[str, Any]:
    """The fast path: ``{batch_id, keys, values, timestamps, steps}`` as equal-length arrays.

    A ``batch_id`` seen before for this run is acknowledged without storing its points twice.
    """
    body = await read_json(request)
    values = _list(body, "values")
    if not all(type(v) is float or type(v) is int for v in values):
        values = [decode_float(v, "values") for v in values]
    points = MetricPoints(_list(body, "keys"), values, _list(body, "timestamps"), _list(body, "steps"))
    if not all(type(t) is int for t in points.timestamps) or not all(type(s) is int for s in points.steps):
        raise InvalidInput("timestamps/steps: every entry must be an integer", field="timestamps")
    batch_id = body.get("batch_id")
    if batch_id is not None and (not isinstance(batch_id, str) or len(batch_id) > 64):
        raise InvalidInput("batch_id: must be a string of at most 64 characters", field="batch_id")
    stored = await blocking(state(request).tracking.log_metric_columns, run_id, points, batch_id)
    return {"stored": stored}


@router.delete("/{run_id}/tags", dependencies=[requires("write")])
async def delete_tag(run_id: str, key: str, request: Request) -> dict[str, Any]:
    """Remove a tag."""
    await blocking(state(request).tracking.delete_tag, run_id, key)
    return {}


@router.post("/{run_id}/inputs", dependencies=[requires("write")])
async def log_inputs(run_id: str, request: Request) -> dict[str, Any]:
    """Record datasets the run consumed."""
    body = await read_json(request)
    try:
        datasets = [dataset_from_dict(d) for d in _list(body, "datasets")]
    except (KeyError, TypeError) as exc:
        raise InvalidInput(f"datasets: each entry needs dataset.name and dataset.digest ({exc})",
                           field="datasets") from exc
    await blocking(state(request).tracking.log_inputs, run_id, datasets)
    return {}


@router.get("/{run_id}/metric-history")
async def metric_history(run_id: str, key: str, request: Request,
                         max_results: int | None = Query(None, ge=1, le=1_000_000),
                         page_token: str | None = None) -> dict[str, Any]:
    """Every point of one metric, by step."""
    points, token = await blocking(state(request).tracking.get_metric_history, run_id, key, max_results,
                                   page_token)
    return {"metrics": [m.to_dict() for m in points], "next_page_token": token}


def _list(body: dict[str, Any], field: str) -> list[Any]:
    value = body.get(field, [])
    if not isinstance(value, list):
        raise InvalidInput(f"{field}: expected a JSON array", field=field)
    return value


def _mapping(body: dict[str, Any], field: str) -> dict[str, Any]:
    value = body.get(field) or {}
    if not isinstance(value, dict):
        raise InvalidInput(f"{field}: expected a JSON object", field=field)
    return value
