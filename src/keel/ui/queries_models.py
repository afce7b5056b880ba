"""What the model pages show: the registry list, a model's versions with aliases and gate decisions, one version's
signature, evaluation results, deployments and lineage."""

from __future__ import annotations

import json
from typing import Any

from keel.registry.entities import ModelVersion, RegisteredModel
from keel.registry.repository import RegistryRepository
from keel.serving.deployment import Deployment, DeploymentRepository

__all__ = ["gate_decisions", "list_models", "model_details", "parse_signature", "version_details"]

_PROMOTION = "keel.promotion."


def list_models(registry: RegistryRepository) -> list[RegisteredModel]:
    """Every registered model, by name."""
    found: list[RegisteredModel] = []
    token: str | None = None
    while True:
        page, token = registry.search_registered_models(None, 1000, ["name ASC"], token)
        found.extend(page)
        if not token:
            return found


def _versions(registry: RegistryRepository, name: str) -> list[ModelVersion]:
    escaped = name.replace("'", "''")
    versions, _ = registry.search_model_versions(f"name = '{escaped}'", max_results=10_000)
    return sorted(versions, key=lambda v: -v.version)


def _loads(text: str | None) -> Any:
    if text in (None, "", "none", "null"):
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


def gate_decisions(tags: dict[str, str]) -> list[dict[str, Any]]:
    """The promotion decisions recorded on a version (tags ``keel.promotion.<alias>.*``), one per alias."""
    by_alias: dict[str, dict[str, Any]] = {}
    for key, value in tags.items():
        if not key.startswith(_PROMOTION):
            continue
        alias, _, field = key[len(_PROMOTION):].rpartition(".")
        if alias:
            by_alias.setdefault(alias, {"alias": alias})[field] = value if field in {"verdict", "at", "by"} \
                else _loads(value)
    return [by_alias[a] for a in sorted(by_alias)]


def parse_signature(signature: str | None) -> dict[str, list[dict[str, Any]]] | None:
    """MLflow's signature JSON as ``{"inputs": [...], "outputs": [...], "params": [...]}`` column lists."""
    raw = _loads(signature)
    if not isinstance(raw, dict):
        return None
    out: dict[str, list[dict[str, Any]]] = {}
    for part in ("inputs", "outputs", "params"):
        value = _loads(raw.get(part)) if isinstance(raw.get(part), str) else raw.get(part)
        out[part] = [_column(c) for c in value] if isinstance(value, list) else []
    return out


def _column(spec: Any) -> dict[str, Any]:
    if not isinstance(spec, dict):
        return {"name": "", "type": str(spec), "required": True}
    kind = spec.get("type", "")
    if kind == "tensor" and isinstance(spec.get("tensor-spec"), dict):
        tensor = spec["tensor-spec"]
        kind = f"tensor {tensor.get('dtype', '')} {tensor.get('shape', '')}"
    return {"name": spec.get("name", ""), "type": kind, "required": spec.get("required", True)}


def model_details(registry: RegistryRepository, name: str) -> dict[str, Any]:
    """A model with its versions (newest first), aliases and each version's gate verdicts."""
    model = registry.get_registered_model(name)
    versions = _versions(registry, name)
    rows = [{"version": v.version, "created": v.creation_timestamp, "run_id": v.run_id, "aliases": sorted(v.aliases),
             "status": v.status, "stage": v.current_stage, "description": v.description or "",
             "decisions": [(d["alias"], d.get("verdict", "")) for d in gate_decisions(v.tags)]} for v in versions]
    return {"model": model, "versions": rows, "aliases": dict(sorted(model.aliases.items()))}


def _serves(deployment: Deployment, version: ModelVersion) -> list[str]:
    roles = []
    for role, routes in (("route", deployment.routes), ("shadow", deployment.shadows)):
        for route in routes:
            if route.model != version.name:
                continue
            if route.version == version.version or (route.alias is not None and route.alias in version.aliases):
                roles.append(f"{role} {route.target}" + (f" ({route.weight:g})" if role == "route" else ""))
    return roles


def version_details(registry: RegistryRepository, deployments: DeploymentRepository, name: str,
                    version: int | str) -> dict[str, Any]:
    """One version: its facts, signature, gate decisions and the deployments serving it now."""
    mv = registry.get_model_version(name, version)
    model = registry.get_registered_model(name)
    serving = []
    for deployment in deployments.list_deployments():
        roles = _serves(deployment, mv)
        if roles:
            serving.append({"name": deployment.name, "revision": deployment.revision, "roles": roles})
    tags = sorted((k, v) for k, v in mv.tags.items() if not k.startswith(_PROMOTION))
    return {"model": model, "mv": mv, "signature": parse_signature(mv.signature),
            "decisions": gate_decisions(mv.tags), "deployments": serving, "tags": tags,
            "all_versions": [v.version for v in _versions(registry, name)]}
