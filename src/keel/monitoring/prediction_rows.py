"""Pure row logic of the prediction log: one served request becomes one log row per predicted row.

A request scoring 5 rows becomes 5 log rows sharing ``request_id``, numbered by ``row``. Each row keeps its inputs
as JSON text of ``{column: value}`` and its prediction as JSON text: a scalar, a list (multi-output), or a dict
(a model that returns a DataFrame, or named outputs). JSON is written with orjson: NaN and missing values become
``null``; numpy scalars and arrays, datetimes and pandas timestamps are encoded; anything else as its ``str``.

A request without input rows (``None``, or a frame with no rows, e.g. a rejected request) still leaves one log row
(``row`` 0, inputs ``null``), so error rates can be computed from the log.

:func:`expand` turns the JSON back into columns (``input.<name>``, ``output`` / ``output.<name>``).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa

__all__ = ["FILE_SCHEMA", "PredictionRecord", "encode_batch", "expand", "input_rows", "output_rows", "row_count"]

log = logging.getLogger("keel.monitoring")

FILE_SCHEMA = pa.schema([
    ("timestamp", pa.timestamp("us", tz="UTC")),
    ("request_id", pa.string()),
    ("row", pa.int64()),
    ("model_name", pa.string()),
    ("model_version", pa.string()),
    ("shadow", pa.bool_()),
    ("status", pa.int32()),
    ("latency_ms", pa.float64()),
    ("inputs", pa.string()),
    ("outputs", pa.string()),
])
"""Columns stored in each Parquet file; ``deployment`` and ``date`` live in the partition path."""

_NULL = b"null"
_TEXT = ("inputs", "outputs")


class PredictionRecord(NamedTuple):
    """One served request as recorded on the request path (nothing encoded yet)."""

    request_id: str
    deployment: str
    model_name: str
    model_version: str
    inputs: Any
    outputs: Any
    latency_ms: float
    shadow: bool
    timestamp: float
    status: int


def row_count(inputs: Any) -> int:
    """How many log rows a request with these inputs becomes (at least one)."""
    try:
        return max(len(inputs), 1)
    except TypeError:
        return 1


def _json_default(obj: Any) -> Any:
    if obj is pd.NaT or obj is pd.NA:
        return None
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, (dt.datetime, dt.date, dt.time, pd.Timedelta)):
        return obj.isoformat()
    if isinstance(obj, Mapping):
        return dict(obj)
    if isinstance(obj, (set, frozenset, tuple)):
        return list(obj)
    return str(obj)


def _dumps(obj: Any) -> bytes:
    return orjson.dumps(obj, default=_json_default, option=orjson.OPT_SERIALIZE_NUMPY)


def _frame_text(frame: pd.DataFrame) -> list[bytes]:
    # One object array for the whole frame: far cheaper than a Series per column on small frames.
    names = [str(c) for c in frame.columns]
    return [_dumps(dict(zip(names, row, strict=False))) for row in frame.to_numpy(dtype=object).tolist()]


def _numpy_columns(inputs: Any) -> bool:
    """True for ``{name: 1-D array}`` with every array of one length."""
    if not isinstance(inputs, Mapping) or not inputs:
        return False
    arrays = list(inputs.values())
    return all(isinstance(a, np.ndarray) and a.ndim == 1 and len(a) == len(arrays[0]) for a in arrays)


def input_rows(inputs: Any) -> list[bytes]:
    """The JSON text of each input row (a DataFrame; other tabular shapes go through ``pd.DataFrame``)."""
    if inputs is None:
        return [_NULL]
    if _numpy_columns(inputs):
        names = [str(k) for k in inputs]  # equal-length 1-D columns: no DataFrame needed
        rows = zip(*(v.tolist() for v in inputs.values()), strict=True)
        return [_dumps(dict(zip(names, row, strict=True))) for row in rows] or [_NULL]
    if not isinstance(inputs, pd.DataFrame):
        try:
            inputs = pd.DataFrame(inputs)
        except (ValueError, TypeError):
            return [_dumps(inputs)]
    return _frame_text(inputs) if len(inputs) else [_NULL]


def _length(value: Any) -> int | None:
    if isinstance(value, (str, bytes)) or getattr(value, "ndim", 1) == 0:
        return None
    try:
        return len(value)
    except TypeError:
        return None


def _split(outputs: Any, n: int) -> list[Any]:
    """The prediction of each of ``n`` rows; an output that does not split by row is kept whole on every row."""
    if isinstance(outputs, pd.DataFrame):
        outputs = outputs.to_dict(orient="records") if len(outputs) == n else outputs.to_dict(orient="list")
    elif hasattr(outputs, "tolist") and getattr(outputs, "ndim", 0) >= 1:
        outputs = outputs.tolist()  # ndarray, Series, tensors: native Python values
    elif isinstance(outputs, Mapping) and outputs and all(_length(v) == n for v in outputs.values()):
        names = [str(k) for k in outputs]
        columns = [_split(v, n) for v in outputs.values()]
        return [dict(zip(names, values, strict=True)) for values in zip(*columns, strict=True)]
    if isinstance(outputs, (list, tuple)) and len(outputs) == n:
        return list(outputs)
    return [outputs] * n


def output_rows(outputs: Any, n: int) -> list[bytes]:
    """The JSON text of each of ``n`` rows' predictions."""
    if isinstance(outputs, pd.DataFrame) and len(outputs) == n:
        return _frame_text(outputs)
    return [_dumps(value) for value in _split(outputs, n)]


def _utc_date(timestamp: float) -> str:
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y-%m-%d")


class _Columns:
    """Column lists of one partition, filled record by record."""

    def __init__(self) -> None:
        self.data: dict[str, list[Any]] = {name: [] for name in FILE_SCHEMA.names}

    def add(self, rec: PredictionRecord, inputs: list[bytes], outputs: list[bytes]) -> None:
        n = len(inputs)
        fixed = {"timestamp": round(rec.timestamp * 1_000_000), "request_id": str(rec.request_id),
                 "model_name": str(rec.model_name), "model_version": str(rec.model_version),
                 "shadow": bool(rec.shadow), "status": int(rec.status), "latency_ms": float(rec.latency_ms)}
        for name, value in fixed.items():
            self.data[name].extend([value] * n)
        self.data["row"].extend(range(n))
        self.data["inputs"].extend(inputs)
        self.data["outputs"].extend(outputs)

    def table(self) -> pa.Table:
        return pa.table([self._array(name) for name in FILE_SCHEMA.names], schema=FILE_SCHEMA)

    def _array(self, name: str) -> pa.Array:
        if name in _TEXT:  # orjson's UTF-8 bytes: building binary and casting is ~10x faster than from bytes
            return pa.array(self.data[name], type=pa.binary()).cast(pa.string())
        return pa.array(self.data[name], type=FILE_SCHEMA.field(name).type)


def _encode_one(rec: PredictionRecord) -> tuple[tuple[str, str], list[bytes], list[bytes]]:
    if not isinstance(rec.deployment, str) or not rec.deployment:
        raise ValueError(f"deployment must be a non-empty string, got {rec.deployment!r}")
    inputs = input_rows(rec.inputs)
    outputs = output_rows(rec.outputs, len(inputs))
    if len(outputs) != len(inputs):
        raise ValueError(f"{len(outputs)} output rows for {len(inputs)} input rows")
    return (rec.deployment, _utc_date(rec.timestamp)), inputs, outputs


def encode_batch(records: Iterable[PredictionRecord]) -> tuple[dict[tuple[str, str], pa.Table], int]:
    """Encode records into one Arrow table per ``(deployment, UTC date)``; also return the rows that failed.

    A record that cannot be encoded is logged and skipped, so one bad request never costs the rest of the batch.
    """
    parts: dict[tuple[str, str], _Columns] = {}
    failed = 0
    for rec in records:
        try:
            key, inputs, outputs = _encode_one(rec)
        except Exception as exc:  # noqa: BLE001 - user data of any shape; skip it, keep the batch
            failed += row_count(rec.inputs)
            log.warning("keel: prediction %s of deployment %r not logged: %s: %s",
                        rec.request_id, rec.deployment, type(exc).__name__, exc)
            continue
        parts.setdefault(key, _Columns()).add(rec, inputs, outputs)
    return {key: cols.table() for key, cols in parts.items()}, failed


def _parse(texts: pd.Series) -> list[Any]:
    return [orjson.loads(text) if isinstance(text, str) else None for text in texts]


def expand(frame: pd.DataFrame) -> pd.DataFrame:
    """Add ``input.<name>`` columns, and ``output`` and/or ``output.<name>`` columns, parsed from the JSON text."""
    if frame.empty:
        return frame
    inputs = [value if isinstance(value, dict) else {} for value in _parse(frame["inputs"])]
    pieces = [frame, pd.DataFrame.from_records(inputs, index=frame.index).add_prefix("input.")]
    outputs = _parse(frame["outputs"])
    named = [isinstance(value, dict) for value in outputs]
    if not all(named):
        plain = [None if is_dict else value for value, is_dict in zip(outputs, named, strict=True)]
        pieces.append(pd.Series(plain, index=frame.index, name="output").to_frame())
    if any(named):
        dicts = [value if is_dict else {} for value, is_dict in zip(outputs, named, strict=True)]
        pieces.append(pd.DataFrame.from_records(dicts, index=frame.index).add_prefix("output."))
    return pd.concat(pieces, axis=1)
