"""Data quality of production data against a reference: nulls, out-of-schema values, unseen categories.

Pure functions over pandas/NumPy. Per column of the current data :func:`data_quality` reports

- the null fraction (None/NaN/NaT; the reference's too, for comparison);
- a dtype mismatch (e.g. numbers arriving as strings) and how many non-null values cannot be read as the
  reference's type (``invalid_count``);
- numeric values outside the declared range, else outside the reference's observed [min, max] (+-inf included);
- categorical values never seen in the reference, with their counts (the most frequent ``max_unseen`` of them).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from keel.errors import InvalidInput
from keel.monitoring.drift import Kind, infer_kind, split_windows

__all__ = ["ColumnQuality", "QualityReport", "WindowQuality", "data_quality", "quality_by_window"]

Range = tuple[float | None, float | None]


@dataclass(frozen=True)
class ColumnQuality:
    """Quality of one column of the current data. Fractions are over all current rows, except
    ``out_of_range_fraction`` and ``unseen_fraction``, which are over its non-null values."""

    column: str
    kind: Kind
    n_rows: int
    null_count: int
    null_fraction: float
    reference_null_fraction: float
    dtype_mismatch: bool
    reference_dtype: str
    current_dtype: str
    invalid_count: int = 0
    out_of_range_count: int = 0
    out_of_range_fraction: float = 0.0
    range: Range | None = None
    unseen_count: int = 0
    unseen_fraction: float = 0.0
    unseen_categories: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict."""
        body = asdict(self)
        body["range"] = list(self.range) if self.range is not None else None
        return body


@dataclass(frozen=True)
class QualityReport:
    """Quality of every checked column."""

    columns: list[ColumnQuality]
    n_reference: int
    n_current: int

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict."""
        return {
            "columns": [c.to_dict() for c in self.columns],
            "n_reference": self.n_reference,
            "n_current": self.n_current,
        }

    def column(self, name: str) -> ColumnQuality:
        """The entry for one column."""
        for entry in self.columns:
            if entry.column == name:
                return entry
        raise InvalidInput(f"column {name!r} was not checked; checked: {[c.column for c in self.columns]}",
                           field="name")


@dataclass(frozen=True)
class WindowQuality:
    """A quality report for the current rows whose time falls in ``[start, end)``."""

    start: pd.Timestamp
    end: pd.Timestamp
    report: QualityReport


def data_quality(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    *,
    columns: Sequence[str] | None = None,
    ranges: Mapping[str, Range] | None = None,
    kinds: Mapping[str, Kind] | None = None,
    max_unseen: int = 20,
) -> QualityReport:
    """Check each column of ``current`` (default: every non-timestamp reference column) against ``reference``.

    ``ranges`` declares allowed ``(low, high)`` bounds per numeric column (``None`` leaves a side open) in place of
    the reference's observed range; ``kinds`` overrides the inferred column kind.
    """
    for side, frame in (("reference", reference), ("current", current)):
        if not isinstance(frame, pd.DataFrame):
            raise InvalidInput(f"{side} must be a pandas DataFrame, got {type(frame).__name__}", field=side)
    if len(reference) == 0:
        raise InvalidInput("reference data is empty; quality is judged against a reference", field="reference")
    names = list(columns) if columns is not None else [c for c in reference.columns if _checkable(reference[c])]
    for side, frame in (("reference", reference), ("current", current)):
        missing = [c for c in names if c not in frame.columns]
        if missing:
            raise InvalidInput(f"column {missing[0]!r} is missing from the {side} data", field=str(missing[0]))
    ranges, kinds = dict(ranges or {}), dict(kinds or {})
    for column in ranges:
        if column not in names:
            raise InvalidInput(f"ranges names column {column!r}, which is not among the checked columns",
                               field="ranges")
    results = [
        _column_quality(str(c), reference[c], current[c], kinds.get(c), ranges.get(c), max_unseen) for c in names
    ]
    return QualityReport(results, len(reference), len(current))


def quality_by_window(
    reference: pd.DataFrame, current: pd.DataFrame, *, time_column: str, every: str, **options: Any
) -> list[WindowQuality]:
    """One :func:`data_quality` report per window of the current data (the time column itself is not checked)."""
    if options.get("columns") is None:
        options["columns"] = [c for c in reference.columns if c != time_column]
    return [
        WindowQuality(start, end, data_quality(reference, rows, **options))
        for start, end, rows in split_windows(current, time_column=time_column, every=every)
    ]


def _column_quality(
    column: str, ref: pd.Series, cur: pd.Series, kind: Kind | None, declared: Range | None, max_unseen: int
) -> ColumnQuality:
    kind = kind or _kind(ref, column)
    n_rows = len(cur)
    nulls = int(cur.isna().sum())
    if kind == "numeric":
        checks = _numeric_checks(ref, cur, declared)
    elif declared is not None:
        raise InvalidInput(f"a range was declared for {column!r}, but it is categorical; drop it from `ranges`",
                           field="ranges")
    else:
        checks = _unseen(ref, cur, max_unseen)
    return ColumnQuality(
        column=column,
        kind=kind,
        n_rows=n_rows,
        null_count=nulls,
        null_fraction=nulls / n_rows if n_rows else 0.0,
        reference_null_fraction=float(ref.isna().mean()),
        dtype_mismatch=bool(cur.notna().any()) and _current_kind(cur) != kind,
        reference_dtype=str(ref.dtype),
        current_dtype=str(cur.dtype),
        **checks,
    )


def _numeric_checks(ref: pd.Series, cur: pd.Series, declared: Range | None) -> dict[str, Any]:
    values = _as_float(cur)
    present = cur.notna().to_numpy()
    invalid = int(np.count_nonzero(present & np.isnan(values)))  # non-null, yet not a number
    low, high = declared if declared is not None else _observed_range(_as_float(ref))
    readable = values[~np.isnan(values)]
    outside = np.zeros(readable.size, dtype=bool)
    if low is not None:
        outside |= readable < low
    if high is not None:
        outside |= readable > high
    out = int(np.count_nonzero(outside))
    return {
        "invalid_count": invalid,
        "out_of_range_count": out,
        "out_of_range_fraction": out / readable.size if readable.size else 0.0,
        "range": (low, high),
    }


def _unseen(ref: pd.Series, cur: pd.Series, max_unseen: int) -> dict[str, Any]:
    counts = cur.value_counts(dropna=True)
    counts = counts[counts > 0]
    known = pd.Index(ref.dropna().unique())
    new = counts[~counts.index.isin(known)]
    seen_total = int(counts.sum())
    return {
        "unseen_count": int(new.sum()),
        "unseen_fraction": int(new.sum()) / seen_total if seen_total else 0.0,
        "unseen_categories": {str(value): int(n) for value, n in new.head(max_unseen).items()},
    }


def _observed_range(values: np.ndarray) -> Range:
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return None, None
    return float(finite.min()), float(finite.max())


def _as_float(values: pd.Series) -> np.ndarray:
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype):
        return values.to_numpy(dtype=np.float64, na_value=np.nan)
    coerced = pd.to_numeric(values.astype(object), errors="coerce")
    return np.asarray(coerced, dtype=np.float64)


def _checkable(values: pd.Series) -> bool:
    dtype = values.dtype
    return not (pd.api.types.is_datetime64_any_dtype(dtype) or pd.api.types.is_timedelta64_dtype(dtype))


def _kind(values: pd.Series, column: str) -> Kind:
    return infer_kind(values, column)


def _current_kind(values: pd.Series) -> Kind | None:
    # Numbers logged as strings read as categorical here, which is exactly the mismatch to flag.
    try:
        return infer_kind(values)
    except InvalidInput:  # e.g. timestamps where the reference has numbers
        return None
