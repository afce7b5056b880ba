"""Route permissions: every route of ``keel server`` and ``keel serve`` declares the permission it needs.

Declare it with a dependency, on a router or on a single route::

    router = APIRouter(dependencies=[requires("read")])
    @router.post("/x", dependencies=[requires("write")])

Levels, from least to most: ``public`` (no token needed, e.g. health checks and the UI's static files), ``read``
(viewer), ``write`` (editor: runs, data, models), ``maintain`` (maintainer: promote aliases, deploy, manage
monitors), ``admin`` (project members, users, tokens). With auth off (the embedded default) every check passes.

With auth on, the app's state holds a :class:`keel.governance.access.AccessControl` (``app.state.keel_access``)
and the dependency asks it; a route with several declarations (router and route) needs the highest of them.
:func:`declared_routes` reads every route's declaration back (the route-coverage test uses it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from fastapi import Depends, FastAPI, Request

__all__ = ["LEVELS", "DeclaredRoute", "Permission", "declared_routes", "requires", "route_permission"]

Permission = Literal["public", "read", "write", "maintain", "admin"]
LEVELS: tuple[Permission, ...] = ("public", "read", "write", "maintain", "admin")
_ACCESS_STATE = "keel_access"  # keel.governance.access.ACCESS_STATE, not imported to keep this module light


def requires(permission: Permission) -> Any:
    """A FastAPI dependency that declares (and, with auth on, enforces) ``permission`` for a route."""
    if permission not in LEVELS:
        raise ValueError(f"unknown permission {permission!r}; use one of {', '.join(LEVELS)}")

    if permission == "public":
        async def _check(request: Request) -> None:
            return None
    else:
        async def _check(request: Request) -> None:
            access = getattr(request.app.state, _ACCESS_STATE, None)
            if access is not None:
                await access.authorize(request, permission)

    _check.keel_permission = permission  # type: ignore[attr-defined]
    return Depends(_check)


def route_permission(route: Any) -> Permission | None:
    """The permission ``route`` (an APIRoute or FastAPI's route context) declares -- the highest, if several --
    or None when it declares none (or is not an API route)."""
    dependant = getattr(route, "dependant", None)
    found: list[Permission] = []
    stack = list(dependant.dependencies) if dependant is not None else []
    while stack:
        dep = stack.pop()
        declared = getattr(dep.call, "keel_permission", None)
        if declared is not None:
            found.append(declared)
        stack.extend(dep.dependencies)
    return max(found, key=LEVELS.index) if found else None


@dataclass(frozen=True)
class DeclaredRoute:
    """One route of an app as served: its full path, methods and declared permission (None: undeclared)."""

    path: str
    methods: frozenset[str]
    permission: Permission | None


def declared_routes(app: FastAPI) -> list[DeclaredRoute]:
    """Every route ``app`` serves (through included routers too) with the permission it declares."""
    try:
        from fastapi.routing import iter_route_contexts  # FastAPI >= 0.165 includes routers lazily
    except ImportError:  # pragma: no cover - older FastAPI copies routes on include
        contexts: list[Any] = list(app.routes)
    else:
        contexts = list(iter_route_contexts(app.routes))
    return [DeclaredRoute(str(getattr(r, "path", r)), frozenset(getattr(r, "methods", None) or ()),
                          route_permission(r)) for r in contexts]
