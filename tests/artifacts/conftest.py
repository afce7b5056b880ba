"""Fixtures for the artifact store: every shared test runs once on the local filesystem and once on memory://."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import fsspec
import pytest

from keel.artifacts import ArtifactRepository, BlobStore
from keel.artifacts.local_objects import LocalObjects


@pytest.fixture(params=["local", "memory"])
def root_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty artifact root: a local directory, or a private memory:// tree removed afterwards."""
    if request.param == "local":
        yield str(tmp_path / "store")
        return
    name = f"keel-test-{uuid.uuid4().hex}"
    yield f"memory://{name}"
    fs = fsspec.filesystem("memory")
    if fs.exists(f"/{name}"):
        fs.rm(f"/{name}", recursive=True)


@pytest.fixture
def blobs(root_url: str) -> BlobStore:
    """A blob store on the parametrized root."""
    return BlobStore(root_url)


@pytest.fixture
def repo(blobs: BlobStore) -> ArtifactRepository:
    """An unscoped artifact repository over ``blobs``."""
    return ArtifactRepository(blobs)


FlipByte = Callable[[BlobStore, str, int], None]
StoredFiles = Callable[[BlobStore, str], list[str]]


def _flip_byte(store: BlobStore, digest: str, index: int = 0) -> None:
    fs, full = store.storage.fs, store.storage.full(store.object_path(digest))
    data = bytearray(fs.cat_file(full))
    data[index] ^= 0x01
    fs.pipe_file(full, bytes(data))


def _stored_files(store: BlobStore, under: str = "") -> list[str]:
    fs, full = store.storage.fs, store.storage.full(under)
    return sorted(fs.find(full)) if fs.exists(full) else []


@pytest.fixture
def flip_byte() -> FlipByte:
    """``flip_byte(store, digest, index)`` corrupts one stored object in place, behind the store's back."""
    return _flip_byte


@pytest.fixture
def stored_files() -> StoredFiles:
    """``stored_files(store, under)`` lists every file physically below ``under``, temp files included."""
    return _stored_files


@pytest.fixture
def store(tmp_path: Path) -> BlobStore:
    """A blob store on a fresh local root (``tmp_path / "store"``)."""
    return BlobStore(tmp_path / "store")


@pytest.fixture
def local(store: BlobStore) -> LocalObjects:
    """The direct-write fast path of ``store``."""
    assert store.local is not None
    return store.local
