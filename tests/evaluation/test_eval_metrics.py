"""Evaluation metrics match scikit-learn reference values on its bundled datasets; slices, curves and errors."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from keel.errors import InvalidInput
from keel.evaluation import metrics as m


@pytest.fixture(scope="module")
def binary() -> tuple[pd.DataFrame, np.ndarray, np.ndarray, np.ndarray, list[int]]:
    data = load_breast_cancer(as_frame=True)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(data.data, data.target)
    return data.data, data.target.to_numpy(), model.predict(data.data), model.predict_proba(data.data), \
        list(model.classes_)


@pytest.fixture(scope="module")
def multiclass() -> tuple[pd.DataFrame, np.ndarray, np.ndarray, np.ndarray, list[int]]:
    data = load_iris(as_frame=True)
    model = LogisticRegression(max_iter=50, C=0.05).fit(data.data[["sepal length (cm)"]], data.target)
    x = data.data[["sepal length (cm)"]]
    return data.data, data.target.to_numpy(), model.predict(x), model.predict_proba(x), list(model.classes_)


def test_binary_metrics_match_sklearn(binary: tuple) -> None:
    _, y, pred, proba, classes = binary
    got = m.classification_metrics(y, pred, proba, classes)
    assert got["accuracy"] == pytest.approx(skm.accuracy_score(y, pred))
    assert got["precision"] == pytest.approx(skm.precision_score(y, pred))
    assert got["recall"] == pytest.approx(skm.recall_score(y, pred))
    assert got["f1"] == pytest.approx(skm.f1_score(y, pred))
    assert got["roc_auc"] == pytest.approx(skm.roc_auc_score(y, proba[:, 1]))
    assert got["log_loss"] == pytest.approx(skm.log_loss(y, proba))


def test_multiclass_metrics_are_macro_averaged(multiclass: tuple) -> None:
    _, y, pred, proba, classes = multiclass
    got = m.compute_metrics("classification", y, pred, proba, classes)
    assert got["accuracy"] == pytest.approx(skm.accuracy_score(y, pred))
    assert got["precision"] == pytest.approx(skm.precision_score(y, pred, average="macro", zero_division=0))
    assert got["recall"] == pytest.approx(skm.recall_score(y, pred, average="macro"))
    assert got["f1"] == pytest.approx(skm.f1_score(y, pred, average="macro"))
    assert got["roc_auc"] == pytest.approx(skm.roc_auc_score(y, proba, multi_class="ovr"))
    assert got["log_loss"] == pytest.approx(skm.log_loss(y, proba))


def test_string_labels_use_the_larger_label_as_positive() -> None:
    y = np.array(["no", "yes", "yes", "no", "yes"])
    pred = np.array(["no", "yes", "no", "no", "yes"])
    got = m.classification_metrics(y, pred)
    assert got["recall"] == pytest.approx(skm.recall_score(y, pred, pos_label="yes"))
    assert "roc_auc" not in got and "log_loss" not in got


def test_probabilities_of_the_wrong_shape_are_ignored(binary: tuple) -> None:
    _, y, pred, proba, classes = binary
    got = m.classification_metrics(y, pred, proba[:, :1], classes)
    assert "roc_auc" not in got and got["accuracy"] == pytest.approx(skm.accuracy_score(y, pred))


def test_regression_metrics_match_sklearn() -> None:
    data = load_diabetes(as_frame=True)
    pred = LinearRegression().fit(data.data, data.target).predict(data.data)
    got = m.compute_metrics("regression", data.target, pred)
    assert got["rmse"] == pytest.approx(math.sqrt(skm.mean_squared_error(data.target, pred)))
    assert got["mae"] == pytest.approx(skm.mean_absolute_error(data.target, pred))
    assert got["r2"] == pytest.approx(skm.r2_score(data.target, pred))
    residuals = m.residual_data(data.target, pred)
    assert len(residuals["predicted"]) == len(residuals["residual"]) == len(pred)


def test_confusion_matrix(multiclass: tuple) -> None:
    _, y, pred, _, classes = multiclass
    cm = m.confusion_matrix(y, pred, classes)
    assert cm.labels == [0, 1, 2]
    assert cm.matrix == skm.confusion_matrix(y, pred).tolist()
    assert cm.to_dict() == {"labels": [0, 1, 2], "matrix": cm.matrix}


def test_roc_data_binary_and_one_vs_rest(binary: tuple, multiclass: tuple) -> None:
    _, y, _, proba, classes = binary
    curves = m.roc_data(y, proba, classes)["curves"]
    assert len(curves) == 1 and curves[0]["positive_class"] == 1
    assert curves[0]["auc"] == pytest.approx(skm.roc_auc_score(y, proba[:, 1]))
    assert len(curves[0]["fpr"]) <= 500
    _, y3, _, proba3, classes3 = multiclass
    assert [c["positive_class"] for c in m.roc_data(y3, proba3, classes3)["curves"]] == [0, 1, 2]


def test_slice_metrics_per_value_and_binned(multiclass: tuple) -> None:
    frame, y, pred, proba, classes = multiclass
    frame = frame.assign(group=np.where(frame["petal width (cm)"] > 1.0, "wide", "narrow"))
    out = m.slice_metrics(frame, ["group", "sepal length (cm)"], "classification", y, pred, proba, classes)
    wide = frame["group"].to_numpy() == "wide"
    assert set(out["group"]) == {"wide", "narrow"}
    assert out["group"]["wide"]["count"] == wide.sum()
    assert out["group"]["wide"]["accuracy"] == pytest.approx(skm.accuracy_score(y[wide], pred[wide]))
    assert "roc_auc" not in out["group"]["narrow"]  # narrow flowers are all one species: AUC is undefined
    assert 2 <= len(out["sepal length (cm)"]) <= 4  # 35 distinct values are cut into quartiles
    assert sum(v["count"] for v in out["sepal length (cm)"].values()) == len(y)


def test_regression_slices() -> None:
    frame = pd.DataFrame({"city": ["a", "a", "b", "b"]})
    out = m.slice_metrics(frame, ["city"], "regression", [1.0, 2.0, 3.0, 5.0], [1.0, 3.0, 3.0, 3.0])
    assert out["city"]["a"]["mae"] == pytest.approx(0.5)
    assert out["city"]["b"]["rmse"] == pytest.approx(math.sqrt(2.0))


@pytest.mark.parametrize(("call", "match"), [
    (lambda: m.compute_metrics("ranking", [1], [1]), "task 'ranking'"),
    (lambda: m.classification_metrics([1, 0], [1]), "2 targets but 1 predictions"),
    (lambda: m.regression_metrics([], []), "no rows"),
    (lambda: m.slice_metrics(pd.DataFrame({"a": [1]}), ["b"], "regression", [1.0], [1.0]), "no column 'b'"),
    (lambda: m.classification_metrics(np.zeros((2, 2)), np.zeros((2, 2))), "one value per row"),
])
def test_bad_input_is_invalid_input(call: object, match: str) -> None:
    with pytest.raises(InvalidInput, match=match):
        call()  # type: ignore[operator]
