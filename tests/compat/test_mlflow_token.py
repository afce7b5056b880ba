"""The unmodified mlflow client and Keel's SDK against a `keel server` with auth on: a token in
``MLFLOW_TRACKING_TOKEN`` / ``KEEL_TOKEN`` works, none or a revoked one is refused."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

mlflow = pytest.importorskip("mlflow")
from mlflow.exceptions import MlflowException  # noqa: E402
from mlflow.tracking import MlflowClient  # noqa: E402

from keel.config import reset_settings  # noqa: E402
from keel.errors import PermissionDenied, Unauthenticated  # noqa: E402
from keel.governance.projects import add_member, create_project  # noqa: E402
from keel.governance.tokens import create_token, revoke_token  # noqa: E402
from keel.governance.users import create_user  # noqa: E402
from keel.store import Database  # noqa: E402
from keel.tracking.context import reset_backend  # noqa: E402
from keel_testing import ServerProcess  # noqa: E402

TOKENS: dict[str, str] = {}


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A `keel server --auth` (tokens checked on every request: cache TTL 0; approvals required for protected
    aliases) with an editor, a viewer and a maintainer."""
    home = tmp_path_factory.mktemp("auth-server") / "home"
    home.mkdir()
    db = Database(f"sqlite:///{home / 'keel.db'}")
    from keel.store import ensure_schema

    ensure_schema(db)
    create_user(db, "root")
    for role in ("editor", "viewer", "maintainer"):
        create_user(db, role)
        add_member(db, "default", role, role)
        TOKENS[role] = create_token(db, role).token
    db.dispose()
    env = {"KEEL_AUTH": "1", "KEEL_AUTH_CACHE_TTL_S": "0", "KEEL_REQUIRE_APPROVAL": "1"}
    server = ServerProcess(home, extra_env=env).start()
    yield server
    server.stop()


def _use(monkeypatch: pytest.MonkeyPatch, token: str | None) -> None:
    if token is None:
        monkeypatch.delenv("MLFLOW_TRACKING_TOKEN", raising=False)
    else:
        monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", token)


def test_the_mlflow_client_works_with_a_token(client: MlflowClient, monkeypatch: pytest.MonkeyPatch,
                                              tmp_path: Path) -> None:
    _use(monkeypatch, TOKENS["editor"])
    mlflow.set_experiment(f"tok-{uuid.uuid4().hex[:8]}")
    artifact = tmp_path / "note.txt"
    artifact.write_text("hello")
    with mlflow.start_run() as run:
        mlflow.log_param("p", 1)
        mlflow.log_metric("m", 0.5)
        mlflow.log_artifact(str(artifact))
    got = client.get_run(run.info.run_id)
    assert (got.data.params, got.data.metrics) == ({"p": "1"}, {"m": 0.5})
    assert [f.path for f in client.list_artifacts(run.info.run_id)] == ["note.txt"]
    name = f"tok-model-{uuid.uuid4().hex[:8]}"
    client.create_registered_model(name)
    assert client.create_model_version(name, f"runs:/{run.info.run_id}/m", run_id=run.info.run_id).version == "1"


def test_the_mlflow_client_is_refused_without_a_token(client: MlflowClient,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    _use(monkeypatch, None)
    with pytest.raises(MlflowException) as err:
        client.search_experiments()
    assert "authentication required" in str(err.value)
    _use(monkeypatch, TOKENS["viewer"])
    assert client.search_experiments()  # a viewer reads ...
    with pytest.raises(MlflowException) as denied:  # ... but does not write
        client.create_experiment(f"no-{uuid.uuid4().hex[:8]}")
    assert denied.value.error_code == "PERMISSION_DENIED"


def test_a_revoked_token_is_refused_at_once(client: MlflowClient, monkeypatch: pytest.MonkeyPatch,
                                            live_server: ServerProcess) -> None:
    db = Database(f"sqlite:///{live_server.home / 'keel.db'}")
    token = create_token(db, "viewer", "short-lived").token
    _use(monkeypatch, token)
    client.search_experiments()
    revoke_token(db, token)
    db.dispose()
    with pytest.raises(MlflowException, match="revoked"):
        client.search_experiments()


def test_the_keel_sdk_sends_keel_token(live_server: ServerProcess, keel_home: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    import keel

    monkeypatch.setenv("KEEL_TRACKING_URI", live_server.url)
    monkeypatch.setenv("KEEL_HTTP_RETRY_FOR_S", "0")
    for token, refused in ((None, Unauthenticated), (TOKENS["viewer"], PermissionDenied)):
        if token is None:
            monkeypatch.delenv("KEEL_TOKEN", raising=False)
        else:
            monkeypatch.setenv("KEEL_TOKEN", token)
        reset_settings()
        reset_backend()
        with pytest.raises(refused):
            keel.set_experiment(f"sdk-{uuid.uuid4().hex[:8]}")
    monkeypatch.setenv("KEEL_TOKEN", TOKENS["editor"])
    reset_settings()
    reset_backend()
    keel.set_experiment(f"sdk-{uuid.uuid4().hex[:8]}")
    with keel.start_run() as run:
        keel.log_metric("acc", 0.9)
    assert keel.get_run(run.info.run_id).metrics["acc"].value == 0.9


def _sdk_as(role: str, server: ServerProcess, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEEL_TRACKING_URI", server.url)
    monkeypatch.setenv("KEEL_TOKEN", TOKENS[role])
    reset_settings()
    reset_backend()


def test_an_editors_promotion_waits_for_approval_over_http(live_server: ServerProcess, keel_home: Path,
                                                           client: MlflowClient, monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    import keel
    from keel.errors import Conflict
    from keel_testing import run_cli

    _use(monkeypatch, TOKENS["editor"])
    name = f"gated-{uuid.uuid4().hex[:8]}"
    client.create_registered_model(name)
    client.create_model_version(name, "s")
    with pytest.raises(MlflowException, match="awaits a maintainer's approval"):
        client.set_registered_model_alias(name, "production", "1")
    _sdk_as("editor", live_server, monkeypatch)
    with pytest.raises(Conflict, match="keel models approve") as pending:
        keel.set_registered_model_alias(name, "champion", 1)
    request_id = pending.value.message.split("keel models approve ")[1].rstrip("`)")
    _sdk_as("maintainer", live_server, monkeypatch)
    code, out, err = run_cli("models", "approve", request_id, capsys=capsys)
    assert code == 0 and "champion" in out, err
    assert client.get_model_version_by_alias(name, "champion").version == "1"


def test_the_sdk_names_its_project_and_the_server_answers_in_it(live_server: ServerProcess, keel_home: Path,
                                                               client: MlflowClient,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    import keel
    from keel.errors import NotFound

    _sdk_as("editor", live_server, monkeypatch)
    monkeypatch.setenv("KEEL_PROJECT", "vision")
    reset_settings()
    reset_backend()
    name = f"elsewhere-{uuid.uuid4().hex[:8]}"
    with pytest.raises(NotFound, match="keel projects create vision"):
        keel.set_experiment(name)
    db = Database(f"sqlite:///{live_server.home / 'keel.db'}")
    create_project(db, "vision")
    with pytest.raises(PermissionDenied, match="'vision'"):  # an editor of default only
        keel.set_experiment(name)
    add_member(db, "vision", "editor", "editor")
    db.dispose()
    keel.set_experiment(name)
    with keel.start_run() as run:
        keel.log_metric("acc", 0.7)
    assert keel.get_run(run.info.run_id).metrics["acc"].value == 0.7
    _use(monkeypatch, TOKENS["editor"])  # the mlflow client, on the default project, sees none of it
    assert client.get_experiment_by_name(name) is None
    with pytest.raises(MlflowException):
        client.get_run(run.info.run_id)
