"""Model signatures: what a model takes and returns, inferred from an example and checked before ``predict``.

A :class:`Signature` holds an input :class:`Schema` and optionally an output one. A schema is either a list of
columns (:class:`ColumnSpec`, for tables: pandas DataFrames, lists of scalars) or a list of tensors
(:class:`TensorSpec`, for numpy arrays and dicts of arrays), exactly as in MLflow, and it serialises to MLflow's
signature JSON (``{"inputs": "[{\\"type\\": \\"double\\", \\"name\\": \\"x\\", \\"required\\": true}]", ...}``),
so signatures written by either tool are read by the other.

Everything here is pure: no I/O. :func:`enforce` raises :class:`~keel.errors.InvalidInput` whose ``field`` is the
offending column (or ``"input"`` for unnamed data) and whose message says what was expected.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from keel.errors import InvalidInput

__all__ = ["ColumnSpec", "Schema", "Signature", "TensorSpec", "enforce", "infer_schema", "infer_signature"]

#: MLflow's column types and the numpy dtype each one means.
COLUMN_TYPES: dict[str, np.dtype[Any]] = {
    "boolean": np.dtype("bool"),
    "integer": np.dtype("int32"),
    "long": np.dtype("int64"),
    "float": np.dtype("float32"),
    "double": np.dtype("float64"),
    "string": np.dtype("object"),
    "binary": np.dtype("object"),
    "datetime": np.dtype("datetime64[ns]"),
}
_NUMERIC = ("integer", "long", "float", "double")


@dataclass(frozen=True)
class ColumnSpec:
    """One column of a table: MLflow's ``ColSpec``.

    ``type`` is an MLflow type name (``double``, ``long``, ``string``, ...). Types Keel does not check (``array``,
    ``object``, ``map``, ``any``) keep their JSON in ``detail`` so they round-trip unchanged.
    """

    type: str
    name: str | None = None
    required: bool = True
    detail: dict[str, Any] | None = field(default=None, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """MLflow's JSON form of this column."""
        out: dict[str, Any] = {"type": self.type, **(self.detail or {})}
        if self.name is not None:
            out["name"] = self.name
        out["required"] = self.required
        return out


@dataclass(frozen=True)
class TensorSpec:
    """One tensor: numpy dtype name and shape, ``-1`` marking a free dimension (usually the batch)."""

    dtype: str
    shape: tuple[int, ...]
    name: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """MLflow's JSON form of this tensor."""
        spec = {"type": "tensor", "tensor-spec": {"dtype": self.dtype, "shape": list(self.shape)}}
        return spec if self.name is None else {"name": self.name, **spec}


@dataclass(frozen=True)
class Schema:
    """An ordered list of columns, or of tensors (never a mix)."""

    specs: tuple[ColumnSpec | TensorSpec, ...]

    def __post_init__(self) -> None:
        if not self.specs:
            raise InvalidInput("a schema needs at least one column or tensor", field="signature")
        if len({isinstance(s, TensorSpec) for s in self.specs}) > 1:
            raise InvalidInput("a schema cannot mix columns and tensors", field="signature")

    @property
    def is_tensor(self) -> bool:
        """True when the schema describes tensors rather than table columns."""
        return isinstance(self.specs[0], TensorSpec)

    @property
    def names(self) -> list[str | None]:
        """Column or tensor names, ``None`` for unnamed ones."""
        return [s.name for s in self.specs]

    @property
    def has_names(self) -> bool:
        """True when every input is named."""
        return all(n is not None for n in self.names)

    def to_json(self) -> str:
        """MLflow's JSON string for this schema (the value stored under ``signature.inputs`` in ``MLmodel``)."""
        return json.dumps([s.to_dict() for s in self.specs])

    @classmethod
    def from_json(cls, text: str) -> Schema:
        """Parse MLflow's schema JSON string."""
        try:
            items = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InvalidInput(f"signature schema is not valid JSON: {exc}", field="signature") from exc
        return cls(tuple(_spec_from_dict(item) for item in items))


@dataclass(frozen=True)
class Signature:
    """What a model takes (``inputs``) and returns (``outputs``)."""

    inputs: Schema
    outputs: Schema | None = None

    def to_dict(self) -> dict[str, Any]:
        """MLflow's ``signature`` section of ``MLmodel``: schema JSON strings and ``params``."""
        return {
            "inputs": self.inputs.to_json(),
            "outputs": self.outputs.to_json() if self.outputs is not None else None,
            "params": None,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Signature:
        """Read MLflow's ``signature`` section (params are ignored)."""
        if not data.get("inputs"):
            raise InvalidInput("signature has no inputs", field="signature")
        outputs = data.get("outputs")
        return cls(Schema.from_json(data["inputs"]), Schema.from_json(outputs) if outputs else None)


def _spec_from_dict(item: Mapping[str, Any]) -> ColumnSpec | TensorSpec:
    if item.get("type") == "tensor":
        tensor = item["tensor-spec"]
        return TensorSpec(str(tensor["dtype"]), tuple(int(d) for d in tensor["shape"]), item.get("name"))
    detail = {k: v for k, v in item.items() if k not in ("type", "name", "required")}
    required = item.get("required")
    return ColumnSpec(str(item["type"]), item.get("name"), True if required is None else bool(required),
                      detail or None)


# ---------------------------------------------------------------------------------------------------- inference


def infer_signature(input_example: Any, output: Any = None) -> Signature:
    """Infer a signature from an input example and, optionally, the model's output on it.

    Supports pandas DataFrames and Series, numpy arrays, dicts of arrays and lists (of scalars, or of rows).
    """
    return Signature(infer_schema(input_example), infer_schema(output) if output is not None else None)


def infer_schema(data: Any) -> Schema:
    """The schema of one piece of data (see :func:`infer_signature`)."""
    if isinstance(data, pd.DataFrame):
        return Schema(tuple(ColumnSpec(_column_type(data[c], str(c)), str(c)) for c in data.columns))
    if isinstance(data, pd.Series):
        name = None if data.name is None else str(data.name)
        return Schema((ColumnSpec(_column_type(data, name or "input"), name),))
    if isinstance(data, np.ndarray):
        return Schema((_tensor_spec(data, None),))
    if isinstance(data, Mapping):
        return Schema(tuple(_tensor_spec(np.asarray(v), str(k)) for k, v in data.items()))
    if isinstance(data, list | tuple):
        return _list_schema(list(data))
    raise InvalidInput(f"cannot infer a signature from {type(data).__name__}; pass a pandas DataFrame, a numpy "
                       "array, a dict of arrays or a list", field="input_example")


def _list_schema(items: list[Any]) -> Schema:
    if not items:
        raise InvalidInput("cannot infer a signature from an empty list", field="input_example")
    if all(isinstance(i, Mapping) for i in items):
        return infer_schema(pd.DataFrame(items))
    array = np.asarray(items)
    if array.dtype.kind == "O":
        raise InvalidInput("cannot infer a signature from a ragged or mixed list", field="input_example")
    if array.ndim == 1:
        return Schema((ColumnSpec(_column_type(pd.Series(array), "input")),))
    return Schema((_tensor_spec(array, None),))


def _tensor_spec(array: np.ndarray[Any, Any], name: str | None) -> TensorSpec:
    if array.dtype.kind == "O":
        raise InvalidInput(f"tensor {name or 'input'!r} has object dtype; use a numeric array", field=name or "input")
    return TensorSpec(array.dtype.name, (-1, *array.shape[1:]), name)


def _column_type(series: pd.Series, name: str) -> str:
    dtype = series.dtype
    if isinstance(dtype, pd.StringDtype):
        return "string"
    if isinstance(dtype, pd.CategoricalDtype):
        return _column_type(pd.Series(np.asarray(dtype.categories)), name)
    numpy_dtype = getattr(dtype, "numpy_dtype", dtype)
    if isinstance(numpy_dtype, np.dtype):
        found = _numpy_column_type(numpy_dtype) if numpy_dtype.kind != "O" else _object_type(series)
        if found is not None:
            return found
    raise InvalidInput(f"column {name!r} has dtype {dtype}, which has no signature type", field=name)


def _numpy_column_type(dtype: np.dtype[Any]) -> str | None:
    kind, size = dtype.kind, dtype.itemsize
    if kind == "b":
        return "boolean"
    if kind == "i" or (kind == "u" and size < 8):
        return "long" if size > 4 or (kind == "u" and size == 4) else "integer"
    if kind == "f":
        return "double" if size > 4 else "float"
    return {"U": "string", "S": "binary", "M": "datetime"}.get(kind)


def _object_type(series: pd.Series) -> str | None:
    values = series.dropna()
    if len(values) and all(isinstance(v, str) for v in values):
        return "string"
    if len(values) and all(isinstance(v, bytes | bytearray) for v in values):
        return "binary"
    return None


# --------------------------------------------------------------------------------------------------- enforcement


def enforce(signature: Signature | None, data: Any) -> Any:
    """Check ``data`` against the signature's inputs and return it ready for the model.

    Columns are selected and ordered as in the signature and safely cast (``int`` → ``float``, ``int32`` →
    ``int64``); a missing required column, a dtype that cannot be cast without loss, or a wrong shape or number of
    columns raises :class:`InvalidInput` naming the column. Without a signature the data passes unchanged.
    """
    if signature is None:
        return data
    schema = signature.inputs
    if schema.is_tensor:
        return _enforce_tensors(schema, data)
    if schema.has_names:
        return _enforce_named_columns(schema, data)
    return _enforce_unnamed_columns(schema, data)


def _enforce_named_columns(schema: Schema, data: Any) -> pd.DataFrame:
    frame = _as_frame(data, [str(n) for n in schema.names])
    dtypes = frame.dtypes.to_dict()
    keep: list[str] = []
    casts: dict[str, Any] = {}
    for spec in schema.specs:
        assert isinstance(spec, ColumnSpec) and spec.name is not None
        if spec.name not in dtypes:
            if spec.required:
                raise InvalidInput(f"input is missing column {spec.name!r} (expected {spec.type}); the model "
                                   f"expects columns {schema.names}", field=spec.name)
            continue
        target = _cast_target(dtypes[spec.name], partial(frame.__getitem__, spec.name), spec, spec.name)
        if target is not None:
            casts[spec.name] = target
        keep.append(spec.name)
    if keep != list(frame.columns):
        frame = frame[keep]
    return frame.astype(casts) if casts else frame


def _as_frame(data: Any, names: list[str]) -> pd.DataFrame:
    if isinstance(data, pd.DataFrame):
        return data  # never modified in place: casts and selections make new frames
    if isinstance(data, pd.Series):
        return data.to_frame()
    if isinstance(data, Mapping):
        return pd.DataFrame({k: np.atleast_1d(np.asarray(v)) for k, v in data.items()})
    if isinstance(data, list) and data and all(isinstance(row, Mapping) for row in data):
        return pd.DataFrame(data)
    array = np.asarray(data)
    if array.ndim == 1 and len(names) == 1:
        array = array.reshape(-1, 1)
    if array.ndim != 2 or array.shape[1] != len(names):
        raise InvalidInput(f"input has shape {array.shape}, expected a table with {len(names)} columns {names}",
                           field="input")
    return pd.DataFrame(array, columns=names)


def _enforce_unnamed_columns(schema: Schema, data: Any) -> Any:
    specs = [s for s in schema.specs if isinstance(s, ColumnSpec)]
    frame = data.copy() if isinstance(data, pd.DataFrame) else None
    if frame is None:
        array = np.asarray(data)
        frame = pd.DataFrame(array.reshape(-1, 1) if array.ndim == 1 else array)
    if frame.ndim != 2 or frame.shape[1] != len(specs):
        raise InvalidInput(f"input has {frame.shape[1]} columns, the model expects {len(specs)}", field="input")
    for position, (column, spec) in enumerate(zip(frame.columns, specs, strict=True)):
        frame[column] = _cast_column(frame[column], spec, f"column {position}")
    if isinstance(data, pd.DataFrame):
        return frame
    values = frame.to_numpy()
    return values.ravel() if np.asarray(data).ndim == 1 else values


def _cast_column(series: pd.Series, spec: ColumnSpec, label: str) -> pd.Series:
    target = _cast_target(series.dtype, lambda: series, spec, label)
    return series if target is None else series.astype(target)


def _cast_target(dtype: Any, series: Callable[[], pd.Series], spec: ColumnSpec, label: str) -> Any:
    """``None`` when a column of ``dtype`` already has the signature's type, else the dtype to cast it to;
    :class:`InvalidInput` naming the column when no safe cast exists. ``series`` is only read for object columns."""
    if spec.type not in COLUMN_TYPES:
        return None  # array/object/map/any: not checked
    numpy_dtype = getattr(dtype, "numpy_dtype", dtype)
    fast = _numpy_column_type(numpy_dtype) if isinstance(numpy_dtype, np.dtype) and numpy_dtype.kind != "O" \
        and not isinstance(dtype, pd.CategoricalDtype | pd.StringDtype) else None
    if fast is not None:
        actual = fast
    else:
        try:
            actual = _column_type(series(), label)
        except InvalidInput:
            actual = str(dtype)
    if actual == spec.type or (spec.type == "datetime" and getattr(dtype, "kind", "") == "M"):
        return None
    target = COLUMN_TYPES[spec.type]
    if spec.type in _NUMERIC and actual in _NUMERIC and np.can_cast(COLUMN_TYPES[actual], target, "safe"):
        return target
    hint = "; it has missing values, which integer columns cannot hold" if spec.type in ("integer", "long") \
        and series().isna().any() else ""
    raise InvalidInput(f"column {label!r} has type {actual}, which cannot be safely cast to {spec.type} as the "
                       f"signature requires{hint}", field=label)


def _enforce_tensors(schema: Schema, data: Any) -> Any:
    specs = [s for s in schema.specs if isinstance(s, TensorSpec)]
    if not schema.has_names:
        frame_values = data.to_numpy() if isinstance(data, pd.DataFrame) else data
        return _cast_tensor(np.asarray(frame_values), specs[0], "input")
    if not isinstance(data, Mapping | pd.DataFrame):
        raise InvalidInput(f"the model expects a dict of tensors {schema.names}, got {type(data).__name__}",
                           field="input")
    out: dict[str, np.ndarray[Any, Any]] = {}
    for spec in specs:
        assert spec.name is not None
        if spec.name not in data:
            raise InvalidInput(f"input is missing tensor {spec.name!r}; the model expects {schema.names}",
                               field=spec.name)
        out[spec.name] = _cast_tensor(np.asarray(data[spec.name]), spec, spec.name)
    return out


def _cast_tensor(array: np.ndarray[Any, Any], spec: TensorSpec, label: str) -> np.ndarray[Any, Any]:
    expected = spec.shape
    fits = array.ndim == len(expected) and all(e in (-1, a) for e, a in zip(expected, array.shape, strict=True))
    if not fits:
        raise InvalidInput(f"tensor {label!r} has shape {array.shape}, the model expects {expected} "
                           "(-1 = any size)", field=label)
    target = np.dtype(spec.dtype)
    if array.dtype == target:
        return array
    if not np.can_cast(array.dtype, target, "safe"):
        raise InvalidInput(f"tensor {label!r} has dtype {array.dtype}, which cannot be safely cast to {target}",
                           field=label)
    return array.astype(target)
