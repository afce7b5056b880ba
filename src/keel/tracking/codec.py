"""JSON shapes of tracking entities, shared by the server (both APIs) and the HTTP client.

Runs and experiments use MLflow's REST shapes, so one codec serves Keel's API and the MLflow-compatible one.
"""

from __future__ import annotations

from typing import Any

from keel.errors import InvalidInput
from keel.tracking.entities import DatasetInput, Experiment, Metric, Run, RunInfo, decode_float
from keel.tracking.validation import check_timestamp

__all__ = [
    "dataset_from_dict",
    "dataset_to_dict",
    "experiment_from_dict",
    "experiment_to_dict",
    "metric_from_dict",
    "run_from_dict",
    "run_info_to_dict",
    "run_to_dict",
]


def experiment_to_dict(exp: Experiment, artifact_prefix: str = "") -> dict[str, Any]:
    """MLflow's experiment object."""
    return {
        "experiment_id": exp.experiment_id, "name": exp.name,
        "artifact_location": artifact_prefix + exp.artifact_location, "lifecycle_stage": exp.lifecycle_stage,
        "creation_time": exp.creation_time, "last_update_time": exp.last_update_time,
        "tags": [{"key": k, "value": v} for k, v in exp.tags.items()],
    }


def experiment_from_dict(d: dict[str, Any], artifact_prefix: str = "") -> Experiment:
    """Inverse of :func:`experiment_to_dict`."""
    return Experiment(str(d["experiment_id"]), d["name"], d.get("artifact_location", "").removeprefix(artifact_prefix),
                      d.get("lifecycle_stage", "active"), int(d.get("creation_time") or 0),
                      int(d.get("last_update_time") or 0), _kv(d.get("tags")))


def run_info_to_dict(info: RunInfo, artifact_prefix: str = "") -> dict[str, Any]:
    """MLflow's run info object (``run_uuid`` kept for old clients)."""
    d: dict[str, Any] = {
        "run_id": info.run_id, "run_uuid": info.run_id, "experiment_id": info.experiment_id,
        "run_name": info.run_name, "user_id": info.user_id or "", "status": info.status,
        "start_time": info.start_time, "artifact_uri": artifact_prefix + info.artifact_uri,
        "lifecycle_stage": info.lifecycle_stage,
    }
    if info.end_time is not None:
        d["end_time"] = info.end_time
    return d


def run_to_dict(run: Run, artifact_prefix: str = "") -> dict[str, Any]:
    """MLflow's run object: info, data (latest metrics, params, tags) and inputs."""
    return {
        "info": run_info_to_dict(run.info, artifact_prefix),
        "data": {
            "metrics": [m.to_dict() for m in run.metrics.values()],
            "params": [{"key": k, "value": v} for k, v in run.params.items()],
            "tags": [{"key": k, "value": v} for k, v in run.tags.items()],
        },
        "inputs": {"dataset_inputs": [dataset_to_dict(ds) for ds in run.inputs]},
    }


def run_from_dict(d: dict[str, Any], artifact_prefix: str = "") -> Run:
    """Inverse of :func:`run_to_dict`."""
    i, data = d["info"], d.get("data", {})
    info = RunInfo(i.get("run_id") or i["run_uuid"], str(i["experiment_id"]), i.get("run_name"),
                   i.get("user_id") or None, i["status"], i.get("start_time"), i.get("end_time"),
                   i.get("artifact_uri", "").removeprefix(artifact_prefix), i.get("lifecycle_stage", "active"))
    metrics = {m["key"]: metric_from_dict(m) for m in data.get("metrics", [])}
    inputs = [dataset_from_dict(x) for x in d.get("inputs", {}).get("dataset_inputs", [])]
    return Run(info, _kv(data.get("params")), metrics, _kv(data.get("tags")), inputs)


def metric_from_dict(d: dict[str, Any]) -> Metric:
    """A metric from ``{key, value, timestamp, step}`` (value may be "NaN"/"Infinity")."""
    if not isinstance(d, dict) or not isinstance(d.get("key"), str) or "value" not in d:
        raise InvalidInput("metrics: each metric needs a string 'key' and a 'value'", field="metrics")
    return Metric(d["key"], decode_float(d["value"], f"metrics.{d['key']}"),
                  check_timestamp(d.get("timestamp") or 0, "timestamp"), check_timestamp(d.get("step") or 0, "step"))


def dataset_to_dict(ds: DatasetInput) -> dict[str, Any]:
    """MLflow's dataset input: the dataset plus its context tag."""
    tags = [{"key": "mlflow.data.context", "value": ds.context}] if ds.context else []
    dataset = {"name": ds.name, "digest": ds.digest, "source_type": ds.source_type or "", "source": ds.source or ""}
    if ds.schema:
        dataset["schema"] = ds.schema
    if ds.profile:
        dataset["profile"] = ds.profile
    return {"tags": tags, "dataset": dataset}


def dataset_from_dict(d: dict[str, Any]) -> DatasetInput:
    """Inverse of :func:`dataset_to_dict`."""
    ds = d["dataset"]
    context = _kv(d.get("tags")).get("mlflow.data.context")
    return DatasetInput(ds["name"], ds["digest"], ds.get("source_type") or None, ds.get("source") or None,
                        ds.get("schema") or None, ds.get("profile") or None, context)


def _kv(items: Any) -> dict[str, str]:
    return {x["key"]: x.get("value", "") for x in items or []}


