"""The stat cache: BLAKE3 digests of local files keyed by absolute path, valid while inode, size and mtime hold.

Like DVC's state db, it lets re-adding unchanged data cost one ``stat`` per file instead of a hash. It is a
machine-local cache, not metadata (paths mean nothing on another machine, and a shared PostgreSQL must not hold
them), so it lives in a small SQLite file in the Keel home, opened with the standard library.

A file modified in the last two seconds is not cached: its mtime may not yet tell a later write apart.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

from keel.errors import Unavailable

__all__ = ["StatCache", "StatKey", "stat_key"]

StatKey = tuple[int, int, int]
"""(inode, size, mtime in ns): what must not change for a cached digest to hold."""

_RACY_NS = 2_000_000_000
_BATCH = 500
_SCHEMA = "CREATE TABLE IF NOT EXISTS stat (path TEXT PRIMARY KEY, ino INTEGER, size INTEGER, mtime_ns INTEGER, " \
          "digest TEXT NOT NULL)"


def stat_key(st: os.stat_result) -> StatKey:
    """The part of a stat result the cache compares."""
    return (st.st_ino, st.st_size, st.st_mtime_ns)


class StatCache:
    """Digests of local files by absolute path, in a SQLite file (created on first use)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=30)
            try:
                with conn:
                    conn.execute(_SCHEMA)
                    yield conn
            finally:
                conn.close()
        except sqlite3.Error as exc:
            raise Unavailable(f"the data stat cache {self.path} is unusable ({exc}); delete the file to reset it") \
                from exc

    def lookup(self, entries: Mapping[str, StatKey]) -> dict[str, str]:
        """The cached digest of each path whose stat key still matches (absent paths are simply missing)."""
        paths = list(entries)
        found: dict[str, str] = {}
        with self._connect() as conn:
            for start in range(0, len(paths), _BATCH):
                chunk = paths[start:start + _BATCH]
                marks = ",".join("?" * len(chunk))
                rows = conn.execute(f"SELECT path, ino, size, mtime_ns, digest FROM stat WHERE path IN ({marks})",
                                    chunk)
                found.update({p: d for p, ino, size, mtime, d in rows if entries[p] == (ino, size, mtime)})
        return found

    def store(self, items: Iterable[tuple[str, StatKey, str]]) -> None:
        """Remember ``(path, stat key, digest)`` triples, skipping files modified too recently to trust."""
        now = time.time_ns()
        rows = [(p, *key, d) for p, key, d in items if now - key[2] > _RACY_NS]
        if rows:
            with self._connect() as conn:
                conn.executemany("INSERT OR REPLACE INTO stat VALUES (?, ?, ?, ?, ?)", rows)
