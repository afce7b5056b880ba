"""The Redis online store (``pip install 'keel-mlops[redis]'``): one Redis string per entity key and view.

Layout: ``keel:{project}:{view}:{key}`` (names percent-encoded by :func:`namespace`, so they hold no ``:`` or glob
character) holds the orjson array ``[ts, {feature: value, ...}]``. A read is one ``MGET``. A write is one ``MULTI``
pipeline of small Lua calls (up to 1,000 keys each) that compare the stored ``ts`` with the new one, so an older row
never overwrites a newer one without a WATCH/retry loop; the script reads the stored ``ts`` with a string match on
the array's first element instead of decoding the JSON. ``keys``/``count``/``delete_view`` walk the view's keys with
``SCAN`` (O(keyspace), meant for sampling and maintenance, not the request path). redis-py errors become
:class:`~keel.errors.Unavailable` here.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import orjson

from keel.errors import InvalidInput, Unavailable
from keel.features.online_store import OnlineRow, namespace

if TYPE_CHECKING:
    import redis

__all__ = ["RedisOnlineStore"]

_BATCH = 1000
_MGET_CHUNK = 10_000

# KEYS = the Redis keys, ARGV = their new payloads; returns how many were stored.
_UPSERT_LUA = """
local stored = 0
for i, key in ipairs(KEYS) do
  local payload = ARGV[i]
  local old = redis.call('GET', key)
  local replace = true
  if old then
    local old_ts = tonumber(string.match(old, '^%[(-?%d+),'))
    local new_ts = tonumber(string.match(payload, '^%[(-?%d+),'))
    replace = old_ts == nil or new_ts >= old_ts
  end
  if replace then
    redis.call('SET', key, payload)
    stored = stored + 1
  end
end
return stored
"""


class RedisOnlineStore:
    """An :class:`~keel.features.online_store.OnlineStore` in a Redis database; safe to share between threads."""

    def __init__(self, url: str, project: str = "default") -> None:
        try:
            import redis
        except ImportError as exc:
            raise InvalidInput(
                f"online_store {url!r} needs the Redis client: pip install 'keel-mlops[redis]'", field="online_store"
            ) from exc
        self.url = url
        self.project = project
        self._project = namespace(project, "project")
        self._redis_error: type[Exception] = redis.RedisError
        try:
            self._client: redis.Redis = redis.Redis.from_url(url, socket_connect_timeout=5.0)
        except ValueError as exc:
            raise InvalidInput(f"online_store {self._safe_url()} is not a valid Redis URL: {exc}",
                               field="online_store") from exc
        self._upsert = self._client.register_script(_UPSERT_LUA)
        self._prefixes: dict[str, str] = {}

    @contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except self._redis_error as exc:
            raise Unavailable(f"the Redis online store {self._safe_url()} failed: {exc}") from exc

    def _safe_url(self) -> str:
        scheme, _, rest = self.url.partition("://")
        return f"{scheme}://{rest.rpartition('@')[2]}"  # never echo a password

    def _prefix(self, view: str) -> str:
        prefix = self._prefixes.get(view)
        if prefix is None:
            prefix = self._prefixes[view] = f"keel:{self._project}:{namespace(view, 'view')}:"
        return prefix

    def write(self, view: str, rows: Iterable[OnlineRow]) -> int:
        """Upsert ``rows`` in one MULTI/EXEC pipeline; an older row never replaces a newer one."""
        prefix = self._prefix(view)
        received = 0
        with self._errors():
            pipe = self._client.pipeline(transaction=True)
            keys: list[str] = []
            payloads: list[bytes] = []
            for row in rows:
                received += 1
                keys.append(prefix + row.key)
                payloads.append(_dump(view, row))
                if len(keys) == _BATCH:
                    self._upsert(keys=keys, args=payloads, client=pipe)
                    keys, payloads = [], []
            if keys:
                self._upsert(keys=keys, args=payloads, client=pipe)
            if received:
                pipe.execute()
        return received

    def read(self, view: str, keys: Sequence[str]) -> list[OnlineRow | None]:
        """The rows of ``keys`` in order, None where a key is not stored (one MGET round trip)."""
        prefix = self._prefix(view)
        if not keys:
            return []
        names = [prefix + key for key in keys]
        with self._errors():
            if len(names) <= _MGET_CHUNK:
                payloads: list[Any] = self._client.mget(names)
            else:
                pipe = self._client.pipeline(transaction=False)
                for start in range(0, len(names), _MGET_CHUNK):
                    pipe.mget(names[start:start + _MGET_CHUNK])
                payloads = [p for chunk in pipe.execute() for p in chunk]
        loads = orjson.loads
        out: list[OnlineRow | None] = []
        for key, payload in zip(keys, payloads, strict=True):
            if payload is None:
                out.append(None)
            else:
                ts, values = loads(payload)
                out.append(OnlineRow(key, ts, values))
        return out

    def _scan(self, view: str) -> Iterator[bytes]:
        yield from self._client.scan_iter(match=self._prefix(view) + "*", count=1000)

    def keys(self, view: str, limit: int | None = None) -> list[str]:
        """Stored keys of ``view`` (SCAN order), at most ``limit``."""
        if limit is not None and limit < 0:
            raise InvalidInput(f"limit must be >= 0, got {limit}", field="limit")
        cut = len(self._prefix(view))
        out: list[str] = []
        if limit == 0:
            return out
        with self._errors():
            for name in self._scan(view):
                out.append(name[cut:].decode())
                if limit is not None and len(out) >= limit:
                    break
        return out

    def count(self, view: str) -> int:
        """The number of keys stored for ``view`` (a full SCAN)."""
        with self._errors():
            return sum(1 for _ in self._scan(view))

    def delete_view(self, view: str) -> None:
        """UNLINK every key of ``view`` in this project."""
        with self._errors():
            batch: list[bytes] = []
            for name in self._scan(view):
                batch.append(name)
                if len(batch) == _BATCH:
                    self._client.unlink(*batch)
                    batch = []
            if batch:
                self._client.unlink(*batch)

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()

    def __repr__(self) -> str:
        return f"RedisOnlineStore({self._safe_url()!r}, project={self.project!r})"


def _dump(view: str, row: OnlineRow) -> bytes:
    try:
        return orjson.dumps([int(row.ts), row.values], option=orjson.OPT_SERIALIZE_NUMPY)
    except TypeError as exc:
        raise InvalidInput(
            f"feature values of key {row.key} in view {view!r} are not JSON-serialisable ({exc}); "
            "use numbers, strings, bools, None, lists or dicts with string keys", field="values"
        ) from exc
