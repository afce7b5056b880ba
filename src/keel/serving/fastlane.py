"""The fast lane for numeric tables, as pure functions: requests for a model whose signature is named numeric
columns decode straight into one float array, skip pandas until a whole micro-batch is assembled, and are checked
as they decode (every column present, every value a number).

Anything the fast lane does not recognise — other layouts, strings, missing columns, ragged rows — returns ``None``
and takes the general path, which produces the usual error naming the field.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from keel.monitoring.prediction_rows import NumericRows
from keel.registry.signature import ColumnSpec, Signature

__all__ = ["NumericTable", "Rows"]

_FAST_TYPES: dict[str, np.dtype[Any]] = {"double": np.dtype("float64"), "float": np.dtype("float32")}
_NUMERIC_KINDS = "fiu"


@dataclass(frozen=True, eq=False)
class NumericTable:
    """The columns (names, dtypes, in signature order) of a model that takes named float columns."""

    names: tuple[str, ...]
    dtypes: tuple[np.dtype[Any], ...]
    positions: dict[str, int] = field(repr=False)
    columns: pd.Index = field(repr=False)

    @classmethod
    def from_signature(cls, signature: Signature | None) -> NumericTable | None:
        """The table for ``signature``, or ``None`` when its inputs are not all required named float columns."""
        if signature is None or signature.inputs.is_tensor or not signature.inputs.has_names:
            return None
        specs = signature.inputs.specs
        if not all(isinstance(s, ColumnSpec) and s.type in _FAST_TYPES and s.required and s.name for s in specs):
            return None
        names = tuple(str(s.name) for s in specs)
        dtypes = tuple(_FAST_TYPES[s.type] for s in specs if isinstance(s, ColumnSpec))
        # An object-dtype column index: pandas' Arrow-backed string index makes every feature-name check slow.
        return cls(names, dtypes, {n: i for i, n in enumerate(names)}, pd.Index(names, dtype=object))

    def same_as(self, other: NumericTable | None) -> bool:
        """True when ``other`` has the same columns and dtypes (rows decoded for one fit the other)."""
        return other is not None and (other is self or (other.names == self.names and other.dtypes == self.dtypes))

    def frame(self, values: np.ndarray[Any, Any]) -> pd.DataFrame:
        """The model's input DataFrame for ``values`` (rows × columns in signature order)."""
        frame = pd.DataFrame(values, columns=self.columns, copy=False)
        if any(d != values.dtype for d in self.dtypes):
            frame = frame.astype(dict(zip(self.names, self.dtypes, strict=True)))
        return frame

    def rows(self, values: Any, columns: Any = None) -> Rows | None:
        """``values`` (a list of rows) as :class:`Rows`, reordered from ``columns`` (default: signature order)."""
        if not isinstance(values, list) or not values:
            return None
        order = None
        if columns is not None and list(columns) != list(self.names):
            if not isinstance(columns, list) or len(columns) != len(self.names) or set(columns) != set(self.names):
                return None
            order = [columns.index(n) for n in self.names]
        try:
            array = np.asarray(values)
        except (ValueError, TypeError):
            return None
        if array.ndim != 2 or array.shape[1] != len(self.names) or array.dtype.kind not in _NUMERIC_KINDS:
            return None
        array = array.astype(np.float64, copy=False)
        return Rows(array if order is None else array[:, order], self)

    def from_invocations(self, body: Mapping[str, Any]) -> Rows | None:
        """MLflow ``dataframe_split`` or ``instances`` (list of rows) bodies."""
        if len(body) != 1:
            return None
        split = body.get("dataframe_split")
        if isinstance(split, dict):
            if set(split) - {"columns", "data", "index"} or "columns" not in split:
                return None
            return self.rows(split.get("data"), split["columns"])
        return self.rows(body.get("instances"))

    def from_v2(self, body: Mapping[str, Any]) -> Rows | None:
        """A v2 request holding one 2-D numeric tensor ``[rows, features]`` with JSON data."""
        inputs = body.get("inputs")
        if not isinstance(inputs, list) or len(inputs) != 1 or not isinstance(inputs[0], dict):
            return None
        tensor = inputs[0]
        shape, data = tensor.get("shape"), tensor.get("data")
        if tensor.get("name") in self.positions or tensor.get("datatype") not in ("FP64", "FP32", "INT64", "INT32"):
            return None
        if not (isinstance(shape, list) and len(shape) == 2 and shape[1] == len(self.names)
                and isinstance(shape[0], int) and shape[0] > 0 and isinstance(data, list | np.ndarray)):
            return None
        try:
            array = np.asarray(data)
        except (ValueError, TypeError):
            return None
        if array.dtype.kind not in _NUMERIC_KINDS or array.size != shape[0] * shape[1]:
            return None
        return Rows(array.reshape(shape).astype(np.float64, copy=False), self)


@dataclass(frozen=True, eq=False)
class Rows:
    """Rows decoded by the fast lane: ``values`` (float64, rows × columns) in ``table``'s column order."""

    values: np.ndarray[Any, Any]
    table: NumericTable

    def __len__(self) -> int:
        return int(self.values.shape[0])

    def frame(self) -> pd.DataFrame:
        """The rows as the model's input DataFrame."""
        return self.table.frame(self.values)

    def logged(self) -> NumericRows:
        """The rows as the prediction log records them (no copy)."""
        return NumericRows(self.table.names, self.values)
