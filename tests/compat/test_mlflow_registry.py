"""The unmodified mlflow client's model registry and MLflow 3 logged models against a `keel server`."""

from __future__ import annotations

import uuid

import pytest

mlflow = pytest.importorskip("mlflow")
from mlflow.exceptions import MlflowException  # noqa: E402
from mlflow.tracking import MlflowClient  # noqa: E402


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _code(err: pytest.ExceptionInfo[MlflowException]) -> str:
    return str(err.value.error_code)


def test_registered_model_and_versions_round_trip(client: MlflowClient) -> None:
    client = client
    name = _name("reg")
    run = client.create_run("0")
    created = client.create_registered_model(name, tags={"team": "ml"}, description="first")
    assert (created.name, created.tags, created.description) == (name, {"team": "ml"}, "first")
    v1 = client.create_model_version(name, f"runs:/{run.info.run_id}/model", run_id=run.info.run_id,
                                     tags={"k": "v"}, description="v one")
    v2 = client.create_model_version(name, f"runs:/{run.info.run_id}/model2", run_id=run.info.run_id)
    assert (v1.version, v2.version, v1.status, v1.current_stage) == ("1", "2", "READY", "None")
    got = client.get_model_version(name, "1")
    assert (got.source, got.run_id, got.tags, got.description) == (
        f"runs:/{run.info.run_id}/model", run.info.run_id, {"k": "v"}, "v one")
    found = client.search_registered_models(filter_string=f"name = '{name}'")
    assert [m.name for m in found] == [name]
    assert [m.name for m in client.search_registered_models(filter_string=f"tags.team = 'ml' and name = '{name}'")] \
        == [name]
    versions = client.search_model_versions(f"name = '{name}'")
    assert sorted(v.version for v in versions) == ["1", "2"]
    by_run = client.search_model_versions(f"run_id = '{run.info.run_id}'")
    assert {(v.name, v.version) for v in by_run} == {(name, "1"), (name, "2")}


def test_aliases_stages_and_deletes(client: MlflowClient) -> None:
    client = client
    name = _name("alias")
    client.create_registered_model(name)
    for _ in range(3):
        client.create_model_version(name, "mlflow-artifacts:/0/x/artifacts/model")
    client.set_registered_model_alias(name, "champion", "2")
    assert client.get_model_version_by_alias(name, "champion").version == "2"
    assert client.get_registered_model(name).aliases == {"champion": "2"}
    client.set_registered_model_alias(name, "champion", "3")
    assert client.get_model_version_by_alias(name, "champion").version == "3"
    client.delete_registered_model_alias(name, "champion")
    with pytest.raises(MlflowException) as err:
        client.get_model_version_by_alias(name, "champion")
    assert _code(err) == "RESOURCE_DOES_NOT_EXIST" and "champion" in err.value.message
    moved = client.transition_model_version_stage(name, "1", "Production")
    assert moved.current_stage == "Production"
    client.transition_model_version_stage(name, "2", "production", archive_existing_versions=True)
    assert client.get_model_version(name, "1").current_stage == "Archived"
    assert [v.version for v in client.get_latest_versions(name, stages=["Production"])] == ["2"]
    client.delete_model_version(name, "3")
    with pytest.raises(MlflowException) as err:
        client.get_model_version(name, "3")
    assert _code(err) == "RESOURCE_DOES_NOT_EXIST"
    assert client.create_model_version(name, "mlflow-artifacts:/0/y").version == "4"
    client.delete_registered_model(name)
    with pytest.raises(MlflowException) as err:
        client.get_registered_model(name)
    assert _code(err) == "RESOURCE_DOES_NOT_EXIST" and name in err.value.message


def test_registry_errors_carry_mlflow_codes(client: MlflowClient) -> None:
    client = client
    missing = _name("missing")
    with pytest.raises(MlflowException) as err:
        client.get_registered_model(missing)
    assert _code(err) == "RESOURCE_DOES_NOT_EXIST" and missing in err.value.message
    with pytest.raises(MlflowException) as err:
        client.create_model_version(missing, "mlflow-artifacts:/0/x")
    assert _code(err) == "RESOURCE_DOES_NOT_EXIST"
    name = _name("dup")
    client.create_registered_model(name)
    with pytest.raises(MlflowException) as err:
        client.create_registered_model(name)
    assert _code(err) == "RESOURCE_ALREADY_EXISTS"
    client.create_model_version(name, "mlflow-artifacts:/0/x")
    with pytest.raises(MlflowException) as err:
        client.set_registered_model_alias(name, "latest", "1")
    assert _code(err) == "INVALID_PARAMETER_VALUE"
    with pytest.raises(MlflowException) as err:
        client.set_registered_model_alias(name, "champion", "7")
    assert _code(err) == "RESOURCE_DOES_NOT_EXIST"


def test_sklearn_log_model_register_and_load_by_alias(client: MlflowClient) -> None:
    np = pytest.importorskip("numpy")
    pytest.importorskip("sklearn")
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    X, y = load_iris(return_X_y=True)
    model = LogisticRegression(max_iter=500).fit(X, y)
    name = _name("iris")
    mlflow.set_experiment(_name("registry-e2e"))
    with mlflow.start_run() as run:
        # MLflow 3.17 saves with skops by default; loading it back needs `skops` (installed here).
        info = mlflow.sklearn.log_model(model, name="model", registered_model_name=name)
    assert str(info.registered_model_version) == "1"
    version = client.get_model_version(name, "1")
    # (mlflow's ModelVersion.from_proto drops model_id, so the source is what the client sees of it)
    assert version.run_id == run.info.run_id and version.source == f"models:/{info.model_id}"
    client.set_registered_model_alias(name, "champion", "1")
    uri = client.get_model_version_download_uri(name, "1")
    assert uri.startswith("mlflow-artifacts:/") and uri.endswith(f"/models/{info.model_id}/artifacts")
    loaded = mlflow.pyfunc.load_model(f"models:/{name}@champion")
    assert np.array_equal(loaded.predict(X), model.predict(X))
    logged = client.get_logged_model(info.model_id)
    assert logged.source_run_id == run.info.run_id and logged.name == "model"
