"""Every route of ``keel server`` and ``keel serve`` declares its permission, and with auth on each role gets
exactly what its level allows: the routes are enumerated from the apps, so routes added later are covered too."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from keel.config import get_settings, reset_settings
from keel.governance.projects import add_member
from keel.governance.roles import Level, grants
from keel.governance.tokens import create_token
from keel.governance.users import create_user
from keel.server import create_app
from keel.server.permissions import DeclaredRoute, declared_routes
from keel.serving.app import create_serving_app
from keel.store import open_database

MUTATING = {"POST", "PUT", "PATCH", "DELETE"}
#: who calls, and the level their project role grants (None: no token at all)
CALLERS: dict[str, Level | None] = {"none": None, "viewer": "read", "editor": "write", "maintainer": "maintain",
                                    "admin": "admin"}


@pytest.fixture(scope="module")
def apps(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[dict[str, FastAPI], dict[str, str]]]:
    """Both apps with auth on over one home, and a token per role (project roles, not server admins)."""
    home = tmp_path_factory.mktemp("perm") / "home"
    mp = pytest.MonkeyPatch()
    for name, value in (("KEEL_HOME", str(home)), ("KEEL_AUTH", "1"), ("KEEL_AUTH_CACHE_TTL_S", "60")):
        mp.setenv(name, value)
    mp.delenv("KEEL_TRACKING_URI", raising=False)
    mp.delenv("KEEL_DB_URL", raising=False)
    reset_settings()
    settings = get_settings()
    db = open_database(settings.resolved_db_url)
    create_user(db, "root")  # the first user is a server admin; the others are plain members
    tokens = {}
    for role in ("viewer", "editor", "maintainer", "admin"):
        create_user(db, role)
        add_member(db, settings.project, role, role)
        tokens[role] = create_token(db, role).token
    server = create_app(settings)
    serving = create_serving_app("models:/nothing/1", poll_interval_s=0, log_predictions=False)
    yield {"server": server, "serve": serving.app}, tokens
    mp.undo()
    reset_settings()


def _docs_routes(app: FastAPI) -> set[str]:
    return {p for p in (app.openapi_url, app.docs_url, app.redoc_url, app.swagger_ui_oauth2_redirect_url) if p}


def _api_routes(app: FastAPI) -> list[DeclaredRoute]:
    """The app's routes; fails naming any that declares no permission (FastAPI's own docs pages aside)."""
    routes = declared_routes(app)
    undeclared = [r.path for r in routes if r.permission is None and r.path not in _docs_routes(app)]
    assert not undeclared, f"routes without a permission declaration: {undeclared}"
    return [r for r in routes if r.permission is not None]


@pytest.mark.parametrize("which", ["server", "serve"])
def test_every_route_declares_a_permission(apps: tuple[dict[str, FastAPI], dict[str, str]], which: str) -> None:
    app = apps[0][which]
    routes = _api_routes(app)
    assert len(routes) >= (60 if which == "server" else 8)
    levels = {r.permission for r in routes}
    assert "public" in levels and "read" in levels


def test_a_route_without_a_declaration_is_found() -> None:
    app = FastAPI()

    @app.post("/undeclared")
    async def undeclared() -> dict[str, str]:
        return {}

    with pytest.raises(AssertionError, match="/undeclared"):
        _api_routes(app)


def _url(route: DeclaredRoute) -> str:
    return re.sub(r"\{[^}]+\}", "x", route.path)


def _headers(tokens: dict[str, str], caller: str) -> dict[str, str]:
    return {} if caller == "none" else {"Authorization": f"Bearer {tokens[caller]}"}


def _check(client: TestClient, route: DeclaredRoute, method: str, caller: str,
           tokens: dict[str, str]) -> tuple[str, str | None]:
    """The outcome (401, 403, allowed) and None when it is what the caller's level and the route's permission
    say, else a description of the mismatch."""
    need = route.permission
    assert need is not None
    have = CALLERS[caller]
    kwargs = {"json": {}} if method in MUTATING else {}
    response = client.request(method, _url(route), headers=_headers(tokens, caller), follow_redirects=False,
                              **kwargs)
    status = response.status_code
    if status in (302, 303, 307) and "/login" in response.headers.get("location", ""):
        status = 401  # the web UI answers a page request without a token by sending the browser to its login
    if need == "public":
        expected = "allowed"
    elif have is None:
        expected = "401"
    else:
        expected = "allowed" if grants(have, need) else "403"
    got = "401" if status == 401 else "403" if status == 403 else "allowed"
    problem = f"{method} {route.path} ({need}) as {caller}: {status}, expected {expected}"
    return got, None if got == expected else problem


@pytest.mark.parametrize("which", ["server", "serve"])
def test_role_matrix_over_every_mutating_route(apps: tuple[dict[str, FastAPI], dict[str, str]], which: str) -> None:
    app_map, tokens = apps
    app = app_map[which]
    wrong, outcomes = [], []
    with TestClient(app, raise_server_exceptions=False) as client:
        for route in _api_routes(app):
            for method in sorted(route.methods & MUTATING):
                for caller in CALLERS:
                    outcome, problem = _check(client, route, method, caller, tokens)
                    outcomes.append(outcome)
                    if problem is not None:
                        wrong.append(problem)
    assert not wrong, "\n".join(wrong)
    assert set(outcomes) == {"401", "403", "allowed"}  # the matrix saw every kind of answer


@pytest.mark.parametrize("which", ["server", "serve"])
def test_reads_need_a_token_but_public_routes_do_not(apps: tuple[dict[str, FastAPI], dict[str, str]],
                                                     which: str) -> None:
    app_map, tokens = apps
    app = app_map[which]
    wrong = []
    with TestClient(app, raise_server_exceptions=False) as client:
        for route in _api_routes(app):
            if "GET" in route.methods:
                for caller in ("none", "viewer"):
                    if (problem := _check(client, route, "GET", caller, tokens)[1]) is not None:
                        wrong.append(problem)
    assert not wrong, "\n".join(wrong)


def test_prediction_fast_path_needs_a_token(apps: tuple[dict[str, FastAPI], dict[str, str]]) -> None:
    """``POST /invocations`` and ``…/infer`` skip FastAPI's routing, so the model server checks them itself."""
    tokens = apps[1]
    serving = create_serving_app("models:/nothing/1", poll_interval_s=0, log_predictions=False)
    client = TestClient(serving, raise_server_exceptions=False)
    for path in ("/invocations", "/v2/models/nothing/infer"):
        refused = client.post(path, json={"inputs": [[1]]})
        assert refused.status_code == 401 and "token" in refused.text
        allowed = client.post(path, json={"inputs": [[1]]}, headers=_headers(tokens, "viewer"))
        assert allowed.status_code not in (401, 403)
