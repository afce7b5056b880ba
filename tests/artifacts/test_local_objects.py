"""The local fast path of the blob store: one-pass store, objects named by the bytes written, atomic, durable."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import blake3
import pytest

from keel.artifacts import BlobStore
from keel.artifacts import local_objects as lo_module
from keel.artifacts import storage as storage_module
from keel.artifacts.local_objects import LocalObjects
from keel.artifacts.storage import TEMP_PREFIX
from keel.errors import Conflict, NotFound, Unavailable


@pytest.fixture
def store(tmp_path: Path) -> BlobStore:
    return BlobStore(tmp_path / "store")


@pytest.fixture
def local(store: BlobStore) -> LocalObjects:
    assert store.local is not None
    return store.local


@pytest.fixture
def small_big(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make "big" mean >= 4 KiB and pipeline steps 3 KiB, so a 20 KiB file crosses several steps."""
    monkeypatch.setattr(lo_module, "BIG_FILE", 4096)
    monkeypatch.setattr(lo_module, "_CHUNK", 3072)


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


@pytest.mark.parametrize("size", [0, 1, 5000, 20_011])
def test_put_file_stores_the_bytes_under_their_digest(
    store: BlobStore, local: LocalObjects, tmp_path: Path, small_big: None, size: int
) -> None:
    src = tmp_path / "src.bin"
    payload = os.urandom(size)
    src.write_bytes(payload)
    digest, stored_size, after = local.put_file(src)
    assert digest == blake3.blake3(payload).hexdigest() and stored_size == size
    assert (after.st_ino, after.st_size) == (src.stat().st_ino, size)
    assert store.get_bytes(digest) == payload  # verified read
    assert _files(tmp_path / "store") == [f"objects/{digest[:2]}/{digest[2:]}"]  # no temp file left


def test_existing_object_is_not_rewritten(store: BlobStore, local: LocalObjects, tmp_path: Path,
                                          small_big: None) -> None:
    for name, size in (("small.bin", 100), ("big.bin", 10_000)):
        src = tmp_path / name
        src.write_bytes(os.urandom(size))
        digest, _, _ = local.put_file(src)
        obj = Path(local.path(digest))
        before = obj.stat()
        assert local.put_file(src)[0] == digest
        assert obj.stat().st_ino == before.st_ino and obj.stat().st_mtime_ns == before.st_mtime_ns
    assert len(list(store.digests())) == 2


def test_big_file_without_kernel_copy_falls_back(store: BlobStore, local: LocalObjects, tmp_path: Path,
                                                 small_big: None, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_copy(*args: object) -> int:
        raise OSError(errno.EXDEV, "cross-device")

    monkeypatch.setattr(lo_module.os, "copy_file_range", no_copy, raising=False)
    src = tmp_path / "big.bin"
    src.write_bytes(os.urandom(20_000))
    digest, _, _ = local.put_file(src)
    assert store.get_bytes(digest) == src.read_bytes()


def test_failed_rename_leaves_nothing_visible(store: BlobStore, local: LocalObjects, tmp_path: Path,
                                              small_big: None, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken_rename(*args: object) -> None:
        raise OSError("disk vanished mid-rename")

    monkeypatch.setattr(lo_module.os, "replace", broken_rename)
    for name, size in (("small.bin", 100), ("big.bin", 10_000)):
        src = tmp_path / name
        src.write_bytes(os.urandom(size))
        with pytest.raises(Unavailable, match="disk vanished"):
            local.put_file(src)
    assert list(store.digests()) == []
    assert [p for p in _files(tmp_path / "store") if TEMP_PREFIX in p] == []


def test_file_shrinking_during_copy_is_a_conflict(store: BlobStore, local: LocalObjects, tmp_path: Path,
                                                  small_big: None) -> None:
    src = tmp_path / "big.bin"
    src.write_bytes(os.urandom(20_000))
    with pytest.raises(Conflict, match="shrank"):
        local.put_file(src, size=30_000)  # the caller saw 30,000 bytes; the file now ends at 20,000
    assert list(store.digests()) == [] and _files(tmp_path / "store") == []


def test_file_growing_while_read_is_a_conflict(local: LocalObjects, tmp_path: Path, small_big: None) -> None:
    src = tmp_path / "big.bin"
    src.write_bytes(os.urandom(20_000))
    with pytest.raises(Conflict, match="changed size"):
        local.put_file(src, size=12_000)  # only the 12,000 bytes the caller saw are copied


def test_missing_source_names_the_file(local: LocalObjects, tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="nope.bin"):
        local.put_file(tmp_path / "nope.bin")


def test_deferred_writes_are_synced_once_big_ones_at_once(
    store: BlobStore, local: LocalObjects, tmp_path: Path, small_big: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    monkeypatch.setattr(lo_module.os, "fsync", lambda fd: calls.append("fsync"))
    monkeypatch.setattr(lo_module.os, "fdatasync", lambda fd: calls.append("fdatasync"))
    monkeypatch.setattr(storage_module.os, "sync", lambda: calls.append("sync"))
    monkeypatch.setattr(storage_module, "EAGER_SYNC_BYTES", 4096)
    files = []
    for i in range(3):
        files.append(tmp_path / f"s{i}.bin")
        files[-1].write_bytes(os.urandom(100))
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(10_000))

    with store.storage.deferred_sync():
        for src in files:
            local.put_file(src)
        assert calls == []  # small objects wait for the one sync at the end
        local.put_file(big)
        assert calls[0] == "fdatasync"  # a big object is synced on its own, right away
        calls.clear()
    assert calls == ["sync"]

    calls.clear()
    with store.storage.deferred_sync():
        local.put_file(files[0])  # already stored: nothing written, nothing to sync
    assert calls == []

    calls.clear()
    (tmp_path / "alone.bin").write_bytes(b"outside any deferred block")
    local.put_file(tmp_path / "alone.bin")
    assert calls[0] == "fsync"  # file, then its directory
