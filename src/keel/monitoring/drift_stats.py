"""Raw two-sample drift statistics over prepared NumPy arrays: pure, vectorized, no per-row Python.

Numeric statistics take *sorted, finite* float64 arrays (the caller sorts each column once and every statistic
reuses the order); count-based statistics take two aligned count vectors over the same categories or bins.
Each function reproduces the SciPy reference it names (``tests/monitoring/test_drift.py`` checks them against it):

- :func:`ks_2samp_sorted` — ``scipy.stats.ks_2samp`` (exact mode delegated to SciPy for small samples);
- :func:`wasserstein_sorted` — ``scipy.stats.wasserstein_distance``, in O(n + m) after the sort;
- :func:`jensenshannon` — ``scipy.spatial.distance.jensenshannon`` (natural log);
- :func:`chisquare` — ``scipy.stats.chisquare`` of current counts against reference shares scaled to the current size;
- :func:`z_test` — two-proportion z-test (pooled variance), as Evidently's ``z`` stattest;
- :func:`psi` — Population Stability Index with Evidently's zero-share filling.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
from scipy import special, stats

__all__ = [
    "QuantileGrid",
    "chisquare",
    "distinct_count",
    "histogram_sorted",
    "jensenshannon",
    "ks_2samp_sorted",
    "population_std",
    "psi",
    "quantile_grid",
    "run_counts",
    "sturges_edges",
    "union_counts",
    "wasserstein_sorted",
    "z_test",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
QuantileGrid = tuple[IntArray, IntArray, FloatArray]

# SciPy's ks_2samp tries the exact distribution up to this size ("auto" mode); above it uses the asymptotic one.
_KS_EXACT_MAX_N = 10_000


def distinct_count(sorted_values: FloatArray) -> int:
    """Number of distinct values in a sorted array."""
    if sorted_values.size == 0:
        return 0
    return int(np.count_nonzero(sorted_values[1:] != sorted_values[:-1])) + 1


def run_counts(sorted_values: FloatArray) -> tuple[FloatArray, IntArray]:
    """Distinct values of a sorted array and how often each occurs (run-length encoding)."""
    starts = np.flatnonzero(np.concatenate(([True], sorted_values[1:] != sorted_values[:-1])))
    counts = np.diff(np.append(starts, sorted_values.size)).astype(np.int64)
    return sorted_values[starts], counts


def union_counts(a: FloatArray, b: FloatArray) -> tuple[FloatArray, IntArray, IntArray]:
    """Counts of every value of two sorted arrays over the union of their values (zero where absent)."""
    values_a, counts_a = run_counts(a)
    values_b, counts_b = run_counts(b)
    keys = np.union1d(values_a, values_b)
    ref = np.zeros(keys.size, dtype=np.int64)
    cur = np.zeros(keys.size, dtype=np.int64)
    ref[np.searchsorted(keys, values_a)] = counts_a
    cur[np.searchsorted(keys, values_b)] = counts_b
    return keys, ref, cur


def ks_2samp_sorted(a: FloatArray, b: FloatArray) -> tuple[float, float]:
    """Two-sided two-sample Kolmogorov–Smirnov test on sorted samples: ``(statistic, p_value)``.

    Matches ``scipy.stats.ks_2samp(a, b)`` (method "auto"): small samples go to SciPy for its exact p-value; large
    ones get the statistic from one merge of the two samples and Smirnov's asymptotic p-value, as SciPy does there.
    """
    n, m = a.size, b.size
    if max(n, m) <= _KS_EXACT_MAX_N:
        result = stats.ks_2samp(a, b)
        return float(result.statistic), float(result.pvalue)
    merged = np.concatenate((a, b))
    order = np.argsort(merged)
    values = merged[order]
    taken_from_a = np.cumsum(order < n)
    taken_from_b = np.arange(1, n + m + 1) - taken_from_a
    # The ECDFs are compared after each group of tied values only, i.e. where the next value differs.
    group_ends = np.append(values[1:] != values[:-1], True)
    gaps = np.abs(taken_from_a[group_ends] / n - taken_from_b[group_ends] / m)
    statistic = float(gaps.max())
    big, small = max(n, m), min(n, m)
    p_value = float(np.clip(stats.kstwo.sf(statistic, round(big * small / (big + small))), 0.0, 1.0))
    return statistic, p_value


def quantile_grid(n: int, m: int) -> QuantileGrid:
    """Where the quantile functions of an n-sample and an m-sample step, merged: ``(index_a, index_b, widths)``.

    The breakpoints are the fractions i/n and j/m, written as integers over the common denominator n*m. Their merged
    order is known without sorting (a point's rank is its own index plus how many points of the other sample lie
    below it), so the grid costs O(n + m) and depends only on the sizes: callers reuse it across columns.
    """
    i = np.arange(1, n + 1, dtype=np.int64)
    j = np.arange(1, m + 1, dtype=np.int64)
    points_a, points_b = i * m, j * n
    merged = np.empty(n + m, dtype=np.int64)
    merged[(i - 1) + (points_a + n - 1) // n - 1] = points_a  # j-points strictly below i/n: ceil(i*m/n) - 1
    merged[(j - 1) + points_b // m] = points_b  # i-points at or below j/m: floor(j*n/m)
    widths = np.diff(merged, prepend=0) / (n * m)
    index_a = (merged + m - 1) // m - 1  # quantile index ceil(q*n) - 1 on the interval ending at q
    index_b = (merged + n - 1) // n - 1
    return index_a, index_b, widths


def wasserstein_sorted(a: FloatArray, b: FloatArray, grid: QuantileGrid | None = None) -> float:
    """First Wasserstein distance between two sorted samples, as ``scipy.stats.wasserstein_distance``.

    Computed as the integral of |Qa(q) - Qb(q)| over the merged quantile grid; ``grid`` is
    :func:`quantile_grid` for ``(a.size, b.size)`` when the caller has it cached.
    """
    if a.size == b.size:
        gaps = a - b
        return float(np.abs(gaps, out=gaps).sum() / a.size)
    index_a, index_b, widths = grid if grid is not None else quantile_grid(a.size, b.size)
    return float(np.dot(widths, np.abs(a[index_a] - b[index_b])))


def population_std(values: FloatArray) -> float:
    """``np.std(values)`` (ddof 0) with one temporary and a BLAS dot instead of several temporaries."""
    centred = values - values.mean()
    return math.sqrt(float(np.dot(centred, centred)) / values.size)


def sturges_edges(low: float, high: float, size: int) -> FloatArray:
    """The edges ``np.histogram_bin_edges(x, bins="sturges")`` gives for data of that min, max and size."""
    width = (high - low) / (math.log2(size) + 1.0)
    if low == high:
        low, high = low - 0.5, high + 0.5
    n_bins = int(math.ceil((high - low) / width)) if width else 1
    return np.linspace(low, high, n_bins + 1)


def histogram_sorted(sorted_values: FloatArray, edges: FloatArray) -> IntArray:
    """``np.histogram(x, edges)[0]`` for sorted x inside the edges: half-open bins, the last one closed."""
    starts = np.searchsorted(sorted_values, edges[:-1], side="left")
    return np.diff(np.append(starts, sorted_values.size)).astype(np.int64)


def _fill_zero_shares(shares: FloatArray) -> FloatArray:
    """Evidently's guard before taking logs: empty bins get a share far below the smallest non-empty one."""
    smallest = float(shares[shares > 0].min())
    return np.where(shares == 0, smallest / 10**6 if smallest <= 0.0001 else 0.0001, shares)


def psi(reference_counts: IntArray, current_counts: IntArray) -> float:
    """Population Stability Index: sum over bins of (ref share - cur share) * ln(ref share / cur share)."""
    ref = _fill_zero_shares(reference_counts / reference_counts.sum())
    cur = _fill_zero_shares(current_counts / current_counts.sum())
    return float(np.sum((ref - cur) * np.log(ref / cur)))


def jensenshannon(reference_counts: IntArray, current_counts: IntArray) -> float:
    """Jensen–Shannon distance (natural log, so within [0, sqrt(ln 2)]) between two count vectors."""
    p = reference_counts / reference_counts.sum()
    q = current_counts / current_counts.sum()
    mid = (p + q) / 2.0
    divergence = (special.rel_entr(p, mid).sum() + special.rel_entr(q, mid).sum()) / 2.0
    return float(np.sqrt(max(float(divergence), 0.0)))


def chisquare(reference_counts: IntArray, current_counts: IntArray) -> tuple[float, float]:
    """Chi-square goodness of fit of current counts to the reference shares: ``(statistic, p_value)``.

    A category absent from the reference but present now has an expected count of 0, hence an infinite statistic
    and a p-value of 0: a new category is drift.
    """
    expected = reference_counts * (current_counts.sum() / reference_counts.sum())
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = (current_counts - expected) ** 2 / expected
    statistic = float(np.sum(terms))
    dof = reference_counts.size - 1
    if dof < 1:
        return 0.0, 1.0
    return statistic, float(special.chdtrc(dof, statistic))


def z_test(reference_counts: IntArray, current_counts: IntArray) -> tuple[float, float]:
    """Two-sided two-proportion z-test on the share of the first category: ``(z, p_value)``.

    With more than two categories the first one is tested against all others together.
    """
    n1, n2 = int(reference_counts.sum()), int(current_counts.sum())
    p1, p2 = reference_counts[0] / n1, current_counts[0] / n2
    pooled = (reference_counts[0] + current_counts[0]) / (n1 + n2)
    variance = pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n2)
    if variance <= 0:
        return 0.0, 1.0  # both samples hold a single, identical category
    z = float((p1 - p2) / math.sqrt(variance))
    return z, float(2.0 * special.ndtr(-abs(z)))
