"""``keel.evaluate``: load a model, predict on labelled data, and log metrics, confusion matrix, plots and slices.

Metrics are computed by :mod:`keel.evaluation.metrics`; everything is logged to a tracking run (the active run, or
a new run named ``evaluate <model_uri>``). Plots are PNGs when matplotlib is installed; otherwise the plot data is
logged as JSON and the run's ``keel.evaluation.plots`` tag says so.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from keel.errors import InvalidInput, NotFound
from keel.evaluation import metrics as m
from keel.jsonable import json_safe
from keel.registry.fluent import load_model
from keel.registry.model_files import LoadedModel
from keel.registry.signature import enforce
from keel.tracking.fluent import active_run, flush, log_dict, log_figure, log_input, log_metrics, set_tags, start_run

__all__ = ["EvaluationResult", "Predictions", "evaluate", "load_frame", "predict", "split_targets"]

_ARTIFACT_DIR = "evaluation"
_NO_MATPLOTLIB = "json: matplotlib is not installed, so plot data is logged as JSON"


@dataclass(frozen=True)
class Predictions:
    """What a model said about each row: labels/values, and class probabilities when it exposes them."""

    values: np.ndarray[Any, Any]
    proba: np.ndarray[Any, Any] | None = None
    classes: list[Any] | None = None


@dataclass(frozen=True)
class EvaluationResult:
    """Metrics of one model on one dataset, and where they were logged."""

    model_uri: str
    task: str
    metrics: dict[str, float]
    run_id: str
    confusion_matrix: m.ConfusionMatrix | None = None
    slices: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    artifacts: list[str] = field(default_factory=list)
    plot_format: str = "json"
    notes: list[str] = field(default_factory=list)


def evaluate(model_uri: str, data: pd.DataFrame | str | Path, targets: str | Sequence[Any] | np.ndarray[Any, Any],
             task: str = "classification", slices: Sequence[str] | None = None,
             run_id: str | None = None) -> EvaluationResult:
    """Evaluate ``model_uri`` on ``data`` against ``targets`` (a column of ``data`` or one value per row).

    Logs the metrics, ``evaluation/confusion_matrix.json`` (classification), ROC or residual plots and, with
    ``slices=[column, ...]``, ``evaluation/slice_metrics.json`` to ``run_id``, the active run, or a new run.
    """
    m.check_task(task)
    frame = load_frame(data)
    features, truth = split_targets(frame, targets)
    model = load_model(model_uri)
    predictions = predict(model, features, task)
    notes = [] if predictions.proba is not None or task != "classification" else [
        "the model gives no class probabilities, so roc_auc and log_loss are not computed"]
    values = m.compute_metrics(task, truth, predictions.values, predictions.proba, predictions.classes)
    per_slice = m.slice_metrics(frame, slices, task, truth, predictions.values, predictions.proba,
                                predictions.classes) if slices else {}
    confusion = (m.confusion_matrix(truth, predictions.values, _confusion_labels(truth, predictions))
                 if task == "classification" else None)
    with analysis_run("evaluate", model_uri, run_id) as current:
        artifacts, plot_format = _log(model_uri, task, features, values, confusion, per_slice,
                                      _plot_data(task, truth, predictions))
    return EvaluationResult(model_uri, task, values, current, confusion, per_slice, artifacts, plot_format, notes)


def load_frame(data: pd.DataFrame | str | Path) -> pd.DataFrame:
    """``data`` as a DataFrame: itself, or read from a ``.csv`` or ``.parquet`` file."""
    if isinstance(data, pd.DataFrame):
        return data
    if not isinstance(data, str | Path):
        raise InvalidInput(f"data: expected a pandas DataFrame or a path to a CSV/Parquet file, got "
                           f"{type(data).__name__}", field="data")
    path = Path(data)
    if not path.is_file():
        raise NotFound(f"data file {str(path)!r} does not exist; pass an existing CSV or Parquet file", field="data")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return pd.read_csv(path)
    if suffix in (".parquet", ".pq"):
        return pd.read_parquet(path)
    raise InvalidInput(f"data file {str(path)!r}: unsupported format {suffix or '(none)'}; use .csv or .parquet",
                       field="data")


def split_targets(frame: pd.DataFrame, targets: Any) -> tuple[pd.DataFrame, np.ndarray[Any, Any]]:
    """The feature columns and the target values: ``targets`` names a column (dropped from features) or is an array."""
    if isinstance(targets, str | int) and not isinstance(targets, bool):
        if targets not in frame.columns:
            raise InvalidInput(f"targets: no column {targets!r} in the data; available: "
                               f"{list(map(str, frame.columns))}", field="targets")
        return frame.drop(columns=[targets]), frame[targets].to_numpy()
    values = np.asarray(targets)
    if values.ndim != 1 or len(values) != len(frame):
        raise InvalidInput(f"targets: expected {len(frame)} values (one per row of data), got shape {values.shape}",
                           field="targets")
    return frame, values


def predict(model: LoadedModel, features: pd.DataFrame, task: str) -> Predictions:
    """Predict with ``model``; for classification also ask the underlying object for ``predict_proba``."""
    values = np.asarray(model.predict(features))
    if values.ndim == 2 and values.shape[1] == 1:
        values = values[:, 0]
    if task != "classification":
        return Predictions(values)
    classes = getattr(model.model, "classes_", None)
    return Predictions(values, _probabilities(model, features), None if classes is None else list(classes))


def _probabilities(model: LoadedModel, features: pd.DataFrame) -> np.ndarray[Any, Any] | None:
    method = getattr(model.model, "predict_proba", None)
    if not callable(method):
        return None
    try:
        proba = np.asarray(method(enforce(model.signature, features)), dtype=float)
    except Exception:  # noqa: BLE001 - a model whose predict_proba fails is still evaluated on its labels
        return None
    return proba if proba.ndim == 2 else None


def _confusion_labels(truth: np.ndarray[Any, Any], predictions: Predictions) -> list[Any] | None:
    if predictions.classes is None:
        return None
    seen = set(truth.tolist()) | set(predictions.values.tolist())
    return predictions.classes if seen <= set(predictions.classes) else None


@contextmanager
def analysis_run(what: str, model_uri: str, run_id: str | None) -> Iterator[str]:
    """The run an analysis of ``model_uri`` logs to: ``run_id``, else the active run, else a new run named
    ``"{what} {model_uri}"`` (nested when a run is active)."""
    current = active_run()
    if current is not None and run_id in (None, current.run_id):
        yield current.run_id
        flush()
        return
    name = None if run_id is not None else f"{what} {model_uri}"[:250]
    with start_run(run_id=run_id, run_name=name, nested=current is not None) as run:
        yield run.run_id


def _plot_data(task: str, truth: np.ndarray[Any, Any], predictions: Predictions) -> dict[str, Any]:
    if task == "regression":
        return {"residuals": m.residual_data(truth, predictions.values)}
    if predictions.proba is None or predictions.classes is None:
        return {}
    return {"roc_curve": m.roc_data(truth, predictions.proba, predictions.classes)}


def _log(model_uri: str, task: str, features: pd.DataFrame, values: dict[str, float],
         confusion: m.ConfusionMatrix | None, per_slice: dict[str, Any],
         plots: dict[str, Any]) -> tuple[list[str], str]:
    figures = {name: _figure(name, data) for name, data in plots.items()}
    plot_format = "png" if all(f is not None for f in figures.values()) and _has_matplotlib() else "json"
    set_tags({"keel.evaluation.model_uri": model_uri, "keel.evaluation.task": task,
              "keel.evaluation.plots": "png" if plot_format == "png" else _NO_MATPLOTLIB})
    log_metrics(values)
    log_input(features, context="evaluation", name="evaluation-data")
    files: dict[str, Any] = {"metrics.json": values}
    if confusion is not None:
        files["confusion_matrix.json"] = confusion.to_dict()
    if per_slice:
        files["slice_metrics.json"] = per_slice
    for name, figure in figures.items():
        if figure is not None and plot_format == "png":
            log_figure(figure, f"{_ARTIFACT_DIR}/{name}.png")
            files[f"{name}.png"] = None
        else:
            files[f"{name}.json"] = plots[name]
    for file_name, content in files.items():
        if content is not None:
            log_dict(json_safe(content), f"{_ARTIFACT_DIR}/{file_name}")
    return [f"{_ARTIFACT_DIR}/{name}" for name in files], plot_format


def _has_matplotlib() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def _figure(name: str, data: dict[str, Any]) -> Any:
    """A matplotlib Figure of the ROC curves or residuals, or ``None`` without matplotlib."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        return None
    figure = Figure(figsize=(5, 4))
    axes = figure.add_subplot()
    if name == "roc_curve":
        for curve in data.get("curves", []):
            axes.plot(curve["fpr"], curve["tpr"], label=f"{curve['positive_class']} (AUC {curve['auc']:.3f})")
        axes.plot([0, 1], [0, 1], linestyle="--", color="grey")
        axes.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC curve")
        axes.legend(loc="lower right")
    else:
        axes.scatter(data["predicted"], data["residual"], s=8)
        axes.axhline(0.0, color="grey", linestyle="--")
        axes.set(xlabel="predicted", ylabel="residual (true - predicted)", title="Residuals")
    figure.tight_layout()
    return figure
