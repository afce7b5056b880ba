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
import functools
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa

from keel.monitoring.json_columns import ENCODABLE_KINDS, json_objects, json_rows

__all__ = ["FILE_SCHEMA", "NumericRows", "PredictionRecord", "encode_batch", "expand", "input_rows", "output_rows",
           "row_count"]

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
_SEAL_ROWS = 512
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


@dataclass(frozen=True, slots=True)
class NumericRows:
    """Input rows as one 2-D numeric array (rows × columns) and the column names: what a model server's fast lane
    logs, and the cheapest input to encode (a run of them is encoded by a few Arrow kernel calls)."""

    names: tuple[str, ...]
    values: np.ndarray[Any, Any]

    def __len__(self) -> int:
        return int(self.values.shape[0])

    def as_dict_rows(self) -> list[dict[str, Any]]:
        """Each row as ``{column: value}`` with native Python values."""
        return [dict(zip(self.names, row, strict=True)) for row in self.values.tolist()]


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
    if isinstance(inputs, NumericRows):
        return [_dumps(row) for row in inputs.as_dict_rows()] or [_NULL]
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
    return _day_text(int(timestamp // 86_400))


@functools.lru_cache(maxsize=64)
def _day_text(day: int) -> str:
    return (dt.date(1970, 1, 1) + dt.timedelta(days=day)).isoformat()


class _Columns:
    """The rows of one partition, filled record by record and sealed into Arrow record batches every
    ``_SEAL_ROWS`` rows (so no single conversion holds the GIL for long)."""

    def __init__(self) -> None:
        self.batches: list[pa.RecordBatch] = []
        self._clear()

    def _clear(self) -> None:
        self.data: dict[str, list[Any]] = {name: [] for name in FILE_SCHEMA.names}
        self.rows = 0

    def add(self, rec: PredictionRecord, inputs: list[bytes], outputs: list[bytes]) -> None:
        """Add one record whose rows have the given JSON texts."""
        for name, values in _fixed_columns([rec], [len(inputs)]).items():
            self.data[name].extend(values)
        self.data["inputs"].extend(inputs)
        self.data["outputs"].extend(outputs)
        self.rows += len(inputs)
        if self.rows >= _SEAL_ROWS:
            self._seal()

    def add_run(self, records: list[PredictionRecord], counts: list[int], inputs: pa.Array,
                outputs: pa.Array) -> None:
        """Add a run of records (``counts[i]`` rows for record ``i``) whose rows' JSON texts are already Arrow
        arrays."""
        self._seal()  # rows added one by one before the run stay before it
        columns: dict[str, Any] = _fixed_columns(records, counts) | {"inputs": inputs, "outputs": outputs}
        self.batches.append(pa.record_batch([_as_array(columns[f.name], f.type) for f in FILE_SCHEMA],
                                            schema=FILE_SCHEMA))

    def _seal(self) -> None:
        if self.rows:
            self.batches.append(pa.record_batch([self._array(name) for name in FILE_SCHEMA.names],
                                                schema=FILE_SCHEMA))
            self._clear()

    def table(self) -> pa.Table:
        self._seal()
        return pa.Table.from_batches(self.batches, schema=FILE_SCHEMA)

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
    Consecutive records of one shape (numeric columns with the same names, a numeric array of predictions — what
    a model server logs) are encoded together, by a few Arrow kernel calls per run (see ``json_columns``).
    """
    parts: dict[tuple[str, str], _Columns] = {}
    failed = 0
    run: list[PredictionRecord] = []
    run_key: tuple[Any, ...] | None = None

    def skip(rec: PredictionRecord, exc: Exception) -> None:
        nonlocal failed
        failed += row_count(rec.inputs)
        log.warning("keel: prediction %s of deployment %r not logged: %s: %s",
                    rec.request_id, rec.deployment, type(exc).__name__, exc)

    def one(rec: PredictionRecord) -> None:
        try:
            key, inputs, outputs = _encode_one(rec)
        except Exception as exc:  # noqa: BLE001 - user data of any shape; skip it, keep the batch
            skip(rec, exc)
            return
        parts.setdefault(key, _Columns()).add(rec, inputs, outputs)

    def close_run() -> None:
        if not run:
            return
        assert run_key is not None
        try:
            counts, inputs, outputs = _encode_run(run)
        except Exception:  # noqa: BLE001 - encode them one by one, which names the culprit
            for rec in run:
                one(rec)
        else:
            parts.setdefault(run_key[0], _Columns()).add_run(run, counts, inputs, outputs)
        run.clear()

    for rec in records:
        shape = _bulk_shape(rec)
        if shape is None:
            close_run()
            one(rec)
            continue
        key = ((rec.deployment, _utc_date(rec.timestamp)), shape)
        if key != run_key or len(run) >= _RUN_RECORDS:
            close_run()
            run_key = key
        run.append(rec)
    close_run()
    return {key: cols.table() for key, cols in parts.items()}, failed


_RUN_RECORDS = 512  # records encoded together: few kernel calls per flush, bounded memory


def _bulk_shape(rec: PredictionRecord) -> tuple[Any, ...] | None:
    """What records must share to be encoded in one run, or ``None`` for a record that is encoded alone."""
    inputs, outputs = rec.inputs, rec.outputs
    if type(inputs) is not NumericRows or not isinstance(rec.deployment, str) or not rec.deployment:
        return None
    values = inputs.values
    if not (values.ndim == 2 and len(values) and values.dtype.kind in ENCODABLE_KINDS
            and isinstance(outputs, np.ndarray) and outputs.ndim in (1, 2) and len(outputs) == len(values)
            and outputs.dtype.kind in ENCODABLE_KINDS):
        return None
    return inputs.names, values.dtype, outputs.dtype, outputs.shape[1:]


def _encode_run(run: list[PredictionRecord]) -> tuple[list[int], pa.Array, pa.Array]:
    """Rows per record and the JSON texts of every row of ``run`` (records of one :func:`_bulk_shape`)."""
    counts = [len(r.inputs) for r in run]
    inputs = json_objects(run[0].inputs.names, np.concatenate([r.inputs.values for r in run]))
    outputs = json_rows(np.concatenate([r.outputs for r in run]))
    return counts, inputs, outputs


def _as_array(values: Any, type_: pa.DataType) -> pa.Array:
    return values if isinstance(values, pa.Array) else pa.array(values, type=type_)


def _fixed_columns(records: list[PredictionRecord], counts: list[int]) -> dict[str, list[Any]]:
    """Every column but the JSON texts, for ``records`` of ``counts[i]`` rows each."""
    fixed: dict[str, list[Any]] = {"timestamp": [round(r.timestamp * 1_000_000) for r in records],
             "request_id": [str(r.request_id) for r in records],
             "model_name": [str(r.model_name) for r in records],
             "model_version": [str(r.model_version) for r in records],
             "shadow": [bool(r.shadow) for r in records], "status": [int(r.status) for r in records],
             "latency_ms": [float(r.latency_ms) for r in records]}
    if all(n == 1 for n in counts):
        return fixed | {"row": [0] * len(records)}
    return {name: _repeat(values, counts) for name, values in fixed.items()} | {
        "row": [i for n in counts for i in range(n)]}


def _repeat(values: list[Any], counts: list[int]) -> list[Any]:
    return [value for value, n in zip(values, counts, strict=True) for _ in range(n)]


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
