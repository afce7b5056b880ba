"""The numeric-table fast lane: which signatures take it, what it accepts, and that anything else falls back."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from keel.registry.signature import infer_signature
from keel.serving.fastlane import NumericTable, Rows

FRAME = pd.DataFrame({"a": [1.0, 2.0], "b": [3.0, 4.0], "c": np.array([5.0, 6.0], dtype="float32")})


@pytest.fixture
def table() -> NumericTable:
    found = NumericTable.from_signature(infer_signature(FRAME))
    assert found is not None
    return found


def test_only_named_float_columns_take_the_fast_lane(table: NumericTable) -> None:
    assert table.names == ("a", "b", "c")
    assert NumericTable.from_signature(infer_signature(FRAME.assign(s=["x", "y"]))) is None
    assert NumericTable.from_signature(infer_signature(FRAME.astype({"a": "int64"}))) is None
    assert NumericTable.from_signature(infer_signature(FRAME.to_numpy())) is None  # a tensor signature
    assert NumericTable.from_signature(None) is None


def test_split_rows_are_reordered_and_typed(table: NumericTable) -> None:
    rows = table.from_invocations({"dataframe_split": {"columns": ["c", "a", "b"], "data": [[5, 1, 3], [6, 2, 4]]}})
    assert isinstance(rows, Rows) and len(rows) == 2
    frame = rows.frame()
    pd.testing.assert_frame_equal(frame, FRAME, check_column_type=False)
    assert frame.columns.dtype == object  # not pandas' Arrow-backed string index: sklearn checks names fast
    logged = rows.logged()
    assert logged.names == ("a", "b", "c") and logged.values[:, 2].tolist() == [5.0, 6.0]


def test_instances_and_v2_tensor(table: NumericTable) -> None:
    rows = table.from_invocations({"instances": [[1, 3, 5], [2, 4, 6]]})
    assert rows is not None and rows.values.tolist() == FRAME.to_numpy().tolist()
    tensor = {"inputs": [{"name": "x", "shape": [2, 3], "datatype": "FP64", "data": [1, 3, 5, 2, 4, 6]}]}
    v2 = table.from_v2(tensor)
    assert v2 is not None and v2.values.tolist() == FRAME.to_numpy().tolist()


@pytest.mark.parametrize("body", [
    {"dataframe_split": {"columns": ["a", "b"], "data": [[1, 3]]}},             # a missing column
    {"dataframe_split": {"columns": ["a", "b", "c"], "data": [["1", 3, 5]]}},    # a string
    {"dataframe_split": {"columns": ["a", "b", "c"], "data": [[1, 3]]}},         # ragged
    {"dataframe_split": {"columns": ["a", "b", "c"], "data": []}},               # no rows
    {"dataframe_records": [{"a": 1, "b": 3, "c": 5}]},                           # another layout
    {"instances": [[1, 2, 3, 4]]},                                              # wrong width
])
def test_anything_else_falls_back(table: NumericTable, body: dict) -> None:
    assert table.from_invocations(body) is None


@pytest.mark.parametrize("tensor", [
    {"name": "x", "shape": [1, 3], "datatype": "BYTES", "data": ["a", "b", "c"]},
    {"name": "x", "shape": [2, 3], "datatype": "FP64", "data": [1, 2, 3]},
    {"name": "a", "shape": [1, 3], "datatype": "FP64", "data": [1, 2, 3]},  # named like a column: per-column form
])
def test_v2_fallbacks(table: NumericTable, tensor: dict) -> None:
    assert table.from_v2({"inputs": [tensor]}) is None
