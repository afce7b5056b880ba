"""The unmodified mlflow client against a `keel server`: everything it writes, it reads back exactly."""

from __future__ import annotations

import json
import math
import uuid
from pathlib import Path

import pytest

mlflow = pytest.importorskip("mlflow")
from mlflow.entities import Metric as MlflowMetric  # noqa: E402
from mlflow.entities import Param, RunTag, ViewType  # noqa: E402
from mlflow.exceptions import MlflowException  # noqa: E402
from mlflow.tracking import MlflowClient  # noqa: E402


def _error_code(exc: MlflowException) -> str:
    return str(exc.error_code)


def test_experiments(client: MlflowClient) -> None:
    name = f"compat-{uuid.uuid4().hex[:8]}"
    exp_id = client.create_experiment(name, tags={"team": "ml"})
    exp = client.get_experiment(exp_id)
    assert (exp.name, exp.tags["team"], exp.lifecycle_stage) == (name, "ml", "active")
    assert client.get_experiment_by_name(name).experiment_id == exp_id
    assert client.get_experiment_by_name(f"missing-{uuid.uuid4().hex}") is None
    with pytest.raises(MlflowException) as err:
        client.create_experiment(name)
    assert _error_code(err.value) == "RESOURCE_ALREADY_EXISTS"
    found = client.search_experiments(filter_string=f"name = '{name}'")
    assert [e.experiment_id for e in found] == [exp_id]
    client.set_experiment_tag(exp_id, "stage", "dev")
    assert client.get_experiment(exp_id).tags["stage"] == "dev"
    client.delete_experiment(exp_id)
    assert client.get_experiment(exp_id).lifecycle_stage == "deleted"
    client.restore_experiment(exp_id)
    assert client.get_experiment(exp_id).lifecycle_stage == "active"
    assert client.get_experiment("0").name == "Default"


def test_fluent_run_round_trip(client: MlflowClient, tmp_path: Path) -> None:
    mlflow.set_experiment(f"fluent-{uuid.uuid4().hex[:8]}")
    (tmp_path / "notes.txt").write_text("hello keel")
    sub = tmp_path / "dir"
    (sub / "nested").mkdir(parents=True)
    (sub / "a.csv").write_text("x,y\n1,2\n")
    (sub / "nested" / "b.bin").write_bytes(bytes(range(256)) * 40)
    with mlflow.start_run(run_name="compat-run") as run:
        mlflow.log_param("lr", 0.01)
        mlflow.log_params({"depth": 3, "kernel": "rbf"})
        for step in range(5):
            mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
        mlflow.log_metrics({"acc": 0.91, "f1": 0.88})
        mlflow.set_tag("team", "ml")
        mlflow.set_tags({"stage": "dev", "owner": "ada"})
        mlflow.log_artifact(str(tmp_path / "notes.txt"))
        mlflow.log_artifacts(str(sub), artifact_path="data")
        mlflow.log_dict({"a": [1, 2, 3]}, "config/params.json")
        mlflow.log_text("plain text", "texts/readme.txt")
    run_id = run.info.run_id
    got = client.get_run(run_id)
    assert got.info.status == "FINISHED" and got.info.run_name == "compat-run"
    assert got.info.end_time is not None and got.info.end_time >= got.info.start_time
    assert got.data.params == {"lr": "0.01", "depth": "3", "kernel": "rbf"}
    assert got.data.metrics == {"loss": pytest.approx(0.2), "acc": 0.91, "f1": 0.88}
    assert {k: got.data.tags[k] for k in ("team", "stage", "owner")} == {"team": "ml", "stage": "dev", "owner": "ada"}
    history = client.get_metric_history(run_id, "loss")
    assert [(m.step, m.value) for m in history] == [(s, 1.0 / (s + 1)) for s in range(5)]

    top = sorted(f.path for f in client.list_artifacts(run_id))
    assert top == ["config", "data", "notes.txt", "texts"]
    nested = {f.path: f for f in client.list_artifacts(run_id, "data")}
    assert set(nested) == {"data/a.csv", "data/nested"}
    assert nested["data/a.csv"].file_size == 8 and nested["data/nested"].is_dir
    out = Path(client.download_artifacts(run_id, "", str(tmp_path / "download")))
    assert (out / "notes.txt").read_text() == "hello keel"
    assert (out / "data" / "nested" / "b.bin").read_bytes() == bytes(range(256)) * 40
    assert json.loads((out / "config" / "params.json").read_text()) == {"a": [1, 2, 3]}
    assert mlflow.artifacts.load_text(f"runs:/{run_id}/texts/readme.txt") == "plain text"


def test_client_log_batch_and_history(client: MlflowClient) -> None:
    exp_id = client.create_experiment(f"batch-{uuid.uuid4().hex[:8]}")
    run = client.create_run(exp_id, tags={"src": "client"})
    metrics = [MlflowMetric("m", float(i), 1_700_000_000_000 + i, i) for i in range(1000)]
    client.log_batch(run.info.run_id, metrics=metrics, params=[Param("p", "1")], tags=[RunTag("t", "x")])
    client.log_metric(run.info.run_id, "nan", math.nan)
    client.log_metric(run.info.run_id, "inf", math.inf)
    history = client.get_metric_history(run.info.run_id, "m")
    assert [(m.step, m.value, m.timestamp) for m in history] == [(i, float(i), 1_700_000_000_000 + i)
                                                                 for i in range(1000)]
    data = client.get_run(run.info.run_id).data
    assert data.params == {"p": "1"} and data.tags["t"] == "x" and data.tags["src"] == "client"
    assert math.isnan(data.metrics["nan"]) and data.metrics["inf"] == math.inf
    client.set_terminated(run.info.run_id, "KILLED")
    assert client.get_run(run.info.run_id).info.status == "KILLED"
    client.delete_tag(run.info.run_id, "t")
    assert "t" not in client.get_run(run.info.run_id).data.tags


def test_search_runs_filters_and_order(client: MlflowClient) -> None:
    exp_id = client.create_experiment(f"search-{uuid.uuid4().hex[:8]}")
    ids = []
    for i in range(6):
        run = client.create_run(exp_id)
        client.log_batch(run.info.run_id, metrics=[MlflowMetric("acc", i / 10, 1, 0)],
                         params=[Param("lr", "0.01" if i % 2 else "0.1")], tags=[RunTag("x", f"a{i}")])
        client.set_terminated(run.info.run_id, "FINISHED" if i < 4 else "FAILED")
        ids.append(run.info.run_id)
    found = client.search_runs([exp_id], "metrics.acc > 0.15 and params.lr = '0.01'", order_by=["metrics.acc DESC"])
    assert [r.info.run_id for r in found] == [ids[5], ids[3]]
    found = client.search_runs([exp_id], "tags.x LIKE 'a%' and attributes.status = 'FINISHED'",
                               order_by=["metrics.acc ASC"])
    assert [r.info.run_id for r in found] == ids[:4]
    page = client.search_runs([exp_id], order_by=["metrics.acc ASC"], max_results=4)
    rest = client.search_runs([exp_id], order_by=["metrics.acc ASC"], max_results=4, page_token=page.token)
    assert [r.info.run_id for r in list(page) + list(rest)] == ids and rest.token is None
    frame = mlflow.search_runs([exp_id], filter_string="metrics.acc >= 0.4", order_by=["metrics.acc DESC"])
    assert list(frame["run_id"]) == [ids[5], ids[4]]
    assert list(frame["metrics.acc"]) == [0.5, 0.4]
    with pytest.raises(MlflowException) as err:
        client.search_runs([exp_id], "metrics.acc >>> 1")
    assert _error_code(err.value) == "INVALID_PARAMETER_VALUE"
    client.delete_run(ids[0])
    assert ids[0] not in {r.info.run_id for r in client.search_runs([exp_id])}
    deleted = client.search_runs([exp_id], run_view_type=ViewType.DELETED_ONLY)
    assert [r.info.run_id for r in deleted] == [ids[0]]
    client.restore_run(ids[0])
    assert client.get_run(ids[0]).info.lifecycle_stage == "active"


def test_errors_carry_mlflow_codes(client: MlflowClient) -> None:
    run = client.create_run("0")
    client.log_param(run.info.run_id, "p", "1")
    with pytest.raises(MlflowException) as err:
        client.log_param(run.info.run_id, "p", "2")
    assert _error_code(err.value) == "INVALID_PARAMETER_VALUE" and "p" in err.value.message
    with pytest.raises(MlflowException) as err:
        client.get_run(uuid.uuid4().hex)
    assert _error_code(err.value) == "RESOURCE_DOES_NOT_EXIST"
    with pytest.raises(MlflowException) as err:
        client.get_experiment("424242")
    assert _error_code(err.value) == "RESOURCE_DOES_NOT_EXIST"


def test_dataset_inputs(client: MlflowClient) -> None:
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"x": [1, 2, 3], "y": [0, 1, 0]})
    dataset = mlflow.data.from_pandas(frame, name="toy", targets="y")
    with mlflow.start_run() as run:
        mlflow.log_input(dataset, context="training")
    inputs = client.get_run(run.info.run_id).inputs.dataset_inputs
    assert [(i.dataset.name, i.dataset.digest) for i in inputs] == [("toy", dataset.digest)]
    assert {t.key: t.value for t in inputs[0].tags}["mlflow.data.context"] == "training"
