"""Delayed ground truth: labels arrive after the predictions and are joined to them by request id or by a key column
of the inputs. Labels are stored like the prediction log, as Parquet under ``<artifact root>/labels``::

    <root>/deployment=<name>/part-<epoch_ms>-<uuid8>.parquet     columns: key (text), label (JSON text), added_at
"""

from __future__ import annotations

import io
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from keel.artifacts import FsspecStorage
from keel.errors import InvalidInput

__all__ = ["LabelReport", "add_labels", "join_labels", "read_labels"]


@dataclass(frozen=True)
class LabelReport:
    """What a label upload matched: labels received, those whose key matches a logged prediction, and the rest."""

    received: int
    matched: int
    unknown: int
    unknown_examples: list[str]


def _root() -> FsspecStorage:
    from keel.tracking.context import get_backend

    return FsspecStorage(f"{get_backend().settings.resolved_artifact_root.rstrip('/')}/labels")


def _frame(source: pd.DataFrame | str | Path) -> pd.DataFrame:
    if isinstance(source, pd.DataFrame):
        return source
    text = str(source)
    if Path(text).exists() or "://" in text:
        from keel.data.sources import read

        return read(text).to_pandas()
    import keel.data

    return keel.data.load(text)


def add_labels(deployment: str, source: pd.DataFrame | str | Path, *, key: str = "request_id",
               label_column: str = "label") -> LabelReport:
    """Store labels for ``deployment`` (a DataFrame, a CSV/Parquet path, or a dataset ``NAME@vN``) keyed by ``key``
    (``request_id`` or an input column) and report how many match logged predictions (unknown ones are kept, counted
    and reported: their predictions may simply not be logged yet)."""
    frame = _frame(source)
    for column, role in ((key, "the key"), (label_column, "the label")):
        if column not in frame.columns:
            have = ", ".join(map(str, frame.columns))
            raise InvalidInput(f"labels lack column {column!r} ({role}); they have {have}",
                               field="key" if role == "the key" else "label_column")
    keys = frame[key].map(_key_text)
    table = pa.table({"key": pa.array(keys.tolist(), pa.string()),
                      "label": pa.array([orjson.dumps(_plain(v)).decode() for v in frame[label_column]], pa.string()),
                      "added_at": pa.array([int(time.time() * 1000)] * len(frame), pa.int64())})
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    storage = _root()
    rel = f"deployment={quote(deployment, safe='')}/part-{int(time.time() * 1000)}-{uuid.uuid4().hex[:8]}.parquet"
    storage.write_atomic(rel, [buffer.getvalue()])
    known = set(_prediction_keys(deployment, key))
    unknown = [k for k in keys if k not in known]
    return LabelReport(len(frame), len(frame) - len(unknown), len(unknown), unknown[:5])


def read_labels(deployment: str) -> pd.DataFrame:
    """Every label stored for ``deployment`` (the latest per key wins), columns ``key`` and ``label``."""
    storage = _root()
    folder = f"deployment={quote(deployment, safe='')}"
    if not storage.exists(folder):
        return pd.DataFrame({"key": pd.Series(dtype=str), "label": pd.Series(dtype=object)})
    tables = [pq.read_table(io.BytesIO(storage.read_bytes(f"{folder}/{entry.name}")))
              for entry in storage.listdir(folder) if entry.name.endswith(".parquet")]
    if not tables:
        return pd.DataFrame({"key": pd.Series(dtype=str), "label": pd.Series(dtype=object)})
    frame = pa.concat_tables(tables).to_pandas().sort_values("added_at", kind="stable")
    frame = frame.drop_duplicates("key", keep="last")
    frame["label"] = [orjson.loads(v) for v in frame["label"]]
    return frame[["key", "label"]].reset_index(drop=True)


def join_labels(predictions: pd.DataFrame, labels: pd.DataFrame, key: str) -> pd.DataFrame:
    """``predictions`` (expanded prediction log rows) with a ``label`` column where a label matches."""
    column = "request_id" if key == "request_id" else f"input.{key}"
    if column not in predictions.columns:
        return predictions.assign(label=None)
    lookup = dict(zip(labels["key"], labels["label"], strict=True))
    return predictions.assign(label=[lookup.get(_key_text(v)) for v in predictions[column]])


def _prediction_keys(deployment: str, key: str) -> list[str]:
    from keel.monitoring.predictions import predictions

    logged = predictions(deployment, shadow=False)
    column = "request_id" if key == "request_id" else f"input.{key}"
    if logged.empty or column not in logged.columns:
        return []
    return [_key_text(v) for v in logged[column]]


def _key_text(value: Any) -> str:
    value = _plain(value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value)


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") and type(value).__module__ == "numpy" else value
