"""Downsampling of metric curves for charts: thousands of points in, ~1–2k out, shape kept.

``lttb`` (Largest-Triangle-Three-Buckets, Steinarsson 2013) keeps the visually important points; ``minmax_buckets``
keeps each bucket's extremes (spikes survive). Both are pure functions over parallel x/y sequences sorted by x.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["lttb", "minmax_buckets"]


def minmax_buckets(xs: Sequence[float], ys: Sequence[float], max_points: int) -> tuple[list[float], list[float]]:
    """At most ``max_points`` points: the min and the max of each of ``max_points // 2`` equal-count buckets."""
    n = len(xs)
    if n <= max_points or max_points < 2:
        return list(xs), list(ys)
    buckets = max_points // 2
    out_x: list[float] = []
    out_y: list[float] = []
    for b in range(buckets):
        start, end = b * n // buckets, (b + 1) * n // buckets
        lo = min(range(start, end), key=ys.__getitem__)
        hi = max(range(start, end), key=ys.__getitem__)
        for i in sorted({lo, hi}):
            out_x.append(xs[i])
            out_y.append(ys[i])
    return out_x, out_y


def lttb(xs: Sequence[float], ys: Sequence[float], max_points: int) -> tuple[list[float], list[float]]:
    """Largest-Triangle-Three-Buckets: exactly ``max_points`` points (first and last kept) when there are more."""
    n = len(xs)
    if n <= max_points or max_points < 3:
        return list(xs), list(ys)
    out_x, out_y = [xs[0]], [ys[0]]
    every = (n - 2) / (max_points - 2)
    a = 0
    for i in range(max_points - 2):
        # the average of the next bucket is the third triangle corner
        next_start, next_end = int((i + 1) * every) + 1, min(int((i + 2) * every) + 1, n)
        span = max(1, next_end - next_start)
        avg_x = sum(xs[next_start:next_end]) / span
        avg_y = sum(ys[next_start:next_end]) / span
        start, end = int(i * every) + 1, int((i + 1) * every) + 1
        ax, ay = xs[a], ys[a]
        best, best_area = start, -1.0
        for j in range(start, end):
            area = abs((ax - avg_x) * (ys[j] - ay) - (ax - xs[j]) * (avg_y - ay))
            if area > best_area:
                best, best_area = j, area
        out_x.append(xs[best])
        out_y.append(ys[best])
        a = best
    out_x.append(xs[-1])
    out_y.append(ys[-1])
    return out_x, out_y
