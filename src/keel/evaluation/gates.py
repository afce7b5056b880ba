"""Pure promotion gates: threshold conditions such as ``"accuracy >= 0.9"`` and champion-vs-challenger comparison.

A condition is ``<metric> <op> <number>`` with ``op`` one of ``>= > <= < == !=``. :func:`check` evaluates
conditions against a metrics mapping; :func:`compare` asks whether a challenger is at least as good as a champion
on one metric, knowing which way is better (higher for accuracy, lower for RMSE).
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from keel.errors import InvalidInput
from keel.evaluation.metrics import CLASSIFICATION_METRICS, REGRESSION_METRICS

__all__ = [
    "HIGHER_IS_BETTER",
    "KNOWN_METRICS",
    "LOWER_IS_BETTER",
    "Comparison",
    "Condition",
    "ConditionResult",
    "check",
    "compare",
    "direction",
    "parse_condition",
    "parse_conditions",
    "primary_metric",
]

HIGHER_IS_BETTER = frozenset({"accuracy", "precision", "recall", "f1", "roc_auc", "r2"})
LOWER_IS_BETTER = frozenset({"rmse", "mae", "log_loss"})
KNOWN_METRICS = frozenset(CLASSIFICATION_METRICS) | frozenset(REGRESSION_METRICS)

_OPERATORS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt, "==": operator.eq, "!=": operator.ne,
}
_CONDITION_RE = re.compile(
    r"^\s*(?P<metric>[A-Za-z_][\w.\-/]*)\s*(?P<op>>=|<=|==|!=|>|<)\s*"
    r"(?P<value>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*$")
_HOW = 'write it as "<metric> <op> <number>", e.g. "accuracy >= 0.9", with op one of >= > <= < == !='


@dataclass(frozen=True)
class Condition:
    """One parsed threshold: ``metric op threshold`` (``text`` is what the user wrote)."""

    metric: str
    op: str
    threshold: float
    text: str

    def holds(self, value: float) -> bool:
        """Whether ``value`` satisfies this condition (NaN never does)."""
        return not math.isnan(value) and _OPERATORS[self.op](value, self.threshold)

    def __str__(self) -> str:
        return f"{self.metric} {self.op} {self.threshold:g}"


@dataclass(frozen=True)
class ConditionResult:
    """A condition checked against measured metrics; ``value`` is ``None`` when the metric was not computed."""

    condition: Condition
    value: float | None
    passed: bool

    @property
    def message(self) -> str:
        """One line for people: ``"accuracy >= 0.9: 0.84 (failed)"``."""
        measured = "not computed" if self.value is None else f"{self.value:.6g}"
        return f"{self.condition}: {measured} ({'passed' if self.passed else 'failed'})"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"condition": str(self.condition), "metric": self.condition.metric, "value": self.value,
                "passed": self.passed}


@dataclass(frozen=True)
class Comparison:
    """Challenger vs champion on one metric; ``passed`` when the challenger is at least as good."""

    metric: str
    direction: Literal["higher", "lower"]
    challenger: float | None
    champion: float | None
    passed: bool

    @property
    def message(self) -> str:
        """One line for people: ``"must beat champion on accuracy (higher is better): 0.8 vs 0.9 (failed)"``."""
        return (f"must be at least as good as the incumbent on {self.metric} ({self.direction} is better): "
                f"{_fmt(self.challenger)} vs {_fmt(self.champion)} ({'passed' if self.passed else 'failed'})")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"metric": self.metric, "direction": self.direction, "challenger": self.challenger,
                "champion": self.champion, "passed": self.passed}


def parse_condition(text: str | Condition, known: Iterable[str] | None = None) -> Condition:
    """Parse ``"accuracy >= 0.9"``; with ``known``, the metric must be one of those names.

    A malformed condition or an unknown metric raises :class:`InvalidInput` naming the condition and the fix.
    """
    if isinstance(text, Condition):
        condition = text
    else:
        match = _CONDITION_RE.match(text) if isinstance(text, str) else None
        if match is None:
            raise InvalidInput(f"condition {text!r} cannot be parsed; {_HOW}", field="require")
        condition = Condition(match["metric"].lower(), match["op"], float(match["value"]), text.strip())
    if known is not None:
        names = sorted(known)
        if condition.metric not in names:
            raise InvalidInput(f"condition {condition.text!r}: unknown metric {condition.metric!r}; use one of "
                               f"{', '.join(names)}", field="require")
    return condition


def parse_conditions(texts: Iterable[str | Condition], known: Iterable[str] | None = None) -> list[Condition]:
    """Parse every condition (see :func:`parse_condition`); a bare string counts as one condition."""
    items = [texts] if isinstance(texts, str | Condition) else list(texts)
    names = None if known is None else list(known)
    return [parse_condition(t, names) for t in items]


def check(conditions: Iterable[str | Condition], metrics: Mapping[str, float]) -> list[ConditionResult]:
    """Check each condition against ``metrics``.

    A metric Keel knows but that was not computed (ROC AUC without probabilities) fails its condition; a metric
    that is neither known nor measured raises :class:`InvalidInput`.
    """
    results = []
    for condition in parse_conditions(conditions):
        value = metrics.get(condition.metric)
        if value is None and condition.metric not in KNOWN_METRICS:
            raise InvalidInput(f"condition {condition.text!r}: metric {condition.metric!r} was not measured; "
                               f"measured: {', '.join(sorted(metrics)) or 'none'}", field="require")
        passed = value is not None and condition.holds(float(value))
        results.append(ConditionResult(condition, None if value is None else float(value), passed))
    return results


def direction(metric: str) -> Literal["higher", "lower"]:
    """Which way is better for ``metric``; an unknown metric raises :class:`InvalidInput`."""
    if metric in HIGHER_IS_BETTER:
        return "higher"
    if metric in LOWER_IS_BETTER:
        return "lower"
    known = ", ".join(sorted(HIGHER_IS_BETTER | LOWER_IS_BETTER))
    raise InvalidInput(f"metric {metric!r}: no known direction for comparison; use one of {known}", field="metric")


def compare(challenger: Mapping[str, float], champion: Mapping[str, float], metric: str,
            tolerance: float = 0.0) -> Comparison:
    """Whether the challenger is at least as good as the champion on ``metric`` (within ``tolerance``).

    If the champion lacks the metric, the challenger passes; if only the challenger lacks it, it fails.
    """
    way = direction(metric)
    mine, theirs = challenger.get(metric), champion.get(metric)
    if theirs is None or math.isnan(theirs):
        passed = True
    elif mine is None or math.isnan(mine):
        passed = False
    else:
        passed = mine >= theirs - tolerance if way == "higher" else mine <= theirs + tolerance
    return Comparison(metric, way, _opt(mine), _opt(theirs), passed)


def primary_metric(task: str, conditions: Sequence[Condition]) -> str:
    """The metric a must-beat comparison uses: the first required one with a direction, else accuracy / rmse."""
    for condition in conditions:
        if condition.metric in HIGHER_IS_BETTER | LOWER_IS_BETTER:
            return condition.metric
    return "accuracy" if task == "classification" else "rmse"


def _opt(value: float | None) -> float | None:
    return None if value is None else float(value)


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.6g}"
