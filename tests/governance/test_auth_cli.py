"""``keel users``, ``keel tokens``, ``keel projects``, ``keel members`` and ``keel models approve`` on the local
home: tokens are printed once, errors are exit code 2 with one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from keel.config import get_settings, reset_settings
from keel.governance.approvals import request_promotion
from keel.governance.tokens import verify_token
from keel.registry.sql import SqlRegistryStore
from keel.store import open_database
from keel_testing import run_cli


@pytest.fixture
def home(keel_home: Path) -> Path:
    reset_settings()
    return keel_home


def test_users_and_tokens(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli("users", "create", "ada", capsys=capsys)[1].strip() == "created user ada (admin)"
    assert run_cli("users", "create", "bob", capsys=capsys)[1].strip() == "created user bob"
    code, out, _ = run_cli("tokens", "create", "--user", "bob", "--scope", "write", "--expires", "1h", capsys=capsys)
    token = out.strip()
    assert code == 0 and token.startswith("keel_")
    db = open_database(get_settings().resolved_db_url)
    assert verify_token(db, token).scope == "write"
    code, out, _ = run_cli("tokens", "list", capsys=capsys)
    assert code == 0 and token.split("_")[1] in out and token.split("_", 2)[2] not in out
    assert run_cli("tokens", "revoke", token.split("_")[1], capsys=capsys)[0] == 0
    code, _, err = run_cli("tokens", "revoke", token.split("_")[1], capsys=capsys)
    assert code == 2 and "already revoked" in err
    assert run_cli("users", "disable", "bob", capsys=capsys)[0] == 0
    code, out, _ = run_cli("users", "list", capsys=capsys)
    assert code == 0 and "ada" in out and "bob" in out
    code, _, err = run_cli("tokens", "create", "--user", "bob", "--expires", "soon", capsys=capsys)
    assert code == 2 and "expires" in err and len(err.strip().splitlines()) == 1


def test_projects_and_members(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_cli("users", "create", "ada", capsys=capsys)
    assert run_cli("projects", "create", "vision", capsys=capsys)[0] == 0
    code, out, _ = run_cli("projects", "list", capsys=capsys)
    assert code == 0 and "vision" in out and "default" in out
    code, out, _ = run_cli("members", "add", "ada", "maintainer", "--project", "vision", capsys=capsys)
    assert code == 0 and "ada is maintainer in project vision" in out
    code, out, _ = run_cli("members", "list", "--project", "vision", capsys=capsys)
    assert "maintainer" in out
    code, _, err = run_cli("members", "add", "ada", "owner", capsys=capsys)
    assert code == 2 and "role" in err and "viewer" in err
    code, _, err = run_cli("members", "add", "ada", "viewer", "--project", "nope", capsys=capsys)
    assert code == 2 and "keel projects create nope" in err
    assert run_cli("members", "remove", "ada", "--project", "vision", capsys=capsys)[0] == 0


def test_models_approve_moves_the_alias(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = open_database(get_settings().resolved_db_url)
    registry = SqlRegistryStore(db)
    registry.create_registered_model("m")
    registry.create_model_version("m", "s")
    req = request_promotion(db, "default", "m", "champion", 1, "eve")
    code, out, _ = run_cli("models", "requests", capsys=capsys)
    assert code == 0 and req.id in out
    code, out, _ = run_cli("models", "approve", req.id, capsys=capsys)
    assert code == 0 and "champion" in out
    assert registry.get_model_version_by_alias("m", "champion").version == 1
    code, _, err = run_cli("models", "approve", req.id, capsys=capsys)
    assert code == 2 and "approved already" in err
