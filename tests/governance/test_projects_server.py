"""One `keel server` serves every project: ``X-Keel-Project`` picks the project of each request (default: the
server's). Objects of one project are invisible from another, roles are per project, an unknown project is a 404
naming the command that creates it -- in-process over the real app, and over a live `keel server --auth`."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from keel.config import get_settings, project_scope, reset_settings
from keel.errors import PermissionDenied
from keel.governance.projects import add_member, create_project
from keel.governance.tokens import create_token
from keel.governance.users import create_user
from keel.server import create_app
from keel.store import Database, ensure_schema
from keel.tracking.context import reset_backend
from keel_testing import ServerProcess

PROJECTS = ("default", "b")


def _in(project: str, token: str | None = None) -> dict[str, str]:
    headers = {"X-Keel-Project": project}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return headers


def _ok(response: httpx.Response) -> Any:
    assert response.status_code == 200, response.text
    return response.json()


def _fill(client: TestClient, project: str, data_dir: Path) -> dict[str, str]:
    """An experiment with a run, a model version made by it, a deployment, a dataset and a monitor in ``project``."""
    h = _in(project)
    exp_id = _ok(client.post("/api/v1/experiments", json={"name": f"exp-{project}"}, headers=h))["experiment_id"]
    run_id = _ok(client.post("/api/v1/runs", json={"experiment_id": exp_id}, headers=h))["run"]["info"]["run_id"]
    _ok(client.post("/api/v1/registered-models", json={"name": f"m-{project}"}, headers=h))
    _ok(client.post(f"/api/v1/registered-models/m-{project}/versions",
                    json={"source": f"runs:/{run_id}/model", "run_id": run_id}, headers=h))
    _ok(client.post("/api/v1/deployments", json={"name": f"dep-{project}",
                                                  "routes": [{"model": f"m-{project}", "version": 1}]}, headers=h))
    import keel.data
    from keel.monitoring.monitors import create_monitor

    csv = data_dir / f"{project}.csv"
    pd.DataFrame({"x": [float(i) for i in range(40)], "y": [i % 2 for i in range(40)]}).to_csv(csv, index=False)
    with project_scope(project):  # the SDK on the server's store, as a route calling it would be
        keel.data.add(csv, f"ds-{project}")
        create_monitor(f"watch-{project}", f"dep-{project}", f"ds-{project}@v1")
    return {"experiment": exp_id, "run": run_id}


def test_one_server_keeps_projects_apart(keel_home: Path, tmp_path: Path) -> None:
    app = create_app(get_settings())
    create_project(app.state.keel_db, "b")
    with TestClient(app, raise_server_exceptions=False) as client:
        made = {p: _fill(client, p, tmp_path) for p in PROJECTS}
        for mine, other in (("default", "b"), ("b", "default")):
            h = _in(mine)
            names = [e["name"] for e in _ok(client.get("/api/v1/experiments", headers=h))["experiments"]]
            assert f"exp-{mine}" in names and f"exp-{other}" not in names
            assert _ok(client.get("/api/v1/experiments/by-name", params={"name": f"exp-{other}"},
                                  headers=h))["experiment"] is None
            assert client.get(f"/api/v1/experiments/{made[other]['experiment']}", headers=h).status_code == 404
            assert client.get(f"/api/v1/runs/{made[mine]['run']}", headers=h).status_code == 200
            assert client.get(f"/api/v1/runs/{made[other]['run']}", headers=h).status_code == 404
            searched = _ok(client.post("/api/v1/runs/search", json={"experiment_ids": ["0", made[mine]["experiment"],
                                                                                      made[other]["experiment"]]},
                                       headers=h))["runs"]
            assert [r["info"]["run_id"] for r in searched] == [made[mine]["run"]]
            models = _ok(client.get("/api/v1/registered-models", headers=h))["registered_models"]
            assert [m["name"] for m in models] == [f"m-{mine}"]
            assert client.get(f"/api/v1/registered-models/m-{other}", headers=h).status_code == 404
            deployments = _ok(client.get("/api/v1/deployments", headers=h))["deployments"]
            assert [d["name"] for d in deployments] == [f"dep-{mine}"]
            assert [m["name"] for m in _ok(client.get("/api/v1/monitors", headers=h))["monitors"]] == [f"watch-{mine}"]
            assert client.get(f"/api/v1/monitors/watch-{other}", headers=h).status_code == 404
            page = client.get("/ui/data", headers=h)
            assert page.status_code == 200 and f"ds-{mine}" in page.text and f"ds-{other}" not in page.text
            assert client.get(f"/api/v1/lineage/{made[mine]['run']}", headers=h).status_code == 200
            assert client.get(f"/api/v1/lineage/{made[other]['run']}", headers=h).status_code == 404
        # no header: the server's project
        assert [m["name"] for m in _ok(client.get("/api/v1/registered-models"))["registered_models"]] == ["m-default"]
        # the web UI's project picker: offered on every page once there are two projects; its cookie picks the
        # project of pages and of the API calls the pages make (a header still wins)
        page = client.get("/ui/models")
        assert 'id="project-picker"' in page.text and '<option value="b">' in page.text and "m-default" in page.text
        client.cookies.set("keel_project", "b")
        page = client.get("/ui/models")
        assert "m-b" in page.text and "m-default" not in page.text and '<option value="b" selected>' in page.text
        assert [m["name"] for m in _ok(client.get("/api/v1/registered-models"))["registered_models"]] == ["m-b"]
        assert [m["name"] for m in _ok(client.get("/api/v1/registered-models", headers=_in("default"))
                                       )["registered_models"]] == ["m-default"]
        client.cookies.set("keel_project", "nope")
        assert client.get("/api/v1/registered-models").status_code == 404
        client.cookies.clear()
        unknown = client.get("/api/v1/experiments", headers=_in("nope"))
        assert unknown.status_code == 404 and "keel projects create nope" in unknown.json()["message"]


def test_roles_are_per_project_over_a_live_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mlflow = pytest.importorskip("mlflow")
    home = tmp_path / "home"
    home.mkdir()
    db = Database(f"sqlite:///{home / 'keel.db'}")
    ensure_schema(db)
    create_project(db, "b")
    tokens: dict[str, str] = {}
    for user in ("root", "alice", "bob"):
        create_user(db, user)
        tokens[user] = create_token(db, user).token
    add_member(db, "default", "alice", "editor")  # alice: editor in default, nothing in b
    add_member(db, "b", "bob", "admin")  # bob: admin of b, nothing in default
    db.dispose()
    server = ServerProcess(home, extra_env={"KEEL_AUTH": "1", "KEEL_AUTH_CACHE_TTL_S": "0"}).start()
    try:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            denied = http.get("/api/v1/experiments", headers=_in("b", tokens["alice"]))
            assert denied.status_code == 403 and "'b'" in denied.json()["message"]
            assert http.post("/api/v1/experiments", json={"name": "alice-a"},
                             headers=_in("default", tokens["alice"])).status_code == 200
            assert http.get("/api/v1/experiments", headers=_in("default", tokens["bob"])).status_code == 403
            assert http.put("/api/v1/members/alice", json={"role": "viewer"},
                            headers=_in("default", tokens["bob"])).status_code == 403
            _ok(http.put("/api/v1/members/alice", json={"role": "viewer"}, headers=_in("b", tokens["bob"])))
            members = _ok(http.get("/api/v1/members", headers=_in("b", tokens["bob"])))["members"]
            assert {(m["user"], m["role"]) for m in members} == {("alice", "viewer"), ("bob", "admin")}
            assert _ok(http.get("/api/v1/auth/whoami", headers=_in("b", tokens["alice"])))["role"] == "viewer"
            assert http.get("/api/v1/experiments", headers=_in("b", tokens["alice"])).status_code == 200
            assert http.post("/api/v1/experiments", json={"name": "alice-b"},
                             headers=_in("b", tokens["alice"])).status_code == 403
            own = _ok(http.get("/api/v1/audit", headers=_in("b", tokens["bob"])))["entries"]  # b's entries only
            assert own and {e["project"] for e in own} == {"b"}
            every = _ok(http.get("/api/v1/audit", headers=_in("b", tokens["root"])))["entries"]  # a server admin
            assert {"b", "default"} <= {e["project"] for e in every}
            unknown = http.get("/api/v1/experiments", headers=_in("nope", tokens["root"]))
            assert unknown.status_code == 404 and "keel projects create nope" in unknown.json()["message"]

        # the SDK names its project with KEEL_PROJECT; bob works in b
        import keel

        for name, value in {"KEEL_TRACKING_URI": server.url, "KEEL_TOKEN": tokens["bob"], "KEEL_PROJECT": "b",
                            "KEEL_HTTP_RETRY_FOR_S": "0", "KEEL_HOME": str(tmp_path / "client")}.items():
            monkeypatch.setenv(name, value)
        reset_settings()
        reset_backend()
        in_b = f"sdk-b-{uuid.uuid4().hex[:6]}"
        keel.set_experiment(in_b)
        with keel.start_run() as run:
            keel.log_metric("acc", 0.75)
        assert keel.get_run(run.info.run_id).metrics["acc"].value == 0.75
        monkeypatch.setenv("KEEL_PROJECT", "default")
        reset_settings()
        reset_backend()
        with pytest.raises(PermissionDenied):
            keel.set_experiment("bob-in-default")

        # the mlflow client (no project header) works on the default project and sees nothing of b
        monkeypatch.setenv("MLFLOW_TRACKING_URI", server.url)
        monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", tokens["alice"])
        monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
        client = mlflow.tracking.MlflowClient(server.url)
        assert client.get_experiment_by_name(in_b) is None
        exp_id = client.create_experiment(f"mlflow-a-{uuid.uuid4().hex[:6]}")
        mlflow_run = client.create_run(exp_id)
        client.log_metric(mlflow_run.info.run_id, "loss", 0.5)
        assert client.get_run(mlflow_run.info.run_id).data.metrics == {"loss": 0.5}
        with pytest.raises(mlflow.exceptions.MlflowException):
            client.get_run(run.info.run_id)
    finally:
        server.stop()
        reset_settings()
        reset_backend()
