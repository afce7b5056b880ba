"""Production data quality against a reference: nulls, out-of-range and unreadable values, unseen categories."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from keel.errors import InvalidInput
from keel.monitoring.quality import data_quality, quality_by_window


@pytest.fixture
def reference() -> pd.DataFrame:
    return pd.DataFrame({
        "age": [20.0, 35.0, 50.0, np.nan, 65.0],
        "country": ["fr", "de", "fr", "it", None],
        "clicks": pd.array([0, 3, 7, 1, 2], dtype="Int64"),
    })


def test_null_fraction_counts_every_kind_of_missing(reference: pd.DataFrame) -> None:
    current = pd.DataFrame({
        "age": [30.0, np.nan, np.nan, 40.0],
        "country": ["fr", None, np.nan, "de"],
        "clicks": pd.array([1, None, 2, 3], dtype="Int64"),
    })
    report = data_quality(reference, current)
    assert [(c.column, c.null_count, c.null_fraction) for c in report.columns] == [
        ("age", 2, 0.5), ("country", 2, 0.5), ("clicks", 1, 0.25),
    ]
    assert report.column("age").reference_null_fraction == pytest.approx(0.2)
    assert not any(c.dtype_mismatch for c in report.columns)
    assert (report.n_reference, report.n_current) == (5, 4)


def test_out_of_range_uses_the_reference_range_unless_declared(reference: pd.DataFrame) -> None:
    current = pd.DataFrame({
        "age": [19.0, 20.0, 65.0, 66.0, np.inf, np.nan],
        "country": ["fr"] * 6,
        "clicks": pd.array([0, 7, 8, -1, 3, None], dtype="Int64"),
    })
    report = data_quality(reference, current)
    age = report.column("age")
    assert age.range == (20.0, 65.0)
    assert (age.out_of_range_count, age.out_of_range_fraction) == (3, 3 / 5)  # 19, 66 and inf; NaN is a null
    assert report.column("clicks").out_of_range_count == 2

    declared = data_quality(reference, current, ranges={"age": (0, 120), "clicks": (None, 5)})
    assert declared.column("age").out_of_range_count == 1  # only inf
    assert declared.column("clicks").range == (None, 5)
    assert declared.column("clicks").out_of_range_count == 2  # 7 and 8; -1 is fine with an open lower bound


def test_unseen_categories_with_counts(reference: pd.DataFrame) -> None:
    current = pd.DataFrame({
        "age": [30.0] * 8,
        "country": ["fr", "us", "us", "us", "jp", "de", None, "jp"],
        "clicks": pd.array([1] * 8, dtype="Int64"),
    })
    country = data_quality(reference, current).column("country")
    assert country.unseen_categories == {"us": 3, "jp": 2}
    assert list(country.unseen_categories) == ["us", "jp"]  # most frequent first
    assert (country.unseen_count, country.unseen_fraction) == (5, 5 / 7)
    assert data_quality(reference, current, max_unseen=1).column("country").unseen_categories == {"us": 3}
    assert country.out_of_range_count == 0 and country.range is None


def test_categorical_dtype_and_unused_levels(reference: pd.DataFrame) -> None:
    levels = pd.CategoricalDtype(["fr", "de", "it", "es", "pt"])
    current = reference.assign(country=pd.Series(["es", "fr", "es", None, "de"]).astype(levels))
    country = data_quality(reference, current).column("country")
    assert country.unseen_categories == {"es": 2}  # "pt" is a level no row uses
    assert not country.dtype_mismatch


def test_numbers_arriving_as_strings_are_a_dtype_mismatch(reference: pd.DataFrame) -> None:
    current = reference.assign(age=pd.Series(["30", "n/a", "200", None, "oops"], dtype=object))
    age = data_quality(reference, current).column("age")
    assert age.dtype_mismatch
    assert (age.reference_dtype, age.current_dtype) == ("float64", "object")
    assert age.invalid_count == 2  # "n/a" and "oops"; None is a null
    assert age.out_of_range_count == 1  # "200" reads as 200 > 65
    assert age.null_count == 1


def test_all_null_current_column_is_not_a_mismatch(reference: pd.DataFrame) -> None:
    current = reference.assign(age=pd.Series([None] * 5, dtype=object))
    age = data_quality(reference, current).column("age")
    assert (age.null_fraction, age.dtype_mismatch, age.out_of_range_count) == (1.0, False, 0)


def test_errors_name_the_column(reference: pd.DataFrame) -> None:
    with pytest.raises(InvalidInput, match="'clicks' is missing from the current") as caught:
        data_quality(reference, reference.drop(columns=["clicks"]))
    assert caught.value.field == "clicks"
    with pytest.raises(InvalidInput, match="'height' is missing from the reference"):
        data_quality(reference, reference, columns=["age", "height"])
    with pytest.raises(InvalidInput, match="categorical"):
        data_quality(reference, reference, ranges={"country": (0, 1)})
    with pytest.raises(InvalidInput, match="reference data is empty"):
        data_quality(reference.iloc[:0], reference)


def test_quality_by_window_and_json(reference: pd.DataFrame) -> None:
    current = pd.DataFrame({
        "at": pd.to_datetime(["2024-05-01 10:05", "2024-05-01 10:50", "2024-05-01 11:10", "2024-05-01 11:20"]),
        "age": [30.0, np.nan, 99.0, 40.0],
        "country": ["fr", "fr", "xx", "xx"],
        "clicks": pd.array([1, 2, 3, 4], dtype="Int64"),
    })
    windows = quality_by_window(reference, current, time_column="at", every="1h")
    assert [w.start for w in windows] == [pd.Timestamp("2024-05-01 10:00"), pd.Timestamp("2024-05-01 11:00")]
    first, second = (w.report for w in windows)
    assert [c.column for c in first.columns] == ["age", "country", "clicks"]
    assert (first.column("age").null_fraction, second.column("age").out_of_range_count) == (0.5, 1)
    assert (first.column("country").unseen_count, second.column("country").unseen_categories) == (0, {"xx": 2})
    body = json.loads(json.dumps(second.to_dict()))
    assert body["columns"][0]["range"] == [20.0, 65.0]
