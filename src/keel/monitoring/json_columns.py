"""JSON text for whole numeric columns at once, built by Arrow's compute kernels instead of one ``orjson`` call per
row: the prediction log encodes a model server's numeric rows this way, so its writer thread holds the GIL for
microseconds per batch instead of milliseconds.

The text parses to what :mod:`orjson` writes for the same Python values — floats in their shortest round-trip
form, always with a fractional part or an exponent (``1.0``, ``0.5``, ``1e+20``) so they read back as floats, NaN
and infinities as ``null``, integers as integers, booleans as ``true``/``false`` — so readers get the same values
whichever path wrote a row (only the spelling of some exponents differs).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["ENCODABLE_KINDS", "json_numbers", "json_objects", "json_rows"]

#: numpy dtype kinds these functions encode: booleans, signed and unsigned integers, floats.
ENCODABLE_KINDS = frozenset("biuf")

_HAS_POINT = r"[.en]"  # a decimal point, an exponent, or "nan"/"inf": nothing to add


def json_numbers(values: np.ndarray[Any, Any]) -> pa.Array:
    """The JSON text of each element of a 1-D numeric array, as an Arrow string array."""
    if values.dtype.kind not in ENCODABLE_KINDS or values.ndim != 1:
        raise TypeError(f"expected a 1-D array of numbers or booleans, got {values.dtype} with shape {values.shape}")
    if values.dtype.kind != "f":
        return pc.cast(pa.array(values), pa.string())
    floats = pa.array(values.astype(np.float64, copy=False))  # float32 is written as the float64 it widens to
    text = pc.cast(floats, pa.string())
    text = pc.if_else(pc.match_substring_regex(text, _HAS_POINT), text, pc.binary_join_element_wise(text, ".0", ""))
    return pc.if_else(pc.is_finite(floats), text, pa.scalar("null"))


def json_objects(names: Sequence[str], matrix: np.ndarray[Any, Any]) -> pa.Array:
    """``{"name": value, ...}`` for each row of a 2-D numeric ``matrix`` whose columns are ``names``."""
    if matrix.ndim != 2 or matrix.shape[1] != len(names):
        raise ValueError(f"expected a matrix of {len(names)} columns, got shape {matrix.shape}")
    if not names:
        return pa.array(["{}"] * len(matrix), type=pa.string())
    keys = [orjson.dumps(str(name)).decode() + ":" for name in names]
    return _join_columns(matrix, ["{" + keys[0], *("," + key for key in keys[1:])], "}")


def json_rows(values: np.ndarray[Any, Any]) -> pa.Array:
    """Each row's JSON text: the value of a 1-D array's element, or ``[v, ...]`` for a 2-D array's row."""
    if values.ndim == 1:
        return json_numbers(values)
    if values.ndim != 2:
        raise ValueError(f"expected a 1-D or 2-D array, got shape {values.shape}")
    if values.shape[1] == 0:
        return pa.array(["[]"] * len(values), type=pa.string())
    return _join_columns(values, ["[", *[","] * (values.shape[1] - 1)], "]")


def _join_columns(matrix: np.ndarray[Any, Any], before: list[str], end: str) -> pa.Array:
    """Row ``r``'s text: ``before[0] + text(matrix[r, 0]) + before[1] + ... + end``. The whole matrix is formatted
    in one pass (column after column, so each column is a zero-copy slice): a handful of kernel calls however wide
    the matrix, each of which lets the GIL go."""
    rows = len(matrix)
    text = json_numbers(np.ascontiguousarray(matrix.T).ravel())
    pieces: list[Any] = []
    for i, prefix in enumerate(before):
        pieces.extend([prefix, text.slice(i * rows, rows)])
    return pc.binary_join_element_wise(*pieces, end, "")
