"""Step values as stored artifacts: DataFrames as Parquet, NumPy arrays as .npy, files by their bytes, JSON-able
values as JSON (inline in the run record when small), anything else pickled. Stored bytes are content-addressed, so a
value's digest is its identity in cache keys and lineage."""

from __future__ import annotations

import hashlib
import io
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from keel.artifacts import BlobStore
from keel.errors import InvalidInput

__all__ = ["ValueRef", "load_value", "store_value", "value_key"]

INLINE_MAX = 16 * 1024
_JSON_TYPES = (str, int, float, bool, type(None))


@dataclass(frozen=True)
class ValueRef:
    """A stored value: its kind, blob digest (None when inline), the inline JSON text, and a stable key."""

    kind: str
    digest: str | None = None
    inline: str | None = None
    name: str | None = None

    @property
    def key(self) -> str:
        """What identifies the value's content (the digest, or a hash of the inline JSON)."""
        return self.digest or hashlib.blake2b((self.inline or "").encode(), digest_size=16).hexdigest()

    def to_json(self) -> dict[str, Any]:
        """JSON-ready."""
        return {k: v for k, v in self.__dict__.items() if v is not None}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ValueRef:
        """From :meth:`to_json`."""
        return cls(data["kind"], data.get("digest"), data.get("inline"), data.get("name"))


def _json_safe(value: Any, depth: int = 0) -> bool:
    if type(value) in _JSON_TYPES:
        return not (type(value) is float and value != value)  # NaN does not survive JSON
    if depth > 50:
        return False
    if type(value) is list:
        return all(_json_safe(v, depth + 1) for v in value)
    if type(value) is dict:
        return all(type(k) is str and _json_safe(v, depth + 1) for k, v in value.items())
    return False


def _is(value: Any, module: str, name: str) -> bool:
    cls = type(value)
    return cls.__name__ == name and cls.__module__.split(".")[0] == module


def encode(value: Any, what: str) -> tuple[str, bytes, str | None]:
    """``(kind, bytes, file name)`` of a value; InvalidInput naming ``what`` when it cannot be stored."""
    if _json_safe(value):
        return "json", orjson.dumps(value), None
    if _is(value, "pandas", "DataFrame"):
        buffer = io.BytesIO()
        value.to_parquet(buffer)
        return "dataframe", buffer.getvalue(), None
    if _is(value, "numpy", "ndarray") and value.dtype != object:
        import numpy as np

        buffer = io.BytesIO()
        np.save(buffer, value, allow_pickle=False)
        return "ndarray", buffer.getvalue(), None
    if isinstance(value, Path):
        if not value.is_file():
            raise InvalidInput(f"{what} is the path {str(value)!r}, which is not a file; return files one at a time",
                               field=what)
        return "file", value.read_bytes(), value.name
    return "pickle", _pickle(value, what), None


def _pickle(value: Any, what: str) -> bytes:
    try:
        return pickle.dumps(value, protocol=5)
    except Exception as first:
        try:
            import cloudpickle
        except ImportError:
            cloudpickle = None
        if cloudpickle is not None:
            try:
                return bytes(cloudpickle.dumps(value, protocol=5))
            except Exception:  # noqa: S110 - the first error is the clearer one
                pass
        raise InvalidInput(f"{what} is a {type(value).__qualname__} that cannot be stored ({first}); return "
                           "data (a DataFrame, array, JSON-able value, a file Path or a picklable object)",
                           field=what) from first


def store_value(value: Any, blobs: BlobStore, what: str) -> ValueRef:
    """Store ``value`` (small JSON inline, the rest in the content-addressed store) and return its reference."""
    kind, data, name = encode(value, what)
    if kind == "json" and len(data) <= INLINE_MAX:
        return ValueRef("json", inline=data.decode())
    return ValueRef(kind, blobs.put_bytes(data), name=name)


def value_key(value: Any, what: str) -> str:
    """A content key of a literal argument (for cache keys), without storing it."""
    kind, data, _ = encode(value, what)
    return f"{kind}:{hashlib.blake2b(data, digest_size=16).hexdigest()}"


def load_value(ref: ValueRef, blobs: BlobStore, files_dir: Path | None = None) -> Any:
    """The value a :class:`ValueRef` stands for (bytes verified by the store); files land in ``files_dir``."""
    if ref.inline is not None:
        return orjson.loads(ref.inline)
    assert ref.digest is not None
    data = blobs.get_bytes(ref.digest)
    if ref.kind == "json":
        return orjson.loads(data)
    if ref.kind == "dataframe":
        import pandas as pd

        return pd.read_parquet(io.BytesIO(data))
    if ref.kind == "ndarray":
        import numpy as np

        return np.load(io.BytesIO(data), allow_pickle=False)
    if ref.kind == "file":
        folder = (files_dir or Path(".")) / ref.digest[:16]
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / (ref.name or "file")
        if not path.exists():
            path.write_bytes(data)
        return path
    return pickle.loads(data)  # noqa: S301 - our own store, written by our own steps
