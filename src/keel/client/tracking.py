"""The tracking repository over HTTP, against ``keel server``'s ``/api/v1`` routes."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

from keel.client.http import HttpSession
from keel.tracking.codec import (
    dataset_to_dict,
    experiment_from_dict,
    metric_from_dict,
    run_from_dict,
)
from keel.tracking.entities import DatasetInput, Experiment, Metric, Run, RunInfo, encode_float
from keel.tracking.repository import MetricColumns
from keel.tracking.validation import check_run_id

__all__ = ["HttpTrackingStore"]


class HttpTrackingStore:
    """:class:`~keel.tracking.repository.TrackingRepository` that talks to a Keel server."""

    def __init__(self, session: HttpSession) -> None:
        self.http = session

    def create_experiment(self, name: str, artifact_location: str | None = None,
                          tags: Mapping[str, str] | None = None) -> str:
        """Create an experiment; returns its id."""
        body = {"name": name, "artifact_location": artifact_location, "tags": dict(tags or {})}
        return str(self.http.json("POST", "/api/v1/experiments", json=body, idempotent=False)["experiment_id"])

    def get_experiment(self, experiment_id: str) -> Experiment:
        """The experiment with this id."""
        return experiment_from_dict(self.http.json("GET", f"/api/v1/experiments/{experiment_id}")["experiment"])

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        """The experiment with this name, or None."""
        found = self.http.json("GET", "/api/v1/experiments/by-name", params={"name": name})["experiment"]
        return None if found is None else experiment_from_dict(found)

    def search_experiments(self, view_type: str = "ACTIVE_ONLY", max_results: int = 1000,
                           filter_string: str | None = None, order_by: Sequence[str] | None = None,
                           page_token: str | None = None) -> tuple[list[Experiment], str | None]:
        """Experiments matching a filter."""
        params: dict[str, Any] = {"view_type": view_type, "max_results": max_results,
                                  "filter": filter_string or "", "order_by": list(order_by or [])}
        if page_token:
            params["page_token"] = page_token
        out = self.http.json("GET", "/api/v1/experiments", params=params)
        return [experiment_from_dict(e) for e in out["experiments"]], out.get("next_page_token")

    def delete_experiment(self, experiment_id: str) -> None:
        """Soft-delete an experiment."""
        self.http.request("DELETE", f"/api/v1/experiments/{experiment_id}")

    def restore_experiment(self, experiment_id: str) -> None:
        """Restore a deleted experiment."""
        self.http.request("POST", f"/api/v1/experiments/{experiment_id}/restore")

    def rename_experiment(self, experiment_id: str, new_name: str) -> None:
        """Rename an experiment."""
        self.http.request("PATCH", f"/api/v1/experiments/{experiment_id}", json={"name": new_name})

    def set_experiment_tag(self, experiment_id: str, key: str, value: str) -> None:
        """Set a tag on an experiment."""
        self.http.request("POST", f"/api/v1/experiments/{experiment_id}/tags", json={"key": key, "value": value})

    def create_run(self, experiment_id: str, user_id: str | None = None, start_time: int | None = None,
                   tags: Mapping[str, str] | None = None, run_name: str | None = None) -> Run:
        """Start a run."""
        body = {"experiment_id": experiment_id, "user_id": user_id, "start_time": start_time,
                "tags": dict(tags or {}), "run_name": run_name}
        return run_from_dict(self.http.json("POST", "/api/v1/runs", json=body, idempotent=False)["run"])

    def get_run(self, run_id: str) -> Run:
        """A run with its data."""
        return run_from_dict(self.http.json("GET", f"/api/v1/runs/{_q(run_id)}")["run"])

    def update_run(self, run_id: str, status: str | None = None, end_time: int | None = None,
                   run_name: str | None = None) -> RunInfo:
        """Change a run's status, end time or name."""
        body = {"status": status, "end_time": end_time, "run_name": run_name}
        info = self.http.json("PATCH", f"/api/v1/runs/{_q(run_id)}", json=body)["run_info"]
        return run_from_dict({"info": info}).info

    def delete_run(self, run_id: str) -> None:
        """Soft-delete a run."""
        self.http.request("DELETE", f"/api/v1/runs/{_q(run_id)}")

    def restore_run(self, run_id: str) -> None:
        """Restore a deleted run."""
        self.http.request("POST", f"/api/v1/runs/{_q(run_id)}/restore")

    def log_batch(self, run_id: str, metrics: Sequence[Metric] = (), params: Mapping[str, str] | None = None,
                  tags: Mapping[str, str] | None = None) -> None:
        """Log metrics, params and tags in one request."""
        body = {"metrics": [m.to_dict() for m in metrics], "params": dict(params or {}), "tags": dict(tags or {})}
        self.http.request("POST", f"/api/v1/runs/{_q(run_id)}/batch", json=body)

    def log_metric_columns(self, run_id: str, columns: MetricColumns, batch_id: str | None = None) -> int:
        """Send columnar points; idempotent per ``batch_id``."""
        body = {"batch_id": batch_id, "keys": list(columns.keys), "values": _values(columns.values),
                "timestamps": list(columns.timestamps), "steps": list(columns.steps)}
        return int(self.http.json("POST", f"/api/v1/runs/{_q(run_id)}/metrics", json=body,
                                  idempotent=batch_id is not None)["stored"])

    def delete_tag(self, run_id: str, key: str) -> None:
        """Remove a tag from a run."""
        self.http.request("DELETE", f"/api/v1/runs/{_q(run_id)}/tags", params={"key": key})

    def log_inputs(self, run_id: str, datasets: Sequence[DatasetInput]) -> None:
        """Record datasets a run consumed."""
        body = {"datasets": [dataset_to_dict(d) for d in datasets]}
        self.http.request("POST", f"/api/v1/runs/{_q(run_id)}/inputs", json=body)

    def get_metric_history(self, run_id: str, key: str, max_results: int | None = None,
                           page_token: str | None = None) -> tuple[list[Metric], str | None]:
        """All points of one metric."""
        params: dict[str, Any] = {"key": key}
        if max_results is not None:
            params["max_results"] = max_results
        if page_token:
            params["page_token"] = page_token
        out = self.http.json("GET", f"/api/v1/runs/{_q(run_id)}/metric-history", params=params)
        return [metric_from_dict(m) for m in out["metrics"]], out.get("next_page_token")

    def search_runs(self, experiment_ids: Sequence[str], filter_string: str | None = None,
                    run_view_type: str = "ACTIVE_ONLY", max_results: int = 1000,
                    order_by: Sequence[str] | None = None,
                    page_token: str | None = None) -> tuple[list[Run], str | None]:
        """Runs matching a filter, ordered and paged."""
        body = {"experiment_ids": list(experiment_ids), "filter": filter_string, "run_view_type": run_view_type,
                "max_results": max_results, "order_by": list(order_by or []), "page_token": page_token}
        out = self.http.json("POST", "/api/v1/runs/search", json=body)
        return [run_from_dict(r) for r in out["runs"]], out.get("next_page_token")


def _q(run_id: str) -> str:
    return quote(check_run_id(run_id), safe="")


def _values(values: Sequence[float]) -> list[float | str]:
    if all(map(math.isfinite, values)):
        return list(values)
    return [encode_float(v) for v in values]


