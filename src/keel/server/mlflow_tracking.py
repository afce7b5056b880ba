"""MLflow-compatible tracking REST API (``/api/2.0/mlflow/...``) so the unmodified mlflow client works.

Shapes and error codes follow MLflow's REST protocol (see shared/compat/mlflow-rest.md). Artifacts are proxied
(``mlflow-artifacts:/`` URIs), served by :mod:`keel.server.artifacts`.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse

from keel import __version__
from keel.asgi import read_json
from keel.errors import InvalidInput, NotFound
from keel.server.permissions import requires
from keel.server.state import blocking, state
from keel.tracking.codec import dataset_from_dict, experiment_to_dict, metric_from_dict, run_info_to_dict, run_to_dict
from keel.tracking.entities import Metric
from keel.tracking.validation import check_batch_limits, check_timestamp

__all__ = ["ARTIFACT_PREFIX", "router"]

ARTIFACT_PREFIX = "mlflow-artifacts:/"
router = APIRouter(prefix="/api/2.0/mlflow", tags=["mlflow-compatible"], dependencies=[requires("read")])
version_router = APIRouter(tags=["mlflow-compatible"], dependencies=[requires("public")])


def _required(body: dict[str, Any], field: str) -> str:
    value = body.get(field)
    if value is None or value == "":
        raise InvalidInput(f"Missing value for required parameter '{field}'.", field=field)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise InvalidInput(f"{field}: expected a string, got {value!r}", field=field)
    return value


def _int(body: Any, field: str, default: int) -> int:
    value = body.get(field)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise InvalidInput(f"{field}: expected an integer, got {value!r}", field=field) from None


def _opt_str(body: Any, field: str) -> str | None:
    value = body.get(field)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"{field}: expected a string, got {value!r}", field=field)
    return value


def _str_list(value: Any, field: str) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, str | int):
        return [str(value)]
    if not isinstance(value, list) or not all(isinstance(v, str | int) for v in value):
        raise InvalidInput(f"{field}: expected a list of strings", field=field)
    return [str(v) for v in value]


def _run_id(body: dict[str, Any]) -> str:
    return _required({"run_id": body.get("run_id") or body.get("run_uuid")}, "run_id")


def _tags(items: Any, field: str = "tags") -> dict[str, str]:
    if not isinstance(items, list):
        raise InvalidInput(f"{field}: expected a list of {{key, value}} objects", field=field)
    try:
        return {str(t["key"]): "" if t.get("value") is None else str(t["value"]) for t in items}
    except (KeyError, TypeError, AttributeError) as exc:
        raise InvalidInput(f"{field}: each entry needs a 'key' ({exc})", field=field) from exc


def _exp(exp: Any) -> dict[str, Any]:
    return experiment_to_dict(exp, ARTIFACT_PREFIX)


# -- experiments -----------------------------------------------------------------------------------------------
@router.post("/experiments/create", dependencies=[requires("write")])
async def create_experiment(request: Request) -> dict[str, Any]:
    """Create an experiment."""
    body = await read_json(request)
    exp_id = await blocking(state(request).tracking.create_experiment, _required(body, "name"),
                            body.get("artifact_location") or None, _tags(body.get("tags") or []))
    return {"experiment_id": exp_id}


@router.get("/experiments/get")
async def get_experiment(request: Request, experiment_id: str = "") -> dict[str, Any]:
    """An experiment by id."""
    exp = await blocking(state(request).tracking.get_experiment, _required({"experiment_id": experiment_id},
                                                                            "experiment_id"))
    return {"experiment": _exp(exp)}


@router.get("/experiments/get-by-name")
async def get_experiment_by_name(request: Request, experiment_name: str = "") -> dict[str, Any]:
    """An experiment by name (RESOURCE_DOES_NOT_EXIST when missing, as MLflow answers)."""
    name = _required({"experiment_name": experiment_name}, "experiment_name")
    exp = await blocking(state(request).tracking.get_experiment_by_name, name)
    if exp is None:
        raise NotFound(f"Could not find experiment with name '{name}'")
    return {"experiment": _exp(exp)}


@router.post("/experiments/search")
async def search_experiments(request: Request) -> dict[str, Any]:
    """Search experiments."""
    body = await read_json(request) if request.method == "POST" else dict(request.query_params)
    order_by = _str_list(body.get("order_by"), "order_by")
    if request.method == "GET":
        order_by = request.query_params.getlist("order_by")
    found, token = await blocking(state(request).tracking.search_experiments,
                                  _view_type(body.get("view_type")), _max_results(body),
                                  _opt_str(body, "filter"), order_by, _opt_str(body, "page_token"))
    out: dict[str, Any] = {"experiments": [_exp(e) for e in found]}
    if token:
        out["next_page_token"] = token
    return out


router.add_api_route("/experiments/search", search_experiments, methods=["GET"],
                     operation_id="search_experiments_get", summary="Search experiments (GET form)")


def _max_results(body: Any) -> int:
    value = _int(body, "max_results", 1000)
    if not 0 < value <= 50_000:
        raise InvalidInput(f"max_results: must be between 1 and 50000, got {value}", field="max_results")
    return value


def _view_type(value: Any) -> str:
    if not isinstance(value, str | int | None):
        raise InvalidInput(f"view_type: expected ACTIVE_ONLY, DELETED_ONLY or ALL, got {value!r}", field="view_type")
    if value in (None, "", 1, "1"):
        return "ACTIVE_ONLY"
    return {2: "DELETED_ONLY", "2": "DELETED_ONLY", 3: "ALL", "3": "ALL"}.get(value, str(value))


@router.post("/experiments/delete", dependencies=[requires("write")])
async def delete_experiment(request: Request) -> dict[str, Any]:
    """Soft-delete an experiment."""
    body = await read_json(request)
    await blocking(state(request).tracking.delete_experiment, str(_required(body, "experiment_id")))
    return {}


@router.post("/experiments/restore", dependencies=[requires("write")])
async def restore_experiment(request: Request) -> dict[str, Any]:
    """Restore an experiment."""
    body = await read_json(request)
    await blocking(state(request).tracking.restore_experiment, str(_required(body, "experiment_id")))
    return {}


@router.post("/experiments/update", dependencies=[requires("write")])
async def update_experiment(request: Request) -> dict[str, Any]:
    """Rename an experiment."""
    body = await read_json(request)
    await blocking(state(request).tracking.rename_experiment, str(_required(body, "experiment_id")),
                   _required(body, "new_name"))
    return {}


@router.post("/experiments/set-experiment-tag", dependencies=[requires("write")])
async def set_experiment_tag(request: Request) -> dict[str, Any]:
    """Set an experiment tag."""
    body = await read_json(request)
    await blocking(state(request).tracking.set_experiment_tag, str(_required(body, "experiment_id")),
                   _required(body, "key"), str(body.get("value") or ""))
    return {}


# -- runs ------------------------------------------------------------------------------------------------------
@router.post("/runs/create", dependencies=[requires("write")])
async def create_run(request: Request) -> dict[str, Any]:
    """Start a run."""
    body = await read_json(request)
    start = body.get("start_time")
    run = await blocking(state(request).tracking.create_run, str(body.get("experiment_id") or "0"),
                         body.get("user_id") or None, None if start is None else check_timestamp(start, "start_time"),
                         _tags(body.get("tags") or []), body.get("run_name") or None)
    return {"run": run_to_dict(run, ARTIFACT_PREFIX)}


@router.get("/runs/get")
async def get_run(request: Request, run_id: str = "", run_uuid: str = "") -> dict[str, Any]:
    """A run with its data."""
    run = await blocking(state(request).tracking.get_run, _run_id({"run_id": run_id, "run_uuid": run_uuid}))
    return {"run": run_to_dict(run, ARTIFACT_PREFIX)}


@router.post("/runs/update", dependencies=[requires("write")])
async def update_run(request: Request) -> dict[str, Any]:
    """Change a run's status, end time or name."""
    body = await read_json(request)
    end = body.get("end_time")
    info = await blocking(state(request).tracking.update_run, _run_id(body), body.get("status") or None,
                          None if end is None else check_timestamp(end, "end_time"), body.get("run_name") or None)
    return {"run_info": run_info_to_dict(info, ARTIFACT_PREFIX)}


@router.post("/runs/delete", dependencies=[requires("write")])
async def delete_run(request: Request) -> dict[str, Any]:
    """Soft-delete a run."""
    await blocking(state(request).tracking.delete_run, _run_id(await read_json(request)))
    return {}


@router.post("/runs/restore", dependencies=[requires("write")])
async def restore_run(request: Request) -> dict[str, Any]:
    """Restore a run."""
    await blocking(state(request).tracking.restore_run, _run_id(await read_json(request)))
    return {}


def _metric(d: Any) -> Metric:
    if not isinstance(d, dict) or "key" not in d or "value" not in d:
        raise InvalidInput("metrics: each metric needs 'key' and 'value'", field="metrics")
    metric = metric_from_dict(d)
    return Metric(metric.key, metric.value, check_timestamp(d.get("timestamp", 0), "timestamp"),
                  check_timestamp(d.get("step", 0), "step"))


@router.post("/runs/log-metric", dependencies=[requires("write")])
async def log_metric(request: Request) -> dict[str, Any]:
    """Log one metric point."""
    body = await read_json(request)
    _required(body, "key")
    if "value" not in body:
        raise InvalidInput("Missing value for required parameter 'value'.", field="value")
    await blocking(state(request).tracking.log_batch, _run_id(body), [_metric(body)])
    return {}


@router.post("/runs/log-parameter", dependencies=[requires("write")])
async def log_param(request: Request) -> dict[str, Any]:
    """Log one param."""
    body = await read_json(request)
    await blocking(state(request).tracking.log_batch, _run_id(body), (),
                   {_required(body, "key"): str(body.get("value", ""))})
    return {}


@router.post("/runs/set-tag", dependencies=[requires("write")])
async def set_tag(request: Request) -> dict[str, Any]:
    """Set one tag."""
    body = await read_json(request)
    await blocking(state(request).tracking.log_batch, _run_id(body), (), None,
                   {_required(body, "key"): str(body.get("value", ""))})
    return {}


@router.post("/runs/delete-tag", dependencies=[requires("write")])
async def delete_tag(request: Request) -> dict[str, Any]:
    """Remove a tag."""
    body = await read_json(request)
    await blocking(state(request).tracking.delete_tag, _run_id(body), _required(body, "key"))
    return {}


@router.post("/runs/log-batch", dependencies=[requires("write")])
async def log_batch(request: Request) -> dict[str, Any]:
    """Log metrics, params and tags in one request (MLflow's limits apply)."""
    body = await read_json(request)
    raw_metrics, raw_params, raw_tags = body.get("metrics") or [], body.get("params") or [], body.get("tags") or []
    for field, value in (("metrics", raw_metrics), ("params", raw_params), ("tags", raw_tags)):
        if not isinstance(value, list):
            raise InvalidInput(f"{field}: expected a list", field=field)
    check_batch_limits(len(raw_metrics), raw_params, len(raw_tags))
    keys = [p.get("key") for p in raw_params if isinstance(p, dict)]
    if len(keys) != len(set(keys)):
        raise InvalidInput("params: duplicate keys in one batch; log each param once", field="params")
    metrics = [_metric(m) for m in raw_metrics]
    await blocking(state(request).tracking.log_batch, _run_id(body), metrics, _tags(raw_params, "params"),
                   _tags(raw_tags))
    return {}


@router.post("/runs/log-inputs", dependencies=[requires("write")])
async def log_inputs(request: Request) -> dict[str, Any]:
    """Record dataset inputs of a run."""
    body = await read_json(request)
    try:
        datasets = [dataset_from_dict(d) for d in body.get("datasets") or []]
    except (KeyError, TypeError) as exc:
        raise InvalidInput(f"datasets: each entry needs dataset.name and dataset.digest ({exc})",
                           field="datasets") from exc
    await blocking(state(request).tracking.log_inputs, _run_id(body), datasets)
    return {}


@router.post("/runs/search")
async def search_runs(request: Request) -> dict[str, Any]:
    """Search runs with MLflow's filter grammar."""
    body = await read_json(request)
    runs, token = await blocking(state(request).tracking.search_runs,
                                 _str_list(body.get("experiment_ids"), "experiment_ids"), _opt_str(body, "filter"),
                                 _view_type(body.get("run_view_type")), _max_results(body),
                                 _str_list(body.get("order_by"), "order_by"), _opt_str(body, "page_token"))
    out: dict[str, Any] = {"runs": [run_to_dict(r, ARTIFACT_PREFIX) for r in runs]}
    if token:
        out["next_page_token"] = token
    return out


@router.get("/metrics/get-history")
async def get_metric_history(request: Request, run_id: str = "", run_uuid: str = "", metric_key: str = "",
                             max_results: int | None = None, page_token: str | None = None) -> dict[str, Any]:
    """All points of one metric."""
    rid = _run_id({"run_id": run_id, "run_uuid": run_uuid})
    key = _required({"metric_key": metric_key}, "metric_key")
    points, token = await blocking(state(request).tracking.get_metric_history, rid, key, max_results,
                                   page_token or None)
    out: dict[str, Any] = {"metrics": [m.to_dict() for m in points]}
    if token:
        out["next_page_token"] = token
    return out


@version_router.get("/version", response_class=PlainTextResponse)
async def version() -> str:
    """Server version (plain text, as MLflow answers)."""
    return __version__


@version_router.get("/health", response_class=PlainTextResponse)
async def health() -> str:
    """Liveness probe."""
    return "OK"

