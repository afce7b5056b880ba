"""The real ``tritonclient.http`` client against a ``keel serve models:/NAME/1`` process (Open Inference Protocol v2).

Covers health, readiness, metadata, inference with one ``[n, 20]`` FP32 tensor and with one tensor per column, in
the client's default binary tensor encoding and in plain JSON, versioned inference, and the errors the client
surfaces. The request encoder of the same client also feeds :func:`keel.serving.protocols.read_v2_body` directly.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression

from keel.errors import InvalidInput
from keel.serving.protocols import BINARY_HEADER, decode_v2_request, read_v2_body
from keel_testing import ServeProcess, serve_registered

httpclient = pytest.importorskip("tritonclient.http")
from tritonclient.utils import InferenceServerException  # noqa: E402

COLUMNS = [f"f{i}" for i in range(20)]


@pytest.fixture(scope="module")
def model_and_rows() -> tuple[LogisticRegression, pd.DataFrame]:
    x, y = make_classification(n_samples=600, n_features=20, random_state=3)
    frame = pd.DataFrame(x, columns=COLUMNS)
    return LogisticRegression(max_iter=1000).fit(frame, y), frame


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory,
           model_and_rows: tuple[LogisticRegression, pd.DataFrame]) -> Iterator[ServeProcess]:
    """``keel serve models:/lr/1`` in a fresh home where the model was logged and registered."""
    model, frame = model_and_rows
    proc = serve_registered(tmp_path_factory.mktemp("triton") / "home", model, frame.head(5), "lr")
    yield proc
    proc.stop()


@pytest.fixture
def client(server: ServeProcess) -> Iterator[httpclient.InferenceServerClient]:
    triton = httpclient.InferenceServerClient(url=f"127.0.0.1:{server.port}", network_timeout=30.0)
    yield triton
    triton.close()


def _expected(model: LogisticRegression, rows: pd.DataFrame) -> np.ndarray:
    """What the model predicts on the FP32-rounded rows the server receives."""
    return model.predict(rows.astype(np.float32).astype(np.float64))


def _table_input(rows: pd.DataFrame, binary: bool, name: str = "input-0") -> httpclient.InferInput:
    tensor = httpclient.InferInput(name, list(rows.shape), "FP32")
    tensor.set_data_from_numpy(rows.to_numpy(np.float32), binary_data=binary)
    return tensor


def test_health_readiness_and_server_metadata(client: httpclient.InferenceServerClient) -> None:
    assert client.is_server_live() and client.is_server_ready()
    assert client.is_model_ready("lr") and client.is_model_ready("lr", "1")
    assert not client.is_model_ready("lr", "2")
    assert not client.is_model_ready("other")
    assert client.get_server_metadata()["name"] == "keel"


def test_model_metadata_lists_the_signature(client: httpclient.InferenceServerClient) -> None:
    for meta in (client.get_model_metadata("lr"), client.get_model_metadata("lr", model_version="1")):
        assert meta["name"] == "lr" and meta["versions"] == ["1"] and meta["platform"] == "keel_sklearn"
        assert [i["name"] for i in meta["inputs"]] == COLUMNS
        assert {i["datatype"] for i in meta["inputs"]} == {"FP64"}
        assert meta["outputs"] == [{"name": "predict", "datatype": "INT64", "shape": [-1]}]
    with pytest.raises(InferenceServerException) as err:
        client.get_model_metadata("other")
    assert "other" in err.value.message()


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_infer_one_fp32_table_tensor(client: httpclient.InferenceServerClient,
                                     model_and_rows: tuple[LogisticRegression, pd.DataFrame], binary: bool) -> None:
    model, frame = model_and_rows
    rows = frame.iloc[3:40]
    result = client.infer("lr", [_table_input(rows, binary)], request_id="req-7")
    got = result.as_numpy("predict")
    assert got is not None and got.shape == (len(rows),)
    np.testing.assert_array_equal(got, _expected(model, rows))
    response = result.get_response()
    assert response["model_name"] == "lr" and response["model_version"] == "1" and response["id"] == "req-7"


def test_infer_with_a_requested_binary_output(client: httpclient.InferenceServerClient,
                                              model_and_rows: tuple[LogisticRegression, pd.DataFrame]) -> None:
    model, frame = model_and_rows
    rows = frame.tail(9)
    outputs = [httpclient.InferRequestedOutput("predict", binary_data=True)]
    result = client.infer("lr", [_table_input(rows, True)], outputs=outputs)
    np.testing.assert_array_equal(result.as_numpy("predict"), _expected(model, rows))


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_infer_one_tensor_per_named_column(client: httpclient.InferenceServerClient,
                                           model_and_rows: tuple[LogisticRegression, pd.DataFrame],
                                           binary: bool) -> None:
    model, frame = model_and_rows
    rows = frame.iloc[100:117]
    inputs = []
    for column in reversed(COLUMNS):  # order must not matter: the names place the columns
        tensor = httpclient.InferInput(column, [len(rows)], "FP32")
        tensor.set_data_from_numpy(rows[column].to_numpy(np.float32), binary_data=binary)
        inputs.append(tensor)
    result = client.infer("lr", inputs)
    np.testing.assert_array_equal(result.as_numpy("predict"), _expected(model, rows))


def test_versioned_infer(client: httpclient.InferenceServerClient,
                         model_and_rows: tuple[LogisticRegression, pd.DataFrame]) -> None:
    model, frame = model_and_rows
    rows = frame.head(12)
    result = client.infer("lr", [_table_input(rows, True)], model_version="1")
    np.testing.assert_array_equal(result.as_numpy("predict"), _expected(model, rows))
    assert result.get_response()["model_version"] == "1"
    with pytest.raises(InferenceServerException) as err:
        client.infer("lr", [_table_input(rows, True)], model_version="2")
    assert err.value.status() == "404" and "version '2'" in err.value.message()


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_wrong_shape_raises_with_the_servers_message(client: httpclient.InferenceServerClient,
                                                     model_and_rows: tuple[LogisticRegression, pd.DataFrame],
                                                     binary: bool) -> None:
    _, frame = model_and_rows
    narrow = frame.iloc[:4, :19]
    with pytest.raises(InferenceServerException) as err:
        client.infer("lr", [_table_input(narrow, binary, name="features")])
    assert err.value.status() == "400"
    assert "input 'features'" in err.value.message() and "expects 20 columns" in err.value.message()


# ------------------------------------------------------------- the client's own request encoder, without a server


def _encoded(inputs: list[httpclient.InferInput]) -> tuple[bytes, str | None]:
    body, json_size = httpclient.InferenceServerClient.generate_request_body(inputs)
    return body, None if json_size is None else str(json_size)


@pytest.mark.parametrize(("datatype", "values"), [
    ("FP32", np.array([[1.5, -2.0], [3.25, 0.0]], dtype=np.float32)),
    ("FP16", np.array([[1.5, 2.0]], dtype=np.float16)),
    ("INT64", np.array([[-(2**40), 7]], dtype=np.int64)),
    ("UINT8", np.array([[0, 255]], dtype=np.uint8)),
    ("BOOL", np.array([[True, False], [False, True]])),
    ("BYTES", np.array([["a", "héllo"], ["", "z"]], dtype=object)),
])
def test_binary_request_decodes_to_the_same_values(datatype: str, values: np.ndarray) -> None:
    tensor = httpclient.InferInput("x", list(values.shape), datatype)
    tensor.set_data_from_numpy(values, binary_data=True)
    raw, json_size = _encoded([tensor])
    assert json_size is not None  # the client did use the binary extension
    frame = decode_v2_request(read_v2_body(raw, json_size), None)
    assert frame.to_numpy().tolist() == values.tolist()


def test_json_request_without_the_header_is_plain_json() -> None:
    tensor = httpclient.InferInput("x", [1, 2], "FP64")
    tensor.set_data_from_numpy(np.array([[1.0, 2.0]]), binary_data=False)
    raw, json_size = _encoded([tensor])
    assert json_size is None
    assert decode_v2_request(read_v2_body(raw, json_size), ["a", "b"]).to_dict(orient="list") == {"a": [1.0],
                                                                                                   "b": [2.0]}


@pytest.mark.parametrize(("cut", "header", "field", "message"), [
    (0, "999999", BINARY_HEADER, "byte length of the JSON part"),
    (0, "-3", BINARY_HEADER, "byte length of the JSON part"),
    (-4, None, "x", "runs past"),
    (0, "extra", "body", "belong to no input"),
])
def test_bad_binary_requests_are_invalid_input_naming_the_field(cut: int, header: str | None, field: str,
                                                                message: str) -> None:
    tensor = httpclient.InferInput("x", [1, 3], "FP32")
    tensor.set_data_from_numpy(np.array([[1, 2, 3]], dtype=np.float32), binary_data=True)
    raw, json_size = _encoded([tensor])
    if cut:
        raw = raw[:cut]
    if header == "extra":
        raw, header = raw + b"\x00" * 4, json_size
    with pytest.raises(InvalidInput) as err:
        read_v2_body(raw, header or json_size)
    assert err.value.field == field and message in err.value.message


def test_binary_size_that_is_not_whole_values_names_the_input() -> None:
    raw = b'{"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "parameters": {"binary_data_size": 3}}]}'
    with pytest.raises(InvalidInput) as err:
        read_v2_body(raw + b"abc", str(len(raw)))
    assert err.value.field == "x" and "whole number of FP32 values" in err.value.message
