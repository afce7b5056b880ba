"""Model performance from predictions joined with their (delayed) labels — pure NumPy/SciPy: accuracy, macro F1 and
ROC AUC for classification (AUC when the outputs are scores, or for binary labels), RMSE and MAE for regression."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from keel.errors import InvalidInput

__all__ = ["TASKS", "performance"]

TASKS = ("classification", "regression")


def performance(predicted: Sequence[Any], actual: Sequence[Any], task: str) -> dict[str, float]:
    """Metrics of ``predicted`` against ``actual`` (same length, nulls dropped pairwise)."""
    if task not in TASKS:
        raise InvalidInput(f"task {task!r} is not classification or regression", field="task")
    pairs = [(p, a) for p, a in zip(predicted, actual, strict=True) if p is not None and a is not None
             and not (isinstance(p, float) and np.isnan(p)) and not (isinstance(a, float) and np.isnan(a))]
    if not pairs:
        return {"labeled_rows": 0.0}
    pred = np.asarray([p for p, _ in pairs])
    true = np.asarray([a for _, a in pairs])
    metrics = {"labeled_rows": float(len(pairs))}
    if task == "regression":
        err = pred.astype(float) - true.astype(float)
        metrics.update(rmse=float(np.sqrt(np.mean(err ** 2))), mae=float(np.mean(np.abs(err))))
        return metrics
    labels = np.unique(true)
    hard = _hard(pred, labels)
    metrics["accuracy"] = float(np.mean(hard == true))
    metrics["f1"] = _macro_f1(hard, true)
    auc = _auc(pred, true, labels)
    if auc is not None:
        metrics["auc"] = auc
    return metrics


def _hard(pred: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Scores in [0, 1] for binary 0/1 labels become classes at 0.5; class predictions pass through."""
    if pred.dtype.kind == "f" and set(labels.tolist()) <= {0, 1} and not np.all(np.isin(pred, (0.0, 1.0))):
        return (pred >= 0.5).astype(labels.dtype)
    return pred


def _macro_f1(pred: np.ndarray, true: np.ndarray) -> float:
    scores = []
    for label in np.unique(np.concatenate([true, pred])):
        tp = float(np.sum((pred == label) & (true == label)))
        fp = float(np.sum((pred == label) & (true != label)))
        fn = float(np.sum((pred != label) & (true == label)))
        scores.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    return float(np.mean(scores))


def _auc(pred: np.ndarray, true: np.ndarray, labels: np.ndarray) -> float | None:
    """Binary ROC AUC by the rank-sum (Mann–Whitney) formula; None for multiclass or a single class."""
    if len(labels) != 2 or pred.dtype.kind not in "fiub":
        return None
    from scipy.stats import rankdata

    positive = true == labels[1]
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    ranks = rankdata(pred.astype(float))
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))
