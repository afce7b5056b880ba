"""The online feature store: per feature view, the latest feature values of each entity key.

This module holds the backend-independent parts: the row type, the entity-key encoding, the
:class:`OnlineStore` Protocol every backend implements, and :func:`open_online_store`, which picks the backend
from a URL (the ``KEEL_ONLINE_STORE`` setting)::

    sqlite:///ABS/PATH          -> keel.features.online_sqlite.SqliteOnlineStore   (default, stdlib only)
    redis://HOST:PORT/DB        -> keel.features.online_redis.RedisOnlineStore      (pip install 'keel-mlops[redis]')
    rediss://HOST:PORT/DB          (the same over TLS)

Every backend keeps one rule: a row replaces the stored row of its key only if its event time is the same or
newer, so replaying an old materialization never rolls values back.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote

import orjson

from keel.errors import InvalidInput

__all__ = ["OnlineRow", "OnlineStore", "encode_key", "namespace", "open_online_store"]


@dataclass(frozen=True, slots=True)
class OnlineRow:
    """One entity's feature values in one view: encoded key, event time (epoch microseconds UTC), values."""

    key: str
    ts: int
    values: dict[str, Any]


def encode_key(values: Sequence[Any]) -> str:
    """Encode an entity key's values (in join-key order) to one string.

    The encoding is a compact JSON array, so types stay distinct: ``1``, ``"1"`` and ``1.0`` give three different
    keys. NumPy scalars are normalised to the Python value (``np.int64(1)`` encodes like ``1``); ``bool`` stays a
    bool. NaN and infinities are rejected because JSON cannot tell them from ``null``.
    """
    out: list[Any] = []
    for value in values:
        kind = type(value)
        if kind is not int and kind is not str:
            value = _normalise(value)
        out.append(value)
    try:
        return orjson.dumps(out).decode()
    except TypeError as exc:
        raise InvalidInput(
            f"entity key {list(values)!r} has a value of an unsupported type ({exc}); use int, str, float, bool "
            "or a date/time", field="entity_key"
        ) from exc


def _normalise(value: Any) -> Any:
    if type(value).__module__ == "numpy" and hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidInput(f"entity key value {value!r} is not a finite number; entity keys must be finite",
                           field="entity_key")
    return value


def namespace(name: str, field: str) -> str:
    """A project or view name made safe for Redis keys, SCAN patterns and quoted SQL identifiers.

    Letters, digits, ``_``, ``.``, ``-`` and ``~`` are kept; anything else is percent-encoded, so the result never
    holds ``:``, ``"`` or a glob character and two different names never share a namespace. Empty names are
    rejected with InvalidInput naming ``field``.
    """
    if not isinstance(name, str) or not name:
        raise InvalidInput(f"online store {field} name {name!r} is invalid: it must be a non-empty string",
                           field=field)
    return quote(name, safe="")


class OnlineStore(Protocol):
    """Key-value storage of the latest feature row per entity key, one namespace per feature view.

    Implementations are safe to call from several threads at once.
    """

    def write(self, view: str, rows: Iterable[OnlineRow]) -> int:
        """Upsert rows; a row replaces the stored one only if its ts >= the stored ts.

        Returns the number of rows received. One call is atomic (one transaction / one MULTI pipeline).
        """
        ...

    def read(self, view: str, keys: Sequence[str]) -> list[OnlineRow | None]:
        """The stored rows in the order of ``keys``; None where a key (or the whole view) is not stored."""
        ...

    def keys(self, view: str, limit: int | None = None) -> list[str]:
        """Stored keys of the view in no particular order, at most ``limit`` of them."""
        ...

    def count(self, view: str) -> int:
        """The number of keys stored for the view."""
        ...

    def delete_view(self, view: str) -> None:
        """Remove every row of the view (a no-op if it has none)."""
        ...

    def close(self) -> None:
        """Release connections; the store is unusable afterwards."""
        ...


def open_online_store(url: str, project: str = "default") -> OnlineStore:
    """Open the online store at ``url`` (``sqlite:///ABS/PATH``, ``redis://host:port/db`` or ``rediss://...``).

    Each project gets its own namespace in the same database.
    """
    namespace(project, "project")
    scheme = url.partition("://")[0].lower() if "://" in url else ""
    if scheme == "sqlite":
        from keel.features.online_sqlite import SqliteOnlineStore

        return SqliteOnlineStore(url, project)
    if scheme in ("redis", "rediss"):
        from keel.features.online_redis import RedisOnlineStore

        return RedisOnlineStore(url, project)
    raise InvalidInput(
        f"online_store {url!r} is not supported: set KEEL_ONLINE_STORE to sqlite:///ABS/PATH "
        "or redis://HOST:PORT/DB (rediss:// for TLS)", field="online_store"
    )
