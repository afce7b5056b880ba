"""Keel's artifact store: content-addressed blobs (BLAKE3) over fsspec, and path-safe logical namespaces.

``BlobStore`` keeps bytes under their digest (``objects/ab/cdef...``), writes atomically and verifies every
read; ``ArtifactRepository`` maps logical paths such as ``1/<run_id>/artifacts/model.pkl`` onto those blobs
through small JSON pointer files (``refs/...``), so any fsspec backend works without a database.
``FsspecStorage`` is the adapter under both (one root, atomic writes, mapped errors); concepts that keep their own
files under the artifact root, such as the prediction log, use it directly.

This package depends on nothing of Keel's but :mod:`keel.errors`.
"""

from __future__ import annotations

from keel.artifacts.blobs import CHUNK_SIZE, BlobStore, check_digest, hash_bytes, hash_file
from keel.artifacts.namespace import ArtifactRepository, FileInfo, check_path
from keel.artifacts.storage import FsspecStorage

__all__ = [
    "CHUNK_SIZE",
    "ArtifactRepository",
    "BlobStore",
    "FileInfo",
    "FsspecStorage",
    "check_digest",
    "check_path",
    "hash_bytes",
    "hash_file",
]
