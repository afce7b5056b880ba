"""Alert rules (pure): parse ``metric op number`` (``metric[column]`` for per-column metrics), read a window's value,
and step the hysteresis: a rule fires after ``for_windows`` consecutive breached windows and resolves after as many
clean ones, so one noisy window neither fires nor resolves an alert."""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from keel.errors import InvalidInput
from keel.monitoring.monitor_store import Result

__all__ = ["METRICS", "Condition", "parse_expression", "step", "window_value"]

METRICS = ("share_drifted_features", "dataset_drift", "drift", "prediction_drift", "null_fraction",
           "max_null_fraction", "out_of_range_fraction", "unseen_categories", "rows", "error_rate",
           "p50_latency_ms", "p99_latency_ms", "accuracy", "f1", "auc", "rmse", "mae", "labeled_rows")
_OPS: dict[str, Callable[[float, float], bool]] = {">": operator.gt, ">=": operator.ge, "<": operator.lt,
                                                   "<=": operator.le, "==": operator.eq, "!=": operator.ne}
_EXPR = re.compile(r"^\s*([a-z_0-9]+)(?:\[([^\]]+)\])?\s*(>=|<=|==|!=|>|<)\s*(-?[0-9.]+(?:e-?[0-9]+)?)\s*$")


@dataclass(frozen=True)
class Condition:
    """A parsed rule expression."""

    metric: str
    column: str | None
    op: str
    threshold: float

    def holds(self, value: float) -> bool:
        """Whether ``value`` breaches the rule."""
        return _OPS[self.op](value, self.threshold)

    def __str__(self) -> str:
        column = f"[{self.column}]" if self.column else ""
        return f"{self.metric}{column} {self.op} {self.threshold:g}"


def parse_expression(text: str) -> Condition:
    """``share_drifted_features > 0.3`` / ``drift[age] > 0.2`` / ``auc < 0.8``; InvalidInput naming the fix."""
    match = _EXPR.match(text or "")
    if match is None:
        raise InvalidInput(f"alert expression {text!r} is not 'METRIC OP NUMBER' (e.g. 'auc < 0.8' or "
                           "'drift[age] > 0.2')", field="expression")
    metric, column, op, number = match.groups()
    if metric not in METRICS:
        raise InvalidInput(f"alert expression {text!r}: unknown metric {metric!r}; use one of {', '.join(METRICS)}",
                           field="expression")
    return Condition(metric, column, op, float(number))


def window_value(condition: Condition, results: Sequence[Result]) -> float | None:
    """The condition's metric in one window's results (None when the window lacks it)."""
    for r in results:
        if r.metric == condition.metric and (condition.column is None or r.column == condition.column) \
                and r.value is not None and not math.isnan(r.value):
            if condition.column is None and r.column is not None:
                continue
            return float(r.value)
    return None


def step(state: str, streak: int, breached: bool | None, for_windows: int) -> tuple[str, int, str | None]:
    """``(new state, new streak, event)``: the event is ``fire``, ``resolve`` or None; a window without the
    metric (``breached`` None) changes nothing."""
    if breached is None:
        return state, streak, None
    if state == "ok":
        streak = streak + 1 if breached else 0
        return ("firing", 0, "fire") if streak >= for_windows else ("ok", streak, None)
    streak = 0 if breached else streak + 1
    return ("ok", 0, "resolve") if streak >= for_windows else ("firing", streak, None)
