"""Access control on ``keel server``: tokens (shown once, salted, expiring, revocable, scoped), roles per project,
``whoami`` and protected-alias approvals -- in-process over the real app and a SQLite home."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from keel.config import Settings
from keel.errors import AlreadyExists, InvalidInput, Unauthenticated
from keel.governance.projects import add_member, create_project
from keel.governance.tables import api_tokens
from keel.governance.tokens import create_token, hash_secret, revoke_token, verify_secret, verify_token
from keel.governance.users import create_user, set_disabled
from keel.server import create_app
from keel.store import Database

ROLES = ("viewer", "editor", "maintainer")


def _app(tmp_path: Path, **settings: object) -> FastAPI:
    values: dict[str, object] = {"home": tmp_path / "home", "auth": True, "auth_cache_ttl_s": 0, **settings}
    return create_app(Settings(**values))  # type: ignore[arg-type]


def _db(app: FastAPI) -> Database:
    db: Database = app.state.keel_db
    return db


def _people(db: Database) -> dict[str, str]:
    """A server admin (the first user) and one member per role, with a token each."""
    create_user(db, "root")
    tokens = {"root": create_token(db, "root").token}
    for role in ROLES:
        create_user(db, role)
        add_member(db, "default", role, role)
        tokens[role] = create_token(db, role).token
    return tokens


def _as(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def auth(tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, str], Database]]:
    app = _app(tmp_path)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client, _people(_db(app)), _db(app)


# -- tokens --------------------------------------------------------------------------------------------------------
def test_tokens_are_shown_once_and_stored_as_salted_hashes(auth: tuple[TestClient, dict[str, str], Database]) -> None:
    _, tokens, db = auth
    token = tokens["editor"]
    token_id, secret = token.split("_", 2)[1:]
    with db.read() as conn:
        stored = conn.execute(select(api_tokens.c.secret_hash).where(api_tokens.c.id == token_id)).scalar_one()
    assert secret not in stored and verify_secret(secret, stored) and not verify_secret(secret + "x", stored)
    assert hash_secret(secret) != hash_secret(secret)  # a fresh salt each time
    assert verify_token(db, token).user == "editor"


def test_no_token_is_401_with_a_json_body(auth: tuple[TestClient, dict[str, str], Database]) -> None:
    client, _, _ = auth
    response = client.get("/api/v1/experiments")
    assert response.status_code == 401
    assert response.json()["error_code"] == "UNAUTHENTICATED" and "Bearer" in response.json()["message"]
    mlflow_shape = client.post("/api/2.0/mlflow/experiments/create", json={"name": "x"})
    assert mlflow_shape.status_code == 401 and mlflow_shape.json()["error_code"] == "UNAUTHENTICATED"


def test_a_wrong_or_malformed_token_is_401_and_never_echoed(auth: tuple[TestClient, dict[str, str], Database]) -> None:
    client, tokens, _ = auth
    token_id = tokens["editor"].split("_")[1]
    wrong_secret = "A" * 43
    for bad in (f"keel_{token_id}_{wrong_secret}", "not-a-keel-token-s3cr3t"):
        response = client.get("/api/v1/experiments", headers=_as(bad))
        assert response.status_code == 401
        assert wrong_secret not in response.text and "s3cr3t" not in response.text


def test_an_expired_token_is_refused(auth: tuple[TestClient, dict[str, str], Database]) -> None:
    client, _, db = auth
    token = create_token(db, "viewer", "short", expires_in_s=0.3).token
    assert client.get("/api/v1/experiments", headers=_as(token)).status_code == 200
    time.sleep(0.35)
    response = client.get("/api/v1/experiments", headers=_as(token))
    assert response.status_code == 401 and "expired" in response.json()["message"]


def test_a_revoked_token_is_refused_on_the_next_request(auth: tuple[TestClient, dict[str, str], Database]) -> None:
    client, tokens, db = auth
    assert client.get("/api/v1/experiments", headers=_as(tokens["viewer"])).status_code == 200
    revoke_token(db, tokens["viewer"].split("_")[1])
    response = client.get("/api/v1/experiments", headers=_as(tokens["viewer"]))
    assert response.status_code == 401 and "revoked" in response.json()["message"]
    with pytest.raises(Unauthenticated):
        verify_token(db, tokens["viewer"])


def test_verified_tokens_are_cached_for_the_ttl_only(tmp_path: Path) -> None:
    app = _app(tmp_path, auth_cache_ttl_s=1.0)
    client = TestClient(app, raise_server_exceptions=False)
    tokens = _people(_db(app))
    started = time.monotonic()
    assert client.get("/api/v1/experiments", headers=_as(tokens["viewer"])).status_code == 200
    revoke_token(_db(app), tokens["viewer"])
    if time.monotonic() - started < 0.5:  # still inside the TTL: answered from the cache, no database read
        assert client.get("/api/v1/experiments", headers=_as(tokens["viewer"])).status_code == 200
    time.sleep(1.05)
    assert client.get("/api/v1/experiments", headers=_as(tokens["viewer"])).status_code == 401


def test_a_disabled_users_tokens_stop_working(auth: tuple[TestClient, dict[str, str], Database]) -> None:
    client, tokens, db = auth
    set_disabled(db, "editor")
    assert client.get("/api/v1/experiments", headers=_as(tokens["editor"])).status_code == 401
    with pytest.raises(InvalidInput, match="disabled"):
        create_token(db, "editor")


def test_a_tokens_scope_caps_what_even_an_admin_may_do(auth: tuple[TestClient, dict[str, str], Database]) -> None:
    client, _, db = auth
    read_only = create_token(db, "root", "ci", scope="read").token
    assert client.get("/api/v1/experiments", headers=_as(read_only)).status_code == 200
    assert client.post("/api/v1/experiments", json={"name": "e"}, headers=_as(read_only)).status_code == 403
    with pytest.raises(InvalidInput, match="scope"):
        create_token(db, "root", scope="everything")


# -- users and roles -------------------------------------------------------------------------------------------------
def test_the_first_user_is_an_admin_and_names_are_unique(tmp_path: Path) -> None:
    db = _db(_app(tmp_path))
    assert create_user(db, "first").admin and not create_user(db, "second").admin
    with pytest.raises(AlreadyExists):
        create_user(db, "second")
    with pytest.raises(InvalidInput, match="user"):
        create_user(db, "no spaces")


def test_roles_decide_and_a_403_names_the_role_needed(auth: tuple[TestClient, dict[str, str], Database]) -> None:
    client, tokens, _ = auth
    denied = client.post("/api/v1/experiments", json={"name": "e"}, headers=_as(tokens["viewer"]))
    assert denied.status_code == 403 and denied.json()["error_code"] == "PERMISSION_DENIED"
    assert "editor" in denied.json()["message"] and "viewer" in denied.json()["message"]
    assert client.post("/api/v1/experiments", json={"name": "e"}, headers=_as(tokens["editor"])).status_code == 200
    outsider = create_token(auth[2], create_user(auth[2], "outsider").name).token
    assert client.get("/api/v1/experiments", headers=_as(outsider)).status_code == 403


def test_members_are_managed_by_project_admins(auth: tuple[TestClient, dict[str, str], Database]) -> None:
    client, tokens, _ = auth
    assert client.put("/api/v1/members/viewer", json={"role": "editor"},
                      headers=_as(tokens["maintainer"])).status_code == 403
    bad = client.put("/api/v1/members/viewer", json={"role": "owner"}, headers=_as(tokens["root"]))
    assert bad.status_code == 400 and bad.json()["field"] == "role"
    assert client.put("/api/v1/members/viewer", json={"role": "editor"}, headers=_as(tokens["root"])).status_code == 200
    assert client.post("/api/v1/experiments", json={"name": "v"}, headers=_as(tokens["viewer"])).status_code == 200
    members = client.get("/api/v1/members", headers=_as(tokens["viewer"])).json()["members"]
    assert {m["user"]: m["role"] for m in members}["viewer"] == "editor"
    assert client.delete("/api/v1/members/viewer", headers=_as(tokens["root"])).status_code == 200
    assert client.get("/api/v1/experiments", headers=_as(tokens["viewer"])).status_code == 403


def test_the_project_header_names_the_project(auth: tuple[TestClient, dict[str, str], Database]) -> None:
    client, tokens, db = auth
    same = client.get("/api/v1/experiments", headers={**_as(tokens["viewer"]), "X-Keel-Project": "default"})
    assert same.status_code == 200
    unknown = client.get("/api/v1/experiments", headers={**_as(tokens["viewer"]), "X-Keel-Project": "other"})
    assert unknown.status_code == 404 and "keel projects create other" in unknown.json()["message"]
    create_project(db, "other")
    other = client.get("/api/v1/experiments", headers={**_as(tokens["viewer"]), "X-Keel-Project": "other"})
    assert other.status_code == 403 and "'other'" in other.json()["message"]  # a viewer of default only
    add_member(db, "other", "viewer", "viewer")
    listed = client.get("/api/v1/experiments", headers={**_as(tokens["viewer"]), "X-Keel-Project": "other"})
    assert listed.status_code == 200 and [e["name"] for e in listed.json()["experiments"]] == ["Default"]


# -- whoami ----------------------------------------------------------------------------------------------------------
def test_whoami_reports_the_token_or_cookie_holder(auth: tuple[TestClient, dict[str, str], Database]) -> None:
    client, tokens, _ = auth
    assert client.get("/api/v1/auth/whoami").json() == {"auth_enabled": True, "user": None, "admin": False,
                                                        "project": "default", "role": None}
    assert client.get("/api/v1/auth/whoami", headers=_as(tokens["editor"])).json() == {
        "auth_enabled": True, "user": "editor", "admin": False, "project": "default", "role": "editor"}
    cookie = TestClient(client.app, cookies={"keel_token": tokens["root"]})
    assert cookie.get("/api/v1/auth/whoami").json()["user"] == "root"
    assert cookie.get("/api/v1/auth/whoami").json()["role"] == "admin"
    assert cookie.get("/api/v1/experiments").status_code == 200
    bad = client.get("/api/v1/auth/whoami", headers=_as("keel_0000000000000000_" + "x" * 43))
    assert bad.status_code == 200 and bad.json()["user"] is None


def test_auth_off_needs_no_token(tmp_path: Path) -> None:
    client = TestClient(create_app(Settings(home=tmp_path / "home")))
    assert client.post("/api/v1/experiments", json={"name": "free"}).status_code == 200
    assert client.get("/api/v1/auth/whoami").json() == {"auth_enabled": False, "user": None, "admin": True,
                                                        "project": "default", "role": "admin"}


# -- protected aliases -----------------------------------------------------------------------------------------------
def _model(client: TestClient, token: str) -> None:
    assert client.post("/api/v1/registered-models", json={"name": "m"}, headers=_as(token)).status_code == 200
    for _ in range(2):
        created = client.post("/api/v1/registered-models/m/versions", json={"source": "s"}, headers=_as(token))
        assert created.status_code == 200


def test_an_editors_promotion_waits_for_a_maintainers_approval(tmp_path: Path) -> None:
    app = _app(tmp_path, require_approval=True)
    client = TestClient(app, raise_server_exceptions=False)
    tokens = _people(_db(app))
    _model(client, tokens["editor"])
    pending = client.put("/api/v1/registered-models/m/aliases/champion", json={"version": 2},
                         headers=_as(tokens["editor"]))
    assert pending.status_code == 202
    request_id = pending.json()["promotion_request"]["id"]
    assert client.get("/api/v1/registered-models/m/aliases/champion", headers=_as(tokens["viewer"])).status_code == 404
    # an unprotected alias moves at once; the mlflow-compatible route holds a protected one the same way
    assert client.put("/api/v1/registered-models/m/aliases/staging", json={"version": 1},
                      headers=_as(tokens["editor"])).status_code == 200
    via_mlflow = client.post("/api/2.0/mlflow/registered-models/alias",
                             json={"name": "m", "alias": "production", "version": "1"}, headers=_as(tokens["editor"]))
    assert via_mlflow.status_code == 202
    listed = client.get("/api/v1/promotion-requests", headers=_as(tokens["viewer"])).json()["promotion_requests"]
    assert {r["alias"] for r in listed} == {"champion", "production"}
    for who in ("viewer", "editor"):
        assert client.post(f"/api/v1/promotion-requests/{request_id}/approve",
                           headers=_as(tokens[who])).status_code == 403
    approved = client.post(f"/api/v1/promotion-requests/{request_id}/approve", headers=_as(tokens["maintainer"]))
    assert approved.status_code == 200
    assert approved.json()["promotion_request"]["decided_by"] == "maintainer"
    alias = client.get("/api/v1/registered-models/m/aliases/champion", headers=_as(tokens["viewer"]))
    assert alias.json()["model_version"]["version"] == "2"
    again = client.post(f"/api/v1/promotion-requests/{request_id}/approve", headers=_as(tokens["maintainer"]))
    assert again.status_code == 409


def test_without_approvals_a_protected_alias_needs_a_maintainer(auth: tuple[TestClient, dict[str, str], Database]
                                                                ) -> None:
    client, tokens, _ = auth
    _model(client, tokens["editor"])
    url = "/api/v1/registered-models/m/aliases/champion"
    denied = client.put(url, json={"version": 1}, headers=_as(tokens["editor"]))
    assert denied.status_code == 403 and "protected" in denied.json()["message"]
    assert client.put(url, json={"version": 1}, headers=_as(tokens["maintainer"])).status_code == 200
    assert client.delete(url, headers=_as(tokens["editor"])).status_code == 403
    assert client.delete(url, headers=_as(tokens["maintainer"])).status_code == 200


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_the_access_tables_work_on_both_databases(backend: str, tmp_path: Path,
                                                  request: pytest.FixtureRequest) -> None:
    from keel.governance.approvals import approve_request, list_requests, request_promotion
    from keel.governance.projects import create_project, list_members, member_role, remove_member
    from keel.governance.tokens import list_tokens
    from keel.registry.sql import SqlRegistryStore
    from keel.store import open_database

    url = f"sqlite:///{tmp_path / 'k.db'}" if backend == "sqlite" else request.getfixturevalue("postgres_url")
    db = open_database(url)
    create_user(db, "ada")
    create_project(db, "vision")
    add_member(db, "vision", "ada", "viewer")
    add_member(db, "vision", "ada", "editor")  # replaces the role
    assert member_role(db, "ada", "vision") == "editor" and member_role(db, "ada", "default") is None
    issued = create_token(db, "ada", "ci", scope="write", expires_in_s=60)
    assert verify_token(db, issued.token).scope == "write"
    assert [t.id for t in list_tokens(db, "ada")] == [issued.info.id]
    registry = SqlRegistryStore(db, "vision")
    registry.create_registered_model("m")
    registry.create_model_version("m", "s")
    req = request_promotion(db, "vision", "m", "champion", 1, "ada")
    assert [r.id for r in list_requests(db, "vision")] == [req.id]
    assert approve_request(db, req.id, "boss").state == "approved"
    assert registry.get_model_version_by_alias("m", "champion").version == 1
    remove_member(db, "vision", "ada")
    assert list_members(db, "vision") == []


def test_levels_roles_and_token_format() -> None:
    from keel.governance.roles import capped, grants, level_of, role_for
    from keel.governance.tokens import parse_duration, parse_token

    assert [level_of(r) for r in (None, "viewer", "editor", "maintainer", "admin")] == \
        ["public", "read", "write", "maintain", "admin"]
    assert grants("maintain", "write") and not grants("write", "maintain") and grants("read", "public")
    assert capped("admin", "read") == "read" and capped("read", "admin") == "read"
    assert role_for("maintain") == "maintainer" and role_for("public") is None
    assert parse_token("keel_0123456789abcdef_" + "s" * 43) == ("0123456789abcdef", "s" * 43)
    with pytest.raises(Unauthenticated) as err:
        parse_token("keel_short_secretvalue")
    assert "secretvalue" not in err.value.message
    assert (parse_duration("30d"), parse_duration("12h"), parse_duration("90m")) == (30 * 86400, 12 * 3600, 5400)
    with pytest.raises(InvalidInput, match="expires"):
        parse_duration("0d")


def test_a_stage_named_like_a_protected_alias_needs_a_maintainer(auth: tuple[TestClient, dict[str, str], Database]
                                                                 ) -> None:
    client, tokens, _ = auth
    _model(client, tokens["editor"])
    mlflow_url = "/api/2.0/mlflow/model-versions/transition-stage"
    body = {"name": "m", "version": "1", "stage": "Production"}
    denied = client.post(mlflow_url, json=body, headers=_as(tokens["editor"]))
    assert denied.status_code == 403 and "protected" in denied.json()["message"]
    patched = client.patch("/api/v1/registered-models/m/versions/1", json={"stage": "production"},
                           headers=_as(tokens["editor"]))
    assert patched.status_code == 403
    staging = client.post(mlflow_url, json={**body, "stage": "Staging"}, headers=_as(tokens["editor"]))
    assert staging.status_code == 200 and staging.json()["model_version"]["current_stage"] == "Staging"
    moved = client.post(mlflow_url, json=body, headers=_as(tokens["maintainer"]))
    assert moved.status_code == 200 and moved.json()["model_version"]["current_stage"] == "Production"
