"""``keel.explain``: SHAP contributions of a model's features, per row, with global importance logged.

The explainer fits the model (:mod:`keel.evaluation.explainers`: tree, linear, or a sampled permutation explainer
bounded by ``time_budget_s``). The global importance (mean |SHAP| per feature) and a summary plot go to a tracking
run (the active one, or a new run ``explain <model_uri>``); when the URI names a registered version, the version gets
tags ``keel.explain.*`` (importance of the top features, the run, the explainer), which the model card reads.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from keel.errors import InvalidInput
from keel.evaluation.evaluate import analysis_run, load_frame
from keel.evaluation.explainers import Contributions, ModelExplainer, feature_frame
from keel.jsonable import json_safe
from keel.registry.fluent import load_model
from keel.registry.uris import parse_model_uri
from keel.tracking.fluent import log_dict, log_figure, set_tags

__all__ = ["IMPORTANCE_TAG", "explain", "logged_importance", "registered_version", "summary_figure"]

IMPORTANCE_TAG = "keel.explain.importance"
_ARTIFACT_DIR = "explain"
_TAG_FEATURES = 20
_PLOT_FEATURES = 15


def explain(model_uri: str, data: pd.DataFrame | str | Path | Any, background: Any = None, *,
            max_rows: int | None = None, time_budget_s: float | None = 300.0, log: bool = True,
            run_id: str | None = None, seed: int = 0,
            on_rows: Callable[[int], None] | None = None) -> pd.DataFrame:
    """SHAP contributions of every feature to ``model_uri``'s output for each row of ``data``.

    ``data`` and ``background`` are DataFrames, CSV/Parquet files or dataset versions (``NAME@vN``).
    Returns one row per explained row and one column per model input; ``result.attrs`` holds ``base_values``
    (base value + the row's contributions = the model output), ``output`` (what is explained, e.g. the probability
    of class 1), ``explainer``, ``importance`` and, when logged, ``run_id``. ``background`` (default: none for tree
    models, else a sample of ``data``) is what features are "removed" to. ``max_rows`` samples the data first;
    the model-agnostic explainer stops after ``time_budget_s`` with the rows done so far (noted in
    ``attrs["notes"]``). Needs ``keel-mlops[explain]``.
    """
    if max_rows is not None and max_rows < 1:
        raise InvalidInput(f"max_rows: expected a positive number of rows, got {max_rows}", field="max_rows")
    model = load_model(model_uri)
    features = feature_frame(model, _rows(data))
    if len(features) == 0:
        raise InvalidInput("data: no rows to explain", field="data")
    if max_rows is not None and len(features) > max_rows:
        features = features.sample(max_rows, random_state=seed)
    back = None if background is None else _rows(background)
    explainer = ModelExplainer(model, back, seed=seed)
    deadline = None if time_budget_s is None else time.monotonic() + time_budget_s
    contributions = explainer.explain(features, deadline=deadline, on_rows=on_rows)
    result = contributions.frame()
    result.attrs["importance"] = contributions.importance()
    if log:
        result.attrs["run_id"] = _log(model_uri, contributions, features.iloc[:len(contributions.values)], run_id)
    return result


def _rows(data: Any) -> pd.DataFrame:
    """A DataFrame, a CSV/Parquet file, or a ``keel.data`` dataset version (object or ``NAME@vN``)."""
    if type(data).__name__ == "DatasetVersion" or (isinstance(data, str) and "@" in data and not Path(data).exists()):
        import keel.data

        return keel.data.load(data)
    return load_frame(data)


def registered_version(model_uri: str) -> tuple[str, int] | None:
    """``(name, version)`` when ``model_uri`` names a registered version (an alias is resolved now), else None."""
    parsed = parse_model_uri(model_uri)
    if parsed.kind == "version" and parsed.name and parsed.version:
        return parsed.name, parsed.version
    if parsed.kind == "alias" and parsed.name and parsed.alias:
        from keel.tracking.context import get_backend

        mv = get_backend().registry.get_model_version_by_alias(parsed.name, parsed.alias)
        return mv.name, int(mv.version)
    return None


def logged_importance(tags: dict[str, str]) -> dict[str, float]:
    """The feature importance :func:`explain` recorded in a model version's tags (empty when never explained)."""
    raw = tags.get(IMPORTANCE_TAG)
    if not raw:
        return {}
    try:
        return {str(k): float(v) for k, v in json.loads(raw).items()}
    except (ValueError, AttributeError):
        return {}


def _log(model_uri: str, contributions: Contributions, features: pd.DataFrame, run_id: str | None) -> str:
    importance = contributions.importance()
    with analysis_run("explain", model_uri, run_id) as current:
        set_tags({"keel.explain.model_uri": model_uri, "keel.explain.explainer": contributions.explainer,
                  "keel.explain.output": contributions.output, "keel.explain.rows": len(contributions.values)})
        log_dict(json_safe({"output": contributions.output, "explainer": contributions.explainer,
                            "rows": len(contributions.values), "importance": importance,
                            "notes": contributions.notes}), f"{_ARTIFACT_DIR}/importance.json")
        figure = summary_figure(contributions, features)
        if figure is not None:
            log_figure(figure, f"{_ARTIFACT_DIR}/summary.png")
    version = registered_version(model_uri)
    if version is not None:
        from keel.tracking.context import get_backend

        top = {k: round(v, 6) for k, v in list(importance.items())[:_TAG_FEATURES]}
        tags = {IMPORTANCE_TAG: json.dumps(top), "keel.explain.run_id": current,
                "keel.explain.explainer": contributions.explainer, "keel.explain.output": contributions.output}
        for key, value in tags.items():
            get_backend().registry.set_model_version_tag(*version, key, value)
    return current


def summary_figure(contributions: Contributions, features: pd.DataFrame) -> Any:
    """SHAP's summary plot (a beeswarm of contributions per feature, coloured by the feature's value) as a matplotlib
    Figure, drawn without pyplot so it is thread-safe; ``None`` without matplotlib."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        return None
    names = list(contributions.importance())[:_PLOT_FEATURES][::-1]
    figure = Figure(figsize=(7, 0.45 * len(names) + 1.5))
    axes = figure.add_subplot()
    rng = np.random.default_rng(0)
    points = None
    for row, name in enumerate(names):
        column = contributions.features.index(name)
        shap_values = contributions.values[:, column]
        colour = _scaled(features[name]) if name in features else np.full(len(shap_values), 0.5)
        jitter = rng.uniform(-0.3, 0.3, len(shap_values))
        points = axes.scatter(shap_values, row + jitter, c=colour, cmap="coolwarm", s=6, vmin=0, vmax=1)
    axes.set_yticks(range(len(names)), names)
    axes.axvline(0.0, color="grey", linewidth=0.8)
    axes.set(xlabel=f"SHAP value (impact on {contributions.output})", title="Feature contributions")
    if points is not None:
        figure.colorbar(points, ax=axes, label="feature value (low → high)", ticks=[])
    figure.tight_layout()
    return figure


def _scaled(series: pd.Series) -> np.ndarray[Any, Any]:
    values = pd.to_numeric(series, errors="coerce").to_numpy(dtype=float)
    low, high = np.nanmin(values) if len(values) else 0.0, np.nanmax(values) if len(values) else 1.0
    if not np.isfinite(high - low) or high == low:
        return np.full(len(values), 0.5)
    return np.nan_to_num((values - low) / (high - low), nan=0.5)
