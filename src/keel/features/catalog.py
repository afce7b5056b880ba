"""What is applied: the rows of ``keel features list`` and the detail of ``keel features show``."""

from __future__ import annotations

from typing import Any

from keel.errors import NotFound
from keel.features.registry import snapshot, sql_registry
from keel.features.stores import store_label

__all__ = ["describe_view", "list_views"]


def list_views() -> list[dict[str, Any]]:
    """One row per applied entity, feature view and on-demand view: kind, name, version, and a short summary."""
    snap = snapshot()
    rows: list[dict[str, Any]] = []
    for (kind, name), record in sorted(snap.records.items(), key=lambda kv: (kv[0][0] != "entity", kv[0])):
        spec = record.spec or {}
        summary = ", ".join(spec["join_keys"]) if kind == "entity" else \
            ", ".join(f["name"] for f in spec.get("schema", []))
        rows.append({"kind": kind, "name": name, "version": record.version, "summary": summary,
                     "author": record.author, "applied_at": record.created_at})
    return rows


def describe_view(name: str) -> dict[str, Any]:
    """A definition's spec, its version history, and (for feature views) its materializations into the store."""
    snap = snapshot()
    for kind in ("feature_view", "on_demand_feature_view", "entity"):
        if (kind, name) in snap.records:
            break
    else:
        known = ", ".join(sorted(n for _, n in snap.records)) or "none (keel features apply)"
        raise NotFound(f"no feature view, on-demand view or entity {name!r}; applied: {known}", field="name")
    registry = sql_registry()
    record = snap.records[(kind, name)]
    history = [{"version": r.version, "removed": r.spec is None, "author": r.author, "applied_at": r.created_at}
               for r in registry.history(kind, name)]
    detail: dict[str, Any] = {"kind": kind, "name": name, "version": record.version, "spec": record.spec,
                              "history": history}
    if kind == "feature_view":
        detail["materializations"] = [run.__dict__ for run in registry.materializations(name, store_label())]
    return detail
