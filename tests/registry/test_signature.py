"""Signatures: inference, MLflow's JSON format, and enforcement errors that name the column."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from keel.errors import InvalidInput
from keel.registry.signature import ColumnSpec, Schema, Signature, TensorSpec, enforce, infer_signature


def _frame() -> pd.DataFrame:
    return pd.DataFrame({
        "age": np.array([31, 47], dtype=np.int64),
        "score": np.array([0.5, 0.25], dtype=np.float32),
        "income": [1.5, 2.5],
        "city": ["Oslo", "Lima"],
        "member": [True, False],
        "small": np.array([1, 2], dtype=np.int32),
        "when": pd.to_datetime(["2024-01-01", "2024-02-01"]),
    })


def _table_signature() -> Signature:
    return Signature(Schema((ColumnSpec("double", "x"), ColumnSpec("long", "n"), ColumnSpec("string", "tag"))))


def test_infer_signature_from_dataframe_names_and_types() -> None:
    signature = infer_signature(_frame())
    assert [(s.name, s.type) for s in signature.inputs.specs if isinstance(s, ColumnSpec)] == [
        ("age", "long"), ("score", "float"), ("income", "double"), ("city", "string"), ("member", "boolean"),
        ("small", "integer"), ("when", "datetime"),
    ]
    assert signature.outputs is None


def test_infer_signature_from_ndarray_dict_and_lists() -> None:
    array = infer_signature(np.zeros((5, 3), dtype=np.float32), np.zeros(5, dtype=np.int64))
    assert array.inputs.specs == (TensorSpec("float32", (-1, 3)),)
    assert array.outputs is not None and array.outputs.specs == (TensorSpec("int64", (-1,)),)
    tensors = infer_signature({"image": np.zeros((2, 4, 4)), "id": np.arange(2)}).inputs.specs
    assert tensors == (TensorSpec("float64", (-1, 4, 4), "image"), TensorSpec("int64", (-1,), "id"))
    assert infer_signature([1, 2, 3]).inputs.specs == (ColumnSpec("long"),)
    assert infer_signature([[1.0, 2.0], [3.0, 4.0]]).inputs.specs == (TensorSpec("float64", (-1, 2)),)
    rows = infer_signature([{"a": 1.0, "b": "x"}]).inputs.specs
    assert rows == (ColumnSpec("double", "a"), ColumnSpec("string", "b"))


def test_infer_signature_rejects_unsupported_input() -> None:
    with pytest.raises(InvalidInput) as caught:
        infer_signature(pd.DataFrame({"blob": [object(), object()]}))
    assert caught.value.field == "blob"
    with pytest.raises(InvalidInput):
        infer_signature("not data")


@pytest.mark.filterwarnings("ignore:Hint. Inferred schema:UserWarning")
def test_signature_json_round_trip_and_mlflow_parity() -> None:
    mlflow_signature = pytest.importorskip("mlflow.models.signature")
    frame = _frame()
    ours = infer_signature(frame, np.arange(2)).to_dict()
    assert ours == mlflow_signature.infer_signature(frame, np.arange(2)).to_dict()
    assert Signature.from_dict(ours) == infer_signature(frame, np.arange(2))
    tensors = {"a": np.zeros((2, 3), dtype=np.float32), "b": np.arange(2)}
    assert infer_signature(tensors).to_dict() == mlflow_signature.infer_signature(tensors).to_dict()


def test_signature_keeps_unchecked_mlflow_types() -> None:
    text = '[{"type": "array", "items": {"type": "double"}, "name": "v", "required": true}]'
    signature = Signature.from_dict({"inputs": text, "outputs": None, "params": None})
    assert signature.inputs.to_json() == text
    assert enforce(signature, pd.DataFrame({"v": [[1.0, 2.0]]}))["v"].tolist() == [[1.0, 2.0]]


def test_enforce_names_the_missing_column() -> None:
    with pytest.raises(InvalidInput) as caught:
        enforce(_table_signature(), pd.DataFrame({"x": [1.0], "tag": ["a"]}))
    assert caught.value.field == "n"
    assert "'n'" in caught.value.message


def test_enforce_names_a_column_with_an_unsafe_dtype() -> None:
    with pytest.raises(InvalidInput) as caught:
        enforce(_table_signature(), pd.DataFrame({"x": ["oops"], "n": [1], "tag": ["a"]}))
    assert caught.value.field == "x"
    with pytest.raises(InvalidInput) as lossy:
        enforce(_table_signature(), pd.DataFrame({"x": [1.0], "n": [1.5], "tag": ["a"]}))
    assert lossy.value.field == "n"


def test_enforce_explains_missing_values_in_integer_columns() -> None:
    with pytest.raises(InvalidInput) as caught:
        enforce(_table_signature(), pd.DataFrame({"x": [1.0, 2.0], "n": [1, None], "tag": ["a", "b"]}))
    assert caught.value.field == "n" and "missing values" in caught.value.message


def test_enforce_casts_safely_selects_and_orders_columns() -> None:
    data = pd.DataFrame({"tag": ["a"], "extra": [0], "n": np.array([3], dtype=np.int32), "x": [7]})
    out = enforce(_table_signature(), data)
    assert list(out.columns) == ["x", "n", "tag"]
    assert out["x"].dtype == np.float64 and out["x"].tolist() == [7.0]
    assert out["n"].dtype == np.int64
    assert list(data.columns) == ["tag", "extra", "n", "x"]  # the caller's frame is untouched


def test_enforce_accepts_dicts_and_arrays_for_named_columns() -> None:
    signature = Signature(Schema((ColumnSpec("double", "a"), ColumnSpec("double", "b"))))
    assert enforce(signature, {"a": [1.0], "b": [2]}).to_dict("list") == {"a": [1.0], "b": [2.0]}
    assert enforce(signature, np.array([[1.0, 2.0]])).columns.tolist() == ["a", "b"]
    with pytest.raises(InvalidInput) as caught:
        enforce(signature, np.array([[1.0, 2.0, 3.0]]))
    assert caught.value.field == "input" and "2 columns" in caught.value.message


def test_enforce_allows_a_missing_optional_column() -> None:
    signature = Signature(Schema((ColumnSpec("double", "a"), ColumnSpec("double", "b", required=False))))
    assert enforce(signature, pd.DataFrame({"a": [1.0]})).columns.tolist() == ["a"]


def test_enforce_checks_unnamed_column_count() -> None:
    signature = Signature(Schema((ColumnSpec("double"), ColumnSpec("double"))))
    assert enforce(signature, [[1, 2]]).dtype == np.float64
    with pytest.raises(InvalidInput) as caught:
        enforce(signature, [[1.0, 2.0, 3.0]])
    assert "3 columns" in caught.value.message


def test_enforce_checks_tensor_shape_and_dtype() -> None:
    signature = Signature(Schema((TensorSpec("float64", (-1, 3)),)))
    assert enforce(signature, np.ones((4, 3), dtype=np.int32)).dtype == np.float64
    with pytest.raises(InvalidInput) as shape:
        enforce(signature, np.ones((4, 2)))
    assert "(4, 2)" in shape.value.message
    with pytest.raises(InvalidInput) as dtype:
        enforce(Signature(Schema((TensorSpec("int64", (-1,)),))), np.ones(3))
    assert "float64" in dtype.value.message


def test_enforce_names_the_missing_tensor() -> None:
    signature = Signature(Schema((TensorSpec("float64", (-1,), "a"), TensorSpec("float64", (-1,), "b"))))
    assert set(enforce(signature, {"a": np.ones(2), "b": np.zeros(2), "c": 1})) == {"a", "b"}
    with pytest.raises(InvalidInput) as caught:
        enforce(signature, {"a": np.ones(2)})
    assert caught.value.field == "b"


def test_enforce_without_signature_passes_data_through() -> None:
    data = object()
    assert enforce(None, data) is data


def test_schema_rejects_mixed_and_empty_specs() -> None:
    with pytest.raises(InvalidInput):
        Schema(())
    with pytest.raises(InvalidInput):
        Schema((ColumnSpec("double", "a"), TensorSpec("float64", (-1,), "b")))
