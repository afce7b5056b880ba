"""Columnar metric points and the pure logic over them: grouping by key, latest point, packed chunks.

A chunk is one key's points from one batch, packed as three little-endian arrays (steps int64, timestamps int64,
values float64; NaN and infinities are ordinary float64 values), so storing 20,000 points writes one row.
"""

from __future__ import annotations

import sys
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from keel.errors import InvalidInput
from keel.tracking.entities import Metric

__all__ = ["Chunk", "MetricPoints", "latest_per_key", "merge_chunks", "pack_chunk", "unpack_chunk"]

_SWAP = sys.byteorder != "little"


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

    def by_key(self) -> dict[str, MetricPoints]:
        """The points split per key, each in logging order."""
        keys = self.keys
        if not keys:
            return {}
        first = keys[0]
        if keys.count(first) == len(keys):
            return {first: self}
        groups: dict[str, MetricPoints] = {}
        for k, v, t, s in zip(keys, self.values, self.timestamps, self.steps, strict=True):
            g = groups.get(k)
            if g is None:
                g = groups[k] = MetricPoints()
            g.keys.append(k)
            g.values.append(v)
            g.timestamps.append(t)
            g.steps.append(s)
        return groups


@dataclass(frozen=True, slots=True)
class Chunk:
    """One key's points of one batch, packed for storage."""

    key: str
    count: int
    min_step: int
    max_step: int
    data: bytes


def _arrays(points: MetricPoints) -> tuple[array[int], array[int], array[float]]:
    try:
        return array("q", points.steps), array("q", points.timestamps), array("d", points.values)
    except (TypeError, OverflowError) as exc:
        raise InvalidInput(f"metrics: steps and timestamps must be 64-bit integers, values numbers ({exc})",
                           field="metrics") from exc


def pack_chunk(key: str, points: MetricPoints) -> Chunk:
    """Pack one key's points (all of ``points`` must have that key)."""
    steps, stamps, values = _arrays(points)
    if _SWAP:  # pragma: no cover - big-endian hosts
        for a in (steps, stamps, values):
            a.byteswap()
    return Chunk(key, len(steps), min(steps), max(steps), steps.tobytes() + stamps.tobytes() + values.tobytes())


def unpack_chunk(count: int, data: bytes) -> tuple[array[int], array[int], array[float]]:
    """Inverse of :func:`pack_chunk`: (steps, timestamps, values)."""
    width = 8 * count
    steps, stamps, values = array("q"), array("q"), array("d")
    steps.frombytes(data[:width])
    stamps.frombytes(data[width:2 * width])
    values.frombytes(data[2 * width:3 * width])
    if _SWAP:  # pragma: no cover - big-endian hosts
        for a in (steps, stamps, values):
            a.byteswap()
    return steps, stamps, values


def merge_chunks(key: str, chunks: Iterable[tuple[int, bytes]]) -> list[Metric]:
    """All points of one key from its chunks (in storage order), sorted by step then time, stable."""
    steps: array[int] = array("q")
    stamps: array[int] = array("q")
    values: array[float] = array("d")
    for count, data in chunks:
        s, t, v = unpack_chunk(count, data)
        steps.extend(s)
        stamps.extend(t)
        values.extend(v)
    order = sorted(range(len(steps)), key=lambda i: (steps[i], stamps[i]))
    return [Metric(key, values[i], stamps[i], steps[i]) for i in order]


def latest_per_key(groups: dict[str, MetricPoints]) -> dict[str, tuple[float, int, int]]:
    """For each key, its latest point by (step, timestamp), the later-logged one on ties."""
    best: dict[str, tuple[float, int, int]] = {}
    for key, g in groups.items():
        _, _, i = max(zip(g.steps, g.timestamps, range(len(g.steps)), strict=True))
        best[key] = (g.values[i], g.timestamps[i], g.steps[i])
    return best
