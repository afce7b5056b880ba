"""Traffic routing, as pure functions: which variant of a deployment answers a request.

Weighted random routing draws a uniform number per request; sticky routing hashes a request key (a user id, say)
to a fixed point in [0, 1), so one key always lands on the same variant for as long as the weights stay put — and when
a canary's weight grows, only the keys between the old and the new boundary move to it.
"""

from __future__ import annotations

import hashlib
import random
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import accumulate
from typing import Generic, TypeVar

__all__ = ["RouteTable", "pick", "sticky_point"]

T = TypeVar("T")


def sticky_point(key: str) -> float:
    """A stable point in [0, 1) for ``key`` (BLAKE2b, so it is the same in every process and on every machine)."""
    digest = hashlib.blake2b(key.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0**64


def pick(cumulative: Sequence[float], point: float) -> int:
    """The index of the variant whose share of ``cumulative`` (running totals of weights) holds ``point`` ∈ [0, 1)."""
    total = cumulative[-1]
    return min(bisect_right(cumulative, point * total), len(cumulative) - 1)


@dataclass(frozen=True)
class RouteTable(Generic[T]):
    """Variants with weights (any positive numbers), and the shadows every request is mirrored to."""

    variants: tuple[T, ...]
    weights: tuple[float, ...]
    shadows: tuple[T, ...] = ()
    sticky_key: str | None = None

    def __post_init__(self) -> None:
        if not self.variants or len(self.variants) != len(self.weights):
            raise ValueError("a route table needs one weight per variant and at least one variant")
        if any(not w > 0 for w in self.weights):
            raise ValueError("route weights must be positive")
        object.__setattr__(self, "_cumulative", tuple(accumulate(self.weights)))

    def choose(self, sticky: str | None = None, rng: random.Random | None = None) -> T:
        """The variant for one request: by ``sticky`` key when given, else a weighted random draw."""
        if len(self.variants) == 1:
            return self.variants[0]
        point = sticky_point(sticky) if sticky is not None else (rng or random).random()
        return self.variants[pick(self._cumulative, point)]  # type: ignore[attr-defined]

    def share(self, index: int) -> float:
        """The fraction of traffic variant ``index`` receives."""
        return self.weights[index] / sum(self.weights)
