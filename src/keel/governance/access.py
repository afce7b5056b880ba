"""Access control for a server with auth on: who presents a token, their level in the request's project, and the
check of a route's declared level against it.

Verified tokens and members' roles are cached in-process for ``auth_cache_ttl_s`` seconds, so a request costs a
dict lookup; a revoked token or a changed role takes effect within that time (0 turns the cache off).
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import HTTPConnection

from keel.errors import InvalidInput, PermissionDenied, Unauthenticated
from keel.governance.context import set_principal
from keel.governance.projects import member_role
from keel.governance.roles import Level, Role, capped, grants, level_of, role_for
from keel.governance.tokens import VerifiedToken, verify_token
from keel.store import Database

__all__ = ["ACCESS_STATE", "PROJECT_HEADER", "RESOLVED_PROJECT", "TOKEN_COOKIE", "AccessControl", "Principal",
           "access_control", "presented_token"]

#: The attribute of ``app.state`` holding the :class:`AccessControl` (absent or None: auth is off).
ACCESS_STATE = "keel_access"
PROJECT_HEADER = "x-keel-project"
#: The key of the request scope's ``state`` where ``keel server`` puts the request's resolved project.
RESOLVED_PROJECT = "keel_project"
TOKEN_COOKIE = "keel_token"
_MAX_CACHED = 10_000


@dataclass(frozen=True)
class Principal:
    """An authenticated caller in one project: ``level`` is what they may do there (after the token's scope)."""

    user: str
    admin: bool
    project: str
    level: Level

    @property
    def role(self) -> Role | None:
        """The role matching :attr:`level` (None: no access to the project)."""
        return role_for(self.level)


def presented_token(conn: HTTPConnection) -> str | None:
    """The token of a request: ``Authorization: Bearer …`` (as the mlflow client sends it), else the
    ``keel_token`` cookie (the web UI)."""
    header = conn.headers.get("authorization")
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    return conn.cookies.get(TOKEN_COOKIE) or None


class AccessControl:
    """Checks requests against the users, tokens and members stored in ``db``."""

    def __init__(self, db: Database, project: str, *, cache_ttl_s: float = 5.0,
                 protected_aliases: tuple[str, ...] = ("champion", "production"),
                 require_approval: bool = False) -> None:
        self.db = db
        self.project = project
        self.cache_ttl_s = cache_ttl_s
        self.protected_aliases = frozenset(protected_aliases)
        self.require_approval = require_approval
        self._tokens: dict[str, tuple[float, VerifiedToken]] = {}
        self._roles: dict[tuple[str, str], tuple[float, Role | None]] = {}

    # -- the checks ------------------------------------------------------------------------------------------------
    async def authorize(self, request: HTTPConnection, need: Level) -> Principal:
        """The caller of ``request`` if they may act at level ``need``; else :class:`Unauthenticated` (no, bad,
        expired or revoked token) or :class:`PermissionDenied` (role too low). Marks the caller as acting."""
        principal: Principal | None = getattr(request.state, "keel_principal", None)
        if principal is None:
            token = presented_token(request)
            if token is None:
                raise Unauthenticated("authentication required: send 'Authorization: Bearer <token>' (create a "
                                      "token with `keel tokens create`)")
            principal = await self.principal(token, self.project_of(request))
            request.state.keel_principal = principal
            set_principal(principal.user)
        if not grants(principal.level, need):
            wanted = role_for(need)
            have = f"a {principal.role}" if principal.role else "not a member"
            raise PermissionDenied(f"user {principal.user!r} is {have} in project {principal.project!r}; this needs "
                                   f"the {wanted} role (ask a project admin: `keel members add`)")
        return principal

    async def identify(self, request: HTTPConnection) -> Principal | None:
        """The caller of ``request``, or None when no valid token was presented."""
        token = presented_token(request)
        if token is None:
            return None
        try:
            return await self.principal(token, self.project_of(request))
        except Unauthenticated:
            return None

    async def principal(self, token: str, project: str) -> Principal:
        """Who holds ``token`` and their level in ``project``."""
        verified = self._cached_token(token)
        if verified is None:
            verified = await run_in_threadpool(self._verify, token)
        if verified.admin:
            level: Level = "admin"
        else:
            level = level_of(await self._role(verified.user, project))
        return Principal(verified.user, verified.admin, project, capped(level, verified.scope))

    def project_of(self, request: HTTPConnection) -> str:
        """The project a request names (``X-Keel-Project``), by default the server's.

        ``keel server`` serves every existing project: its ProjectScope middleware resolves (and checks) the
        request's project first, and that is the answer. An app without it (``keel serve``) serves its own project
        only, so another one is refused rather than checked against roles the data would not honour.
        """
        resolved = request.scope.get("state", {}).get(RESOLVED_PROJECT)
        if resolved:
            return str(resolved)
        project = request.headers.get(PROJECT_HEADER) or self.project
        if project != self.project:
            raise InvalidInput(f"{PROJECT_HEADER}: this server serves project {self.project!r}, not {project!r}; "
                               f"start one for it with KEEL_PROJECT={project}", field=PROJECT_HEADER)
        return project

    # -- caches ----------------------------------------------------------------------------------------------------
    def _cached_token(self, token: str) -> VerifiedToken | None:
        hit = self._tokens.get(_key(token))
        now = time.monotonic()
        if hit is None or hit[0] <= now:
            return None
        verified = hit[1]
        if verified.expires_at is not None and verified.expires_at <= time.time() * 1000:
            return None  # verify again, to answer "expired"
        return verified

    def _verify(self, token: str) -> VerifiedToken:
        verified = verify_token(self.db, token)
        if self.cache_ttl_s > 0:
            _bounded(self._tokens)[_key(token)] = (time.monotonic() + self.cache_ttl_s, verified)
        return verified

    async def _role(self, user: str, project: str) -> Role | None:
        hit = self._roles.get((user, project))
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
        role = await run_in_threadpool(member_role, self.db, user, project)
        if self.cache_ttl_s > 0:
            _bounded(self._roles)[(user, project)] = (time.monotonic() + self.cache_ttl_s, role)
        return role


def _key(token: str) -> str:
    # The cache holds a digest, not the token itself.
    return hashlib.sha256(token.encode()).hexdigest()


def _bounded(cache: dict[Any, Any]) -> dict[Any, Any]:
    if len(cache) >= _MAX_CACHED:
        cache.clear()
    return cache


def access_control(db: Database, settings: Any) -> AccessControl | None:
    """The :class:`AccessControl` for ``settings`` (a :class:`keel.config.Settings`), or None with auth off."""
    if not settings.auth:
        return None
    return AccessControl(db, settings.project, cache_ttl_s=settings.auth_cache_ttl_s,
                         protected_aliases=tuple(settings.protected_aliases),
                         require_approval=settings.require_approval)
