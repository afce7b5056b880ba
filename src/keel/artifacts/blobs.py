"""Content-addressed blobs: bytes stored once under their BLAKE3 digest, verified every time they are read.

Layout under the store's root (git style)::

    objects/ab/cdef0123...      the object whose BLAKE3 hex digest is "abcdef0123..."
    packs/<stem>.pack, .idx     on a local root, the small objects of a bulk add (see keel.artifacts.packs)

An object is written to a temp name beside its final name and renamed into place, so a reader sees the whole
object or nothing. Every read re-hashes what it got: a flipped byte raises
:class:`~keel.errors.CorruptArtifact` naming the digest. Re-adding an unchanged local file costs a ``stat``
(digests are cached by file identity, size and timestamps for files not modified in the last seconds) plus
one existence check, never an upload.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import blake3

from keel.artifacts.local_objects import LocalObjects
from keel.artifacts.storage import TEMP_PREFIX, FsspecStorage, local_errors
from keel.errors import Conflict, CorruptArtifact, InvalidInput, NotFound

__all__ = ["CHUNK_SIZE", "BlobStore", "check_digest", "hash_bytes", "hash_file"]

CHUNK_SIZE = 1 << 20
"""Files are hashed, uploaded and downloaded in chunks of this many bytes (1 MiB)."""

_DIGEST = re.compile(r"[0-9a-f]{64}")
_RACY_NS = 2_000_000_000  # a file touched this recently may still change within its timestamp granularity
_CACHE_MAX = 100_000

_StatKey = tuple[int, int, int, int, int]


def hash_bytes(data: bytes) -> str:
    """The BLAKE3 hex digest of ``data``."""
    return str(blake3.blake3(data).hexdigest())


def hash_file(path: str | os.PathLike[str]) -> tuple[str, int]:
    """The BLAKE3 hex digest and size of a local file, read in 1 MiB chunks (never whole in memory)."""
    hasher, size = blake3.blake3(), 0
    for chunk in _read_local(Path(path)):
        hasher.update(chunk)
        size += len(chunk)
    return str(hasher.hexdigest()), size


def check_digest(digest: str) -> str:
    """Return ``digest`` lower-cased if it is a BLAKE3 hex digest (64 hex chars), else raise InvalidInput."""
    normal = digest.lower() if isinstance(digest, str) else ""
    if not _DIGEST.fullmatch(normal):
        raise InvalidInput(
            f"{digest!r} is not an artifact digest: expected 64 hex characters (BLAKE3)", field="digest"
        )
    return normal


class BlobStore:
    """Content-addressed object store over an fsspec root (a local path, ``memory://x``, ``s3://bucket/p``)."""

    def __init__(
        self, root: str | os.PathLike[str], storage_options: Mapping[str, Any] | None = None
    ) -> None:
        self.storage = FsspecStorage(root, storage_options)
        self._digest_cache: dict[_StatKey, str] = {}
        self.local: LocalObjects | None = LocalObjects(self.storage) if self.storage.is_local else None
        """Direct ``os`` access to the objects when the root is a local directory (the fast path), else None."""

    def __repr__(self) -> str:
        return f"BlobStore({self.storage.url!r})"

    @property
    def url(self) -> str:
        """The root URL this store was opened on."""
        return self.storage.url

    def object_path(self, digest: str) -> str:
        """Where the object lives, relative to the root: ``objects/ab/cdef...``."""
        digest = check_digest(digest)
        return f"objects/{digest[:2]}/{digest[2:]}"

    # -- writing -------------------------------------------------------------------------------------------

    def put_bytes(self, data: bytes) -> str:
        """Store ``data`` (once: an existing object is not rewritten) and return its digest."""
        digest = hash_bytes(data)
        if not self.exists(digest):
            self.storage.write_atomic(self.object_path(digest), [bytes(data)])
        return digest

    def put_file(self, path: str | os.PathLike[str]) -> tuple[str, int]:
        """Store a local file, streamed, and return ``(digest, size)``; skips the upload if the object exists.

        The upload re-checks the bytes it sends, so a file changed between hashing and upload raises
        :class:`~keel.errors.Conflict` instead of storing the wrong bytes under the digest.
        """
        path = Path(path)
        digest, size = self._digest_of(path)
        if not self.exists(digest):
            self.storage.write_atomic(self.object_path(digest), _checked_read(path, digest))
        return digest, size

    def _digest_of(self, path: Path) -> tuple[str, int]:
        before = _stat_local(path)
        key = _stat_key(before)
        cached = self._digest_cache.get(key)
        if cached is not None:
            return cached, before.st_size
        started = time.time_ns()
        digest, size = hash_file(path)
        settled = started - before.st_mtime_ns > _RACY_NS
        if settled and _stat_key(_stat_local(path)) == key:
            if len(self._digest_cache) >= _CACHE_MAX:
                self._digest_cache.clear()
            self._digest_cache[key] = digest
        return digest, size

    # -- reading -------------------------------------------------------------------------------------------

    def exists(self, digest: str) -> bool:
        """Whether an object with this digest is stored (its content is not checked; see :meth:`verify`)."""
        if self.local is not None:
            return self.local.exists(check_digest(digest))
        return self.storage.exists(self.object_path(digest))

    def size(self, digest: str) -> int:
        """Size in bytes of the stored object."""
        with self._not_found(digest):
            try:
                return self.storage.size(self.object_path(digest))
            except NotFound:
                entry = self.local.packed(digest) if self.local is not None else None
                if entry is None:
                    raise
                return entry.size

    def get_bytes(self, digest: str) -> bytes:
        """The object's content, verified against its digest (CorruptArtifact if it does not match)."""
        digest = check_digest(digest)
        with self._not_found(digest):
            data = self._unpacked(digest)
            if data is None:
                data = self.storage.read_bytes(self.object_path(digest))
        _check_match(digest, hash_bytes(data), self.url)
        return data

    def readable_path(self, digest: str) -> str:
        """The object as a file an engine (DuckDB, Arrow) can read in place: a local path, else the store's own
        path (read through :attr:`storage`'s filesystem). A packed object is first unpacked to its loose place."""
        digest = check_digest(digest)
        path = self.storage.full(self.object_path(digest))
        data = self._unpacked(digest)
        if data is not None:
            _check_match(digest, hash_bytes(data), self.url)
            self.storage.write_atomic(self.object_path(digest), [data])
        return path

    def _unpacked(self, digest: str) -> bytes | None:
        """The bytes of a packed object that has no loose copy (unverified), else None."""
        if self.local is None or os.access(self.local.path(digest), os.F_OK):
            return None
        with self.storage.mapped_errors("packs"):
            entry = self.local.packed(digest)
            return None if entry is None else self.local.packs.read(entry)

    def iter_chunks(self, digest: str) -> Iterator[bytes]:
        """Stream the object in 1 MiB chunks; raises CorruptArtifact after the last chunk if the hash differs.

        A consumer that must not act on bad bytes should buffer (or use :meth:`get_file`, which does).
        """
        digest = check_digest(digest)
        hasher = blake3.blake3()
        with self._not_found(digest):
            packed = self._unpacked(digest)
            chunks = [packed] if packed is not None else self.storage.iter_chunks(self.object_path(digest),
                                                                                 CHUNK_SIZE)
            for chunk in chunks:
                hasher.update(chunk)
                yield chunk
        _check_match(digest, str(hasher.hexdigest()), self.url)

    def get_file(self, digest: str, dest: str | os.PathLike[str]) -> None:
        """Download the object to the local path ``dest`` atomically: verified first, then renamed into place.

        On any failure (missing, corrupt, unreachable) ``dest`` is left as it was and no temp file remains.
        """
        self._write_file(digest, os.fspath(dest), sync=True)

    def get_files(self, items: Iterable[tuple[str, str | os.PathLike[str]]],
                  on_file: Callable[[int], None] | None = None) -> int:
        """Download many objects, ``(digest, dest)`` each, as :meth:`get_file` does (each verified, then renamed
        into place), made durable together: one ``sync`` once all are written instead of one ``fsync`` per file
        (tens of thousands of small files cost seconds, not minutes). Objects of a remote store are fetched eight
        at a time. ``on_file(size)`` is called (in this thread) after each file. Returns how many files were
        written; when it returns they are all durable. A failure raises once the files already written are synced
        (they stay); the failed one is not written."""
        todo = [(digest, os.fspath(dest)) for digest, dest in items]
        for folder in {os.path.dirname(dest) for _, dest in todo}:
            with local_errors(folder):
                os.makedirs(folder or ".", exist_ok=True)
        done = on_file or (lambda _size: None)
        try:
            if self.local is not None:  # reads are system calls and hashing under the GIL: threads would only wait
                for digest, dest in todo:
                    done(self._write_file(digest, dest, sync=False))
            else:
                with ThreadPoolExecutor(8) as pool:
                    try:
                        for size in pool.map(lambda item: self._write_file(item[0], item[1], sync=False), todo):
                            done(size)
                    except BaseException:
                        pool.shutdown(cancel_futures=True)  # what has not started yet is not written
                        raise
        finally:
            if todo:
                os.sync()
        return len(todo)

    def _write_file(self, digest: str, dest: str, sync: bool) -> int:
        folder = os.path.dirname(dest)
        tmp = os.path.join(folder, f"{TEMP_PREFIX}{uuid.uuid4().hex}")
        size = 0
        try:
            with local_errors(dest):
                if sync:
                    os.makedirs(folder or ".", exist_ok=True)
                with open(tmp, "xb") as fh:
                    for chunk in self.iter_chunks(digest):
                        size += fh.write(chunk)
                    if sync:
                        fh.flush()
                        os.fsync(fh.fileno())
                os.replace(tmp, dest)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        return size

    def verify(self, digest: str) -> None:
        """Re-hash the stored object; raise CorruptArtifact if it no longer matches, NotFound if missing."""
        for _ in self.iter_chunks(digest):
            pass

    def digests(self) -> Iterator[str]:
        """Every digest stored here, loose or packed, once each (for counting, fsck and garbage collection)."""
        loose = set()
        for rel in self.storage.find("objects"):
            digest = rel.replace("/", "")
            if _DIGEST.fullmatch(digest):
                loose.add(digest)
                yield digest
        if self.local is not None:
            with self.storage.mapped_errors("packs"):
                yield from (d for d in self.local.packs.digests() if d not in loose)

    @contextlib.contextmanager
    def _not_found(self, digest: str) -> Iterator[None]:
        try:
            yield
        except NotFound as exc:
            raise NotFound(f"artifact object {digest} is not in the store at {self.url}") from exc


def _check_match(digest: str, actual: str, url: str) -> None:
    if actual != digest:
        raise CorruptArtifact(
            f"artifact object {digest} in {url} is corrupt: its bytes hash to {actual}; "
            "restore it from a copy or upload the original file again"
        )


def _stat_key(st: os.stat_result) -> _StatKey:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _stat_local(path: Path) -> os.stat_result:
    with local_errors(path):
        return path.stat()


def _read_local(path: Path) -> Iterator[bytes]:
    with local_errors(path), open(path, "rb") as fh:
        while chunk := fh.read(CHUNK_SIZE):
            yield chunk


def _checked_read(path: Path, digest: str) -> Iterator[bytes]:
    """Yield the file's chunks; raise Conflict at the end if they no longer hash to ``digest``."""
    hasher = blake3.blake3()
    for chunk in _read_local(path):
        hasher.update(chunk)
        yield chunk
    if hasher.hexdigest() != digest:
        raise Conflict(f"{path} changed while it was being stored; store it again once nothing writes to it")
