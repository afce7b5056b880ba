"""MLflow 3 logged models over the MLflow-compatible API (``/api/2.0/mlflow/logged-models...``, ``runs/outputs``).

``mlflow.<flavor>.log_model`` creates a logged model, uploads its files to the returned ``artifact_uri``
(``mlflow-artifacts:/<exp>/models/<model_id>/artifacts``, proxied by :mod:`keel.server.artifacts`), records the
run's output, and registers ``models:/<model_id>`` when asked to.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from keel.asgi import read_json
from keel.errors import InvalidInput
from keel.registry.entities import LoggedModel, LoggedModelStatus
from keel.server.mlflow_tracking import ARTIFACT_PREFIX, _int, _opt_str, _required, _str_list, _tags
from keel.server.permissions import requires
from keel.server.state import blocking, state

__all__ = ["logged_model_to_dict", "router"]

router = APIRouter(prefix="/api/2.0/mlflow", tags=["mlflow-compatible logged models"], dependencies=[requires("read")])
_STATUS_NUMBERS = {1: LoggedModelStatus.PENDING, 2: LoggedModelStatus.READY, 3: LoggedModelStatus.FAILED}


def logged_model_to_dict(model: LoggedModel) -> dict[str, Any]:
    """MLflow's LoggedModel object: ``info`` (with the proxied artifact URI) and ``data`` (params)."""
    info: dict[str, Any] = {
        "model_id": model.model_id, "experiment_id": model.experiment_id, "name": model.name,
        "creation_timestamp_ms": model.creation_timestamp, "last_updated_timestamp_ms": model.last_updated_timestamp,
        "artifact_uri": _artifact_uri(model.artifact_location), "status": model.status,
        "tags": [{"key": k, "value": v} for k, v in model.tags.items()],
    }
    for key, value in (("model_type", model.model_type), ("source_run_id", model.source_run_id),
                       ("status_message", model.status_message)):
        if value:
            info[key] = value
    return {"info": info, "data": {"params": [{"key": k, "value": v} for k, v in model.params.items()],
                                   "metrics": []}}


def _artifact_uri(location: str) -> str:
    return location if ":" in location else ARTIFACT_PREFIX + location


def _model(model: LoggedModel) -> dict[str, Any]:
    return {"model": logged_model_to_dict(model)}


def _status(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool) and value in _STATUS_NUMBERS:
        return _STATUS_NUMBERS[value]
    if isinstance(value, str) and value in LoggedModelStatus.ALL:
        return value
    raise InvalidInput(f"status: expected one of {', '.join(LoggedModelStatus.ALL)}, got {value!r}", field="status")


@router.post("/logged-models", dependencies=[requires("write")])
async def create_logged_model(request: Request) -> dict[str, Any]:
    """Create a PENDING logged model in an experiment."""
    body = await read_json(request)
    model = await blocking(state(request).logged_models.create_logged_model,
                           _required(body, "experiment_id"), _opt_str(body, "name"),
                           _opt_str(body, "source_run_id"), _tags(body.get("tags") or []),
                           _tags(body.get("params") or [], "params"), _opt_str(body, "model_type"))
    return _model(model)


@router.post("/logged-models/search")
async def search_logged_models(request: Request) -> dict[str, Any]:
    """Logged models of some experiments, filtered (e.g. ``name = 'model'``) and ordered."""
    body = await read_json(request)
    order = body.get("order_by") or []
    if not isinstance(order, list) or not all(isinstance(o, dict) and isinstance(o.get("field_name"), str)
                                              for o in order):
        raise InvalidInput("order_by: expected a list of {field_name, ascending} objects", field="order_by")
    models, token = await blocking(
        state(request).logged_models.search_logged_models, _str_list(body.get("experiment_ids"), "experiment_ids"),
        _opt_str(body, "filter"), _int(body, "max_results", 100),
        [(o["field_name"], o.get("ascending", True) is not False) for o in order], _opt_str(body, "page_token"))
    out: dict[str, Any] = {"models": [logged_model_to_dict(m) for m in models]}
    if token:
        out["next_page_token"] = token
    return out


@router.get("/logged-models/{model_id}")
async def get_logged_model(model_id: str, request: Request, allow_deleted: bool = False) -> dict[str, Any]:
    """A logged model by id."""
    return _model(await blocking(state(request).logged_models.get_logged_model, model_id, allow_deleted))


@router.patch("/logged-models/{model_id}", dependencies=[requires("write")])
async def finalize_logged_model(model_id: str, request: Request) -> dict[str, Any]:
    """Set the final status (``LOGGED_MODEL_READY`` once the files are uploaded)."""
    body = await read_json(request)
    return _model(await blocking(state(request).logged_models.finalize_logged_model, model_id,
                                 _status(body.get("status"))))


@router.delete("/logged-models/{model_id}", dependencies=[requires("write")])
async def delete_logged_model(model_id: str, request: Request) -> dict[str, Any]:
    """Soft-delete a logged model."""
    await blocking(state(request).logged_models.delete_logged_model, model_id)
    return {}


@router.post("/logged-models/{model_id}/params", dependencies=[requires("write")])
async def log_logged_model_params(model_id: str, request: Request) -> dict[str, Any]:
    """Add params to a logged model."""
    body = await read_json(request)
    await blocking(state(request).logged_models.log_logged_model_params, model_id,
                   _tags(body.get("params") or [], "params"))
    return {}


@router.patch("/logged-models/{model_id}/tags", dependencies=[requires("write")])
async def set_logged_model_tags(model_id: str, request: Request) -> dict[str, Any]:
    """Set tags on a logged model."""
    body = await read_json(request)
    await blocking(state(request).logged_models.set_logged_model_tags, model_id, _tags(body.get("tags") or []))
    return {}


@router.delete("/logged-models/{model_id}/tags/{tag_key}", dependencies=[requires("write")])
async def delete_logged_model_tag(model_id: str, tag_key: str, request: Request) -> dict[str, Any]:
    """Remove a tag from a logged model."""
    await blocking(state(request).logged_models.delete_logged_model_tag, model_id, tag_key)
    return {}


@router.post("/runs/outputs", dependencies=[requires("write")])
async def log_outputs(request: Request) -> dict[str, Any]:
    """Record the logged models a run produced."""
    body = await read_json(request)
    models = body.get("models") or []
    if not isinstance(models, list) or not all(isinstance(m, dict) and isinstance(m.get("model_id"), str)
                                               for m in models):
        raise InvalidInput("models: expected a list of {model_id, step} objects", field="models")
    run_id = _required({"run_id": body.get("run_id") or body.get("run_uuid")}, "run_id")
    await blocking(state(request).logged_models.log_outputs, run_id, [m["model_id"] for m in models])
    return {}
