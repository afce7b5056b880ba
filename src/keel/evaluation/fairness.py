"""``keel.fairness``: a model's metrics per group of sensitive features, and the gaps between groups.

Per group (each combination of the ``sensitive`` columns' values): count, selection rate, TPR, FPR, precision and
accuracy for a binary classifier (accuracy only for more classes), MAE/RMSE/R² for a regressor — through
fairlearn's ``MetricFrame``. The gaps: demographic parity difference and ratio, equalized odds difference (binary
classification), and the worst group's value of the main metric. Everything is logged to a tracking run; when the
URI names a registered version, the gaps are stored as the version's ``keel.fairness.metrics`` tag, so a promotion
gate can require them (``--require "demographic_parity_ratio >= 0.8"``) and the model card shows them.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from keel.errors import InvalidInput
from keel.evaluation.evaluate import analysis_run, load_frame, predict, split_targets
from keel.evaluation.explain import registered_version
from keel.evaluation.metrics import check_task
from keel.jsonable import json_safe
from keel.registry.fluent import load_model
from keel.tracking.fluent import log_dict, log_figure, log_metrics, set_tags

__all__ = ["FAIRNESS_METRICS", "FAIRNESS_TAG", "FairnessResult", "GroupMetrics", "fairness", "gate_metrics",
           "group_metrics", "logged_fairness"]

FAIRNESS_TAG = "keel.fairness.metrics"
FAIRNESS_METRICS = frozenset({"demographic_parity_difference", "demographic_parity_ratio",
                              "equalized_odds_difference", "worst_group_accuracy", "worst_group_mae",
                              "worst_group_rmse"})
_INSTALL = "pip install 'keel-mlops[explain]'"
_ARTIFACT_DIR = "fairness"


@dataclass(frozen=True)
class GroupMetrics:
    """What :func:`group_metrics` measured: a table per group, the gaps, the overall values, the positive label."""

    by_group: pd.DataFrame
    gaps: dict[str, float]
    overall: dict[str, float]
    positive_label: Any = None
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class FairnessResult:
    """Per-group metrics (one row per group, ``count`` included) and the gaps between groups."""

    model_uri: str
    task: str
    sensitive: list[str]
    by_group: pd.DataFrame
    gaps: dict[str, float]
    overall: dict[str, float]
    positive_label: Any = None
    run_id: str | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: groups as records keyed by the sensitive columns."""
        groups = self.by_group.reset_index().to_dict(orient="records")
        return json_safe({"model_uri": self.model_uri, "task": self.task, "sensitive": self.sensitive,
                          "positive_label": self.positive_label, "overall": self.overall, "gaps": self.gaps,
                          "by_group": groups, "notes": self.notes})


def fairness(model_uri: str, data: pd.DataFrame | str | Path, targets: str | Sequence[Any] | np.ndarray[Any, Any],
             sensitive: Sequence[str] | str, *, task: str = "classification", positive_label: Any = None,
             log: bool = True, run_id: str | None = None) -> FairnessResult:
    """Metrics of ``model_uri`` on ``data`` per group of the ``sensitive`` columns, and the gaps between groups.

    ``sensitive`` columns must be in ``data``; they are passed to the model only if its signature asks for them.
    ``positive_label`` (binary classification) defaults to 1 / True when present, else the larger label.
    """
    check_task(task)
    frame = load_frame(data)
    columns = _check_sensitive(frame, sensitive)
    features, truth = split_targets(frame, targets)
    model = load_model(model_uri)
    predicted = predict(model, features, task).values
    groups = frame[columns].astype(str).reset_index(drop=True)
    measured = group_metrics(truth, predicted, groups, task, positive_label)
    measured.by_group["count"] = measured.by_group["count"].astype(int)
    result = FairnessResult(model_uri, task, columns, measured.by_group, measured.gaps, measured.overall,
                            measured.positive_label, notes=measured.notes)
    if log:
        result = _log(result, run_id)
    return result


def group_metrics(truth: Any, predicted: Any, groups: pd.DataFrame, task: str,
                  positive_label: Any = None) -> GroupMetrics:
    """The pure part of :func:`fairness`: metrics per group of ``groups`` (one column per sensitive feature)."""
    fl = _fairlearn()
    truth, predicted = np.asarray(truth), np.asarray(predicted)
    notes: list[str] = []
    if task == "regression":
        frame = fl.MetricFrame(metrics=_regression_metrics(), y_true=truth.astype(float),
                               y_pred=predicted.astype(float), sensitive_features=groups)
        by_group = frame.by_group
        gaps = {"worst_group_mae": float(by_group["mae"].max()), "worst_group_rmse": float(by_group["rmse"].max())}
        return GroupMetrics(by_group, gaps, _overall(frame), None, notes)
    labels = sorted(set(truth.tolist()) | set(predicted.tolist()), key=str)
    if len(labels) > 2:
        frame = fl.MetricFrame(metrics={"count": fl.count, "accuracy": _accuracy}, y_true=truth, y_pred=predicted,
                               sensitive_features=groups)
        notes.append(f"{len(labels)} classes: selection rate, TPR/FPR and parity gaps need a binary task")
        gaps = {"worst_group_accuracy": float(frame.by_group["accuracy"].min())}
        return GroupMetrics(frame.by_group, gaps, _overall(frame), None, notes)
    positive = _positive(labels, positive_label)
    y_true, y_pred = (truth == positive).astype(int), (predicted == positive).astype(int)
    frame = fl.MetricFrame(metrics=_classification_metrics(fl), y_true=y_true, y_pred=y_pred,
                           sensitive_features=groups)
    gaps = {
        "demographic_parity_difference": float(fl.demographic_parity_difference(
            y_true, y_pred, sensitive_features=groups)),
        "demographic_parity_ratio": float(fl.demographic_parity_ratio(y_true, y_pred, sensitive_features=groups)),
        "equalized_odds_difference": float(fl.equalized_odds_difference(y_true, y_pred, sensitive_features=groups)),
        "worst_group_accuracy": float(frame.by_group["accuracy"].min()),
    }
    return GroupMetrics(frame.by_group, gaps, _overall(frame), _plain(positive), notes)


def logged_fairness(tags: Mapping[str, str]) -> dict[str, float]:
    """The fairness gaps :func:`fairness` stored on a model version (empty when never measured)."""
    raw = tags.get(FAIRNESS_TAG)
    if not raw:
        return {}
    try:
        return {str(k): float(v) for k, v in json.loads(raw).get("gaps", {}).items() if v is not None}
    except (ValueError, AttributeError, TypeError):
        return {}


def gate_metrics(conditions: Sequence[Any], name: str, version: int, tags: Mapping[str, str]) -> dict[str, float]:
    """The fairness gaps a promotion gate checks: those logged on the version, or :class:`InvalidInput` saying how
    to measure them when a condition (a parsed ``Condition``) needs one that was never measured."""
    logged = logged_fairness(tags)
    wanted = sorted({c.metric for c in conditions if c.metric in FAIRNESS_METRICS} - set(logged))
    if wanted:
        raise InvalidInput(f"require: {', '.join(wanted)} not measured for {name} version {version}; run "
                           f"keel.fairness('models:/{name}/{version}', data, targets, sensitive=[...]) first",
                           field="require")
    return logged


# ------------------------------------------------------------------------------------------------------ helpers


def _fairlearn() -> Any:
    try:
        import fairlearn.metrics as fl
    except ImportError as exc:
        raise InvalidInput(f"fairness metrics need fairlearn, which is not installed; run {_INSTALL}",
                           field="fairness") from exc
    return fl


def _check_sensitive(frame: pd.DataFrame, sensitive: Sequence[str] | str) -> list[str]:
    columns = [sensitive] if isinstance(sensitive, str) else list(sensitive)
    if not columns:
        raise InvalidInput("sensitive: name at least one column of the data, e.g. sensitive=['sex']",
                           field="sensitive")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InvalidInput(f"sensitive: no column {', '.join(map(repr, missing))} in the data; available: "
                           f"{list(map(str, frame.columns))}", field="sensitive")
    return columns


def _positive(labels: list[Any], positive_label: Any) -> Any:
    if positive_label is not None:
        if positive_label not in labels and str(positive_label) not in map(str, labels):
            raise InvalidInput(f"positive_label: {positive_label!r} is not one of the labels {labels}",
                               field="positive_label")
        return next(label for label in labels if label == positive_label or str(label) == str(positive_label))
    for candidate in (1, True):
        if candidate in labels:
            return candidate
    return labels[-1]


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _accuracy(y_true: Any, y_pred: Any) -> float:
    return float(np.mean(np.asarray(y_true) == np.asarray(y_pred))) if len(y_true) else math.nan


def _rate(numerator: Any, denominator: Any) -> float:
    total = int(np.sum(denominator))
    return float(np.sum(numerator)) / total if total else math.nan


def _classification_metrics(fl: Any) -> dict[str, Any]:
    """Per-group metrics on 0/1 labels; a rate whose denominator is empty in a group is NaN, not a warning."""
    def tpr(t: Any, p: Any) -> float:
        return _rate((t == 1) & (p == 1), t == 1)

    def fpr(t: Any, p: Any) -> float:
        return _rate((t == 0) & (p == 1), t == 0)

    def precision(t: Any, p: Any) -> float:
        return _rate((t == 1) & (p == 1), p == 1)

    return {"count": fl.count, "selection_rate": fl.selection_rate, "true_positive_rate": tpr,
            "false_positive_rate": fpr, "precision": precision, "accuracy": _accuracy}


def _regression_metrics() -> dict[str, Any]:
    from sklearn.metrics import mean_absolute_error, r2_score, root_mean_squared_error

    def r2(t: Any, p: Any) -> float:
        return float(r2_score(t, p)) if len(t) > 1 else math.nan

    from fairlearn.metrics import count

    return {"count": count, "mae": mean_absolute_error, "rmse": root_mean_squared_error, "r2": r2}


def _overall(frame: Any) -> dict[str, float]:
    return {str(k): float(v) for k, v in frame.overall.items()}


def _log(result: FairnessResult, run_id: str | None) -> FairnessResult:
    finite = {k: v for k, v in result.gaps.items() if math.isfinite(v)}
    with analysis_run("fairness", result.model_uri, run_id) as current:
        set_tags({"keel.fairness.model_uri": result.model_uri, "keel.fairness.sensitive": ",".join(result.sensitive)})
        log_metrics({f"fairness.{k}": v for k, v in finite.items()})
        log_dict(result.to_dict(), f"{_ARTIFACT_DIR}/by_group.json")
        for metric in result.by_group.columns:
            if metric != "count":
                figure = _figure(result.by_group, str(metric))
                if figure is not None:
                    log_figure(figure, f"{_ARTIFACT_DIR}/{metric}.png")
    version = registered_version(result.model_uri)
    if version is not None:
        from keel.tracking.context import get_backend

        record = result.to_dict()
        summary = json.dumps(json_safe({"gaps": result.gaps, "sensitive": result.sensitive, "run_id": current,
                                        "positive_label": result.positive_label, "task": result.task,
                                        "by_group": record["by_group"][:40]}))
        if len(summary) > 8000:  # a tag holds 8000 characters; the full table stays in the run's artifact
            summary = json.dumps(json_safe({"gaps": result.gaps, "sensitive": result.sensitive, "run_id": current}))
        get_backend().registry.set_model_version_tag(*version, FAIRNESS_TAG, summary)
    return replace(result, run_id=current)


def _figure(by_group: pd.DataFrame, metric: str) -> Any:
    try:
        from matplotlib.figure import Figure
    except ImportError:
        return None
    labels = [" / ".join(map(str, k)) if isinstance(k, tuple) else str(k) for k in by_group.index]
    figure = Figure(figsize=(max(4.0, 0.6 * len(labels) + 2), 3.5))
    axes = figure.add_subplot()
    axes.bar(range(len(labels)), by_group[metric].to_numpy(dtype=float))
    axes.set_xticks(range(len(labels)), labels, rotation=30, ha="right")
    axes.set(ylabel=metric, title=f"{metric} per group")
    figure.tight_layout()
    return figure
