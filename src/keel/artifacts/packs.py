"""Pack files: the small objects of one bulk add written into one file, as git packs its objects.

Creating a file costs a local filesystem 50–80 µs of kernel time (an inode, a directory entry, a rename), more than
reading and hashing a few KiB. A folder of 50,000 samples would spend seconds on that alone, so the small objects a
bulk add stores (see :meth:`keel.artifacts.local_objects.LocalObjects.bulk`) go into one pack instead::

    packs/<stem>.pack    the objects' bytes, one after another
    packs/<stem>.idx     "KEELIDX1", the object count n, then n 32-byte digests (sorted), their n offsets and
                         n sizes (big-endian u64), then the BLAKE3 of all before (a torn or altered index is refused)

Both are written to temp names, synced and renamed; the index goes last, so an index only ever names bytes already on
disk. A pack without its index (a crash mid-add) is ignored: its objects are simply not stored. Objects are still
addressed by their digest alone and verified on every read, wherever they live; the loose layout
(``objects/ab/cdef…``) remains the one for single writes, big files and remotes.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import struct
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import NamedTuple

import blake3

from keel.artifacts.direct_io import ALIGN, NO_DIRECT, O_DIRECT, fsync_dir, pwrite_all, pwrite_plain
from keel.errors import CorruptArtifact

__all__ = ["PACK_DIR", "PACK_LIMIT", "PackEntry", "PackIndex", "PackWriter"]

PACK_DIR = "packs"
PACK_LIMIT = 256 << 20
"""A pack is finished and a new one begun once it would grow past this many bytes."""

_MAGIC = b"KEELIDX1"
_HEADER = len(_MAGIC) + 8  # magic, object count
_PER_OBJECT = 32 + 8 + 8  # digest, offset, size
_TRAILER = 32
_READ = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0)
_WRITE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
_BUFFER = 8 << 20  # bytes per background write, a multiple of ALIGN
_O_DIRECT = O_DIRECT  # a module name: tests stand in a flag of their own


class PackEntry(NamedTuple):
    """Where a packed object's bytes are: the pack's path, the offset and the size."""

    pack: str
    offset: int
    size: int


class PackIndex:
    """Every finished pack of one folder: digest → :class:`PackEntry` (thread-safe).

    Indexes are read when first needed and again, by :meth:`get`, when the folder has changed since (packs are
    never modified once named, so a loaded index stays right).
    """

    def __init__(self, folder: str) -> None:
        self.folder = folder
        self._entries: dict[str, tuple[str, int, int]] = {}
        self._loaded: set[str] = set()
        self._seen: int | None = None  # the folder's mtime when it was last listed
        self._lock = threading.Lock()

    def get(self, digest: str, refresh: bool = True) -> PackEntry | None:
        """Where ``digest`` is packed, or None; with ``refresh``, a miss first looks for packs added since."""
        entry = self._entries.get(digest)
        if entry is None and (refresh or self._seen is None):
            self.refresh()
            entry = self._entries.get(digest)
        return None if entry is None else PackEntry(*entry)

    def refresh(self) -> None:
        """Load the indexes added to the folder since it was last listed (one ``stat`` if nothing changed)."""
        try:
            mtime = os.stat(self.folder).st_mtime_ns
        except FileNotFoundError:
            self._seen = 0
            return
        with self._lock:
            if mtime == self._seen:
                return
            for name in os.listdir(self.folder):
                if name.endswith(".idx") and name not in self._loaded:
                    path = os.path.join(self.folder, name)
                    pack = path[:-4] + ".pack"
                    for digest, offset, size in read_index(path):
                        self._entries.setdefault(digest, (pack, offset, size))
                    self._loaded.add(name)
            self._seen = mtime

    def add(self, pack: str, entries: dict[str, tuple[int, int]]) -> None:
        """Record a pack this process just finished, its entries as digest → (offset, size)."""
        with self._lock:
            for digest, (offset, size) in entries.items():
                self._entries.setdefault(digest, (pack, offset, size))
            self._loaded.add(os.path.basename(pack)[:-5] + ".idx")

    def digests(self) -> Iterator[str]:
        """Every packed digest."""
        self.refresh()
        yield from list(self._entries)

    @staticmethod
    def read(entry: PackEntry) -> bytes:
        """The packed bytes (not verified: the caller hashes them); CorruptArtifact if the pack is short."""
        fd = os.open(entry.pack, _READ)
        try:
            data = os.pread(fd, entry.size, entry.offset)
        finally:
            os.close(fd)
        if len(data) != entry.size:
            raise CorruptArtifact(f"pack {entry.pack} is truncated: it ends before the object at offset "
                                  f"{entry.offset}; restore the pack from a copy or pull the dataset again")
        return data


def read_index(path: str) -> list[tuple[str, int, int]]:
    """``(digest, offset, size)`` of every object an index names; CorruptArtifact if it is not one intact."""
    with open(path, "rb") as fh:
        raw = fh.read()
    body, trailer = raw[:-_TRAILER], raw[-_TRAILER:]
    count = struct.unpack_from(">Q", body, len(_MAGIC))[0] if len(body) >= _HEADER else -1
    if (not body.startswith(_MAGIC) or len(body) != _HEADER + count * _PER_OBJECT
            or blake3.blake3(body).digest() != trailer):
        raise CorruptArtifact(f"pack index {path} is damaged; restore it from a copy, or delete it and its .pack "
                              "and add or pull the datasets it held again")
    digests = body[_HEADER:_HEADER + 32 * count].hex()
    offsets = struct.unpack_from(f">{count}Q", body, _HEADER + 32 * count)
    sizes = struct.unpack_from(f">{count}Q", body, _HEADER + 40 * count)
    return [(digests[64 * i:64 * i + 64], offsets[i], sizes[i]) for i in range(count)]


def index_bytes(entries: dict[str, tuple[int, int]]) -> bytes:
    """The index of a pack holding ``entries`` (digest → offset, size), trailer included."""
    digests = sorted(entries)  # sorting the keys alone: ~5x faster than sorting the items
    count = len(digests)
    places = [entries[d] for d in digests]
    offsets, sizes = [p[0] for p in places], [p[1] for p in places]
    body = b"".join([_MAGIC, struct.pack(">Q", count), bytes.fromhex("".join(digests)),
                     struct.pack(f">{count}Q", *offsets), struct.pack(f">{count}Q", *sizes)])
    return body + blake3.blake3(body).digest()


class PackWriter:
    """One pack being written: objects appended in turn (callers serialise :meth:`add`), named by :meth:`finish`.

    Objects are copied into one of two aligned buffers; a full buffer is written by a background thread with
    ``O_DIRECT`` while the other fills (new page cache is slow to get on a VM whose freed memory goes back to the
    host: 128 MiB take 0.4 s through the cache, 0.08 s direct). Where ``O_DIRECT`` is refused, plain writes.
    """

    def __init__(self, folder: str, tmp: str) -> None:
        os.makedirs(folder, exist_ok=True)
        self.folder = folder
        self.tmp = os.path.join(folder, tmp)
        self.size = 0
        self.entries: dict[str, tuple[int, int]] = {}
        self._direct = bool(_O_DIRECT)
        try:
            self._fd = os.open(self.tmp, _WRITE | _O_DIRECT, 0o666)
        except OSError as exc:
            if not self._direct or exc.errno not in NO_DIRECT:
                raise
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.tmp)  # the file may be created before the flag is refused
            self._direct = False
            self._fd = os.open(self.tmp, _WRITE, 0o666)
        self._bufs = [mmap.mmap(-1, _BUFFER), mmap.mmap(-1, _BUFFER)]  # anonymous maps are page aligned
        self._fill = 0  # bytes in the current buffer
        self._flushed = 0  # bytes handed to the writer (a multiple of _BUFFER)
        self._writer = ThreadPoolExecutor(1)
        self._pending: Future[None] | None = None

    def add(self, digest: str, data: bytes) -> None:
        """Append one object (a digest already in this pack is skipped)."""
        if digest in self.entries:
            return
        self.entries[digest] = (self.size, len(data))
        self.size += len(data)
        done = 0
        while done < len(data):
            take = min(len(data) - done, _BUFFER - self._fill)
            self._bufs[0][self._fill:self._fill + take] = data[done:done + take]
            self._fill += take
            done += take
            if self._fill == _BUFFER:
                self._hand_over(_BUFFER)

    def _hand_over(self, count: int) -> None:
        """Write the current buffer's first ``count`` bytes in the background and continue in the other one."""
        if self._pending is not None:
            self._pending.result()  # the other buffer is free once its write is done
        buf = self._bufs[0]
        self._pending = self._writer.submit(self._write, buf, count, self._flushed)
        self._bufs.reverse()
        self._flushed += count
        self._fill = 0

    def _write(self, buf: mmap.mmap, count: int, offset: int) -> None:
        aligned = count - count % ALIGN if self._direct else count
        try:
            pwrite_all(self._fd, buf, 0, aligned, offset)
        except OSError as exc:  # a filesystem that takes O_DIRECT at open but not in writes
            if not self._direct or exc.errno not in NO_DIRECT:
                raise
            plain = os.open(self.tmp, os.O_WRONLY | getattr(os, "O_CLOEXEC", 0))
            os.close(self._fd)
            self._fd, self._direct, aligned = plain, False, count
            pwrite_all(self._fd, buf, 0, count, offset)
        if aligned < count:  # the unaligned end of the last buffer goes through the page cache
            pwrite_plain(self.tmp, buf, aligned, count, offset + aligned)

    def finish(self) -> tuple[str, dict[str, tuple[int, int]]]:
        """Sync the pack, name it after its index, then write, sync and name the index: ``(pack path, entries)``,
        the entries as digest → (offset, size)."""
        if self._fill:
            self._hand_over(self._fill)
        if self._pending is not None:
            self._pending.result()
        self._close_buffers()
        index = index_bytes(self.entries)
        stem = os.path.join(self.folder, str(blake3.blake3(index).hexdigest()))
        try:
            os.fdatasync(self._fd)  # the size and the page-cache tail (the rest went straight to disk)
        finally:
            os.close(self._fd)
        os.replace(self.tmp, stem + ".pack")
        fsync_dir(self.folder, strict=True)  # the pack's name is durable before an index can name it
        tmp_index = self.tmp + ".idx"
        fd = os.open(tmp_index, _WRITE, 0o666)
        try:
            pwrite_all(fd, index, 0, len(index), 0)
            os.fdatasync(fd)
        finally:
            os.close(fd)
        os.replace(tmp_index, stem + ".idx")
        fsync_dir(self.folder, strict=True)
        return stem + ".pack", self.entries

    def discard(self) -> None:
        """Drop the unfinished pack (nothing names it)."""
        self._close_buffers()
        with contextlib.suppress(OSError):
            os.close(self._fd)
        for path in (self.tmp, self.tmp + ".idx"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)

    def _close_buffers(self) -> None:
        self._writer.shutdown(wait=True)  # a write under way still uses its buffer
        for buf in self._bufs:
            buf.close()
