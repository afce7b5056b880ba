"""Distribution drift between a reference sample and a current one: per column, per dataset, per time window.

Pure functions over pandas/NumPy; the statistics themselves live in :mod:`keel.monitoring.drift_stats`.

Default test per column, following Evidently's documented data drift algorithm
(https://docs.evidentlyai.com/metrics/explainer_drift, formerly
https://docs.evidentlyai.com/reference/data-drift-algorithm):

================================  ===================================  ======================================
column                            reference <= 1000 non-null values     reference > 1000 non-null values
================================  ===================================  ======================================
numeric, > 5 distinct values      ``ks``: drift when p-value <= 0.05    ``wasserstein`` (normed): score >= 0.1
numeric <= 5 distinct, categorical ``chisquare``: drift when p < 0.05  ``jensenshannon``: score >= 0.1
... with <= 2 distinct values     ``z`` (two proportions): p < 0.05     ``jensenshannon``: score >= 0.1
================================  ===================================  ======================================

Distinct values are counted over reference and current together. ``psi`` (score >= 0.1) is available on request.
The dataset drifts when the share of drifted columns is at least ``drift_share`` (0.5, as Evidently's
DataDriftPreset). As in Evidently, the Wasserstein distance is divided by the reference's standard deviation
(at least 0.001); PSI and Jensen–Shannon compare shares on Sturges bins over both samples for numeric columns with
more than 20 distinct reference values, and shares of each value otherwise.

Nulls (and +-inf in numeric columns) are left out of every statistic; :mod:`keel.monitoring.quality` reports them.
Column kind is inferred from the reference dtype: numbers are ``numeric``; strings, categories and booleans are
``categorical``.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from keel.errors import InvalidInput
from keel.monitoring import drift_stats as ds

__all__ = [
    "STATTESTS",
    "ColumnDrift",
    "DriftReport",
    "Kind",
    "WindowDrift",
    "column_drift",
    "dataset_drift",
    "drift_by_window",
    "infer_kind",
    "prediction_drift",
    "split_windows",
]

Kind = Literal["numeric", "categorical"]

STATTESTS = frozenset({"ks", "psi", "wasserstein", "jensenshannon", "chisquare", "z"})
DEFAULT_THRESHOLDS: dict[str, float] = {
    "ks": 0.05, "chisquare": 0.05, "z": 0.05, "wasserstein": 0.1, "jensenshannon": 0.1, "psi": 0.1,
}
_P_VALUE_TESTS = frozenset({"ks", "chisquare", "z"})
_NUMERIC_ONLY = frozenset({"ks", "wasserstein"})
_SMALL_SAMPLE = 1000  # reference size up to which the p-value tests are the defaults
_FEW_VALUES = 5  # numeric columns with at most this many distinct values are tested like categories
_HISTOGRAM_MIN_VALUES = 20  # PSI/JS bin numeric columns with more distinct reference values than this


@dataclass(frozen=True)
class ColumnDrift:
    """Drift verdict for one column.

    ``score`` is a p-value for ``ks``/``chisquare``/``z`` (drift when below ``threshold``) and a distance for
    ``wasserstein``/``jensenshannon``/``psi`` (drift when at or above it). ``detail`` holds the test's statistic,
    p-value or raw distance, bins, and the non-null sizes compared.
    """

    column: str
    kind: Kind
    stattest: str
    score: float
    threshold: float
    drifted: bool
    detail: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict."""
        return asdict(self)


@dataclass(frozen=True)
class DriftReport:
    """Drift of every compared column and the dataset-level verdict."""

    columns: list[ColumnDrift]
    share_drifted: float
    dataset_drift: bool
    n_reference: int
    n_current: int

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict."""
        return {
            "columns": [c.to_dict() for c in self.columns],
            "share_drifted": self.share_drifted,
            "dataset_drift": self.dataset_drift,
            "n_reference": self.n_reference,
            "n_current": self.n_current,
        }

    @property
    def drifted_columns(self) -> list[str]:
        """Names of the columns that drifted."""
        return [c.column for c in self.columns if c.drifted]


@dataclass(frozen=True)
class WindowDrift:
    """A drift report for the current rows whose time falls in ``[start, end)``."""

    start: pd.Timestamp
    end: pd.Timestamp
    report: DriftReport


def infer_kind(values: pd.Series | np.ndarray | Sequence[Any], column: str = "value") -> Kind:
    """``numeric`` for numeric dtypes, ``categorical`` for strings, categories, booleans and objects."""
    dtype = _as_series(values).dtype
    if pd.api.types.is_bool_dtype(dtype):
        return "categorical"
    if pd.api.types.is_numeric_dtype(dtype):
        return "numeric"
    if pd.api.types.is_datetime64_any_dtype(dtype) or pd.api.types.is_timedelta64_dtype(dtype):
        raise InvalidInput(
            f"column {column!r} holds {dtype} values, which have no drift test; convert it to numbers "
            "(e.g. seconds) or leave it out of `columns`",
            field=column,
        )
    return "categorical"


def column_drift(
    reference: pd.Series | np.ndarray | Sequence[Any],
    current: pd.Series | np.ndarray | Sequence[Any],
    *,
    kind: Kind | None = None,
    stattest: str | None = None,
    threshold: float | None = None,
    name: str | None = None,
) -> ColumnDrift:
    """Test one column (1-D array or Series) for drift; ``kind``, ``stattest`` and ``threshold`` override defaults.

    The name is ``name``, else the reference Series' name, else ``"value"``.
    """
    ref, cur = _as_series(reference), _as_series(current)
    column = name if name is not None else (str(ref.name) if ref.name is not None else "value")
    _check_stattest(stattest, column)
    return _drift(column, ref, cur, kind, stattest, threshold, _GridCache())


def dataset_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    *,
    columns: Sequence[str] | None = None,
    stattests: Mapping[str, str] | None = None,
    thresholds: Mapping[str, float] | None = None,
    kinds: Mapping[str, Kind] | None = None,
    drift_share: float = 0.5,
    workers: int | None = None,
) -> DriftReport:
    """Test every column (default: the reference's numeric and categorical columns) and the dataset as a whole.

    ``stattests``/``thresholds``/``kinds`` override the defaults per column. Columns run on a thread pool of
    ``workers`` threads (default: one per CPU; NumPy sorts release the GIL).
    """
    _check_frames(reference, current)
    names = list(columns) if columns is not None else [c for c in reference.columns if _driftable(reference[c])]
    if not names:
        raise InvalidInput("no numeric or categorical columns to compare; pass `columns`", field="columns")
    _check_columns(names, reference, current)
    stattests, thresholds, kinds = dict(stattests or {}), dict(thresholds or {}), dict(kinds or {})
    for label, overrides in (("stattests", stattests), ("thresholds", thresholds), ("kinds", kinds)):
        _check_override_columns(label, overrides, names)
    for column, test in stattests.items():
        _check_stattest(test, column)
    if not 0 < drift_share <= 1:
        raise InvalidInput(f"drift_share must be in (0, 1], got {drift_share}", field="drift_share")

    grids = _GridCache()

    def run(column: str) -> ColumnDrift:
        return _drift(
            str(column), reference[column], current[column], kinds.get(column), stattests.get(column),
            thresholds.get(column), grids,
        )

    results = _map(run, names, workers)
    share = sum(r.drifted for r in results) / len(results)
    return DriftReport(results, share, share >= drift_share, len(reference), len(current))


def prediction_drift(
    reference: pd.Series | pd.DataFrame | np.ndarray,
    current: pd.Series | pd.DataFrame | np.ndarray,
    **options: Any,
) -> DriftReport:
    """Drift of a model's outputs: one column (labels, scores) or a frame of them (class probabilities).

    ``options`` are those of :func:`dataset_drift`. A 1-D input is compared as one column named ``prediction``.
    """
    return dataset_drift(_as_frame(reference, "prediction"), _as_frame(current, "prediction"), **options)


def split_windows(
    frame: pd.DataFrame, *, time_column: str, every: str
) -> Iterator[tuple[pd.Timestamp, pd.Timestamp, pd.DataFrame]]:
    """Split rows into fixed windows of ``every`` (a pandas frequency such as ``"1h"``, ``"1D"``) by ``time_column``.

    Yields ``(start, end, rows)`` for non-empty windows only, in time order.
    """
    if time_column not in frame.columns:
        raise InvalidInput(f"time column {time_column!r} is not in the data", field="time_column")
    times = pd.to_datetime(frame[time_column])
    try:
        offset = pd.tseries.frequencies.to_offset(every)
        starts = times.dt.floor(offset)
    except ValueError as exc:
        raise InvalidInput(
            f"window {every!r} is not a fixed pandas frequency; use e.g. '15min', '1h' or '1D'", field="every"
        ) from exc
    for start, rows in frame.groupby(starts, sort=True):
        stamp = pd.Timestamp(start)
        yield stamp, stamp + offset, rows


def drift_by_window(
    reference: pd.DataFrame, current: pd.DataFrame, *, time_column: str, every: str, **options: Any
) -> list[WindowDrift]:
    """One :func:`dataset_drift` report per window of the current data (the time column itself is not tested)."""
    if options.get("columns") is None:
        options["columns"] = [c for c in reference.columns if c != time_column and _driftable(reference[c])]
    return [
        WindowDrift(start, end, dataset_drift(reference, rows, **options))
        for start, end, rows in split_windows(current, time_column=time_column, every=every)
    ]


class _GridCache:
    """Quantile grids by sample sizes, shared by the columns of one call (most columns have equal sizes)."""

    def __init__(self) -> None:
        self._grids: dict[tuple[int, int], ds.QuantileGrid] = {}
        self._lock = threading.Lock()

    def get(self, n: int, m: int) -> ds.QuantileGrid:
        with self._lock:
            if (n, m) not in self._grids:
                self._grids[(n, m)] = ds.quantile_grid(n, m)
            return self._grids[(n, m)]


def _drift(
    column: str, ref: pd.Series, cur: pd.Series, kind: Kind | None, stattest: str | None,
    threshold: float | None, grids: _GridCache,
) -> ColumnDrift:
    kind = kind or infer_kind(ref, column)
    if kind == "numeric":
        return _numeric_drift(column, _sorted_finite(ref, column, "reference"),
                              _sorted_finite(cur, column, "current"), stattest, threshold, grids)
    if kind == "categorical":
        return _categorical_drift(column, ref, cur, stattest, threshold)
    raise InvalidInput(f"kind of column {column!r} must be 'numeric' or 'categorical', got {kind!r}", field=column)


def _numeric_drift(
    column: str, a: ds.FloatArray, b: ds.FloatArray, stattest: str | None, threshold: float | None,
    grids: _GridCache,
) -> ColumnDrift:
    if stattest is None:
        stattest = _default_numeric_stattest(a, b)
    detail: dict[str, Any] = {"n_reference": int(a.size), "n_current": int(b.size)}
    if stattest == "ks":
        statistic, p_value = ds.ks_2samp_sorted(a, b)
        score = p_value
        detail.update(statistic=statistic, p_value=p_value)
    elif stattest == "wasserstein":
        norm = max(ds.population_std(a), 0.001)
        distance = ds.wasserstein_sorted(a, b, None if a.size == b.size else grids.get(a.size, b.size))
        score = distance / norm
        detail.update(distance=distance, reference_std=norm)
    elif stattest in ("psi", "jensenshannon") and ds.distinct_count(a) > _HISTOGRAM_MIN_VALUES:
        edges = ds.sturges_edges(min(a[0], b[0]), max(a[-1], b[-1]), a.size + b.size)
        ref_counts, cur_counts = ds.histogram_sorted(a, edges), ds.histogram_sorted(b, edges)
        score = ds.psi(ref_counts, cur_counts) if stattest == "psi" else ds.jensenshannon(ref_counts, cur_counts)
        detail.update(bins=edges.tolist())
    else:
        _, ref_counts, cur_counts = ds.union_counts(a, b)
        return _counts_drift(column, "numeric", stattest, threshold, ref_counts, cur_counts, detail)
    return _verdict(column, "numeric", stattest, score, threshold, detail)


def _categorical_drift(
    column: str, ref: pd.Series, cur: pd.Series, stattest: str | None, threshold: float | None
) -> ColumnDrift:
    if stattest in _NUMERIC_ONLY:
        raise InvalidInput(
            f"stattest {stattest!r} needs a numeric column but {column!r} is categorical; use one of "
            f"{sorted(STATTESTS - _NUMERIC_ONLY)} or pass kind='numeric'",
            field=column,
        )
    ref_counts, cur_counts = _value_counts(ref, column, "reference"), _value_counts(cur, column, "current")
    aligned = pd.concat([ref_counts, cur_counts], axis=1, sort=False).fillna(0).astype(np.int64)
    aligned = aligned[(aligned.iloc[:, 0] > 0) | (aligned.iloc[:, 1] > 0)]  # unused categorical levels
    aligned = aligned.sort_values(aligned.columns[0], ascending=False, kind="stable")
    rc, cc = aligned.iloc[:, 0].to_numpy(), aligned.iloc[:, 1].to_numpy()
    detail: dict[str, Any] = {"n_reference": int(rc.sum()), "n_current": int(cc.sum())}
    if stattest is None:
        stattest = _default_count_stattest(int(rc.sum()), rc.size)
    return _counts_drift(column, "categorical", stattest, threshold, rc, cc, detail)


def _counts_drift(
    column: str, kind: Kind, stattest: str, threshold: float | None, ref_counts: ds.IntArray,
    cur_counts: ds.IntArray, detail: dict[str, Any],
) -> ColumnDrift:
    detail["n_categories"] = int(ref_counts.size)
    if stattest == "chisquare":
        statistic, score = ds.chisquare(ref_counts, cur_counts)
        # A category new in the current data makes the statistic infinite; None keeps the report strict JSON.
        detail.update(statistic=statistic if math.isfinite(statistic) else None, p_value=score)
    elif stattest == "z":
        statistic, score = ds.z_test(ref_counts, cur_counts)
        detail.update(statistic=statistic, p_value=score)
    elif stattest == "psi":
        score = ds.psi(ref_counts, cur_counts)
    elif stattest == "jensenshannon":
        score = ds.jensenshannon(ref_counts, cur_counts)
    else:
        raise InvalidInput(f"stattest {stattest!r} does not apply to column {column!r}", field=column)
    return _verdict(column, kind, stattest, score, threshold, detail)


def _verdict(
    column: str, kind: Kind, stattest: str, score: float, threshold: float | None, detail: dict[str, Any]
) -> ColumnDrift:
    limit = DEFAULT_THRESHOLDS[stattest] if threshold is None else float(threshold)
    if stattest == "ks":
        drifted = score <= limit  # Evidently's KS flags p <= threshold; the other p-value tests p < threshold
    elif stattest in _P_VALUE_TESTS:
        drifted = score < limit
    else:
        drifted = score >= limit
    return ColumnDrift(column, kind, stattest, float(score), limit, bool(drifted), detail)


def _default_numeric_stattest(a: ds.FloatArray, b: ds.FloatArray) -> str:
    small = a.size <= _SMALL_SAMPLE
    if ds.distinct_count(a) > _FEW_VALUES or ds.distinct_count(b) > _FEW_VALUES:
        return "ks" if small else "wasserstein"
    n_values = np.union1d(ds.run_counts(a)[0], ds.run_counts(b)[0]).size
    if n_values > _FEW_VALUES:
        return "ks" if small else "wasserstein"
    return _default_count_stattest(a.size, n_values)


def _default_count_stattest(n_reference: int, n_values: int) -> str:
    if n_reference > _SMALL_SAMPLE:
        return "jensenshannon"
    return "chisquare" if n_values > 2 else "z"


def _sorted_finite(values: pd.Series, column: str, side: str) -> ds.FloatArray:
    if values.dtype == np.float64:
        array = values.to_numpy()  # a view: np.sort below copies
    elif pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype):
        array = values.to_numpy(dtype=np.float64, na_value=np.nan)
    else:  # e.g. numbers logged as strings: unreadable values count as nulls here, data_quality reports them
        array = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    finite = np.isfinite(array)
    array = np.sort(array if finite.all() else array[finite])
    if array.size == 0:
        raise _empty(column, side)
    return array


def _value_counts(values: pd.Series, column: str, side: str) -> pd.Series:
    counts = values.value_counts(dropna=True, sort=False)
    if counts.sum() == 0:
        raise _empty(column, side)
    return counts.rename(side)


def _empty(column: str, side: str) -> InvalidInput:
    return InvalidInput(
        f"column {column!r} has no non-null values in the {side} data, so its drift cannot be measured; "
        "check data_quality() or leave the column out of `columns`",
        field=column,
    )


def _as_series(values: pd.Series | np.ndarray | Sequence[Any]) -> pd.Series:
    if isinstance(values, pd.Series):
        return values
    if isinstance(values, pd.DataFrame) or np.ndim(values) != 1:
        raise InvalidInput("expected a 1-D array or Series of values for one column", field="reference")
    return pd.Series(values)


def _as_frame(values: pd.Series | pd.DataFrame | np.ndarray, name: str) -> pd.DataFrame:
    if isinstance(values, pd.DataFrame):
        return values
    if isinstance(values, pd.Series):
        return values.rename(values.name if values.name is not None else name).to_frame()
    array = np.asarray(values)
    if array.ndim == 1:
        return pd.DataFrame({name: array})
    return pd.DataFrame(array, columns=[f"{name}_{i}" for i in range(array.shape[1])])


def _driftable(values: pd.Series) -> bool:
    dtype = values.dtype
    return not (pd.api.types.is_datetime64_any_dtype(dtype) or pd.api.types.is_timedelta64_dtype(dtype))


def _check_frames(reference: pd.DataFrame, current: pd.DataFrame) -> None:
    for side, frame in (("reference", reference), ("current", current)):
        if not isinstance(frame, pd.DataFrame):
            raise InvalidInput(f"{side} must be a pandas DataFrame, got {type(frame).__name__}", field=side)
        if len(frame) == 0:
            raise InvalidInput(f"{side} data is empty; drift needs rows on both sides", field=side)


def _check_columns(names: Sequence[str], reference: pd.DataFrame, current: pd.DataFrame) -> None:
    for side, frame in (("reference", reference), ("current", current)):
        missing = [c for c in names if c not in frame.columns]
        if missing:
            raise InvalidInput(
                f"column {missing[0]!r} is missing from the {side} data"
                + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else "")
                + "; pass `columns` with the columns both sides have",
                field=str(missing[0]),
            )


def _check_override_columns(label: str, overrides: Mapping[str, Any], names: Sequence[str]) -> None:
    unknown = [c for c in overrides if c not in names]
    if unknown:
        raise InvalidInput(f"{label} names column {unknown[0]!r}, which is not among the compared columns",
                           field=label)


def _check_stattest(stattest: str | None, column: str) -> None:
    if stattest is not None and stattest not in STATTESTS:
        raise InvalidInput(
            f"unknown stattest {stattest!r} for column {column!r}; accepted: {', '.join(sorted(STATTESTS))}",
            field=column,
        )


def _map(run: Callable[[str], ColumnDrift], names: Sequence[str], workers: int | None) -> list[ColumnDrift]:
    workers = min(len(names), workers if workers is not None else (os.cpu_count() or 1))
    if workers <= 1:
        return [run(c) for c in names]
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="keel-drift") as pool:
        return list(pool.map(run, names))
