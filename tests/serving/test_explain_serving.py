"""The explain endpoints of `keel serve`: a known row's prediction and contributions, additivity, and bad input."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression

from keel.registry.model_files import save_model
from keel.serving import create_serving_app

pytest.importorskip("shap")


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(3)
    frame = pd.DataFrame(rng.normal(size=(300, 4)), columns=["a", "b", "c", "d"])
    return frame, (frame["a"] + 0.5 * frame["b"] > 0).astype(int)


@pytest.fixture(scope="module")
def forest(data: tuple[pd.DataFrame, pd.Series]) -> RandomForestClassifier:
    return RandomForestClassifier(n_estimators=20, max_depth=5, random_state=0).fit(*data)


def _serve(model: object, frame: pd.DataFrame, path: Path) -> TestClient:
    save_model(model, path, input_example=frame.head(20))
    return TestClient(create_serving_app(str(path), name="m", log_predictions=False, poll_interval_s=0))


@pytest.fixture
def client(tmp_path: Path, forest: RandomForestClassifier,
           data: tuple[pd.DataFrame, pd.Series]) -> Iterator[TestClient]:
    with _serve(forest, data[0], tmp_path / "forest") as test_client:
        yield test_client


def _v2(rows: pd.DataFrame, **parameters: object) -> dict:
    return {"id": "e1", "inputs": [{"name": c, "shape": [len(rows)], "datatype": "FP64", "data": rows[c].tolist()}
                                   for c in rows.columns], "parameters": parameters}


def _check_additive(row: dict, expected_output: float) -> None:
    shown = sum(c["contribution"] for c in row["contributions"])
    assert row["base_value"] + shown + row["other"] == pytest.approx(row["output"], abs=1e-6)
    assert row["output"] == pytest.approx(expected_output, abs=1e-6)


def test_v2_explain_known_row(client: TestClient, forest: RandomForestClassifier) -> None:
    known = pd.DataFrame({"a": [2.5], "b": [0.0], "c": [0.0], "d": [0.0]})  # clearly positive because of "a"
    response = client.post("/v2/models/m/explain", json=_v2(known, top_k=2))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model_name"] == "m" and body["model_version"] == "1" and body["id"] == "e1"
    [row] = body["explanations"]
    assert row["prediction"] == int(forest.predict(known)[0])
    assert row["explained_class"] == 1
    _check_additive(row, float(forest.predict_proba(known)[0, 1]))
    # "a" drives the label most; the two shown are the largest by magnitude, with the row's own values
    assert row["prediction"] == 1 and len(row["contributions"]) == 2
    assert row["contributions"][0]["feature"] == "a" and row["contributions"][0]["contribution"] > 0.1
    assert row["contributions"][0]["value"] == 2.5
    assert abs(row["contributions"][0]["contribution"]) >= abs(row["contributions"][1]["contribution"])


def test_invocations_explain_true(client: TestClient, forest: RandomForestClassifier,
                                  data: tuple[pd.DataFrame, pd.Series]) -> None:
    rows = data[0].iloc[10:13]
    body = {"dataframe_split": rows.to_dict(orient="split", index=False)}
    explained = client.post("/invocations?explain=true&top_k=3", json=body)
    assert explained.status_code == 200, explained.text
    payload = explained.json()
    assert payload["predictions"] == forest.predict(rows).tolist()
    for row, proba in zip(payload["explanations"], forest.predict_proba(rows)[:, 1], strict=True):
        assert len(row["contributions"]) == 3
        _check_additive(row, float(proba))
    plain = client.post("/invocations", json=body)  # the plain path is untouched
    assert plain.json() == {"predictions": forest.predict(rows).tolist()}
    assert client.post("/invocations?explain=false", json=body).json() == plain.json()


def test_linear_model_explains_against_its_input_example(tmp_path: Path,
                                                         data: tuple[pd.DataFrame, pd.Series]) -> None:
    frame, target = data
    model = LogisticRegression().fit(frame, target)
    with _serve(model, frame, tmp_path / "linear") as test_client:
        response = test_client.post("/v2/models/m/versions/1/explain", json=_v2(frame.iloc[:4]))
    assert response.status_code == 200, response.text
    for row, margin in zip(response.json()["explanations"], model.decision_function(frame.iloc[:4]), strict=True):
        _check_additive(row, float(margin))


def test_explain_bad_input_is_a_4xx(client: TestClient, data: tuple[pd.DataFrame, pd.Series]) -> None:
    rows = data[0].iloc[:2]
    missing = client.post("/v2/models/m/explain", json=_v2(rows.drop(columns=["d"])))
    assert missing.status_code == 400 and missing.json()["field"] == "d"
    bad_k = client.post("/v2/models/m/explain", json=_v2(rows, top_k=0))
    assert bad_k.status_code == 400 and "top_k" in bad_k.json()["error"]
    unknown = client.post("/v2/models/other/explain", json=_v2(rows))
    assert unknown.status_code == 404
    too_many = client.post("/invocations?explain=true",
                           json={"instances": np.zeros((1001, 4)).tolist()})
    assert too_many.status_code == 400 and too_many.json()["error_code"] == "BAD_REQUEST"
