"""`keel deploy create|update|show|list|rollback|delete` on the local store."""

from __future__ import annotations

from pathlib import Path

import pytest

from keel.tracking.context import get_backend
from keel_testing import run_cli


@pytest.fixture
def fraud(keel_home: Path) -> str:
    """Registered model ``fraud`` with versions 1-3; ``champion`` → 1."""
    registry = get_backend().registry
    registry.create_registered_model("fraud")
    for _ in range(3):
        registry.create_model_version("fraud", "s")
    registry.set_registered_model_alias("fraud", "champion", 1)
    return "fraud"


def _ok(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    code, out, err = run_cli("deploy", *args, capsys=capsys)
    assert code == 0, err
    return out


def test_canary_step_up_history_and_rollback(fraud: str, capsys: pytest.CaptureFixture[str]) -> None:
    out = _ok(capsys, "create", "api", "--route", "fraud@champion", "--shadow", "fraud/3", "--sticky-key", "X-User",
              "--max-batch-size", "16", "--description", "fraud scoring")
    assert "revision 1 (create" in out and "fraud@champion 100%" in out and "models:/fraud/3" in out
    assert "X-User" in out and "max 16" in out
    assert "fraud@champion 90%, fraud/2 10%" in _ok(capsys, "update", "api", "--canary", "fraud/2=10")
    assert "fraud@champion 50%, fraud/2 50%" in _ok(capsys, "update", "api", "--canary", "fraud/2=50")
    out = _ok(capsys, "update", "api", "--canary", "fraud/2=100")
    assert "revision 4 (update" in out and "fraud/2 100%" in out and "fraud@champion" not in out.splitlines()[0]

    history = _ok(capsys, "show", "api", "--history")
    rows = [line for line in history.splitlines() if line.strip().startswith("│ ") and "update" in line]
    assert len(rows) == 3 and "4 revisions" in history
    assert history.index("fraud/2 100%") < history.index("fraud@champion 50%") < history.index("fraud@champion 90%")

    out = _ok(capsys, "rollback", "api")
    assert "revision 5 (rollback" in out and "fraud@champion 50%, fraud/2 50%" in out
    out = _ok(capsys, "rollback", "api", "--to-revision", "1")
    assert "revision 6 (rollback" in out and "fraud@champion 100%" in out and "fraud/3" in out
    store = get_backend().deployments
    assert [d.action for d in store.deployment_history("api")][:2] == ["rollback", "rollback"]
    assert store.get_deployment("api").max_batch_size == 16  # carried through every revision

    out = _ok(capsys, "list")
    assert "api" in out and "6" in out and "fraud@champion 100%" in out
    assert "fraud/2 10%" in _ok(capsys, "show", "api", "--revision", "2")


def test_update_replaces_routes_and_clears_options(fraud: str, capsys: pytest.CaptureFixture[str]) -> None:
    _ok(capsys, "create", "ab", "-r", "fraud/1=1", "-r", "fraud/2=1", "-s", "fraud/3", "--sticky-key", "user")
    out = _ok(capsys, "update", "ab", "--route", "fraud/2=3", "--route", "fraud/3=1", "--no-shadows",
              "--no-sticky-key")
    assert "fraud/2 75%, fraud/3 25%" in out and "weighted random" in out and "shadow" not in out
    d = get_backend().deployments.get_deployment("ab")
    assert (d.sticky_key, d.shadows, d.revision) == (None, (), 2)


def test_delete_asks_unless_yes(fraud: str, capsys: pytest.CaptureFixture[str]) -> None:
    _ok(capsys, "create", "gone", "--route", "fraud/1")
    assert "deleted deployment gone" in _ok(capsys, "delete", "gone", "--yes")
    code, _, err = run_cli("deploy", "show", "gone", capsys=capsys)
    assert code == 2 and "not found" in err


@pytest.mark.parametrize("args,needle", [
    (["create", "x"], "at least one route"),
    (["create", "x", "--route", "fraud"], "names no version or alias"),
    (["create", "x", "--route", "fraud/1=0"], "above 0"),
    (["create", "x", "--route", "fraud/9"], "fraud/9"),
    (["create", "x", "--route", "fraud/1", "--shadow", "fraud/1"], "also a route"),
    (["create", "x", "--route", "fraud/1", "--max-batch-size", "0"], "max_batch_size"),
    (["create", "bad name", "--route", "fraud/1"], "not a valid deployment name"),
    (["create", "api", "--route", "fraud/1"], "already exists"),
    (["update", "api"], "nothing to update"),
    (["update", "api", "--route", "fraud/2", "--canary", "fraud/2=10"], "--route and --canary"),
    (["update", "api", "--canary", "fraud/2"], "TARGET=PERCENT"),
    (["update", "api", "--canary", "fraud/2=150"], "TARGET=PERCENT"),
    (["update", "api", "--canary", "fraud/1=50"], "only route"),
    (["update", "nope", "--route", "fraud/1"], "nope"),
    (["rollback", "api"], "its first"),
    (["rollback", "api", "--to-revision", "7"], "no revision 7"),
    (["show", "nope"], "keel deploy create nope"),
])
def test_errors_exit_2_with_one_line(fraud: str, capsys: pytest.CaptureFixture[str], args: list[str],
                                     needle: str) -> None:
    _ok(capsys, "create", "api", "--route", "fraud/1")
    code, _, err = run_cli("deploy", *args, capsys=capsys)
    assert code == 2 and needle in err and len(err.strip().splitlines()) == 1, err


def test_deploy_against_a_server(keel_home: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    from keel.client.deployments import HttpDeploymentStore
    from keel.tracking.context import reset_backend

    monkeypatch.setenv("KEEL_TRACKING_URI", request.getfixturevalue("live_server").url)
    monkeypatch.setenv("KEEL_USER", "carol")
    reset_backend()
    registry = get_backend().registry
    registry.create_registered_model("remote")
    registry.create_model_version("remote", "s")
    registry.create_model_version("remote", "s")
    assert isinstance(get_backend().deployments, HttpDeploymentStore)
    _ok(capsys, "create", "remote-api", "--route", "remote/1")
    out = _ok(capsys, "update", "remote-api", "--canary", "remote/2=25")
    assert "revision 2 (update by carol): remote/1 75%, remote/2 25%" in out
    assert "remote-api" in _ok(capsys, "list")
