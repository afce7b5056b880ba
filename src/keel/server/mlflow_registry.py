"""MLflow-compatible model registry REST API (``/api/2.0/mlflow/registered-models|model-versions/...``).

GET routes read their fields from the query string, the others from a JSON body (DELETE included, as the mlflow
client sends it). Versions travel as strings, every version is ``READY``, and ``get-download-uri`` resolves a
``models:/<model_id>`` source to the logged model's ``mlflow-artifacts:/`` location.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from keel.asgi import read_json
from keel.errors import InvalidInput
from keel.registry.codec import model_version_to_dict, registered_model_to_dict
from keel.registry.entities import ModelVersion, RegisteredModel
from keel.server.auth import alias_gate, stage_gate
from keel.server.mlflow_tracking import ARTIFACT_PREFIX, _int, _opt_str, _required, _str_list, _tags
from keel.server.permissions import requires
from keel.server.state import blocking, state

__all__ = ["router"]

router = APIRouter(prefix="/api/2.0/mlflow", tags=["mlflow-compatible registry"], dependencies=[requires("read")])


async def _fields(request: Request) -> dict[str, Any]:
    """The request's fields: the query string for GET (lists kept), else the JSON body over the query string."""
    query: dict[str, Any] = {k: v for k, v in request.query_params.items()}
    for key in ("order_by", "stages"):
        if len(request.query_params.getlist(key)) > 1:
            query[key] = request.query_params.getlist(key)
    if request.method == "GET":
        return query
    return {**query, **await read_json(request)}


def _version(body: dict[str, Any]) -> str:
    return _required(body, "version")


def _rm(rm: RegisteredModel) -> dict[str, Any]:
    return {"registered_model": registered_model_to_dict(rm)}


def _mv(mv: ModelVersion) -> dict[str, Any]:
    return {"model_version": model_version_to_dict(mv)}


def _paged(key: str, items: list[dict[str, Any]], token: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {key: items}
    if token:
        out["next_page_token"] = token
    return out


# -- registered models -------------------------------------------------------------------------------------------
@router.post("/registered-models/create", dependencies=[requires("write")])
async def create_registered_model(request: Request) -> dict[str, Any]:
    """Register a model name."""
    body = await _fields(request)
    rm = await blocking(state(request).registry.create_registered_model, _required(body, "name"),
                        _tags(body.get("tags") or []), _opt_str(body, "description"))
    return _rm(rm)


@router.get("/registered-models/get")
async def get_registered_model(request: Request) -> dict[str, Any]:
    """A registered model by name."""
    body = await _fields(request)
    return _rm(await blocking(state(request).registry.get_registered_model, _required(body, "name")))


@router.post("/registered-models/rename", dependencies=[requires("write")])
async def rename_registered_model(request: Request) -> dict[str, Any]:
    """Rename a registered model."""
    body = await _fields(request)
    rm = await blocking(state(request).registry.rename_registered_model, _required(body, "name"),
                        _required(body, "new_name"))
    return _rm(rm)


@router.patch("/registered-models/update", dependencies=[requires("write")])
async def update_registered_model(request: Request) -> dict[str, Any]:
    """Change a registered model's description."""
    body = await _fields(request)
    rm = await blocking(state(request).registry.update_registered_model, _required(body, "name"),
                        _opt_str(body, "description"))
    return _rm(rm)


@router.delete("/registered-models/delete", dependencies=[requires("write")])
async def delete_registered_model(request: Request) -> dict[str, Any]:
    """Delete a registered model and its versions."""
    body = await _fields(request)
    await blocking(state(request).registry.delete_registered_model, _required(body, "name"))
    return {}


@router.get("/registered-models/search")
async def search_registered_models(request: Request) -> dict[str, Any]:
    """Search registered models by name and tags."""
    body = await _fields(request)
    found, token = await blocking(state(request).registry.search_registered_models, _opt_str(body, "filter"),
                                  _int(body, "max_results", 100), _str_list(body.get("order_by"), "order_by"),
                                  _opt_str(body, "page_token"))
    return _paged("registered_models", [registered_model_to_dict(rm) for rm in found], token)


async def _latest_versions(request: Request) -> dict[str, Any]:
    body = await _fields(request)
    found = await blocking(state(request).registry.get_latest_versions, _required(body, "name"),
                           _str_list(body.get("stages"), "stages"))
    return {"model_versions": [model_version_to_dict(mv) for mv in found]}


router.add_api_route("/registered-models/get-latest-versions", _latest_versions, methods=["POST"],
                     operation_id="get_latest_versions_post", summary="Latest version per stage")
router.add_api_route("/registered-models/get-latest-versions", _latest_versions, methods=["GET"],
                     operation_id="get_latest_versions_get", summary="Latest version per stage (GET form)")


@router.post("/registered-models/set-tag", dependencies=[requires("write")])
async def set_registered_model_tag(request: Request) -> dict[str, Any]:
    """Set a tag on a registered model."""
    body = await _fields(request)
    await blocking(state(request).registry.set_registered_model_tag, _required(body, "name"),
                   _required(body, "key"), _value(body))
    return {}


@router.delete("/registered-models/delete-tag", dependencies=[requires("write")])
async def delete_registered_model_tag(request: Request) -> dict[str, Any]:
    """Remove a tag from a registered model."""
    body = await _fields(request)
    await blocking(state(request).registry.delete_registered_model_tag, _required(body, "name"),
                   _required(body, "key"))
    return {}


def _value(body: dict[str, Any]) -> str:
    value = body.get("value")
    if value is not None and not isinstance(value, str | int | float):
        raise InvalidInput(f"value: expected a string, got {value!r}", field="value")
    return "" if value is None else str(value)


# -- aliases -------------------------------------------------------------------------------------------------------
@router.post("/registered-models/alias", dependencies=[requires("write")])
async def set_registered_model_alias(request: Request, response: Response) -> dict[str, Any]:
    """Point an alias at a version (a protected alias may answer 202 with a pending promotion request instead)."""
    body = await _fields(request)
    name, alias, version = _required(body, "name"), _required(body, "alias"), _version(body)
    if (pending := await alias_gate(request, name, alias, version)) is not None:
        response.status_code = 202
        return pending
    await blocking(state(request).registry.set_registered_model_alias, name, alias, version)
    return {}


@router.delete("/registered-models/alias", dependencies=[requires("write")])
async def delete_registered_model_alias(request: Request) -> dict[str, Any]:
    """Remove an alias."""
    body = await _fields(request)
    await alias_gate(request, _required(body, "name"), _required(body, "alias"), 0)
    await blocking(state(request).registry.delete_registered_model_alias, _required(body, "name"),
                   _required(body, "alias"))
    return {}


@router.get("/registered-models/alias")
async def get_model_version_by_alias(request: Request) -> dict[str, Any]:
    """The version an alias points at."""
    body = await _fields(request)
    return _mv(await blocking(state(request).registry.get_model_version_by_alias, _required(body, "name"),
                              _required(body, "alias")))


# -- model versions ------------------------------------------------------------------------------------------------
@router.post("/model-versions/create", dependencies=[requires("write")])
async def create_model_version(request: Request) -> dict[str, Any]:
    """Add the next version of a registered model."""
    body = await _fields(request)
    mv = await blocking(state(request).registry.create_model_version, _required(body, "name"),
                        _opt_str(body, "source"), _opt_str(body, "run_id"), _tags(body.get("tags") or []),
                        _opt_str(body, "run_link"), _opt_str(body, "description"), _opt_str(body, "model_id"))
    return _mv(mv)


@router.get("/model-versions/get")
async def get_model_version(request: Request) -> dict[str, Any]:
    """One version of a registered model."""
    body = await _fields(request)
    return _mv(await blocking(state(request).registry.get_model_version, _required(body, "name"), _version(body)))


@router.patch("/model-versions/update", dependencies=[requires("write")])
async def update_model_version(request: Request) -> dict[str, Any]:
    """Change a version's description."""
    body = await _fields(request)
    return _mv(await blocking(state(request).registry.update_model_version, _required(body, "name"),
                              _version(body), _opt_str(body, "description")))


@router.delete("/model-versions/delete", dependencies=[requires("write")])
async def delete_model_version(request: Request) -> dict[str, Any]:
    """Delete a version."""
    body = await _fields(request)
    await blocking(state(request).registry.delete_model_version, _required(body, "name"), _version(body))
    return {}


@router.post("/model-versions/transition-stage", dependencies=[requires("write")])
async def transition_model_version_stage(request: Request) -> dict[str, Any]:
    """Move a version to None/Staging/Production/Archived."""
    body = await _fields(request)
    archive = body.get("archive_existing_versions") in (True, "true", "True", 1, "1")
    await stage_gate(request, _required(body, "stage"))
    return _mv(await blocking(state(request).registry.transition_model_version_stage, _required(body, "name"),
                              _version(body), _required(body, "stage"), archive))


@router.get("/model-versions/search")
async def search_model_versions(request: Request) -> dict[str, Any]:
    """Search versions by name, run_id, source_path, version_number and tags."""
    body = await _fields(request)
    found, token = await blocking(state(request).registry.search_model_versions, _opt_str(body, "filter"),
                                  _int(body, "max_results", 10_000), _str_list(body.get("order_by"), "order_by"),
                                  _opt_str(body, "page_token"))
    return _paged("model_versions", [model_version_to_dict(mv) for mv in found], token)


@router.get("/model-versions/get-download-uri")
async def get_model_version_download_uri(request: Request) -> dict[str, Any]:
    """Where the client downloads a version's files from."""
    body = await _fields(request)
    uri = await blocking(state(request).registry.get_model_version_download_uri, _required(body, "name"),
                         _version(body))
    return {"artifact_uri": uri if ":" in uri else ARTIFACT_PREFIX + uri}


@router.post("/model-versions/set-tag", dependencies=[requires("write")])
async def set_model_version_tag(request: Request) -> dict[str, Any]:
    """Set a tag on a version."""
    body = await _fields(request)
    await blocking(state(request).registry.set_model_version_tag, _required(body, "name"), _version(body),
                   _required(body, "key"), _value(body))
    return {}


@router.delete("/model-versions/delete-tag", dependencies=[requires("write")])
async def delete_model_version_tag(request: Request) -> dict[str, Any]:
    """Remove a tag from a version."""
    body = await _fields(request)
    await blocking(state(request).registry.delete_model_version_tag, _required(body, "name"), _version(body),
                   _required(body, "key"))
    return {}
