"""Evaluation and promotion gates: ``evaluate`` a model on labelled data, gate it, and ``promote`` it to an alias.

- :mod:`keel.evaluation.metrics` — pure metric functions (scikit-learn's), confusion matrix, curves, slices.
- :mod:`keel.evaluation.gates` — pure threshold conditions (``"accuracy >= 0.9"``) and champion comparison.
- :mod:`keel.evaluation.evaluate` — ``evaluate()``: load, predict, compute, log to a tracking run.
- :mod:`keel.evaluation.promote` — ``promote()``: evaluate, gate, move the alias, record the decision.
"""

from __future__ import annotations

from keel.evaluation.evaluate import EvaluationResult, Predictions, evaluate, load_frame, predict, split_targets
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
from keel.evaluation.promote import PromotionDecision, promote

__all__ = [
    "Comparison",
    "Condition",
    "ConditionResult",
    "ConfusionMatrix",
    "EvaluationResult",
    "Predictions",
    "PromotionDecision",
    "check",
    "classification_metrics",
    "compare",
    "compute_metrics",
    "confusion_matrix",
    "direction",
    "evaluate",
    "load_frame",
    "metric_names",
    "parse_condition",
    "parse_conditions",
    "predict",
    "primary_metric",
    "promote",
    "regression_metrics",
    "slice_metrics",
    "split_targets",
]
