"""With auth on, the UI signs in with a token (an HttpOnly cookie), shows who is signed in, and disables what the
role may not do — while the server still refuses it (the UI is not the security boundary)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from keel_testing import ServerProcess

pytestmark = pytest.mark.timeout(300)

MODEL = "auth-model"


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, dict[str, str]]]:
    """`keel server` with auth on over a small home: a model with two versions (@champion → v1), and a token per
    role (viewer, maintainer)."""
    from keel.governance.projects import add_member
    from keel.governance.tokens import create_token
    from keel.governance.users import create_user
    from keel.registry import SqlRegistryStore
    from keel.store import open_database

    home = tmp_path_factory.mktemp("ui-auth") / "home"
    db = open_database(f"sqlite:///{home / 'keel.db'}")
    registry = SqlRegistryStore(db, "default")
    registry.create_registered_model(MODEL)
    for _ in range(2):
        registry.create_model_version(MODEL, None)
    registry.set_registered_model_alias(MODEL, "champion", 1)
    create_user(db, "root")  # the first user is the server admin
    tokens = {}
    for role in ("viewer", "maintainer"):
        create_user(db, role)
        add_member(db, "default", role, role)
        tokens[role] = create_token(db, role).token
    db.engine.dispose()
    server = ServerProcess(home, extra_env={"KEEL_AUTH": "1", "KEEL_AUTH_CACHE_TTL_S": "0"}).start(timeout=60)
    yield server, tokens
    server.stop()


def _champion(server: ServerProcess, token: str) -> int:
    response = httpx.get(f"{server.url}/api/v1/registered-models/{MODEL}/aliases/champion",
                         headers={"Authorization": f"Bearer {token}"}, timeout=10)
    response.raise_for_status()
    return int(response.json()["model_version"]["version"])


def _sign_in(ui: Any, token: str) -> None:
    page = ui.page
    ui.goto(f"/ui/models/{MODEL}", ready=False)
    page.wait_for_selector("#login-form")  # no cookie yet: the page sends us to the login form
    assert "/ui/login?next=" in page.url
    page.fill("#token", token)
    page.click("#login-form button[type=submit]")
    page.wait_for_url(f"**/ui/models/{MODEL}")
    page.wait_for_selector("body[data-ready='1']")


def test_viewer_sees_promote_disabled_and_the_server_refuses_it(new_ui: Any, auth_server: Any) -> None:
    server, tokens = auth_server
    ui = new_ui(server.url, "auth-viewer")
    context = ui.page.context
    try:
        _sign_in(ui, tokens["viewer"])
        page = ui.page
        page.wait_for_function("document.getElementById('user-badge').textContent.includes('viewer')")
        assert page.is_disabled("#promote-btn")
        assert "maintain" in (page.get_attribute("#promote-btn", "title") or "")
        cookie = next(c for c in context.cookies() if c["name"] == "keel_token")
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
        assert page.evaluate("document.cookie") == ""  # scripts cannot read the token
        ui.shot("viewer")
        # the server is the boundary: the same request the button would send, with the viewer's token
        refused = httpx.put(f"{server.url}/api/v1/registered-models/{MODEL}/aliases/champion", json={"version": 2},
                            headers={"Authorization": f"Bearer {tokens['viewer']}"}, timeout=10)
        assert refused.status_code == 403, refused.text
        # ... and with the viewer's cookie from the page itself, forcing the disabled button's request
        status = page.evaluate(f"""async () => (await fetch('/api/v1/registered-models/{MODEL}/aliases/champion',
            {{method: 'PUT', headers: {{'Content-Type': 'application/json'}},
              body: JSON.stringify({{version: 2}})}})).status""")
        assert status == 403
        assert _champion(server, tokens["viewer"]) == 1
        ui.errors.clear()  # the forced request's 403 is logged by the browser on purpose
    finally:
        ui.shot("final")
    ui.assert_no_errors()


def test_maintainer_can_promote_and_a_bad_token_is_refused_at_login(new_ui: Any, auth_server: Any) -> None:
    server, tokens = auth_server
    ui = new_ui(server.url, "auth-maintainer")
    try:
        page = ui.page
        ui.goto("/ui/login")
        page.fill("#token", "keel_nope_nope")
        page.click("#login-form button[type=submit]")
        page.wait_for_selector("#login-error:not([hidden])")
        assert "Sign-in failed" in page.inner_text("#login-error")
        ui.errors.clear()  # the refused whoami (401) is expected here
        _sign_in(ui, tokens["maintainer"])
        assert page.is_enabled("#promote-btn")
        page.select_option("#promote-version", "2")
        page.once("dialog", lambda dialog: dialog.accept())
        page.click("#promote-btn")
        page.wait_for_selector(".badge.alias[data-alias='champion'][data-version='2']")
        assert _champion(server, tokens["maintainer"]) == 2
        ui.shot("maintainer-promoted")
    finally:
        ui.shot("final")
    ui.assert_no_errors()
