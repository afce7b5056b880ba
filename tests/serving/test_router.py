"""Traffic routing: weighted draws match the weights, sticky keys stay put, a canary step-up moves few keys."""

from __future__ import annotations

import math
import random
from collections import Counter

import pytest

from keel.serving.router import RouteTable, pick, sticky_point


def test_pick_uses_cumulative_boundaries() -> None:
    cumulative = [90.0, 100.0]
    assert pick(cumulative, 0.0) == 0
    assert pick(cumulative, 0.899) == 0
    assert pick(cumulative, 0.9) == 1
    assert pick(cumulative, 0.999999) == 1


@pytest.mark.parametrize("weights", [(90.0, 10.0), (50.0, 50.0), (1.0, 2.0, 7.0)])
def test_weighted_random_matches_weights_within_tolerance(weights: tuple[float, ...]) -> None:
    table = RouteTable(tuple("abc"[: len(weights)]), weights)
    rng = random.Random(7)
    n = 40_000
    counts = Counter(table.choose(rng=rng) for _ in range(n))
    for i, name in enumerate(table.variants):
        p = table.share(i)
        sigma = math.sqrt(n * p * (1 - p))
        assert abs(counts[name] - n * p) < 4 * sigma, (name, counts)


def test_sticky_key_always_gets_the_same_variant() -> None:
    table = RouteTable(("a", "b"), (50.0, 50.0))
    for user in (f"user-{i}" for i in range(200)):
        first = table.choose(user)
        assert all(table.choose(user, rng=random.Random(seed)) == first for seed in range(5))


def test_sticky_keys_spread_by_weight() -> None:
    table = RouteTable(("a", "b"), (80.0, 20.0))
    n = 20_000
    share_b = sum(table.choose(f"customer-{i}") == "b" for i in range(n)) / n
    assert abs(share_b - 0.2) < 4 * math.sqrt(0.2 * 0.8 / n)


def test_canary_step_up_only_moves_keys_towards_the_canary() -> None:
    keys = [f"u{i}" for i in range(5_000)]
    before = {k: RouteTable(("stable", "canary"), (90.0, 10.0)).choose(k) for k in keys}
    after = {k: RouteTable(("stable", "canary"), (50.0, 50.0)).choose(k) for k in keys}
    assert all(after[k] == "canary" for k in keys if before[k] == "canary")
    assert 0.35 < sum(before[k] != after[k] for k in keys) / len(keys) < 0.45


def test_sticky_point_is_stable_and_uniform() -> None:
    assert sticky_point("alice") == sticky_point("alice")
    points = [sticky_point(str(i)) for i in range(10_000)]
    assert all(0.0 <= p < 1.0 for p in points)
    assert abs(sum(points) / len(points) - 0.5) < 0.02


@pytest.mark.parametrize(("variants", "weights"), [((), ()), (("a",), (0.0,)), (("a", "b"), (1.0,))])
def test_bad_tables_are_refused(variants: tuple[str, ...], weights: tuple[float, ...]) -> None:
    with pytest.raises(ValueError):
        RouteTable(variants, weights)
