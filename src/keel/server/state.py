"""What the routers share: the stores of the request's project over the one database and artifact store of the
running server.

One server answers for every project: :class:`ProjectScope` (ASGI middleware) resolves each request's project from
its ``X-Keel-Project`` header, else the web UI's ``keel_project`` cookie (default: the server's project), answers
404 for a project that does not exist, and runs the request inside :func:`keel.config.project_scope`, so SDK
functions called by a route (in the thread pool too: it copies the context) act on that project. :func:`state` hands
a route the :class:`ServerState` of the request's project, built on first use and cached by :class:`ProjectStates`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from fastapi import Request
from starlette.concurrency import run_in_threadpool
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Receive, Scope, Send

from keel.asgi import OrjsonResponse
from keel.config import project_scope
from keel.errors import InvalidInput, KeelError, NotFound
from keel.governance.access import PROJECT_HEADER, RESOLVED_PROJECT
from keel.registry.repository import LoggedModelRepository, RegistryRepository
from keel.serving.deployment import DeploymentRepository
from keel.tracking.repository import TrackingRepository

__all__ = ["PROJECT_COOKIE", "ProjectScope", "ProjectStates", "ServerState", "blocking", "request_project", "state"]

PROJECT_COOKIE = "keel_project"  # the web UI's project picker sets it; a header wins over it

T = TypeVar("T")


@dataclass
class ServerState:
    """Backends of one project of the server process (the stores share the server's database)."""

    tracking: TrackingRepository
    artifacts: Any
    registry: RegistryRepository
    logged_models: LoggedModelRepository
    deployments: DeploymentRepository
    triggers: Any = None  # keel.pipelines.schedules_sql.SqlScheduleStore
    lineage: Any = None  # keel.governance.lineage_store.SqlLineage


class ProjectStates:
    """The :class:`ServerState` of each project, built by ``build(project)`` on first use; ``exists(project)``
    says whether a project other than the server's ``default`` exists (the default always does)."""

    def __init__(self, default: str, build: Callable[[str], ServerState], exists: Callable[[str], bool]) -> None:
        self.default = default
        self._build = build
        self._exists = exists
        self._states: dict[str, ServerState] = {}
        self._known: set[str] = {default}
        self._lock = threading.Lock()

    def get(self, project: str) -> ServerState:
        """The state of ``project`` (assumed checked by :meth:`check`)."""
        found = self._states.get(project)
        if found is None:
            with self._lock:
                found = self._states.get(project)
                if found is None:
                    found = self._states[project] = self._build(project)
        return found

    def known(self, project: str) -> bool:
        """True when ``project`` was checked before (or is the default)."""
        return project in self._known

    def check(self, project: str) -> str:
        """``project`` if it can be served: InvalidInput for a malformed name, NotFound (naming the command that
        creates it) for an unknown one. Projects are never deleted, so a found one is remembered."""
        if project in self._known:
            return project
        if len(project) > 128 or not project.isprintable():
            raise InvalidInput(f"{PROJECT_HEADER}: a project name is 1-128 printable characters", field=PROJECT_HEADER)
        if not self._exists(project):
            raise NotFound(f"project {project!r} not found; create it with `keel projects create {project}`",
                           field="project")
        with self._lock:
            self._known.add(project)
        return project


class ProjectScope:
    """ASGI middleware: resolve the request's project (``X-Keel-Project``, else the ``keel_project`` cookie, else the
    default), answer 4xx JSON for a bad one, and run the request inside :func:`keel.config.project_scope` of it."""

    def __init__(self, app: ASGIApp, states: ProjectStates) -> None:
        self.app = app
        self.states = states

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        conn = HTTPConnection(scope)
        asked = (conn.headers.get(PROJECT_HEADER, "").strip() or conn.cookies.get(PROJECT_COOKIE, "").strip()
                 or self.states.default)
        try:
            # a project seen before costs a set lookup; a new name, one query in the thread pool
            project = asked if self.states.known(asked) else await run_in_threadpool(self.states.check, asked)
        except KeelError as exc:
            if scope["type"] == "http":
                await OrjsonResponse(exc.to_dict(), status_code=exc.http_status)(scope, receive, send)
            else:
                await send({"type": "websocket.close", "code": 1008})
            return
        scope.setdefault("state", {})[RESOLVED_PROJECT] = project
        with project_scope(project):
            await self.app(scope, receive, send)


def request_project(request: HTTPConnection) -> str:
    """The project ``request`` acts in (resolved by :class:`ProjectScope`; the server's project without it)."""
    found = request.scope.get("state", {}).get(RESOLVED_PROJECT)
    if found:
        return str(found)
    states: ProjectStates | None = getattr(request.app.state, "keel_states", None)
    return states.default if states is not None else str(getattr(request.app.state, "keel_project", "default"))


def state(request: Request) -> ServerState:
    """The server state of the request's project."""
    states: ProjectStates | None = getattr(request.app.state, "keel_states", None)
    if states is None:  # an app assembled by hand, serving one project
        return request.app.state.keel
    return states.get(request_project(request))


async def blocking(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a blocking store call in the thread pool."""
    return await run_in_threadpool(fn, *args, **kwargs)
