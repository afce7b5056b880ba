"""The stat cache: BLAKE3 digests of local files keyed by absolute path, valid while inode, size and mtime hold.

Like DVC's state db, it lets re-adding unchanged data cost one ``stat`` per file instead of a hash. It is a
machine-local cache, not metadata (paths mean nothing on another machine, and a shared PostgreSQL must not hold
them), so it lives in a small SQLite file in the Keel home, opened with the standard library.

It also remembers, per snapshot root, the manifest digest of a whole file tree under a *signature* of every file's
relative path and stat key (:func:`keel.data.snapshot.signature`): a re-add whose scan gives the same signature
knows its manifest digest without one lookup per file.

A digest is cached only if the file's mtime was older, when reading began, than the timestamp granularity of its
filesystem: a later write in the same clock tick would leave the mtime unchanged. That window is 100 ms on a local
Linux filesystem (stamped from the kernel's coarse clock, a few ms per tick) and two seconds anywhere else (network
filesystems stamp with the server's clock).
"""

from __future__ import annotations

import contextlib
import functools
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

from keel.errors import Unavailable

__all__ = ["StatCache", "StatKey", "racy_window_ns", "stat_key"]

StatKey = tuple[int, int, int]
"""(inode, size, mtime in ns): what must not change for a cached digest to hold."""

_RACY_NS = 2_000_000_000
_LOCAL_RACY_NS = 100_000_000
_LOCAL_FS = frozenset({"ext2", "ext3", "ext4", "xfs", "btrfs", "tmpfs", "zfs", "f2fs", "overlay", "bcachefs"})
_BATCH = 500
_SCHEMA = "CREATE TABLE IF NOT EXISTS stat (path TEXT PRIMARY KEY, ino INTEGER, size INTEGER, mtime_ns INTEGER, " \
          "digest TEXT NOT NULL)"
_TREE_SCHEMA = "CREATE TABLE IF NOT EXISTS tree (path TEXT PRIMARY KEY, signature TEXT NOT NULL, digest TEXT NOT NULL)"


def stat_key(st: os.stat_result) -> StatKey:
    """The part of a stat result the cache compares."""
    return (st.st_ino, st.st_size, st.st_mtime_ns)


@functools.lru_cache(maxsize=64)
def racy_window_ns(dev: int) -> int:
    """Nanoseconds a file on device ``dev`` must have been left alone before its digest may be cached."""
    try:
        with open("/proc/self/mountinfo") as fh:
            mounts = fh.read()
    except OSError:
        return _RACY_NS
    wanted = f"{os.major(dev)}:{os.minor(dev)}"
    for line in mounts.splitlines():
        fields = line.split()  # id parent major:minor root mountpoint options [tags...] - fstype source options
        if len(fields) > 2 and fields[2] == wanted and "-" in fields:
            fstype = fields[fields.index("-") + 1]
            return _LOCAL_RACY_NS if fstype in _LOCAL_FS else _RACY_NS
    return _RACY_NS


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
                    conn.execute(_TREE_SCHEMA)
                    yield conn
            finally:
                conn.close()
        except sqlite3.Error as exc:
            raise Unavailable(f"the data stat cache {self.path} is unusable ({exc}); delete the file to reset it") \
                from exc

    def lookup(self, entries: Mapping[str, StatKey], under: str | None = None) -> dict[str, str]:
        """The cached digest of each path whose stat key still matches (absent paths are simply missing).

        ``under``: a directory holding every path of ``entries``; many entries are then read in one range scan of
        the primary key instead of batches of ``IN (...)`` lookups.
        """
        found: dict[str, str] = {}
        with self._connect() as conn:
            if under is not None and len(entries) > _BATCH:
                prefix = under.rstrip("/") + "/"
                rows = conn.execute("SELECT path, ino, size, mtime_ns, digest FROM stat WHERE path >= ? AND path < ?",
                                    (prefix, prefix[:-1] + "0"))  # "0" sorts right after "/"
                self._matching(rows, entries, found)
                return found
            paths = list(entries)
            for start in range(0, len(paths), _BATCH):
                chunk = paths[start:start + _BATCH]
                marks = ",".join("?" * len(chunk))
                rows = conn.execute(f"SELECT path, ino, size, mtime_ns, digest FROM stat WHERE path IN ({marks})",
                                    chunk)
                self._matching(rows, entries, found)
        return found

    @staticmethod
    def _matching(rows: Iterable[tuple[str, int, int, int, str]], entries: Mapping[str, StatKey],
                  found: dict[str, str]) -> None:
        for path, ino, size, mtime, digest in rows:
            if entries.get(path) == (ino, size, mtime):
                found[path] = digest

    def store(self, items: Iterable[tuple[str, StatKey, str]], *, read_from_ns: int | None = None,
              window_ns: int = _RACY_NS) -> None:
        """Remember ``(path, stat key, digest)`` triples, skipping files modified too recently to trust.

        ``read_from_ns`` is when reading the files began (default: now); a file counts as settled if its mtime is
        older than that by more than ``window_ns`` (see :func:`racy_window_ns`).
        """
        since = time.time_ns() if read_from_ns is None else read_from_ns
        rows = [(p, *key, d) for p, key, d in items if since - key[2] > window_ns]
        if rows:
            with self._connect() as conn:
                conn.executemany("INSERT OR REPLACE INTO stat VALUES (?, ?, ?, ?, ?)", rows)

    def tree_digest(self, root: str, signature: str) -> str | None:
        """The manifest digest remembered for the tree at ``root`` if it was stored with this ``signature``."""
        with self._connect() as conn:
            row = conn.execute("SELECT digest FROM tree WHERE path = ? AND signature = ?", (root, signature)).fetchone()
        return str(row[0]) if row else None

    def store_tree(self, root: str, signature: str, digest: str) -> None:
        """Remember the manifest digest of the tree at ``root`` (only for trees whose every file is settled: see
        :func:`keel.data.snapshot.settled`)."""
        with self._connect() as conn:
            conn.execute("INSERT OR REPLACE INTO tree VALUES (?, ?, ?)", (root, signature, digest))
