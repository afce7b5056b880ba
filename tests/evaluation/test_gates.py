"""Gate conditions: parsing (and the errors for bad ones), checking, and direction-aware champion comparison."""

from __future__ import annotations

import math

import pytest

from keel.errors import InvalidInput
from keel.evaluation import gates
from keel.evaluation.metrics import metric_names


@pytest.mark.parametrize(("text", "metric", "op", "threshold"), [
    ("accuracy >= 0.9", "accuracy", ">=", 0.9),
    ("rmse<3.5", "rmse", "<", 3.5),
    ("  f1 >  .8 ", "f1", ">", 0.8),
    ("R2 != -1e-3", "r2", "!=", -0.001),
    ("log_loss <= 1", "log_loss", "<=", 1.0),
    ("mae == 0", "mae", "==", 0.0),
])
def test_parse_condition(text: str, metric: str, op: str, threshold: float) -> None:
    condition = gates.parse_condition(text)
    assert (condition.metric, condition.op, condition.threshold) == (metric, op, threshold)
    assert condition.text == text.strip()


@pytest.mark.parametrize("text", ["accuracy", "accuracy >= ", ">= 0.9", "accuracy => 0.9", "accuracy >= high",
                                  "accuracy >= 0.9 and f1 > 0.8", "", "accuracy = 0.9"])
def test_malformed_conditions_name_the_condition_and_the_fix(text: str) -> None:
    with pytest.raises(InvalidInput, match="cannot be parsed.*<metric> <op> <number>") as info:
        gates.parse_condition(text)
    assert repr(text) in info.value.message


def test_unknown_metric_for_the_task() -> None:
    with pytest.raises(InvalidInput, match="unknown metric 'rmse'.*accuracy"):
        gates.parse_conditions(["accuracy > 0.5", "rmse < 3"], known=metric_names("classification"))
    assert len(gates.parse_conditions("rmse < 3", known=metric_names("regression"))) == 1


def test_check_reports_each_condition() -> None:
    results = gates.check(["accuracy >= 0.9", "f1 > 0.8", "roc_auc > 0.5"], {"accuracy": 0.85, "f1": 0.81})
    assert [r.passed for r in results] == [False, True, False]
    assert results[0].value == 0.85 and results[2].value is None
    assert results[0].message == "accuracy >= 0.9: 0.85 (failed)"
    assert results[2].message == "roc_auc > 0.5: not computed (failed)"
    assert results[1].to_dict() == {"condition": "f1 > 0.8", "metric": "f1", "value": 0.81, "passed": True}


def test_check_rejects_a_metric_neither_known_nor_measured() -> None:
    with pytest.raises(InvalidInput, match="'bleu' was not measured"):
        gates.check(["bleu > 0.3"], {"accuracy": 1.0})
    assert gates.check(["custom > 0.3"], {"custom": 0.5})[0].passed


def test_nan_never_passes() -> None:
    assert not gates.check(["r2 != 0"], {"r2": math.nan})[0].passed


def test_direction() -> None:
    assert {gates.direction(n) for n in ("accuracy", "precision", "recall", "f1", "roc_auc", "r2")} == {"higher"}
    assert {gates.direction(n) for n in ("rmse", "mae", "log_loss")} == {"lower"}
    with pytest.raises(InvalidInput, match="no known direction"):
        gates.direction("bleu")


def test_compare_is_direction_aware() -> None:
    assert gates.compare({"accuracy": 0.9}, {"accuracy": 0.8}, "accuracy").passed
    assert gates.compare({"accuracy": 0.8}, {"accuracy": 0.8}, "accuracy").passed  # at least as good
    assert not gates.compare({"accuracy": 0.7}, {"accuracy": 0.8}, "accuracy").passed
    assert gates.compare({"rmse": 2.0}, {"rmse": 3.0}, "rmse").passed
    lost = gates.compare({"rmse": 3.5}, {"rmse": 3.0}, "rmse")
    assert not lost.passed and lost.direction == "lower"
    assert "rmse (lower is better): 3.5 vs 3 (failed)" in lost.message
    assert gates.compare({"rmse": 3.05}, {"rmse": 3.0}, "rmse", tolerance=0.1).passed


def test_compare_with_missing_values() -> None:
    assert gates.compare({"roc_auc": 0.7}, {}, "roc_auc").passed
    assert not gates.compare({}, {"roc_auc": 0.7}, "roc_auc").passed


def test_primary_metric() -> None:
    conditions = gates.parse_conditions(["f1 > 0.5", "accuracy > 0.5"])
    assert gates.primary_metric("classification", conditions) == "f1"
    assert gates.primary_metric("classification", []) == "accuracy"
    assert gates.primary_metric("regression", []) == "rmse"
