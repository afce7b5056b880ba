"""The prediction log's bulk path: numeric rows (what a model server's fast lane logs) are encoded a run at a time
by Arrow kernels, and read back exactly as the row-by-row path writes the same values."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pytest

from keel.monitoring import PredictionLog, predictions
from keel.monitoring.json_columns import json_numbers, json_objects, json_rows
from keel.monitoring.prediction_rows import NumericRows, PredictionRecord, encode_batch

NAMES = ("a", "b", 'c"q')
MATRIX = np.array([[1.0, 0.5, np.nan], [1e20, -0.0, np.inf], [0.1 + 0.2, 1.5e-7, -np.inf], [3.0, 12345.678, 2.0]])


def _texts(array: Any) -> list[Any]:
    return [json.loads(text) for text in array.to_pylist()]


def test_numbers_parse_to_what_orjson_writes() -> None:
    rng = np.random.default_rng(0)
    values = np.concatenate([rng.normal(size=500) * np.logspace(-30, 30, 500), [0.0, -0.0, 1.0, 2.0, 1e16, 5e-324]])
    expected = [orjson.loads(orjson.dumps(v)) for v in values.tolist()]
    got = _texts(json_numbers(values))
    assert got == expected
    assert all(isinstance(v, float) for v in got)  # 1.0 stays a float: "1.0", never "1"


def test_special_values_ints_bools_and_float32() -> None:
    assert json_numbers(np.array([np.nan, np.inf, -np.inf, 1.0])).to_pylist() == ["null", "null", "null", "1.0"]
    assert json_numbers(np.array([3, -4, 2**62], dtype=np.int64)).to_pylist() == ["3", "-4", str(2**62)]
    assert json_numbers(np.array([7], dtype=np.uint64)).to_pylist() == ["7"]
    assert json_numbers(np.array([True, False])).to_pylist() == ["true", "false"]
    assert _texts(json_numbers(np.float32([0.1]))) == [float(np.float32(0.1))]  # the float64 it widens to
    with pytest.raises(TypeError, match="numbers or booleans"):
        json_numbers(np.array(["x"]))


def test_objects_and_rows_match_the_row_by_row_encoding() -> None:
    expected = [orjson.loads(orjson.dumps(dict(zip(NAMES, row, strict=True)))) for row in MATRIX.tolist()]
    assert _texts(json_objects(NAMES, MATRIX)) == expected  # key with a quote is escaped
    assert _texts(json_rows(MATRIX[:, :2])) == [orjson.loads(orjson.dumps(r)) for r in MATRIX[:, :2].tolist()]
    assert json_objects((), np.empty((2, 0))).to_pylist() == ["{}", "{}"]
    with pytest.raises(ValueError, match="3 columns"):
        json_objects(NAMES, MATRIX[:, :2])


def _record(i: int, inputs: Any, outputs: Any, deployment: str = "d") -> PredictionRecord:
    return PredictionRecord(f"r{i}", deployment, "m", "1", inputs, outputs, 1.5, False, 1_700_000_000.0 + i, 200)


def test_a_run_encodes_like_the_row_by_row_path() -> None:
    bulk = [_record(i, NumericRows(NAMES, MATRIX[i:i + 1]), np.array([i % 2])) for i in range(4)]
    bulk.append(_record(4, NumericRows(NAMES, MATRIX[:2]), np.array([0, 1])))  # a two-row request
    frames = [_record(i, pd.DataFrame(r.inputs.values, columns=NAMES), r.outputs) for i, r in enumerate(bulk)]
    bulk_parts, failed = encode_batch(bulk)
    (bulk_table,) = bulk_parts.values()
    (row_table,) = encode_batch(frames)[0].values()
    assert failed == 0 and bulk_table.num_rows == row_table.num_rows == 6
    for column in ("timestamp", "request_id", "row", "model_name", "model_version", "shadow", "status", "latency_ms"):
        assert bulk_table[column].to_pylist() == row_table[column].to_pylist()
    for column in ("inputs", "outputs"):
        assert _texts(bulk_table[column]) == _texts(row_table[column])


def test_runs_keep_record_order_between_other_records_and_partitions() -> None:
    numeric = lambda i: _record(i, NumericRows(("x",), np.array([[float(i)]])), np.array([i]))  # noqa: E731
    records = [numeric(0), numeric(1), _record(2, pd.DataFrame({"x": [2.0]}), np.array([2])), numeric(3),
               _record(4, NumericRows(("x",), np.array([[4.0]])), np.array([4]), deployment="other"),
               _record(5, NumericRows(("y",), np.array([[5.0]])), np.array([5])),  # other columns: a new run
               _record(6, NumericRows(("x",), np.array([[6.0]])), np.array([[6, 6]]))]  # other output shape
    parts, failed = encode_batch(records)
    assert failed == 0
    main = parts[("d", "2023-11-14")]
    assert main["request_id"].to_pylist() == ["r0", "r1", "r2", "r3", "r5", "r6"]
    assert _texts(main["inputs"]) == [{"x": 0.0}, {"x": 1.0}, {"x": 2.0}, {"x": 3.0}, {"y": 5.0}, {"x": 6.0}]
    assert _texts(main["outputs"]) == [0, 1, 2, 3, 5, [6, 6]]
    assert parts[("other", "2023-11-14")]["request_id"].to_pylist() == ["r4"]


def test_a_bad_record_among_numeric_ones_costs_only_itself() -> None:
    good = [_record(i, NumericRows(("x",), np.array([[1.0]])), np.array([1])) for i in range(3)]
    bad = _record(9, NumericRows(("x",), np.array([[1.0], [2.0]])), np.array([1]), deployment="")  # no name
    odd = _record(8, NumericRows(("x",), np.array([[1.0]])), np.array([1, 2, 3]))  # does not split by row
    parts, failed = encode_batch([good[0], bad, good[1], odd, good[2]])
    assert failed == 2  # the bad request's two rows
    table = parts[("d", "2023-11-14")]
    assert table["request_id"].to_pylist() == ["r0", "r1", "r8", "r2"]
    assert _texts(table["outputs"]) == [1, 1, [1, 2, 3], 1]  # kept whole, as the row-by-row path keeps it


def test_numeric_rows_round_trip_through_the_log(tmp_path: Path) -> None:
    root = str(tmp_path / "log")
    rng = np.random.default_rng(1)
    values = rng.normal(size=(300, 3))
    values[5, 1] = np.nan
    with PredictionLog(root) as plog:
        for i in range(300):
            plog.record(request_id=f"q{i}", deployment="fast", model_name="m", model_version="2",
                        inputs=NumericRows(("u", "v", "w"), values[i:i + 1]), outputs=np.array([i % 3]),
                        latency_ms=0.5)
    out = predictions(root=root).sort_values("request_id", key=lambda s: s.str[1:].astype(int))
    assert len(out) == 300 and out["model_version"].eq("2").all()
    np.testing.assert_array_equal(out[["input.u", "input.v", "input.w"]].to_numpy(), values)
    assert out["input.u"].dtype == np.float64 and out["output"].tolist() == [i % 3 for i in range(300)]
