"""Wire formats of the model server, as pure functions: Open Inference Protocol v2 and MLflow's ``/invocations``.

Decoding turns a request body into a pandas DataFrame (or, for inputs that are not tabular, a numpy array or dict)
ready for ``LoadedModel.predict``; encoding turns predictions back into JSON-ready dicts. Malformed requests raise
:class:`~keel.errors.InvalidInput` whose ``field`` names the offending input; no I/O happens here.

Open Inference Protocol v2 tabular conventions:

* one 2-D tensor ``[rows, features]``, whose columns take the signature's column names in order (KServe sklearn);
* one 1-D tensor (or ``[rows, 1]``) per column, named after the column (MLServer's pandas codec).

Requests may use Triton's binary tensor data extension (what ``tritonclient`` sends by default): the
``Inference-Header-Content-Length`` header gives the length of the JSON part, and inputs with a
``binary_data_size`` parameter take their values from the raw bytes after it (see :func:`read_v2_body`).
"""

from __future__ import annotations

import csv
import io
import math
import struct
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import orjson
import pandas as pd

from keel.asgi import parse_json_object
from keel.errors import InvalidInput
from keel.registry.signature import ColumnSpec, Schema, Signature, TensorSpec

__all__ = [
    "BINARY_HEADER",
    "V2_DATATYPES",
    "column_names",
    "decode_invocations",
    "decode_v2_request",
    "encode_invocations",
    "encode_v2_response",
    "model_metadata",
    "read_v2_body",
    "row_count",
]

#: Open Inference Protocol datatypes and the numpy dtype each decodes to.
V2_DATATYPES: dict[str, np.dtype[Any]] = {
    "BOOL": np.dtype("bool"),
    "UINT8": np.dtype("uint8"), "UINT16": np.dtype("uint16"),
    "UINT32": np.dtype("uint32"), "UINT64": np.dtype("uint64"),
    "INT8": np.dtype("int8"), "INT16": np.dtype("int16"), "INT32": np.dtype("int32"), "INT64": np.dtype("int64"),
    "FP16": np.dtype("float16"), "FP32": np.dtype("float32"), "FP64": np.dtype("float64"),
    "BYTES": np.dtype("object"),
}
#: The header of Triton's binary tensor data extension: the byte length of the request's JSON part.
BINARY_HEADER = "inference-header-content-length"
_COLUMN_DATATYPES = {"boolean": "BOOL", "integer": "INT32", "long": "INT64", "float": "FP32", "double": "FP64"}
_MLFLOW_KEYS = ("dataframe_split", "dataframe_records", "instances", "inputs")
_DEFAULT_OUTPUT = "predict"


# ------------------------------------------------------------------------------------------------------- metadata


def column_names(signature: Signature | None) -> list[str] | None:
    """The signature's input column names in order, or ``None`` when the inputs are unnamed or tensors."""
    if signature is None or signature.inputs.is_tensor or not signature.inputs.has_names:
        return None
    return [str(n) for n in signature.inputs.names]


def model_metadata(name: str, version: str, platform: str, signature: Signature | None) -> dict[str, Any]:
    """The v2 model metadata answer: name, versions, platform, inputs and outputs (``-1`` = any size)."""
    inputs = _tensor_metadata(signature.inputs) if signature is not None else []
    outputs = _tensor_metadata(signature.outputs) if signature is not None and signature.outputs else []
    return {"name": name, "versions": [version], "platform": platform, "inputs": inputs, "outputs": outputs}


def _tensor_metadata(schema: Schema) -> list[dict[str, Any]]:
    out = []
    for position, spec in enumerate(schema.specs):
        label = spec.name or (_DEFAULT_OUTPUT if len(schema.specs) == 1 else f"{_DEFAULT_OUTPUT}-{position}")
        if isinstance(spec, TensorSpec):
            out.append({"name": label, "datatype": _datatype_of(np.dtype(spec.dtype)), "shape": list(spec.shape)})
        elif isinstance(spec, ColumnSpec):
            out.append({"name": label, "datatype": _COLUMN_DATATYPES.get(spec.type, "BYTES"), "shape": [-1]})
    return out


def _datatype_of(dtype: np.dtype[Any]) -> str:
    for name, candidate in V2_DATATYPES.items():
        if name != "BYTES" and candidate == dtype:
            return name
    return "BYTES"


# ----------------------------------------------------------------------------------------------------- v2 decode


def read_v2_body(raw: bytes, json_length: str | None = None) -> dict[str, Any]:
    """The v2 request object from the raw body (``{}`` when empty).

    ``json_length`` is the ``Inference-Header-Content-Length`` header, if sent: the JSON part is that many bytes, and
    each input whose ``parameters.binary_data_size`` is set takes its data from the bytes after it, in input order
    (little-endian, row-major; a BYTES element is a 4-byte little-endian length and then its bytes).
    """
    if json_length is None:
        return parse_json_object(raw)
    size = int(json_length) if json_length.strip().isdigit() else -1
    if not 0 <= size <= len(raw):
        raise InvalidInput(f"{BINARY_HEADER} {json_length!r} must be the byte length of the JSON part of the "
                           f"{len(raw)}-byte body", field=BINARY_HEADER)
    body = parse_json_object(raw[:size])
    _attach_binary_data(body, raw[size:])
    return body


def _attach_binary_data(body: dict[str, Any], binary: bytes) -> None:
    offset = 0
    inputs = body.get("inputs")
    for item in inputs if isinstance(inputs, list) else []:
        params = item.get("parameters") if isinstance(item, dict) else None
        size = params.get("binary_data_size") if isinstance(params, dict) else None
        if size is None:
            continue
        name = str(item.get("name"))
        if type(size) is not int or size < 0 or offset + size > len(binary):
            raise InvalidInput(f"input {name!r}: binary_data_size {size!r} runs past the {len(binary)} bytes of "
                               "binary data after the JSON", field=name)
        item["data"] = _binary_values(binary[offset:offset + size], item.get("datatype"), name)
        offset += size
    if offset != len(binary):
        raise InvalidInput(f"request body: {len(binary) - offset} bytes of binary data belong to no input (set "
                           "parameters.binary_data_size on each binary input)", field="body")


def _binary_values(chunk: bytes, datatype: Any, name: str) -> np.ndarray[Any, Any]:
    if datatype == "BYTES":
        values, offset = [], 0
        while offset + 4 <= len(chunk):
            (length,) = struct.unpack_from("<I", chunk, offset)
            values.append(chunk[offset + 4:offset + 4 + length])
            offset += 4 + length
        if offset != len(chunk):
            raise InvalidInput(f"input {name!r}: BYTES binary data is not a sequence of length-prefixed elements",
                               field=name)
        return np.asarray(values, dtype=object)
    if datatype not in V2_DATATYPES:
        raise InvalidInput(f"input {name!r}: datatype {datatype!r} is not one of {sorted(V2_DATATYPES)}", field=name)
    dtype = V2_DATATYPES[str(datatype)].newbyteorder("<")
    if len(chunk) % dtype.itemsize:
        raise InvalidInput(f"input {name!r}: {len(chunk)} bytes of binary data is not a whole number of "
                           f"{datatype} values", field=name)
    return np.frombuffer(chunk, dtype=dtype)


def decode_v2_request(body: Mapping[str, Any], columns: Sequence[str] | None) -> pd.DataFrame:
    """Decode a v2 inference request into a DataFrame whose columns are named as the model expects."""
    inputs = body.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise InvalidInput("request: 'inputs' must be a non-empty list of tensors", field="inputs")
    tensors = [_decode_tensor(item, position) for position, item in enumerate(inputs)]
    names = [name for name, _ in tensors]
    if len(set(names)) != len(names):
        raise InvalidInput(f"request: input names must be unique, got {names}", field="inputs")
    if len(tensors) == 1 and _is_table(*tensors[0], columns):
        return _frame_from_table(*tensors[0], columns)
    return _frame_from_columns(tensors)


def _decode_tensor(item: Any, position: int) -> tuple[str, np.ndarray[Any, Any]]:
    if not isinstance(item, Mapping):
        raise InvalidInput(f"inputs[{position}]: expected an object with name, shape, datatype, data",
                           field=f"inputs[{position}]")
    name = item.get("name")
    if not isinstance(name, str) or not name:
        raise InvalidInput(f"inputs[{position}]: 'name' must be a non-empty string", field=f"inputs[{position}]")
    shape = _shape(item.get("shape"), name)
    datatype = item.get("datatype")
    if datatype not in V2_DATATYPES:
        raise InvalidInput(f"input {name!r}: datatype {datatype!r} is not one of {sorted(V2_DATATYPES)}",
                           field=name)
    array = _typed_array(item.get("data"), str(datatype), name)
    if array.size != math.prod(shape):
        raise InvalidInput(f"input {name!r}: shape {shape} needs {math.prod(shape)} values, data has {array.size}",
                           field=name)
    return name, array.reshape(shape)


def _shape(value: Any, name: str) -> list[int]:
    valid = isinstance(value, list) and value and all(type(d) is int and d >= 0 for d in value)
    if not valid:
        raise InvalidInput(f"input {name!r}: 'shape' must be a non-empty list of non-negative integers, "
                           f"got {value!r}", field=name)
    return list(value)


def _typed_array(data: Any, datatype: str, name: str) -> np.ndarray[Any, Any]:
    if isinstance(data, np.ndarray):  # read from binary data by read_v2_body, already of its datatype
        return _bytes_array(data, name) if datatype == "BYTES" else data
    if not isinstance(data, list):
        raise InvalidInput(f"input {name!r}: 'data' must be a list (flat or nested, row-major)", field=name)
    try:
        array = np.asarray(data, dtype=object if datatype == "BYTES" else None)
    except ValueError as exc:
        raise InvalidInput(f"input {name!r}: 'data' is ragged ({exc})", field=name) from exc
    if datatype == "BYTES":
        return _bytes_array(array, name)
    kind = array.dtype.kind if array.size else V2_DATATYPES[datatype].kind
    allowed = {"BOOL": "b", "U": "u", "I": "iu", "F": "iuf"}[datatype if datatype == "BOOL" else datatype[0]]
    if kind not in allowed:
        raise InvalidInput(f"input {name!r}: data of kind {array.dtype} does not match datatype {datatype}",
                           field=name)
    target = V2_DATATYPES[datatype]
    if target.kind in "iu" and array.size and not _fits(array, target):
        raise InvalidInput(f"input {name!r}: values out of range for {datatype}", field=name)
    return array.astype(target)


def _bytes_array(array: np.ndarray[Any, Any], name: str) -> np.ndarray[Any, Any]:
    flat = array.ravel()
    if not all(isinstance(v, str | bytes) for v in flat):
        raise InvalidInput(f"input {name!r}: BYTES data must hold strings", field=name)
    return np.asarray([v.decode() if isinstance(v, bytes) else v for v in flat], dtype=object).reshape(array.shape)


def _fits(array: np.ndarray[Any, Any], target: np.dtype[Any]) -> bool:
    info = np.iinfo(target)
    return bool(int(array.min()) >= info.min and int(array.max()) <= info.max)


def _is_table(name: str, array: np.ndarray[Any, Any], columns: Sequence[str] | None) -> bool:
    if array.ndim != 2:
        return False
    return array.shape[1] != 1 or columns is None or name not in columns


def _frame_from_table(name: str, array: np.ndarray[Any, Any], columns: Sequence[str] | None) -> pd.DataFrame:
    if columns is None:
        return pd.DataFrame(array)
    if array.shape[1] != len(columns):
        raise InvalidInput(f"input {name!r}: shape {list(array.shape)} has {array.shape[1]} features, the model "
                           f"expects {len(columns)} columns {list(columns)}", field=name)
    return pd.DataFrame(array, columns=list(columns))


def _frame_from_columns(tensors: list[tuple[str, np.ndarray[Any, Any]]]) -> pd.DataFrame:
    frame: dict[str, np.ndarray[Any, Any]] = {}
    for name, array in tensors:
        if array.ndim == 2 and array.shape[1] == 1:
            array = array.ravel()
        if array.ndim != 1:
            raise InvalidInput(f"input {name!r}: shape {list(array.shape)}; send one 2-D tensor [rows, features] "
                               "or one 1-D tensor per column", field=name)
        frame[name] = array
    lengths = {name: len(array) for name, array in frame.items()}
    if len(set(lengths.values())) > 1:
        raise InvalidInput(f"inputs: column tensors differ in length {lengths}", field="inputs")
    return pd.DataFrame(frame)


# ----------------------------------------------------------------------------------------------------- v2 encode


def encode_v2_response(predictions: Any, model_name: str, model_version: str,
                       request_id: str | None = None) -> dict[str, Any]:
    """The v2 inference response for ``predictions`` (an array, a DataFrame, a dict of arrays or a list)."""
    if isinstance(predictions, pd.DataFrame):
        named = [(str(c), predictions[c].to_numpy()) for c in predictions.columns]
    elif isinstance(predictions, Mapping):
        named = [(str(k), np.asarray(v)) for k, v in predictions.items()]
    else:
        named = [(_DEFAULT_OUTPUT, np.asarray(predictions))]
    response: dict[str, Any] = {"model_name": model_name, "model_version": model_version,
                                "outputs": [_encode_tensor(n, a) for n, a in named]}
    if request_id is not None:
        response["id"] = request_id
    return response


def _encode_tensor(name: str, array: np.ndarray[Any, Any]) -> dict[str, Any]:
    datatype = _datatype_of(array.dtype)
    values = array.ravel()
    data = [str(v) for v in values] if datatype == "BYTES" else values.tolist()
    return {"name": name, "shape": list(array.shape), "datatype": datatype, "data": data}


def row_count(data: Any) -> int:
    """How many rows a decoded input holds (for the batch-size metric)."""
    if isinstance(data, Mapping):
        first: Any = next(iter(data.values()), [])
        return len(np.atleast_1d(np.asarray(first)))
    return len(data) if hasattr(data, "__len__") else 1


# ----------------------------------------------------------------------------------------------- MLflow scoring


def decode_invocations(raw: bytes, content_type: str | None, columns: Sequence[str] | None) -> Any:
    """Decode an MLflow ``/invocations`` body (JSON in one of MLflow's four formats, or CSV)."""
    media = (content_type or "application/json").split(";")[0].strip().lower()
    if media == "text/csv":
        return _decode_csv(raw)
    if media != "application/json":
        raise InvalidInput(f"content type {media!r} is not supported; send application/json or text/csv",
                           field="content-type")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"request body: malformed JSON ({exc})", field="body") from exc
    if not isinstance(body, dict):
        raise InvalidInput(f"request body: expected a JSON object with one of {list(_MLFLOW_KEYS)}", field="body")
    keys = [k for k in _MLFLOW_KEYS if k in body]
    if len(keys) != 1:
        raise InvalidInput(f"request body: expected exactly one of {list(_MLFLOW_KEYS)}, got {sorted(body)}",
                           field="body")
    return _decode_json_format(keys[0], body[keys[0]], columns)


def _decode_csv(raw: bytes) -> pd.DataFrame:
    try:
        return pd.read_csv(io.BytesIO(raw))
    except (ValueError, csv.Error, UnicodeDecodeError) as exc:  # pandas' ParserError/EmptyDataError are ValueErrors
        raise InvalidInput(f"request body: cannot parse CSV ({exc})", field="body") from exc


def _decode_json_format(key: str, value: Any, columns: Sequence[str] | None) -> Any:
    if key == "dataframe_split":
        return _decode_split(value)
    if key == "dataframe_records":
        if not isinstance(value, list) or not all(isinstance(r, dict) for r in value):
            raise InvalidInput("dataframe_records: expected a list of {column: value} objects",
                               field="dataframe_records")
        return pd.DataFrame(value)
    return _decode_instances(key, value, columns)


def _decode_split(value: Any) -> pd.DataFrame:
    if not isinstance(value, dict) or not isinstance(value.get("data"), list):
        raise InvalidInput("dataframe_split: expected {'columns': [...], 'data': [[...], ...]}",
                           field="dataframe_split")
    try:
        return pd.DataFrame(value["data"], columns=value.get("columns"), index=value.get("index"))
    except (ValueError, TypeError, AssertionError) as exc:
        raise InvalidInput(f"dataframe_split: {exc}", field="dataframe_split") from exc


def _decode_instances(key: str, value: Any, columns: Sequence[str] | None) -> Any:
    if isinstance(value, dict):
        return _decode_column_dict(key, value)
    if not isinstance(value, list) or not value:
        raise InvalidInput(f"{key}: expected a non-empty list or an object of columns", field=key)
    if all(isinstance(row, dict) for row in value):
        return pd.DataFrame(value)
    try:
        array = np.asarray(value)
    except ValueError as exc:
        raise InvalidInput(f"{key}: data is ragged ({exc})", field=key) from exc
    if columns is not None and array.ndim == 2 and array.shape[1] == len(columns):
        return pd.DataFrame(array, columns=list(columns))
    if columns is not None and array.ndim == 1 and len(columns) == 1:
        return pd.DataFrame({columns[0]: array})
    return array


def _decode_column_dict(key: str, value: dict[str, Any]) -> pd.DataFrame:
    try:
        return pd.DataFrame({k: np.atleast_1d(np.asarray(v)) for k, v in value.items()})
    except ValueError as exc:
        raise InvalidInput(f"{key}: columns must be lists of equal length ({exc})", field=key) from exc


def encode_invocations(predictions: Any) -> dict[str, Any]:
    """MLflow's answer: ``{"predictions": ...}`` (a DataFrame becomes a list of records)."""
    if isinstance(predictions, pd.DataFrame):
        return {"predictions": [{str(k): _plain(v) for k, v in row.items()}
                                for row in predictions.to_dict(orient="records")]}
    if isinstance(predictions, pd.Series):
        return {"predictions": _plain_list(predictions.to_numpy())}
    if isinstance(predictions, Mapping):
        return {"predictions": {str(k): _plain_list(np.asarray(v)) for k, v in predictions.items()}}
    return {"predictions": _plain_list(np.asarray(predictions))}


def _plain_list(array: np.ndarray[Any, Any]) -> Any:
    if array.dtype.kind in "biuf":
        return array.tolist()
    return [_plain_list(np.asarray(v)) if isinstance(v, np.ndarray) else _plain(v) for v in array]


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)
