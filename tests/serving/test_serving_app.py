"""The model server end to end in-process: v2 and MLflow routes, metrics, and every error path a client can hit."""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from keel.registry.model_files import save_model
from keel.serving import create_serving_app


class Exploding(ClassifierMixin, BaseEstimator):
    """A classifier whose predict always fails, as a broken model would."""

    def fit(self, x: pd.DataFrame, y: pd.Series) -> Exploding:
        self.classes_ = np.unique(y)
        return self

    def predict(self, x: pd.DataFrame) -> np.ndarray:
        raise ValueError("petals must be positive")


@pytest.fixture(scope="module")
def iris() -> tuple[LogisticRegression, pd.DataFrame]:
    data = load_iris(as_frame=True)
    return LogisticRegression(max_iter=500).fit(data.data, data.target), data.data


@pytest.fixture
def client(tmp_path: Path, iris: tuple[LogisticRegression, pd.DataFrame]) -> Iterator[TestClient]:
    model, frame = iris
    save_model(model, tmp_path / "iris", input_example=frame.head(3))
    with TestClient(create_serving_app(str(tmp_path / "iris"), name="iris", log_predictions=False)) as test_client:
        yield test_client


def _v2_body(frame: pd.DataFrame) -> dict:
    return {"id": "r1", "inputs": [{"name": "input-0", "shape": list(frame.shape), "datatype": "FP64",
                                    "data": frame.to_numpy().ravel().tolist()}]}


def test_health_and_metadata(client: TestClient) -> None:
    assert client.get("/v2/health/live").json() == {"live": True}
    ready = client.get("/v2/health/ready")
    assert ready.status_code == 200 and ready.json() == {"ready": True}
    assert client.get("/v2/models/iris/ready").json() == {"name": "iris", "ready": True}
    meta = client.get("/v2/models/iris").json()
    assert meta["name"] == "iris" and meta["versions"] == ["1"] and meta["platform"] == "keel_sklearn"
    assert meta["inputs"][0] == {"name": "sepal length (cm)", "datatype": "FP64", "shape": [-1]}
    assert len(meta["inputs"]) == 4
    assert meta["outputs"] == [{"name": "predict", "datatype": "INT64", "shape": [-1]}]
    assert client.get("/v2/models/other").status_code == 404
    assert "error" in client.get("/v2/models/iris/versions/9").json()


@pytest.mark.parametrize("path", ["/v2/models/iris/infer", "/v2/models/iris/versions/1/infer"])
def test_v2_infer_matches_the_model(client: TestClient, iris: tuple[LogisticRegression, pd.DataFrame],
                                    path: str) -> None:
    model, frame = iris
    rows = frame.iloc[::10]
    response = client.post(path, json=_v2_body(rows))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model_name"] == "iris" and body["model_version"] == "1" and body["id"] == "r1"
    output = body["outputs"][0]
    assert output["shape"] == [len(rows)] and output["datatype"] == "INT64"
    assert output["data"] == model.predict(rows).tolist()
    assert response.headers["x-keel-model-version"] == "1"


def test_v2_infer_one_tensor_per_column(client: TestClient, iris: tuple[LogisticRegression, pd.DataFrame]) -> None:
    model, frame = iris
    rows = frame.tail(5)
    inputs = [{"name": c, "shape": [5], "datatype": "FP64", "data": rows[c].tolist()} for c in rows.columns]
    response = client.post("/v2/models/iris/infer", json={"inputs": inputs[::-1]})
    assert response.json()["outputs"][0]["data"] == model.predict(rows).tolist()


@pytest.mark.parametrize("body", [
    lambda f: {"dataframe_split": f.to_dict(orient="split", index=False)},
    lambda f: {"dataframe_records": f.to_dict(orient="records")},
    lambda f: {"instances": f.to_numpy().tolist()},
    lambda f: {"inputs": f.to_dict(orient="list")},
])
def test_invocations_json_formats(client: TestClient, iris: tuple[LogisticRegression, pd.DataFrame],
                                  body: object) -> None:
    model, frame = iris
    rows = frame.iloc[5::30]
    response = client.post("/invocations", json=body(rows))  # type: ignore[operator]
    assert response.status_code == 200, response.text
    assert response.json() == {"predictions": model.predict(rows).tolist()}


def test_invocations_csv(client: TestClient, iris: tuple[LogisticRegression, pd.DataFrame]) -> None:
    model, frame = iris
    rows = frame.iloc[1::25]
    response = client.post("/invocations", content=rows.to_csv(index=False), headers={"content-type": "text/csv"})
    assert response.json() == {"predictions": model.predict(rows).tolist()}


def test_ping_health_version(client: TestClient) -> None:
    for path in ("/ping", "/health"):
        response = client.get(path)
        assert response.status_code == 200 and response.text == "\n"
    assert re.fullmatch(r"\d+\.\d+.*", client.get("/version").text)
    assert client.get("/v2").json()["name"] == "keel"


def _sample(client: TestClient, name: str, **labels: str) -> float:
    response = client.get("/metrics")
    assert response.headers["content-type"].startswith("text/plain")
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return float(sample.value)
    return 0.0


def test_metrics_count_requests_errors_and_rows(client: TestClient, iris: tuple[LogisticRegression, pd.DataFrame]
                                                ) -> None:
    _, frame = iris
    labels = {"model": "iris", "version": "1"}
    before = _sample(client, "keel_serving_requests_total", protocol="v2", **labels)
    client.post("/v2/models/iris/infer", json=_v2_body(frame.head(7)))
    assert _sample(client, "keel_serving_requests_total", protocol="v2", **labels) == before + 1
    client.post("/v2/models/iris/infer", json={"inputs": []})
    assert _sample(client, "keel_serving_requests_total", protocol="v2", **labels) == before + 2
    assert _sample(client, "keel_serving_errors_total", protocol="v2", status="400", **labels) == 1
    assert _sample(client, "keel_serving_batch_size_sum", **labels) == 7
    assert _sample(client, "keel_serving_latency_seconds_count", protocol="v2", **labels) == 2
    assert "keel_serving_requests_total" in client.get("/metrics").text


def test_missing_column_is_a_400_naming_it(client: TestClient, iris: tuple[LogisticRegression, pd.DataFrame]
                                           ) -> None:
    _, frame = iris
    rows = frame.head(2).drop(columns=["petal width (cm)"])
    response = client.post("/invocations", json={"dataframe_split": rows.to_dict(orient="split", index=False)})
    assert response.status_code == 400
    assert response.json()["error_code"] == "BAD_REQUEST" and response.json()["field"] == "petal width (cm)"
    assert "petal width (cm)" in response.json()["message"]
    inputs = [{"name": c, "shape": [2], "datatype": "FP64", "data": rows[c].tolist()} for c in rows.columns]
    v2 = client.post("/v2/models/iris/infer", json={"inputs": inputs})
    assert v2.status_code == 400 and "petal width (cm)" in v2.json()["error"]


@pytest.mark.parametrize(("tensor", "message"), [
    ({"name": "x", "shape": [1, 4], "datatype": "FP64", "data": ["a", "b", "c", "d"]}, "datatype FP64"),
    ({"name": "x", "shape": [1, 3], "datatype": "FP64", "data": [1, 2, 3]}, "expects 4 columns"),
    ({"name": "x", "shape": [2, 4], "datatype": "FP64", "data": [1, 2, 3, 4]}, "needs 8 values"),
    ({"name": "x", "shape": [1, 4], "datatype": "BOOL", "data": [True, True, False, True]}, "cannot be safely cast"),
])
def test_wrong_datatype_or_shape_is_a_400(client: TestClient, tensor: dict, message: str) -> None:
    response = client.post("/v2/models/iris/infer", json={"inputs": [tensor]})
    assert response.status_code == 400
    assert message in response.json()["error"]


def test_malformed_json_is_a_400(client: TestClient) -> None:
    assert client.post("/v2/models/iris/infer", content=b"{oops").status_code == 400
    response = client.post("/invocations", content=b"{oops", headers={"content-type": "application/json"})
    assert response.status_code == 400 and response.json()["error_code"] == "BAD_REQUEST"
    assert client.post("/v2/models/nope/infer", json={"inputs": []}).status_code == 404


def test_model_that_raises_is_a_422_with_its_message(tmp_path: Path, iris: tuple[LogisticRegression, pd.DataFrame]
                                                     ) -> None:
    _, frame = iris
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        save_model(Exploding().fit(frame, np.zeros(len(frame))), tmp_path / "bad", input_example=frame.head(3))
    with TestClient(create_serving_app(str(tmp_path / "bad"), log_predictions=False)) as bad:
        v2 = bad.post("/v2/models/bad/infer", json=_v2_body(frame.head(2)))
        assert v2.status_code == 422 and "petals must be positive" in v2.json()["error"]
        mlflow = bad.post("/invocations", json={"instances": frame.head(2).to_numpy().tolist()})
        assert mlflow.status_code == 422 and "petals must be positive" in mlflow.json()["message"]


def test_model_that_fails_to_load_leaves_server_up_not_ready(tmp_path: Path) -> None:
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "MLmodel").write_text("flavors: {nosuchflavor: {}}\n")
    with TestClient(create_serving_app(str(tmp_path / "broken"), log_predictions=False)) as broken:
        assert broken.get("/v2/health/live").json() == {"live": True}
        ready = broken.get("/v2/health/ready")
        assert ready.status_code == 503 and ready.json() == {"ready": False}
        assert broken.get("/v2/models/broken/ready").json() == {"name": "broken", "ready": False}
        infer = broken.post("/v2/models/broken/infer", json={"inputs": []})
        assert infer.status_code == 503 and "nosuchflavor" in infer.json()["error"]
        assert broken.post("/invocations", json={"instances": [[1]]}).status_code == 503
        assert broken.get("/ping").status_code == 503
