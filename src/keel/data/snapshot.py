"""Snapshots: a local file or directory turned into a manifest of BLAKE3 digests, its bytes in the blob store.

Three steps, so that re-adding unchanged data stops before touching the store::

    scan(path)                      -> files with their stat keys (one stat each)
    digest_files(files, cache)      -> {relative path: (digest, size)}, hashing only what the stat cache misses
    store_files(files, manifest)    -> objects uploaded once (an object already stored is not sent again)

Big files are hashed with BLAKE3's multithreaded mode over a memory map; many small files are hashed in a
thread pool. Pointer files (``*.keel.yaml``) inside a directory are not part of its snapshot.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import blake3

from keel.artifacts import CHUNK_SIZE, BlobStore, hash_bytes
from keel.artifacts.storage import local_errors
from keel.data.statcache import StatCache, StatKey, stat_key
from keel.errors import Conflict, InvalidInput, NotFound

__all__ = [
    "POINTER_SUFFIX",
    "LocalFile",
    "Manifest",
    "Progress",
    "digest_files",
    "hash_file",
    "manifest_bytes",
    "manifest_digest",
    "parse_manifest",
    "scan",
    "store_files",
]

POINTER_SUFFIX = ".keel.yaml"
_MMAP_MIN = 8 << 20  # below this, threads and a memory map cost more than they save
_WORKERS = min(8, (os.cpu_count() or 2) * 2)

Manifest = dict[str, tuple[str, int]]
"""Relative POSIX path → (BLAKE3 digest, size in bytes)."""

Progress = Callable[[str, int, int], None]
"""Called as ``progress(stage, bytes done, bytes total)`` after each file of a stage ("hashing", "storing")."""


@dataclass(frozen=True)
class LocalFile:
    """One file of a snapshot: its path relative to the snapshot root, where it is, and its stat key."""

    rel: str
    path: Path
    key: StatKey

    @property
    def size(self) -> int:
        """Size in bytes at scan time."""
        return self.key[1]


def hash_file(path: Path) -> tuple[str, int]:
    """BLAKE3 hex digest and size of a local file; big files are hashed by several threads over a memory map."""
    with local_errors(path):
        size = path.stat().st_size
        hasher = blake3.blake3(max_threads=blake3.blake3.AUTO if size >= _MMAP_MIN else 1)
        if size >= _MMAP_MIN:
            hasher.update_mmap(path)
        else:
            hasher.update(path.read_bytes())
    return str(hasher.hexdigest()), size


def scan(path: Path) -> tuple[str, list[LocalFile]]:
    """``("file" | "dir", files sorted by relative path)``; NotFound for a missing path, InvalidInput if empty."""
    if not path.exists():
        raise NotFound(f"{str(path)!r} does not exist; give the file or directory to snapshot", field="path")
    with local_errors(path):
        if path.is_file():
            return "file", [LocalFile(path.name, path.absolute(), stat_key(path.stat()))]
        files = sorted(_walk(path.absolute()), key=lambda f: f.rel)
    if not files:
        raise InvalidInput(f"{str(path)!r} holds no files; a dataset version needs at least one", field="path")
    return "dir", files


def _walk(root: Path) -> Iterator[LocalFile]:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in filenames:
            full = Path(dirpath, name)
            if name.endswith(POINTER_SUFFIX):
                continue
            st = full.stat()  # follows symlinks: a link to a file snapshots the file's bytes
            if not stat.S_ISREG(st.st_mode):
                raise InvalidInput(f"{str(full)!r} is not a regular file; move it out of the dataset", field="path")
            yield LocalFile(full.relative_to(root).as_posix(), full, stat_key(st))


def digest_files(files: list[LocalFile], cache: StatCache, progress: Progress | None = None) -> Manifest:
    """The manifest of ``files``: digests from the stat cache where it still holds, else hashed (and cached)."""
    cached = cache.lookup({str(f.path): f.key for f in files})
    misses = [f for f in files if str(f.path) not in cached]
    total, done = sum(f.size for f in misses), 0
    hashed: dict[str, str] = {}
    with ThreadPoolExecutor(_WORKERS) as pool:
        for f, (digest, size) in zip(misses, pool.map(lambda f: hash_file(f.path), misses), strict=True):
            if size != f.size:
                raise Conflict(f"{str(f.path)!r} changed while it was being hashed; add it again once nothing "
                               "writes to it")
            hashed[str(f.path)] = digest
            done += size
            if progress:
                progress("hashing", done, total)
    cache.store((str(f.path), f.key, hashed[str(f.path)]) for f in misses)
    digests = {**cached, **hashed}
    return {f.rel: (digests[str(f.path)], f.size) for f in files}


def manifest_bytes(kind: str, manifest: Mapping[str, tuple[str, int]]) -> bytes:
    """The canonical JSON of a snapshot (sorted, compact): equal content gives equal bytes and digest."""
    body = {"kind": kind, "files": {rel: [d, s] for rel, (d, s) in sorted(manifest.items())}}
    return json.dumps(body, separators=(",", ":"), sort_keys=True).encode()


def parse_manifest(raw: bytes) -> tuple[str, Manifest]:
    """``(kind, manifest)`` from the bytes :func:`manifest_bytes` wrote."""
    body = json.loads(raw)
    return str(body["kind"]), {rel: (str(d), int(s)) for rel, (d, s) in body["files"].items()}


def store_files(blobs: BlobStore, files: list[LocalFile], manifest: Manifest, progress: Progress | None = None) -> int:
    """Upload every object of ``manifest`` the store lacks (each digest once); return how many were uploaded."""
    firsts: dict[str, LocalFile] = {}
    for f in files:
        firsts.setdefault(manifest[f.rel][0], f)
    missing = [(d, f) for d, f in firsts.items() if not blobs.exists(d)]
    total, done = sum(f.size for _, f in missing), 0
    with blobs.storage.deferred_sync(), ThreadPoolExecutor(_WORKERS) as pool:
        for size in pool.map(lambda item: _upload(blobs, *item), missing):
            done += size
            if progress:
                progress("storing", done, total)
    return len(missing)


def _upload(blobs: BlobStore, digest: str, f: LocalFile) -> int:
    blobs.storage.write_atomic(blobs.object_path(digest), _checked_chunks(f.path, digest))
    return f.size


def _checked_chunks(path: Path, digest: str) -> Iterator[bytes]:
    """The file's chunks; Conflict at the end (so the temp object is dropped) if they no longer hash to digest."""
    hasher = blake3.blake3()
    with local_errors(path), open(path, "rb") as fh:
        while chunk := fh.read(CHUNK_SIZE):
            hasher.update(chunk)
            yield chunk
    if hasher.hexdigest() != digest:
        raise Conflict(f"{str(path)!r} changed while it was being stored; add it again once nothing writes to it")


def manifest_digest(kind: str, manifest: Manifest) -> str:
    """The digest the manifest is stored under (the version's content hash)."""
    return hash_bytes(manifest_bytes(kind, manifest))
