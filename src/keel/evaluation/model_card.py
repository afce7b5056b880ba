"""Model cards generated from what Keel knows about a model version — nothing typed by hand but tags/description.

:func:`model_card_facts` gathers, for ``NAME`` version ``V``: the fields people fill in (description, and the tags
``owner``, ``intended_use``, ``limitations``, ``ethical_considerations`` on the version or the registered model),
the training run (params, metrics) and the dataset versions it consumed with their validation results, the
evaluations (overall and per-slice metrics), the fairness gaps, the top features (from ``keel.explain``), the
promotion gate decisions, the signature, the lineage and the deployments routing traffic to it. What is unknown is
listed in ``missing`` and shown as missing, never invented. :func:`render_model_card` renders Markdown or HTML.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from keel.errors import InvalidInput, KeelError
from keel.evaluation.explain import logged_importance
from keel.evaluation.fairness import FAIRNESS_TAG
from keel.registry.entities import ModelVersion

__all__ = ["PEOPLE_FIELDS", "model_card_facts", "render_model_card"]

#: Fields only a person can write, read from these tags of the version (or of the registered model).
PEOPLE_FIELDS = ("owner", "intended_use", "limitations", "ethical_considerations")
_PROMOTION = "keel.promotion."
_FORMATS = ("md", "html")


def render_model_card(name: str, version: int | str, fmt: str = "md") -> str:
    """The model card of ``name`` version ``version`` as Markdown (``fmt="md"``) or a standalone HTML page."""
    if fmt not in _FORMATS:
        raise InvalidInput(f"format {fmt!r}: use md or html", field="format")
    from keel.evaluation.card_templates import render

    return render(model_card_facts(name, version), fmt)


def model_card_facts(name: str, version: int | str) -> dict[str, Any]:
    """Everything the card shows, as plain JSON-ready data (also useful to a UI or an audit)."""
    from keel.tracking.context import get_backend

    backend = get_backend()
    mv: ModelVersion = backend.registry.get_model_version(name, version)
    rm = backend.registry.get_registered_model(name)
    missing: list[str] = []
    facts: dict[str, Any] = {
        "name": mv.name, "version": mv.version, "aliases": sorted(mv.aliases), "stage": mv.current_stage,
        "status": mv.status, "source": mv.source, "run_id": mv.run_id, "created": _iso(mv.creation_timestamp),
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "description": mv.description or rm.description or None,
    }
    for key in PEOPLE_FIELDS:
        facts[key] = mv.tags.get(key) or rm.tags.get(key) or None
    facts["signature"] = _signature(mv.signature)
    facts["training_run"] = _training_run(backend, mv.run_id)
    facts["gates"] = _gates(mv.tags)
    facts["top_features"] = list(logged_importance(mv.tags).items())[:10]
    facts["explained_output"] = mv.tags.get("keel.explain.output")
    facts["fairness"] = _fairness(mv.tags)
    facts["evaluations"] = _evaluations(backend, f"models:/{mv.name}/{mv.version}")
    facts["lineage"], facts["data"] = _lineage_and_data(mv, facts["training_run"])
    facts["deployments"] = _deployments(backend, mv)
    for key, hint in HINTS.items():
        if not facts.get(key):
            missing.append(f"{key.replace('_', ' ')}: {hint}")
    facts["missing"] = missing
    return facts


HINTS = {
    "description": "set a description on the version or the registered model",
    "owner": "set tag owner on the version or the registered model",
    "intended_use": "set tag intended_use",
    "limitations": "set tag limitations",
    "ethical_considerations": "set tag ethical_considerations",
    "signature": "log the model with an input_example",
    "training_run": "register the model from a tracked run",
    "data": "log the training data with keel.log_input(dataset_version)",
    "evaluations": "run keel.evaluate / keel models promote",
    "fairness": "run keel.fairness(model_uri, data, targets, sensitive=[...])",
    "top_features": "run keel.explain / keel models explain",
    "gates": "promote it with keel models promote",
    "deployments": "no deployment routes traffic to it",
}


def _iso(ms: int | None) -> str | None:
    return None if not ms else datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="seconds")


def _signature(raw: str | None) -> dict[str, list[dict[str, Any]]] | None:
    if not raw:
        return None
    try:
        data = json.loads(raw)
        return {part: [_spec(s) for s in json.loads(data[part])] for part in ("inputs", "outputs") if data.get(part)}
    except (ValueError, TypeError, KeyError):
        return None


def _spec(spec: dict[str, Any]) -> dict[str, Any]:
    if spec.get("type") == "tensor":
        tensor = spec.get("tensor-spec", {})
        return {"name": spec.get("name") or "(tensor)", "type": f"tensor {tensor.get('dtype')} {tensor.get('shape')}"}
    return {"name": spec.get("name") or "(unnamed)", "type": spec.get("type")}


def _training_run(backend: Any, run_id: str | None) -> dict[str, Any] | None:
    if not run_id:
        return None
    try:
        run = backend.tracking.get_run(run_id)
    except KeelError:
        return None
    return {"run_id": run.run_id, "name": run.info.run_name, "user": run.info.user_id,
            "started": _iso(run.info.start_time), "params": dict(sorted(run.params.items())),
            "metrics": {k: m.value for k, m in sorted(run.metrics.items())},
            "inputs": [{"name": i.name, "digest": i.digest[:12], "source": i.source, "context": i.context,
                        "source_type": i.source_type} for i in run.inputs]}


def _gates(tags: dict[str, str]) -> list[dict[str, Any]]:
    aliases = sorted({k[len(_PROMOTION):].rsplit(".", 1)[0] for k in tags if k.startswith(_PROMOTION)})
    decisions = []
    for alias in aliases:
        prefix = f"{_PROMOTION}{alias}."
        decisions.append({"alias": alias, "verdict": tags.get(prefix + "verdict"), "at": tags.get(prefix + "at"),
                          "by": tags.get(prefix + "by"), "incumbent": tags.get(prefix + "incumbent"),
                          "conditions": _json(tags.get(prefix + "conditions"), []),
                          "comparison": _json(tags.get(prefix + "comparison"), None),
                          "metrics": _json(tags.get(prefix + "metrics"), {})})
    return decisions


def _fairness(tags: dict[str, str]) -> dict[str, Any] | None:
    data = _json(tags.get(FAIRNESS_TAG), None)
    return data if isinstance(data, dict) and data.get("gaps") else None


def _json(raw: str | None, default: Any) -> Any:
    if not raw:
        return default
    try:
        return json.loads(raw)
    except ValueError:
        return default


def _evaluations(backend: Any, model_uri: str) -> list[dict[str, Any]]:
    """Evaluation runs of this version (tag ``keel.evaluation.model_uri``): metrics, and slices when logged."""
    experiments = backend.tracking.search_experiments()
    experiments = experiments[0] if isinstance(experiments, tuple) else experiments
    ids = [e.experiment_id for e in experiments]
    if not ids:
        return []
    escaped = model_uri.replace("'", "''")
    runs, _ = backend.tracking.search_runs(ids, f"tags.`keel.evaluation.model_uri` = '{escaped}'", max_results=20,
                                           order_by=["attributes.start_time DESC"])
    out = []
    for run in runs:
        slices = _artifact_json(backend, run.info.artifact_uri, "evaluation/slice_metrics.json")
        out.append({"run_id": run.run_id, "started": _iso(run.info.start_time),
                    "task": run.tags.get("keel.evaluation.task"),
                    "metrics": {k: m.value for k, m in sorted(run.metrics.items())}, "slices": slices or {}})
    return out


def _artifact_json(backend: Any, artifact_uri: str, path: str) -> Any:
    try:
        return json.loads(backend.artifacts.get_bytes(f"{artifact_uri}/{path}"))
    except (KeelError, ValueError, OSError):
        return None


def _lineage_and_data(mv: ModelVersion,
                      run: dict[str, Any] | None) -> tuple[dict[str, list[str]], list[dict[str, Any]]]:
    """The lineage links around the version, and every dataset version among its ancestors with validations."""
    try:
        from keel.governance.lineage_store import lineage

        graph = lineage("model_version", f"{mv.name}/{mv.version}")
    except InvalidInput:  # a remote tracking server: the lineage graph is read from the local store only
        graph = None
    links = {"ancestors": [], "descendants": []} if graph is None else {
        "ancestors": [f"{link.upstream} --{link.relation}--> {link.downstream}" for link in graph.ancestors],
        "descendants": [f"{link.upstream} --{link.relation}--> {link.downstream}" for link in graph.descendants]}
    ids = [] if graph is None else sorted({link.upstream.id for link in graph.ancestors
                                           if link.upstream.kind == "dataset_version"})
    contexts = {}
    for item in (run or {}).get("inputs", []):
        if item.get("source_type") == "keel-dataset" and item.get("source"):
            contexts[str(item["source"]).rsplit("@", 1)[-1]] = item.get("context")
    return links, [_dataset(ident, contexts.get(ident)) for ident in ids]


def _dataset(ident: str, context: str | None) -> dict[str, Any]:
    from sqlalchemy import select

    import keel.data
    from keel.local_store import local_database
    from keel.store.tables import dataset_versions

    db, project = local_database("model cards read dataset versions from")
    with db.read() as conn:
        row = conn.execute(select(dataset_versions.c.name).where(dataset_versions.c.project == project,
                                                                 dataset_versions.c.id == ident)).first()
    if row is None:
        return {"id": ident, "ref": None, "context": context, "validations": []}
    version = keel.data.get_version(f"{row.name}@{ident}")
    reports = keel.data.validation_reports(version)
    return {"id": version.id, "ref": version.ref, "rows": version.row_count, "created": _iso(version.created_at),
            "message": version.message, "context": context or "upstream",
            "validations": [{"passed": r.get("passed"), "suite": r.get("suite"), "at": _iso(r.get("recorded_at")),
                             "checks": len(r.get("checks", [])),
                             "failed": sum(1 for c in r.get("checks", []) if not c.get("passed", True))}
                            for r in reports]}


def _deployments(backend: Any, mv: ModelVersion) -> list[dict[str, Any]]:
    """Deployments whose current routes or shadows reach this version (by number or by an alias it holds)."""
    store = backend.deployments
    if store is None:
        return []
    try:
        deployments = store.list_deployments()
    except KeelError:
        return []
    found = []
    for deployment in deployments:
        total = sum(r.weight for r in deployment.routes) or 1.0
        for role, routes in (("route", deployment.routes), ("shadow", deployment.shadows)):
            for route in routes:
                if route.model == mv.name and (route.version == mv.version or route.alias in mv.aliases):
                    share = f"{100 * route.weight / total:.0f} %" if role == "route" else "mirrored"
                    found.append({"deployment": deployment.name, "revision": deployment.revision, "role": role,
                                  "target": route.target, "traffic": share})
    return found

