"""Pure decode/encode of Open Inference Protocol v2 and MLflow /invocations bodies, including bad requests."""

from __future__ import annotations

import numpy as np
import orjson
import pandas as pd
import pytest

from keel.errors import InvalidInput
from keel.registry.signature import infer_signature
from keel.serving.protocols import (
    column_names,
    decode_invocations,
    decode_v2_request,
    encode_invocations,
    encode_v2_response,
    model_metadata,
)

COLUMNS = ["a", "b", "c"]


def _tensor(name: str, shape: list[int], datatype: str, data: list) -> dict:
    return {"name": name, "shape": shape, "datatype": datatype, "data": data}


def test_single_2d_tensor_takes_signature_columns_in_order() -> None:
    body = {"inputs": [_tensor("input-0", [2, 3], "FP32", [1, 2, 3, 4, 5, 6])]}
    frame = decode_v2_request(body, COLUMNS)
    assert list(frame.columns) == COLUMNS
    assert frame.to_numpy().tolist() == [[1, 2, 3], [4, 5, 6]]
    assert frame["a"].dtype == np.float32


def test_nested_data_is_accepted_row_major() -> None:
    body = {"inputs": [_tensor("x", [2, 3], "FP64", [[1, 2, 3], [4, 5, 6]])]}
    assert decode_v2_request(body, COLUMNS)["c"].tolist() == [3.0, 6.0]


def test_one_tensor_per_column_by_name() -> None:
    body = {"inputs": [_tensor("c", [2], "INT64", [5, 6]), _tensor("a", [2, 1], "BOOL", [True, False]),
                       _tensor("b", [2], "BYTES", ["x", "y"])]}
    frame = decode_v2_request(body, COLUMNS)
    assert frame["c"].tolist() == [5, 6] and frame["c"].dtype == np.int64
    assert frame["a"].tolist() == [True, False]
    assert frame["b"].tolist() == ["x", "y"]


@pytest.mark.parametrize(("tensor", "field", "message"), [
    (_tensor("x", [2, 3], "FP32", [1, 2, 3]), "x", "needs 6 values"),
    (_tensor("x", [2, 3], "INT64", [1.5, 2, 3, 4, 5, 6]), "x", "does not match datatype INT64"),
    (_tensor("x", [2, 3], "FP32", ["a", "b", "c", "d", "e", "f"]), "x", "does not match datatype FP32"),
    (_tensor("x", [1], "INT8", [300]), "x", "out of range"),
    (_tensor("x", [2, 3], "COMPLEX", [1, 2, 3, 4, 5, 6]), "x", "datatype 'COMPLEX'"),
    (_tensor("x", [-1, 3], "FP32", [1, 2, 3]), "x", "shape"),
    (_tensor("x", [2, 2], "FP32", [1, 2, 3, 4]), "x", "expects 3 columns"),
    (_tensor("x", [2], "BYTES", [1, 2]), "x", "strings"),
    (_tensor("x", [2, 2], "FP32", [[1, 2], [3]]), "x", "ragged"),
])
def test_bad_tensors_name_the_input(tensor: dict, field: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message) as info:
        decode_v2_request({"inputs": [tensor]}, COLUMNS)
    assert info.value.field == field


def test_bad_request_envelopes() -> None:
    with pytest.raises(InvalidInput, match="non-empty list"):
        decode_v2_request({"inputs": []}, COLUMNS)
    with pytest.raises(InvalidInput, match="unique"):
        decode_v2_request({"inputs": [_tensor("a", [1], "FP32", [1]), _tensor("a", [1], "FP32", [2])]}, COLUMNS)
    with pytest.raises(InvalidInput, match="differ in length"):
        decode_v2_request({"inputs": [_tensor("a", [1], "FP32", [1]), _tensor("b", [2], "FP32", [2, 3])]}, COLUMNS)
    with pytest.raises(InvalidInput, match="3-D|1-D tensor per column"):
        decode_v2_request({"inputs": [_tensor("a", [1, 1, 2], "FP32", [1, 2])]}, COLUMNS)


def test_encode_v2_response_shapes_and_datatypes() -> None:
    response = encode_v2_response(np.array([[1.5, 2.5]]), "iris", "3", "req-1")
    assert response == {"model_name": "iris", "model_version": "3", "id": "req-1", "outputs": [
        {"name": "predict", "shape": [1, 2], "datatype": "FP64", "data": [1.5, 2.5]}]}
    labels = encode_v2_response(np.array(["cat", "dog"], dtype=object), "m", "1")["outputs"][0]
    assert labels["datatype"] == "BYTES" and labels["data"] == ["cat", "dog"]
    frame = encode_v2_response(pd.DataFrame({"p": np.array([1, 2], dtype=np.int32)}), "m", "1")["outputs"][0]
    assert frame == {"name": "p", "shape": [2], "datatype": "INT32", "data": [1, 2]}


def test_model_metadata_lists_columns_and_outputs() -> None:
    example = pd.DataFrame({"a": [1.0], "n": np.array([1], dtype=np.int64)})
    signature = infer_signature(example, np.array([0]))
    meta = model_metadata("m", "2", "keel_sklearn", signature)
    assert meta["name"] == "m" and meta["versions"] == ["2"] and meta["platform"] == "keel_sklearn"
    assert meta["inputs"] == [{"name": "a", "datatype": "FP64", "shape": [-1]},
                              {"name": "n", "datatype": "INT64", "shape": [-1]}]
    assert meta["outputs"] == [{"name": "predict", "datatype": "INT64", "shape": [-1]}]
    assert column_names(signature) == ["a", "n"]
    assert column_names(None) is None


@pytest.mark.parametrize("body", [
    {"dataframe_split": {"columns": COLUMNS, "data": [[1, 2, 3], [4, 5, 6]]}},
    {"dataframe_records": [{"a": 1, "b": 2, "c": 3}, {"a": 4, "b": 5, "c": 6}]},
    {"instances": [{"a": 1, "b": 2, "c": 3}, {"a": 4, "b": 5, "c": 6}]},
    {"instances": [[1, 2, 3], [4, 5, 6]]},
    {"inputs": {"a": [1, 4], "b": [2, 5], "c": [3, 6]}},
    {"inputs": [[1, 2, 3], [4, 5, 6]], "params": {"ignored": 1}},
])
def test_invocations_json_formats_decode_to_the_same_frame(body: dict) -> None:
    frame = decode_invocations(orjson.dumps(body), "application/json", COLUMNS)
    assert isinstance(frame, pd.DataFrame)
    assert frame[COLUMNS].to_numpy().tolist() == [[1, 2, 3], [4, 5, 6]]


def test_invocations_csv() -> None:
    frame = decode_invocations(b"a,b,c\n1,2,3\n4,5,6\n", "text/csv; charset=utf-8", COLUMNS)
    assert frame.to_numpy().tolist() == [[1, 2, 3], [4, 5, 6]]


@pytest.mark.parametrize(("raw", "content_type", "message"), [
    (b"{", "application/json", "malformed JSON"),
    (b"[1, 2]", "application/json", "JSON object"),
    (b'{"instances": [[1]], "inputs": [[1]]}', "application/json", "exactly one of"),
    (b'{"columns": ["a"]}', "application/json", "exactly one of"),
    (b'{"dataframe_split": {"columns": ["a"]}}', "application/json", "dataframe_split"),
    (b'{"dataframe_split": {"columns": ["a", "b"], "data": [[1, 2, 3]]}}', "application/json", "dataframe_split"),
    (b'{"dataframe_records": [1, 2]}', "application/json", "list of"),
    (b'{"inputs": {"a": [1, 2], "b": [1]}}', "application/json", "equal length"),
    (b"", "text/csv", "CSV"),
    (b"a,b", "application/xml", "not supported"),
])
def test_bad_invocations_bodies(raw: bytes, content_type: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        decode_invocations(raw, content_type, COLUMNS)


def test_encode_invocations() -> None:
    assert encode_invocations(np.array([1, 0])) == {"predictions": [1, 0]}
    assert encode_invocations(pd.DataFrame({"p": [0.5], "label": ["x"]})) == {
        "predictions": [{"p": 0.5, "label": "x"}]}
    assert encode_invocations(np.array(["a", None], dtype=object)) == {"predictions": ["a", None]}
    assert encode_invocations({"y": np.array([1.0])}) == {"predictions": {"y": [1.0]}}
