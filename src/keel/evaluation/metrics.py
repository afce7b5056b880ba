"""Pure evaluation metrics over arrays: classification, regression, confusion matrix, curves and slices.

Every number comes from scikit-learn's metric functions, so Keel's values match a hand-written sklearn reference.
Classification uses binary averaging (positive class = the larger label) for two classes and macro averaging
otherwise; ROC AUC and log loss need class probabilities and are left out when none are given.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn import metrics as skm

from keel.errors import InvalidInput

__all__ = [
    "CLASSIFICATION_METRICS",
    "REGRESSION_METRICS",
    "TASKS",
    "ConfusionMatrix",
    "check_task",
    "classification_metrics",
    "compute_metrics",
    "confusion_matrix",
    "metric_names",
    "regression_metrics",
    "residual_data",
    "roc_data",
    "slice_metrics",
]

TASKS = ("classification", "regression")
CLASSIFICATION_METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc", "log_loss")
REGRESSION_METRICS = ("rmse", "mae", "r2")
_MAX_SLICE_VALUES = 20
_MAX_CURVE_POINTS = 500

Array = np.ndarray[Any, Any]


@dataclass(frozen=True)
class ConfusionMatrix:
    """Counts per (true, predicted) label: ``matrix[i][j]`` = rows of class ``labels[i]`` predicted ``labels[j]``."""

    labels: list[Any]
    matrix: list[list[int]]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (labels as given, counts as ints)."""
        return {"labels": [_plain(v) for v in self.labels], "matrix": self.matrix}


def metric_names(task: str) -> tuple[str, ...]:
    """The metrics computed for ``task`` ("classification" or "regression")."""
    return CLASSIFICATION_METRICS if check_task(task) == "classification" else REGRESSION_METRICS


def check_task(task: str) -> str:
    """``task`` if it is one Keel evaluates, else :class:`InvalidInput` naming the choices."""
    if task not in TASKS:
        raise InvalidInput(f"task {task!r}: use 'classification' or 'regression'", field="task")
    return task


def compute_metrics(task: str, y_true: Any, y_pred: Any, proba: Any = None,
                    classes: Sequence[Any] | None = None) -> dict[str, float]:
    """The metrics of :func:`classification_metrics` or :func:`regression_metrics`, by ``task``."""
    if check_task(task) == "classification":
        return classification_metrics(y_true, y_pred, proba, classes)
    return regression_metrics(y_true, y_pred)


def classification_metrics(y_true: Any, y_pred: Any, proba: Any = None,
                           classes: Sequence[Any] | None = None) -> dict[str, float]:
    """Accuracy, precision, recall, F1, and with probabilities ROC AUC and log loss.

    ``classes`` orders the columns of ``proba`` (a model's ``classes_``); without it the sorted labels seen in
    ``y_true`` and ``y_pred`` are used. Metrics that are undefined on this data (one class only) are left out.
    """
    truth, pred = _pair(y_true, y_pred)
    labels = _labels(truth, pred, classes)
    average: dict[str, Any] = ({"average": "binary", "pos_label": labels[-1]} if len(labels) == 2
                               else {"average": "macro", "labels": labels})
    out = {
        "accuracy": float(skm.accuracy_score(truth, pred)),
        "precision": float(skm.precision_score(truth, pred, zero_division=0, **average)),
        "recall": float(skm.recall_score(truth, pred, zero_division=0, **average)),
        "f1": float(skm.f1_score(truth, pred, zero_division=0, **average)),
    }
    probabilities = _probabilities(proba, labels, len(truth))
    if probabilities is not None:
        out.update(_probability_metrics(truth, probabilities, labels))
    return out


def _probability_metrics(truth: Array, proba: Array, labels: list[Any]) -> dict[str, float]:
    out: dict[str, float] = {}
    if len(set(truth.tolist())) < 2:
        return out
    if len(labels) == 2:
        out["roc_auc"] = float(skm.roc_auc_score(truth == labels[-1], proba[:, 1]))
    elif set(truth.tolist()) == set(labels):
        out["roc_auc"] = float(skm.roc_auc_score(truth, proba, multi_class="ovr", labels=labels))
    out["log_loss"] = float(skm.log_loss(truth, proba, labels=labels))
    return out


def regression_metrics(y_true: Any, y_pred: Any) -> dict[str, float]:
    """RMSE, MAE and R² (R² is left out for fewer than two rows, where it is undefined)."""
    truth, pred = _pair(y_true, y_pred)
    truth, pred = truth.astype(float), pred.astype(float)
    out = {
        "rmse": math.sqrt(float(skm.mean_squared_error(truth, pred))),
        "mae": float(skm.mean_absolute_error(truth, pred)),
    }
    if len(truth) >= 2:
        out["r2"] = float(skm.r2_score(truth, pred))
    return out


def confusion_matrix(y_true: Any, y_pred: Any, classes: Sequence[Any] | None = None) -> ConfusionMatrix:
    """The confusion matrix over ``classes`` (or every label seen), as plain lists."""
    truth, pred = _pair(y_true, y_pred)
    labels = _labels(truth, pred, classes)
    matrix = skm.confusion_matrix(truth, pred, labels=labels)
    return ConfusionMatrix(labels, [[int(c) for c in row] for row in matrix])


def roc_data(y_true: Any, proba: Any, classes: Sequence[Any]) -> dict[str, Any]:
    """ROC curve points (one-vs-rest per class for more than two classes), thinned to at most 500 points each."""
    truth = _column(y_true, "targets")
    labels = list(classes)
    probabilities = _probabilities(proba, labels, len(truth))
    if probabilities is None:
        return {"curves": []}
    positives = labels[-1:] if len(labels) == 2 else labels
    curves = []
    for label in positives:
        hits = truth == label
        if hits.all() or not hits.any():
            continue
        fpr, tpr, _ = skm.roc_curve(hits, probabilities[:, labels.index(label)])
        keep = _thin(len(fpr))
        curves.append({"positive_class": _plain(label), "fpr": fpr[keep].tolist(), "tpr": tpr[keep].tolist(),
                       "auc": float(skm.auc(fpr, tpr))})
    return {"curves": curves}


def residual_data(y_true: Any, y_pred: Any) -> dict[str, Any]:
    """Predicted values and residuals (true − predicted), thinned to at most 500 points, for a residual plot."""
    truth, pred = _pair(y_true, y_pred)
    residuals = truth.astype(float) - pred.astype(float)
    keep = _thin(len(truth))
    return {"predicted": pred.astype(float)[keep].tolist(), "residual": residuals[keep].tolist()}


def slice_metrics(frame: pd.DataFrame, slices: Sequence[str], task: str, y_true: Any, y_pred: Any,
                  proba: Any = None, classes: Sequence[Any] | None = None) -> dict[str, dict[str, dict[str, float]]]:
    """Metrics per value of each slice column: ``{column: {value: {metric: number, "count": rows}}}``.

    A numeric column with more than 20 distinct values is cut into quartiles (the value is the interval).
    """
    truth, pred = _pair(y_true, y_pred)
    if len(frame) != len(truth):
        raise InvalidInput(f"slices: data has {len(frame)} rows but there are {len(truth)} targets", field="slices")
    probabilities = None if proba is None else np.asarray(proba)
    out: dict[str, dict[str, dict[str, float]]] = {}
    for column in slices:
        keys = _slice_keys(frame, column)
        per_value: dict[str, dict[str, float]] = {}
        for key in sorted(set(keys.tolist()), key=str):
            mask = keys == key
            part = None if probabilities is None else probabilities[mask]
            values = compute_metrics(task, truth[mask], pred[mask], part, classes)
            per_value[str(key)] = {**values, "count": float(mask.sum())}
        out[column] = per_value
    return out


def _slice_keys(frame: pd.DataFrame, column: str) -> Array:
    if column not in frame.columns:
        raise InvalidInput(f"slices: no column {column!r} in the data; available: {list(map(str, frame.columns))}",
                           field="slices")
    values = frame[column]
    if pd.api.types.is_numeric_dtype(values) and values.nunique() > _MAX_SLICE_VALUES:
        values = pd.qcut(values, 4, duplicates="drop")
    return np.asarray(values.astype(str).to_numpy())


def _pair(y_true: Any, y_pred: Any) -> tuple[Array, Array]:
    truth, pred = _column(y_true, "targets"), _column(y_pred, "predictions")
    if len(truth) != len(pred):
        raise InvalidInput(f"{len(truth)} targets but {len(pred)} predictions; they must have one row each",
                           field="targets")
    if len(truth) == 0:
        raise InvalidInput("no rows to evaluate; pass data with at least one row", field="data")
    return truth, pred


def _column(values: Any, what: str) -> Array:
    array = np.asarray(values)
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim != 1:
        raise InvalidInput(f"{what}: expected one value per row, got shape {array.shape}", field=what)
    return array


def _labels(truth: Array, pred: Array, classes: Sequence[Any] | None) -> list[Any]:
    if classes is not None and len(classes) > 0:
        return list(classes)
    seen = set(truth.tolist()) | set(pred.tolist())
    return sorted(seen, key=lambda v: (str(type(v)), v))


def _probabilities(proba: Any, labels: list[Any], rows: int) -> Array | None:
    if proba is None:
        return None
    array = np.asarray(proba, dtype=float)
    if array.ndim != 2 or array.shape != (rows, len(labels)):
        return None
    return array


def _thin(n: int) -> Array:
    if n <= _MAX_CURVE_POINTS:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, _MAX_CURVE_POINTS).round().astype(int))


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value
