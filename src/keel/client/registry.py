"""The registry repository over HTTP, against ``keel server``'s ``/api/v1`` registry routes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

import orjson

from keel.client.http import HttpSession
from keel.errors import Conflict
from keel.registry.codec import model_version_from_dict, registered_model_from_dict
from keel.registry.entities import ModelVersion, RegisteredModel, check_model_name

__all__ = ["HttpRegistryStore"]


def _model(name: str) -> str:
    return f"/api/v1/registered-models/{quote(check_model_name(name), safe='')}"


def _version(name: str, version: int | str) -> str:
    return f"{_model(name)}/versions/{quote(str(version), safe='')}"


class HttpRegistryStore:
    """:class:`~keel.registry.repository.RegistryRepository` that talks to a Keel server."""

    def __init__(self, session: HttpSession) -> None:
        self.http = session

    def _rm(self, method: str, path: str, **kw: Any) -> RegisteredModel:
        return registered_model_from_dict(self.http.json(method, path, **kw)["registered_model"])

    def _mv(self, method: str, path: str, **kw: Any) -> ModelVersion:
        return model_version_from_dict(self.http.json(method, path, **kw)["model_version"])

    def create_registered_model(self, name: str, tags: Mapping[str, str] | None = None,
                                description: str | None = None) -> RegisteredModel:
        """Create a registered model."""
        body = {"name": name, "tags": dict(tags or {}), "description": description}
        return self._rm("POST", "/api/v1/registered-models", json=body, idempotent=False)

    def get_registered_model(self, name: str) -> RegisteredModel:
        """A registered model with its aliases and latest versions."""
        return self._rm("GET", _model(name))

    def rename_registered_model(self, name: str, new_name: str) -> RegisteredModel:
        """Rename a registered model."""
        return self._rm("PATCH", _model(name), json={"new_name": new_name})

    def update_registered_model(self, name: str, description: str | None) -> RegisteredModel:
        """Change the description."""
        return self._rm("PATCH", _model(name), json={"description": description or ""})

    def delete_registered_model(self, name: str) -> None:
        """Delete a registered model and its versions."""
        self.http.request("DELETE", _model(name))

    def search_registered_models(self, filter_string: str | None = None, max_results: int = 100,
                                 order_by: Sequence[str] | None = None,
                                 page_token: str | None = None) -> tuple[list[RegisteredModel], str | None]:
        """Registered models matching a filter."""
        params = _search_params(filter_string, max_results, order_by, page_token)
        out = self.http.json("GET", "/api/v1/registered-models", params=params)
        return [registered_model_from_dict(d) for d in out["registered_models"]], out.get("next_page_token")

    def set_registered_model_tag(self, name: str, key: str, value: str) -> None:
        """Set a tag on a registered model."""
        self.http.request("PUT", f"{_model(name)}/tags/{quote(key, safe='')}", json={"value": value})

    def delete_registered_model_tag(self, name: str, key: str) -> None:
        """Remove a tag from a registered model."""
        self.http.request("DELETE", f"{_model(name)}/tags/{quote(key, safe='')}")

    def set_registered_model_alias(self, name: str, alias: str, version: int | str) -> None:
        """Point an alias at a version; :class:`Conflict` when the server holds the move for a maintainer's
        approval (a protected alias moved by an editor), naming the request to approve."""
        resp = self.http.request("PUT", f"{_model(name)}/aliases/{quote(alias, safe='')}",
                                 json={"version": int(version)})
        if resp.status_code == 202:
            raise Conflict(orjson.loads(resp.content).get("message") or f"moving alias {alias!r} awaits approval",
                           field="alias")

    def delete_registered_model_alias(self, name: str, alias: str) -> None:
        """Remove an alias."""
        self.http.request("DELETE", f"{_model(name)}/aliases/{quote(alias, safe='')}")

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        """The version an alias points at."""
        return self._mv("GET", f"{_model(name)}/aliases/{quote(alias, safe='')}")

    def create_model_version(self, name: str, source: str | None, run_id: str | None = None,
                             tags: Mapping[str, str] | None = None, run_link: str | None = None,
                             description: str | None = None, model_id: str | None = None,
                             user_id: str | None = None, signature: str | None = None) -> ModelVersion:
        """Register a new version."""
        body = {"source": source, "run_id": run_id, "tags": dict(tags or {}), "run_link": run_link,
                "description": description, "model_id": model_id, "user_id": user_id, "signature": signature}
        return self._mv("POST", f"{_model(name)}/versions", json=body, idempotent=False)

    def get_model_version(self, name: str, version: int | str) -> ModelVersion:
        """One version."""
        return self._mv("GET", _version(name, version))

    def update_model_version(self, name: str, version: int | str, description: str | None) -> ModelVersion:
        """Change a version's description."""
        return self._mv("PATCH", _version(name, version), json={"description": description or ""})

    def delete_model_version(self, name: str, version: int | str) -> None:
        """Delete a version."""
        self.http.request("DELETE", _version(name, version))

    def transition_model_version_stage(self, name: str, version: int | str, stage: str,
                                       archive_existing_versions: bool = False) -> ModelVersion:
        """Move a version to a stage."""
        body = {"stage": stage, "archive_existing_versions": archive_existing_versions}
        return self._mv("PATCH", _version(name, version), json=body)

    def set_model_version_tag(self, name: str, version: int | str, key: str, value: str) -> None:
        """Set a tag on a version."""
        self.http.request("PUT", f"{_version(name, version)}/tags/{quote(key, safe='')}", json={"value": value})

    def delete_model_version_tag(self, name: str, version: int | str, key: str) -> None:
        """Remove a tag from a version."""
        self.http.request("DELETE", f"{_version(name, version)}/tags/{quote(key, safe='')}")

    def search_model_versions(self, filter_string: str | None = None, max_results: int = 10_000,
                              order_by: Sequence[str] | None = None,
                              page_token: str | None = None) -> tuple[list[ModelVersion], str | None]:
        """Versions matching a filter."""
        params = _search_params(filter_string, max_results, order_by, page_token)
        out = self.http.json("GET", "/api/v1/model-versions", params=params)
        return [model_version_from_dict(d) for d in out["model_versions"]], out.get("next_page_token")

    def get_latest_versions(self, name: str, stages: Sequence[str] | None = None) -> list[ModelVersion]:
        """The newest version per stage (MLflow's legacy stages)."""
        out = self.http.json("POST", "/api/2.0/mlflow/registered-models/get-latest-versions",
                             json={"name": name, "stages": list(stages or [])})
        return [model_version_from_dict(d) for d in out.get("model_versions", [])]

    def record_promotion(self, name: str, version: int | str, alias: str, promoted: bool, decided_at: int) -> None:
        """Record a gate decision (lineage edge version → alias)."""
        self.http.request("POST", f"{_version(name, version)}/promotions",
                          json={"alias": alias, "promoted": promoted, "decided_at": decided_at})

    def get_model_version_download_uri(self, name: str, version: int | str) -> str:
        """Where the version's files are."""
        out = self.http.json("GET", "/api/2.0/mlflow/model-versions/get-download-uri",
                             params={"name": name, "version": str(version)})
        return str(out["artifact_uri"])


def _search_params(filter_string: str | None, max_results: int, order_by: Sequence[str] | None,
                   page_token: str | None) -> dict[str, Any]:
    params: dict[str, Any] = {"max_results": max_results, "order_by": list(order_by or [])}
    if filter_string:
        params["filter"] = filter_string
    if page_token:
        params["page_token"] = page_token
    return params
