"""Evaluation and promotion gates: ``evaluate`` a model on labelled data, gate it, and ``promote`` it to an alias.

- :mod:`keel.evaluation.metrics` — pure metric functions (scikit-learn's), confusion matrix, curves, slices.
- :mod:`keel.evaluation.gates` — pure threshold conditions (``"accuracy >= 0.9"``) and champion comparison.
- :mod:`keel.evaluation.evaluate` — ``evaluate()``: load, predict, compute, log to a tracking run.
- :mod:`keel.evaluation.promote` — ``promote()``: evaluate, gate, move the alias, record the decision.
- :mod:`keel.evaluation.explain` — ``explain()``: SHAP contributions per row, global importance logged.
- :mod:`keel.evaluation.fairness` — ``fairness()``: metrics per sensitive group and the gaps between groups.
- :mod:`keel.evaluation.model_card` — ``render_model_card()``: the card of a version, from what Keel knows.
"""

from __future__ import annotations

from keel.evaluation.evaluate import EvaluationResult, Predictions, evaluate, load_frame, predict, split_targets
from keel.evaluation.explain import explain
from keel.evaluation.explainers import Contributions, ModelExplainer
from keel.evaluation.fairness import FAIRNESS_METRICS, FairnessResult, fairness
from keel.evaluation.gates import (
    Comparison,
    Condition,
    ConditionResult,
    check,
    compare,
    direction,
    parse_condition,
    parse_conditions,
    primary_metric,
)
from keel.evaluation.metrics import (
    ConfusionMatrix,
    classification_metrics,
    compute_metrics,
    confusion_matrix,
    metric_names,
    regression_metrics,
    slice_metrics,
)
from keel.evaluation.model_card import model_card_facts, render_model_card
from keel.evaluation.promote import PromotionDecision, promote

__all__ = [
    "FAIRNESS_METRICS",
    "Comparison",
    "Condition",
    "ConditionResult",
    "ConfusionMatrix",
    "Contributions",
    "EvaluationResult",
    "FairnessResult",
    "ModelExplainer",
    "Predictions",
    "PromotionDecision",
    "check",
    "classification_metrics",
    "compare",
    "compute_metrics",
    "confusion_matrix",
    "direction",
    "evaluate",
    "explain",
    "fairness",
    "load_frame",
    "metric_names",
    "model_card_facts",
    "parse_condition",
    "parse_conditions",
    "predict",
    "primary_metric",
    "promote",
    "regression_metrics",
    "render_model_card",
    "slice_metrics",
    "split_targets",
]
