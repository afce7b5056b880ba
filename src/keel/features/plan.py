"""Pure planning over definition specs: the diff an apply shows, whole-registry consistency, what a change breaks,
and ``view:feature`` reference resolution with close-match suggestions. No I/O here."""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from keel.errors import InvalidInput

__all__ = ["Change", "Plan", "broken_refs", "check_consistent", "diff", "group_refs"]

Key = tuple[str, str]  # (kind, name)
Specs = Mapping[Key, Mapping[str, Any]]
_KIND_LABEL = {"entity": "entity", "feature_view": "feature view", "on_demand_feature_view": "on-demand view"}


@dataclass(frozen=True)
class Change:
    """One definition added, changed or removed; for views, which fields moved and which other keys changed."""

    action: str
    kind: str
    name: str
    fields_added: list[str] = field(default_factory=list)
    fields_removed: list[str] = field(default_factory=list)
    fields_retyped: list[str] = field(default_factory=list)
    keys_changed: list[str] = field(default_factory=list)

    def describe(self) -> str:
        """One line: ``+ feature view driver_stats`` / ``~ feature view x: +f3 -f1 f2 (dtype) ttl_seconds``."""
        sign = {"add": "+", "change": "~", "remove": "-"}[self.action]
        parts = [f"+{f}" for f in self.fields_added] + [f"-{f}" for f in self.fields_removed]
        parts += [f"{f} (dtype)" for f in self.fields_retyped] + self.keys_changed
        detail = f": {' '.join(parts)}" if parts and self.action == "change" else ""
        return f"{sign} {_KIND_LABEL[self.kind]} {self.name}{detail}"


@dataclass(frozen=True)
class Plan:
    """The changes an apply would make, in a stable order (entities, views, on-demand views; by name)."""

    changes: list[Change]

    @property
    def empty(self) -> bool:
        """True when the apply changes nothing."""
        return not self.changes

    def lines(self) -> list[str]:
        """Human-readable lines, one per change."""
        return [c.describe() for c in self.changes]


def diff(current: Specs, desired: Specs, *, partial: bool) -> Plan:
    """What applying ``desired`` over ``current`` changes (with ``partial``, nothing absent from ``desired`` goes)."""
    order = {"entity": 0, "feature_view": 1, "on_demand_feature_view": 2}
    changes: list[Change] = []
    for key in sorted(set(current) | set(desired), key=lambda k: (order[k[0]], k[1])):
        old, new = current.get(key), desired.get(key)
        if new is None:
            if not partial:
                changes.append(Change("remove", *key))
        elif old is None:
            changes.append(Change("add", *key))
        elif dict(old) != dict(new):
            changes.append(_change(key, old, new))
    return Plan(changes)


def _change(key: Key, old: Mapping[str, Any], new: Mapping[str, Any]) -> Change:
    before = {f["name"]: f["dtype"] for f in old.get("schema", [])}
    after = {f["name"]: f["dtype"] for f in new.get("schema", [])}
    others = sorted(k for k in set(old) | set(new) if k != "schema" and old.get(k) != new.get(k))
    return Change("change", *key, [f for f in after if f not in before], [f for f in before if f not in after],
                  [f for f in after if f in before and before[f] != after[f]], others)


def check_consistent(specs: Specs) -> None:
    """Raise InvalidInput when views name missing entities, on-demand views name missing views, or a view and an
    on-demand view share a name (they share the ``name:feature`` reference space)."""
    entities = {name for kind, name in specs if kind == "entity"}
    views = {name for kind, name in specs if kind == "feature_view"}
    for (kind, name), spec in specs.items():
        if kind == "feature_view":
            for entity in spec["entities"]:
                if entity not in entities:
                    raise InvalidInput(f"feature view {name!r} uses entity {entity!r}, which is not defined; define "
                                       f"it (keel.features.Entity) and apply it too", field="entities")
        elif kind == "on_demand_feature_view":
            if name in views:
                raise InvalidInput(f"{name!r} is both a feature view and an on-demand view; rename one", field="name")
            for view in spec["views"]:
                if view not in views:
                    raise InvalidInput(f"on-demand view {name!r} reads feature view {view!r}, which is not defined",
                                       field="sources")


def broken_refs(current: Specs, plan: Plan, desired: Specs) -> set[str]:
    """``view:feature`` references that work now and would stop working (removed, retyped, or their entity's join
    keys changed) if ``plan`` were applied."""
    broken: set[str] = set()
    changed_entities = {c.name for c in plan.changes if c.kind == "entity" and c.action != "add"}
    for change in plan.changes:
        if change.kind == "entity" or change.action == "add":
            continue
        old = current[(change.kind, change.name)]
        features = [f["name"] for f in old["schema"]]
        if change.action == "remove":
            broken.update(f"{change.name}:{f}" for f in features)
            continue
        broken.update(f"{change.name}:{f}" for f in change.fields_removed + change.fields_retyped)
        if "entities" in change.keys_changed:
            broken.update(f"{change.name}:{f}" for f in features)
    for (kind, name), spec in current.items():
        if kind == "feature_view" and changed_entities & set(spec["entities"]):
            new = desired.get((kind, name))
            if new is None or new["entities"] == spec["entities"]:
                broken.update(f"{name}:{f['name']}" for f in spec["schema"])
    return broken


def group_refs(refs: Sequence[str], available: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    """Group ``view:feature`` references by view (first-seen order), checking each exists; an unknown one raises
    InvalidInput suggesting the closest known references."""
    if isinstance(refs, str) or not refs:
        raise InvalidInput("features must be a non-empty list of 'view:feature' references", field="features")
    grouped: dict[str, list[str]] = {}
    known = [f"{view}:{feat}" for view, feats in available.items() for feat in feats]
    for ref in refs:
        view, sep, feat = str(ref).partition(":")
        if not sep or feat not in available.get(view, ()):
            close = difflib.get_close_matches(str(ref), known, n=3, cutoff=0.5)
            hint = f"; did you mean {', '.join(close)}?" if close else \
                "; list them with `keel features list`" if known else "; no features are applied yet (keel " \
                "features apply)"
            what = "is not 'view:feature'" if not sep else "is not a known feature"
            raise InvalidInput(f"feature {ref!r} {what}{hint}", field="features")
        if feat not in grouped.setdefault(view, []):
            grouped[view].append(feat)
    return grouped
