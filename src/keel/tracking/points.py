"""Columnar metric points and the pure logic over them (latest point per key)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from keel.errors import InvalidInput
from keel.tracking.entities import Metric

__all__ = ["MetricPoints", "latest_per_key"]


@dataclass(slots=True)
class MetricPoints:
    """Equal-length columns of metric points."""

    keys: list[str] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    timestamps: list[int] = field(default_factory=list)
    steps: list[int] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.keys)

    @classmethod
    def from_metrics(cls, metrics: Sequence[Metric]) -> MetricPoints:
        """Columns from a list of :class:`Metric`."""
        return cls([m.key for m in metrics], [m.value for m in metrics], [m.timestamp for m in metrics],
                   [m.step for m in metrics])

    def check_lengths(self) -> None:
        """Raise :class:`InvalidInput` unless all columns have the same length."""
        n = len(self.keys)
        if not (len(self.values) == len(self.timestamps) == len(self.steps) == n):
            raise InvalidInput(
                f"metrics: columns differ in length (keys {n}, values {len(self.values)}, timestamps "
                f"{len(self.timestamps)}, steps {len(self.steps)})", field="metrics")

    def rows(self, run_id: str) -> list[tuple[str, str, float | None, int, int]]:
        """Rows for the metrics table; NaN becomes NULL."""
        return [(run_id, k, None if v != v else v, t, s)
                for k, v, t, s in zip(self.keys, self.values, self.timestamps, self.steps, strict=True)]


def _rank(value: float, timestamp: int, step: int) -> tuple[int, int, float]:
    return (step, timestamp, -math.inf if math.isnan(value) else value)


def latest_per_key(points: MetricPoints) -> dict[str, tuple[float, int, int]]:
    """For each key, the latest point by (step, timestamp, value), as MLflow ranks them."""
    best: dict[str, tuple[float, int, int]] = {}
    for k, v, t, s in zip(points.keys, points.values, points.timestamps, points.steps, strict=True):
        cur = best.get(k)
        if cur is None or _rank(v, t, s) > _rank(cur[0], cur[1], cur[2]):
            best[k] = (v, t, s)
    return best
