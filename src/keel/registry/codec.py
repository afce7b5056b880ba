"""JSON shapes of registry entities (MLflow's), shared by the server's routes and the HTTP client."""

from __future__ import annotations

from typing import Any

from keel.registry.entities import ModelVersion, RegisteredModel

__all__ = ["model_version_from_dict", "model_version_to_dict", "registered_model_from_dict",
           "registered_model_to_dict"]


def model_version_to_dict(mv: ModelVersion) -> dict[str, Any]:
    """MLflow's ModelVersion object (version as a string)."""
    d: dict[str, Any] = {
        "name": mv.name, "version": str(mv.version), "creation_timestamp": mv.creation_timestamp,
        "last_updated_timestamp": mv.last_updated_timestamp, "current_stage": mv.current_stage,
        "description": mv.description or "", "source": mv.source or "", "run_id": mv.run_id or "",
        "status": mv.status, "tags": [{"key": k, "value": v} for k, v in mv.tags.items()], "aliases": mv.aliases,
    }
    for key, value in (("user_id", mv.user_id), ("run_link", mv.run_link), ("model_id", mv.model_id),
                       ("status_message", mv.status_message)):
        if value:
            d[key] = value
    return d


def registered_model_to_dict(rm: RegisteredModel) -> dict[str, Any]:
    """MLflow's RegisteredModel object with latest versions, tags and aliases."""
    return {
        "name": rm.name, "creation_timestamp": rm.creation_timestamp,
        "last_updated_timestamp": rm.last_updated_timestamp, "description": rm.description or "",
        "latest_versions": [model_version_to_dict(mv) for mv in rm.latest_versions],
        "tags": [{"key": k, "value": v} for k, v in rm.tags.items()],
        "aliases": [{"alias": a, "version": str(v)} for a, v in sorted(rm.aliases.items())],
    }


def model_version_from_dict(d: dict[str, Any]) -> ModelVersion:
    """Inverse of :func:`model_version_to_dict`."""
    return ModelVersion(
        d["name"], int(d["version"]), int(d.get("creation_timestamp") or 0), int(d.get("last_updated_timestamp") or 0),
        d.get("source") or None, d.get("run_id") or None, d.get("model_id") or None, d.get("current_stage") or "None",
        d.get("status") or "READY", d.get("status_message") or None, d.get("description") or None,
        d.get("user_id") or None, d.get("run_link") or None, d.get("signature") or None,
        {t["key"]: t.get("value", "") for t in d.get("tags") or []}, list(d.get("aliases") or []))


def registered_model_from_dict(d: dict[str, Any]) -> RegisteredModel:
    """Inverse of :func:`registered_model_to_dict`."""
    return RegisteredModel(
        d["name"], int(d.get("creation_timestamp") or 0), int(d.get("last_updated_timestamp") or 0),
        d.get("description") or None, {t["key"]: t.get("value", "") for t in d.get("tags") or []},
        {a["alias"]: int(a["version"]) for a in d.get("aliases") or []},
        [model_version_from_dict(v) for v in d.get("latest_versions") or []])
