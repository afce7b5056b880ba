"""The feature registry as the SDK sees it: the live definitions (cached per process, refreshed when an apply
happens), ``apply`` with its diff, consistency and breaking-change checks, and loading definitions from a module."""

from __future__ import annotations

import json
import runpy
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from keel.config import current_user
from keel.errors import Conflict, InvalidInput, NotFound
from keel.features.definitions import Definition, Entity, FeatureView, OnDemandFeatureView, definition_from_spec
from keel.features.plan import Plan, broken_refs, check_consistent, diff
from keel.features.registry_sql import Record, SqlFeatureRegistry
from keel.local_store import local_database
from keel.store.lineage import Edge

__all__ = ["ApplyResult", "Snapshot", "apply", "load_definitions", "snapshot", "sql_registry"]

_REFRESH_S = 1.0  # how stale another process's apply may look to a long-running reader


@dataclass
class Snapshot:
    """The live definitions by name, with their stored records (``view@vN`` ids for lineage)."""

    entities: dict[str, Entity] = field(default_factory=dict)
    views: dict[str, FeatureView] = field(default_factory=dict)
    on_demand: dict[str, OnDemandFeatureView] = field(default_factory=dict)
    records: dict[tuple[str, str], Record] = field(default_factory=dict)

    def view(self, name: str) -> FeatureView:
        """One feature view; NotFound listing the known ones."""
        if name not in self.views:
            known = ", ".join(sorted(self.views)) or "none (keel features apply)"
            raise NotFound(f"feature view {name!r} is not applied; known views: {known}", field="view")
        return self.views[name]

    def join_keys(self, view: FeatureView) -> list[str]:
        """The view's join keys, in its entities' order."""
        return [k for e in view.entity_names for k in self.entities[e].join_keys]

    def lineage_id(self, kind: str, name: str) -> str:
        """``name@vN`` of the applied version."""
        return f"{name}@v{self.records[(kind, name)].version}"

    def available(self) -> dict[str, list[str]]:
        """Feature names by view (and on-demand view) name."""
        found = {n: v.feature_names for n, v in self.views.items()}
        found.update({n: v.feature_names for n, v in self.on_demand.items()})
        return found


@dataclass(frozen=True)
class ApplyResult:
    """What an apply did (or, for a dry run, would do)."""

    plan: Plan
    applied: bool
    records: list[Record]


_cache: dict[str, tuple[float, tuple[int, int], Snapshot]] = {}
_lock = threading.Lock()


def sql_registry() -> SqlFeatureRegistry:
    """The registry of the configured project in the local metadata store."""
    return SqlFeatureRegistry(*local_database("the feature store (keel server's /get-online-features serves remote "
                                              "clients) works on"))


def snapshot() -> Snapshot:
    """The live definitions, read once per process and re-read when any process has applied since."""
    registry = sql_registry()
    key = f"{registry.db.url}|{registry.project}"
    now = time.monotonic()
    with _lock:
        cached = _cache.get(key)
        if cached is not None and now - cached[0] < _REFRESH_S:
            return cached[2]
    generation = registry.generation()
    if cached is not None and cached[1] == generation:
        with _lock:
            _cache[key] = (now, generation, cached[2])
        return cached[2]
    snap = _build(registry.current())
    with _lock:
        _cache[key] = (now, generation, snap)
    return snap


def _build(records: dict[tuple[str, str], Record]) -> Snapshot:
    snap = Snapshot(records=records)
    for (kind, name), record in sorted(records.items()):
        assert record.spec is not None
        definition = definition_from_spec(kind, record.spec)
        target = {"entity": snap.entities, "feature_view": snap.views, "on_demand_feature_view": snap.on_demand}[kind]
        target[name] = definition  # type: ignore[index]
    return snap


def apply(definitions: Sequence[Definition], *, partial: bool = True, dry_run: bool = False, force: bool = False,
          base_dir: str | Path | None = None) -> ApplyResult:
    """Register ``definitions`` (new versions of those that changed) and return the plan.

    ``partial`` (the SDK default) leaves definitions not given alone; ``keel features apply module.py`` applies a
    module's complete set, removing the rest. A change that removes or retypes a feature a registered model version
    declares (``keel.log_model(..., features=[...])``) is refused with :class:`~keel.errors.Conflict` unless ``force``.
    Relative file sources resolve against ``base_dir`` (default: the current directory).
    """
    registry = sql_registry()
    base = Path(base_dir) if base_dir is not None else Path.cwd()
    desired = _specs(definitions, base)
    current = {key: record.spec for key, record in registry.current().items() if record.spec is not None}
    merged = {**current, **desired} if partial else dict(desired)
    check_consistent(merged)
    plan = diff(current, desired, partial=partial)
    _check_sources(definitions, merged)
    if not force:
        _refuse_breaking(broken_refs(current, plan, merged))
    if dry_run or plan.empty:
        return ApplyResult(plan, False, [])
    changes = [(c.kind, c.name, None if c.action == "remove" else desired[(c.kind, c.name)]) for c in plan.changes]
    records = registry.write(changes, current_user(), _source_edges(plan, desired))
    with _lock:
        _cache.clear()
    return ApplyResult(plan, True, records)


def _specs(definitions: Sequence[Definition], base: Path) -> dict[tuple[str, str], dict[str, object]]:
    specs: dict[tuple[str, str], dict[str, object]] = {}
    for d in definitions:
        if not isinstance(d, (Entity, FeatureView, OnDemandFeatureView)):
            raise InvalidInput(f"cannot apply a {type(d).__name__}: give Entity, FeatureView or OnDemandFeatureView "
                               "objects", field="definitions")
        if isinstance(d, FeatureView):
            spec = d.to_spec()
            spec["source"] = d.src.resolved(base).to_spec()
        else:
            spec = d.to_spec()
        key = (d.kind, d.name)
        if key in specs and specs[key] != spec:
            raise InvalidInput(f"two different definitions are named {d.name!r}", field="name")
        specs[key] = json.loads(json.dumps(spec))
    return specs


def _check_sources(definitions: Sequence[Definition], merged: Mapping[tuple[str, str], Any]) -> None:
    """Each given view's source must be readable and carry its timestamp field, join keys and features."""
    from keel.features.offline_sources import connect, resolve_source, times_unique
    from keel.features.source_facts import remember_unique_times

    for d in definitions:
        if isinstance(d, FeatureView):
            view = FeatureView.from_spec(merged[(d.kind, d.name)])
            keys = [k for e in view.entity_names for k in merged[("entity", e)]["join_keys"]]
            con = connect()
            try:
                resolved = resolve_source(con, view, keys, "__check")
                if resolved.identity is not None and not resolved.unique_times:  # learn it once per content
                    remember_unique_times(resolved.identity, keys, view.timestamp_field,
                                          times_unique(con, resolved, keys))
            finally:
                con.close()


def _refuse_breaking(broken: set[str]) -> None:
    if not broken:
        return
    from keel.features.model_features import models_using

    users = models_using(broken)
    if users:
        lines = "; ".join(f"{model} uses {', '.join(sorted(refs))}" for model, refs in sorted(users.items()))
        raise Conflict(f"this change would break registered models: {lines}. Keep those features, register new "
                       "model versions without them, or apply with --force", field="definitions")


def _source_edges(plan: Plan, desired: dict[tuple[str, str], dict[str, object]]) -> list[Edge]:
    """``dataset_version --source_of--> feature_view`` for each applied view reading a dataset."""
    from keel.data.versioning import get_version

    edges = []
    for change in plan.changes:
        if change.kind != "feature_view" or change.action == "remove":
            continue
        source = desired[(change.kind, change.name)]["source"]
        if isinstance(source, dict) and source["kind"] == "dataset":
            version = get_version(source["ref"])
            edges.append(("dataset_version", version.id, change.name))
    return [Edge(kind, ident, "source_of", "feature_view", f"{name}@v{_next_version(name)}")
            for kind, ident, name in edges]


def _next_version(name: str) -> int:
    history = sql_registry().history("feature_view", name)
    return (history[0].version if history else 0) + 1


def load_definitions(path: str | Path) -> list[Definition]:
    """Run a Python file and collect the Entity / FeatureView / OnDemandFeatureView objects it defines at top level."""
    file = Path(path)
    if not file.is_file():
        raise NotFound(f"definitions file {str(file)!r} does not exist", field="path")
    try:
        namespace = runpy.run_path(str(file), run_name="keel_features_definitions")
    except SyntaxError as exc:
        raise InvalidInput(f"{file}: line {exc.lineno}: {exc.msg}", field="path") from exc
    found: list[Definition] = []
    for value in namespace.values():
        if isinstance(value, (Entity, FeatureView, OnDemandFeatureView)) and value not in found:
            found.append(value)
    if not found:
        raise InvalidInput(f"{file} defines no Entity, FeatureView or OnDemandFeatureView at top level", field="path")
    return found
