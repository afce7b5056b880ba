"""Deployments: a named, stored route table sending traffic to model versions, plus shadows.

A :class:`Deployment` is pure data. Routes carry relative weights, normalised to percentages (summing to 100) by
:func:`validate_deployment`; shadows receive a copy of each request whose answer is logged, never returned. Every
change is a new revision; stores implement :class:`DeploymentRepository` (SQL in
:mod:`keel.serving.deployment_sql`, HTTP in :mod:`keel.client.deployments`). Nothing here does I/O (only
:func:`current_user` reads the environment).

Route specs, as the CLI takes them: ``NAME/3=90`` (version 3, weight 90), ``NAME@champion=10`` (follows the alias),
``NAME/4`` (weight 1).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import Enum
from typing import Any, Final, Protocol

from keel.config import current_user
from keel.errors import InvalidInput
from keel.registry.entities import check_alias, check_model_name, check_version

__all__ = [
    "ACTIONS",
    "UNSET",
    "Deployment",
    "DeploymentRepository",
    "Route",
    "Unset",
    "check_deployment_name",
    "current_user",
    "deployment_from_dict",
    "deployment_to_dict",
    "parse_route",
    "shift_traffic",
    "validate_deployment",
]

ACTIONS: Final = ("create", "update", "rollback")
MAX_BATCH_SIZE: Final = 4096
MAX_WAIT_MS: Final = 10_000.0
MAX_DESCRIPTION: Final = 5000
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$")
_STICKY_KEY = re.compile(r"^[A-Za-z0-9_.\-]{1,128}$")
_SPEC_FORMS = "NAME/VERSION[=WEIGHT] or NAME@ALIAS[=WEIGHT], e.g. fraud/3=90 or fraud@champion=10"


class Unset(Enum):
    """The type of :data:`UNSET`: "leave this field as it is" where ``None`` is a meaningful value."""

    UNSET = "UNSET"


UNSET: Final = Unset.UNSET


@dataclass(frozen=True)
class Route:
    """One target of traffic: a model version, or an alias the server follows as it moves."""

    model: str
    version: int | None = None
    alias: str | None = None
    weight: float = 1.0

    @property
    def target(self) -> str:
        """``NAME/3`` or ``NAME@champion``."""
        return f"{self.model}@{self.alias}" if self.alias is not None else f"{self.model}/{self.version}"

    @property
    def model_uri(self) -> str:
        """``models:/NAME/3`` or ``models:/NAME@champion``."""
        return f"models:/{self.target}"


@dataclass(frozen=True)
class Deployment:
    """One revision of a deployment: its routes, shadows, stickiness and batching knobs, and who changed it."""

    name: str
    routes: tuple[Route, ...]
    shadows: tuple[Route, ...] = ()
    sticky_key: str | None = None
    max_batch_size: int = 1
    max_wait_ms: float = 2.0
    description: str = ""
    revision: int = 1
    created_at: int = 0
    updated_at: int = 0
    updated_by: str = ""
    action: str = "create"


# -- parsing -------------------------------------------------------------------------------------------------------


def parse_route(spec: str) -> Route:
    """A route from ``NAME/3=90``, ``NAME@champion=10`` or ``NAME/4`` (weight 1)."""
    if not isinstance(spec, str) or not spec.strip():
        raise InvalidInput(f"route: empty spec; write {_SPEC_FORMS}", field="route")
    target, weight = spec.strip(), 1.0
    if "=" in target:
        target, raw = target.rsplit("=", 1)
        weight = _parse_weight(raw, spec)
    if "@" in target:
        model, alias = target.rsplit("@", 1)
        route = Route(model, alias=alias, weight=weight)
    elif "/" in target and target.rsplit("/", 1)[1].isdigit():
        model, version = target.rsplit("/", 1)
        route = Route(model, version=int(version), weight=weight)
    else:
        raise InvalidInput(f"route {spec!r}: names no version or alias; write {_SPEC_FORMS}", field="route")
    problem = _target_problem(route)
    if problem:
        raise InvalidInput(f"route {spec!r}: {problem}; write {_SPEC_FORMS}", field="route")
    return route


def _parse_weight(raw: str, spec: str) -> float:
    try:
        weight = float(raw)
    except ValueError:
        raise InvalidInput(f"route {spec!r}: weight {raw!r} is not a number; write {_SPEC_FORMS}",
                           field="route") from None
    if not math.isfinite(weight) or weight <= 0:
        raise InvalidInput(f"route {spec!r}: weight must be a number above 0, got {raw!r}; write {_SPEC_FORMS}",
                           field="route")
    return weight


# -- validation ----------------------------------------------------------------------------------------------------


def validate_deployment(d: Deployment) -> Deployment:
    """Check every rule a deployment follows; return it with route weights normalised to sum to 100."""
    check_deployment_name(d.name)
    routes, shadows = _as_routes(d.routes, "routes"), _as_routes(d.shadows, "shadows")
    if not routes:
        raise InvalidInput(f"routes: deployment {d.name!r} needs at least one route, e.g. {_SPEC_FORMS}",
                           field="routes")
    for route in routes:
        _check_target(route, "routes")
        _check_weight(route)
    for shadow in shadows:
        _check_target(shadow, "shadows")
    _check_unique(routes, shadows)
    _check_knobs(d)
    total = sum(r.weight for r in routes)
    normalised = tuple(replace(r, weight=r.weight * 100.0 / total) for r in routes)
    return replace(d, routes=normalised, shadows=tuple(replace(s, weight=1.0) for s in shadows))


def check_deployment_name(name: Any) -> str:
    """A deployment name: 1-128 letters, digits, ``_``, ``-`` or ``.``, starting with a letter or digit."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise InvalidInput(f"name: {name!r} is not a valid deployment name; use 1-128 letters, digits, '_', '-' "
                           "or '.', starting with a letter or digit", field="name")
    return name


def _as_routes(value: Any, field: str) -> tuple[Route, ...]:
    if not isinstance(value, Sequence) or isinstance(value, str) or not all(isinstance(r, Route) for r in value):
        raise InvalidInput(f"{field}: expected a sequence of routes", field=field)
    return tuple(value)


def _check_target(route: Route, field: str) -> None:
    problem = _target_problem(route)
    if problem:
        raise InvalidInput(f"{field}: {route.model!r}: {problem}", field=field)


def _target_problem(route: Route) -> str | None:
    """What is wrong with a route's model, version or alias (None when nothing is)."""
    if (route.version is None) == (route.alias is None):
        return "a route needs exactly one of a version or an alias"
    try:
        check_model_name(route.model, "model")
        if route.version is not None:
            check_version(route.version)
        else:
            check_alias(route.alias)
    except InvalidInput as exc:
        return exc.message
    return None


def _check_weight(route: Route) -> None:
    w = route.weight
    if isinstance(w, bool) or not isinstance(w, int | float) or not math.isfinite(w) or w <= 0:
        raise InvalidInput(f"routes: weight of {route.target} must be a finite number above 0, got {w!r}; drop "
                           "the route instead of giving it weight 0", field="routes")


def _check_unique(routes: tuple[Route, ...], shadows: tuple[Route, ...]) -> None:
    for group, field in ((routes, "routes"), (shadows, "shadows")):
        targets = [r.target for r in group]
        repeated = sorted({t for t in targets if targets.count(t) > 1})
        if repeated:
            raise InvalidInput(f"{field}: {', '.join(repeated)} given more than once; list each target once",
                               field=field)
    both = sorted({r.target for r in routes} & {s.target for s in shadows})
    if both:
        raise InvalidInput(f"shadows: {', '.join(both)} is also a route; a shadow must be a target that gets no "
                           "live traffic", field="shadows")


def _check_knobs(d: Deployment) -> None:
    if d.sticky_key is not None and (not isinstance(d.sticky_key, str) or not _STICKY_KEY.match(d.sticky_key)):
        raise InvalidInput(f"sticky_key: {d.sticky_key!r} is not a header or field name; use 1-128 letters, "
                           "digits, '_', '-' or '.'", field="sticky_key")
    size = d.max_batch_size
    if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= MAX_BATCH_SIZE:
        raise InvalidInput(f"max_batch_size: expected an integer from 1 (no batching) to {MAX_BATCH_SIZE}, got "
                           f"{size!r}", field="max_batch_size")
    wait = d.max_wait_ms
    if isinstance(wait, bool) or not isinstance(wait, int | float) or not 0 <= wait <= MAX_WAIT_MS:
        raise InvalidInput(f"max_wait_ms: expected milliseconds from 0 to {MAX_WAIT_MS:g}, got {wait!r}",
                           field="max_wait_ms")
    if not isinstance(d.description, str) or len(d.description) > MAX_DESCRIPTION:
        raise InvalidInput(f"description: expected text of at most {MAX_DESCRIPTION} characters",
                           field="description")


# -- canary steps --------------------------------------------------------------------------------------------------


def shift_traffic(routes: Sequence[Route], route: Route, percent: float) -> tuple[Route, ...]:
    """Give ``route`` ``percent`` of the traffic; the other routes share the rest in their current proportions.

    A canary step-up is a sequence of these: 10, 50, then 100 (the other routes are dropped); 0 drops ``route``.
    """
    if isinstance(percent, bool) or not isinstance(percent, int | float) or not 0 <= percent <= 100:
        raise InvalidInput(f"canary: percent for {route.target} must be from 0 to 100, got {percent!r}",
                           field="canary")
    others = [r for r in routes if r.target != route.target]
    if percent == 100:
        return (replace(route, weight=100.0),)
    if not others:
        raise InvalidInput(f"canary: {route.target} is the only route, so it must take 100%; add another route "
                           "to share the rest", field="canary")
    total = sum(r.weight for r in others)
    rest = {r.target: replace(r, weight=r.weight * (100.0 - percent) / total) for r in others}
    out = [rest.get(r.target) or replace(route, weight=float(percent)) for r in routes]
    if route.target not in {r.target for r in routes}:
        out.append(replace(route, weight=float(percent)))
    return tuple(r for r in out if r.weight > 0)


# -- JSON ----------------------------------------------------------------------------------------------------------


def _route_to_dict(r: Route) -> dict[str, Any]:
    return {"model": r.model, "version": r.version, "alias": r.alias, "weight": r.weight, "target": r.target}


def _route_from_dict(d: Any, field: str) -> Route:
    if not isinstance(d, dict) or not isinstance(d.get("model"), str):
        raise InvalidInput(f"{field}: each route is an object with a 'model' and a 'version' or an 'alias'",
                           field=field)
    version = d.get("version")
    if version is not None and (isinstance(version, bool) or not isinstance(version, int | str)):
        raise InvalidInput(f"{field}: version of {d['model']!r} must be an integer", field=field)
    weight = d.get("weight", 1.0)
    if isinstance(weight, bool) or not isinstance(weight, int | float):
        raise InvalidInput(f"{field}: weight of {d['model']!r} must be a number", field=field)
    return Route(d["model"], None if version is None else check_version(version), d.get("alias"), float(weight))


def deployment_to_dict(d: Deployment) -> dict[str, Any]:
    """The JSON shape of a deployment revision (REST bodies and the stored spec)."""
    return {
        "name": d.name, "routes": [_route_to_dict(r) for r in d.routes],
        "shadows": [_route_to_dict(s) for s in d.shadows], "sticky_key": d.sticky_key,
        "max_batch_size": d.max_batch_size, "max_wait_ms": d.max_wait_ms, "description": d.description,
        "revision": d.revision, "created_at": d.created_at, "updated_at": d.updated_at, "updated_by": d.updated_by,
        "action": d.action,
    }


def deployment_from_dict(d: dict[str, Any]) -> Deployment:
    """Inverse of :func:`deployment_to_dict` (``target`` is ignored); malformed shapes are :class:`InvalidInput`."""
    if not isinstance(d, dict) or not isinstance(d.get("name"), str):
        raise InvalidInput("deployment: expected an object with a 'name' and 'routes'", field="deployment")
    lists = {key: d.get(key) or [] for key in ("routes", "shadows")}
    for key, value in lists.items():
        if not isinstance(value, list):
            raise InvalidInput(f"{key}: expected a list of routes", field=key)
    action = d.get("action") or "create"
    if action not in ACTIONS:
        raise InvalidInput(f"action: expected one of {', '.join(ACTIONS)}, got {action!r}", field="action")
    try:
        return Deployment(
            d["name"], tuple(_route_from_dict(r, "routes") for r in lists["routes"]),
            tuple(_route_from_dict(s, "shadows") for s in lists["shadows"]), d.get("sticky_key"),
            int(d.get("max_batch_size", 1)), float(d.get("max_wait_ms", 2.0)), str(d.get("description") or ""),
            int(d.get("revision", 1)), int(d.get("created_at") or 0), int(d.get("updated_at") or 0),
            str(d.get("updated_by") or ""), action)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"deployment {d['name']!r}: malformed field ({exc})", field="deployment") from None



# -- the repository interface --------------------------------------------------------------------------------------


class DeploymentRepository(Protocol):
    """Stored deployments: one row per revision; every change (update, rollback) writes a new revision.

    ``updated_by`` names who makes the change; stores default to their own user.
    """

    def create_deployment(self, d: Deployment) -> Deployment: ...
    def update_deployment(self, name: str, *, routes: Sequence[Route] | None = None,
                          shadows: Sequence[Route] | None = None, sticky_key: str | None | Unset = UNSET,
                          max_batch_size: int | None = None, max_wait_ms: float | None = None,
                          description: str | None = None, updated_by: str | None = None) -> Deployment: ...
    def get_deployment(self, name: str, revision: int | None = None) -> Deployment: ...
    def list_deployments(self) -> list[Deployment]: ...
    def deployment_history(self, name: str) -> list[Deployment]: ...
    def rollback_deployment(self, name: str, to_revision: int | None = None, *,
                            updated_by: str | None = None) -> Deployment: ...
    def delete_deployment(self, name: str, *, updated_by: str | None = None) -> None: ...
