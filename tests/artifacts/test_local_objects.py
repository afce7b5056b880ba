"""The local fast path of the blob store: one-pass store, objects named by the bytes written, atomic, durable."""

from __future__ import annotations

import errno
import fcntl
import mmap
import os
import threading
import time
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
def small_big(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make "big" mean >= 4 KiB and pipeline steps 3 KiB (8 KiB with O_DIRECT), so a 20 KiB file crosses several."""
    monkeypatch.setattr(lo_module, "BIG_FILE", 4096)
    monkeypatch.setattr(lo_module, "_CHUNK", 3072)
    monkeypatch.setattr(lo_module, "_DIRECT_CHUNK", 8192)


@pytest.fixture
def direct_io(tmp_path: Path) -> None:
    """Skip unless the test's filesystem takes O_DIRECT writes (some tmpfs and network filesystems do not)."""
    probe = tmp_path / "probe"
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | getattr(os, "O_DIRECT", 0))
        try:
            with mmap.mmap(-1, 4096) as buf:
                os.pwrite(fd, buf, 0)
        finally:
            os.close(fd)
    except (OSError, TypeError):
        pytest.skip("no O_DIRECT writes on this filesystem")
    finally:
        probe.unlink(missing_ok=True)
    if not getattr(os, "O_DIRECT", 0):
        pytest.skip("no O_DIRECT on this system")


@pytest.fixture
def kernel_copies(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Sizes of the big files stored by the fallback path (copy_file_range), not with O_DIRECT."""
    calls: list[int] = []
    real = LocalObjects._copy_hashed

    def spy(self: LocalObjects, src_fd: int, tmp: str, size: int, src: str) -> str:
        calls.append(size)
        return real(self, src_fd, tmp, size, src)

    monkeypatch.setattr(LocalObjects, "_copy_hashed", spy)
    return calls


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def _store_random(store: BlobStore, local: LocalObjects, tmp_path: Path, size: int) -> str:
    """Store ``size`` random bytes from a file; check digest, size, bytes, and that nothing else is left."""
    src = tmp_path / "big.bin"
    payload = os.urandom(size)
    src.write_bytes(payload)
    digest, stored_size, _ = local.put_file(src)
    assert digest == blake3.blake3(payload).hexdigest() and stored_size == size
    assert Path(local.path(digest)).read_bytes() == payload and store.get_bytes(digest) == payload
    assert _files(tmp_path / "store") == [f"objects/{digest[:2]}/{digest[2:]}"]  # no temp file left
    return digest


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
    monkeypatch.setattr(lo_module, "_O_DIRECT", 0)  # the fallback path
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


@pytest.mark.parametrize("direct", [True, False], ids=["o_direct", "kernel_copy"])
def test_file_shrinking_during_copy_is_a_conflict(store: BlobStore, local: LocalObjects, tmp_path: Path,
                                                  small_big: None, monkeypatch: pytest.MonkeyPatch,
                                                  direct: bool) -> None:
    if not direct:
        monkeypatch.setattr(lo_module, "_O_DIRECT", 0)
    src = tmp_path / "big.bin"
    src.write_bytes(os.urandom(20_000))
    with pytest.raises(Conflict, match="shrank"):
        local.put_file(src, size=30_000)  # the caller saw 30,000 bytes; the file now ends at 20,000
    assert list(store.digests()) == [] and _files(tmp_path / "store") == []


@pytest.mark.parametrize("direct", [True, False], ids=["o_direct", "kernel_copy"])
def test_file_growing_while_read_is_a_conflict(local: LocalObjects, tmp_path: Path, small_big: None,
                                               monkeypatch: pytest.MonkeyPatch, direct: bool) -> None:
    if not direct:
        monkeypatch.setattr(lo_module, "_O_DIRECT", 0)
    src = tmp_path / "big.bin"
    src.write_bytes(os.urandom(20_000))
    with pytest.raises(Conflict, match="changed size"):
        local.put_file(src, size=12_000)  # only the 12,000 bytes the caller saw are copied


# -- big files with O_DIRECT: aligned buffers, an unaligned tail, and the fallback when O_DIRECT is refused ------

@pytest.mark.parametrize("size", [3 * 8192 + 1234, 5 * 4096, 4 * 8192, 8192 + 4096 + 1, 4096 + 3000],
                         ids=["steps_and_tail", "block_multiple", "step_multiple", "one_byte_tail", "short_tail"])
def test_big_file_with_o_direct_round_trips(store: BlobStore, local: LocalObjects, tmp_path: Path, small_big: None,
                                           direct_io: None, kernel_copies: list[int], size: int) -> None:
    _store_random(store, local, tmp_path, size)
    assert kernel_copies == []  # stored with O_DIRECT, not by the fallback


def test_big_file_with_default_steps_round_trips(store: BlobStore, local: LocalObjects, tmp_path: Path,
                                                 direct_io: None, kernel_copies: list[int]) -> None:
    _store_random(store, local, tmp_path, 2 * lo_module._DIRECT_CHUNK + lo_module.BIG_FILE // 2 + 123)  # a tail
    assert kernel_copies == []


def test_o_direct_refused_at_open_falls_back(store: BlobStore, local: LocalObjects, tmp_path: Path,
                                             small_big: None, kernel_copies: list[int],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    real_open = os.open

    def no_direct(path: str, flags: int, mode: int = 0o777) -> int:
        if flags & getattr(os, "O_DIRECT", 0):  # like Linux on such a filesystem: the file is created, then EINVAL
            os.close(real_open(path, flags & ~os.O_DIRECT, mode))
            raise OSError(errno.EINVAL, "Invalid argument")
        return real_open(path, flags, mode)

    monkeypatch.setattr(lo_module.os, "open", no_direct)
    _store_random(store, local, tmp_path, 3 * 8192 + 5)
    assert kernel_copies == [3 * 8192 + 5] or not getattr(os, "O_DIRECT", 0)


def test_o_direct_refused_at_first_write_falls_back(store: BlobStore, local: LocalObjects, tmp_path: Path,
                                                    small_big: None, direct_io: None, kernel_copies: list[int],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    real_pwrite = os.pwrite

    def no_direct(fd: int, data: bytes, offset: int) -> int:
        if fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_DIRECT:
            raise OSError(errno.EINVAL, "Invalid argument")
        return real_pwrite(fd, data, offset)

    monkeypatch.setattr(lo_module.os, "pwrite", no_direct)
    _store_random(store, local, tmp_path, 5 * 8192 + 77)
    assert kernel_copies == [5 * 8192 + 77]


def test_failed_direct_write_is_unavailable_and_cleans_up(store: BlobStore, local: LocalObjects, tmp_path: Path,
                                                          small_big: None, direct_io: None,
                                                          kernel_copies: list[int],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    real_pwrite, written = os.pwrite, []

    def disk_full(fd: int, data: bytes, offset: int) -> int:
        if len(written) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        written.append(offset)
        return real_pwrite(fd, data, offset)

    monkeypatch.setattr(lo_module.os, "pwrite", disk_full)
    src = tmp_path / "big.bin"
    src.write_bytes(os.urandom(6 * 8192 + 10))
    threads = threading.active_count()
    with pytest.raises(Unavailable, match="No space left"):
        local.put_file(src)
    assert threading.active_count() == threads  # reader and writer threads joined
    assert _files(tmp_path / "store") == [] and kernel_copies == []  # no temp left, no fallback


def test_slow_direct_writes_keep_their_buffers(store: BlobStore, local: LocalObjects, tmp_path: Path,
                                              small_big: None, direct_io: None,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    real_pwrite = os.pwrite

    def slow_disk(fd: int, data: bytes, offset: int) -> int:
        time.sleep(0.02)  # reads and hashing run far ahead: a buffer must not be refilled before its write is done
        return real_pwrite(fd, data, offset)

    monkeypatch.setattr(lo_module.os, "pwrite", slow_disk)
    src = tmp_path / "big.bin"
    payload = os.urandom(8 * 8192 + 99)
    src.write_bytes(payload)
    digest, _, _ = local.put_file(src)
    assert digest == blake3.blake3(payload).hexdigest()
    assert Path(local.path(digest)).read_bytes() == payload


@pytest.mark.parametrize("change", ["shrink", "grow"])
def test_source_changing_during_direct_copy_is_a_conflict(store: BlobStore, local: LocalObjects, tmp_path: Path,
                                                          small_big: None, direct_io: None,
                                                          monkeypatch: pytest.MonkeyPatch, change: str) -> None:
    src = tmp_path / "big.bin"
    src.write_bytes(os.urandom(5 * 8192 + 100))
    real_preadv, reads = os.preadv, []

    def changing(fd: int, buffers: list[memoryview], offset: int) -> int:
        reads.append(offset)
        if len(reads) == 2:  # another process writes to the file while the first steps are stored
            if change == "shrink":
                os.truncate(src, 2 * 8192 + 10)
            else:
                with open(src, "ab") as fh:
                    fh.write(b"more")
        return real_preadv(fd, buffers, offset)

    monkeypatch.setattr(lo_module.os, "preadv", changing)
    threads = threading.active_count()
    with pytest.raises(Conflict, match="shrank" if change == "shrink" else "changed size"):
        local.put_file(src)
    assert threading.active_count() == threads
    assert [p for p in _files(tmp_path / "store") if TEMP_PREFIX in p] == []
    if change == "shrink":
        assert list(store.digests()) == []


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


def test_short_write_of_a_small_object_is_completed(store: BlobStore, local: LocalObjects, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    real_write = os.write
    monkeypatch.setattr(lo_module.os, "write", lambda fd, data: real_write(fd, memoryview(data)[:100]))
    src = tmp_path / "small.bin"
    payload = os.urandom(1000)
    src.write_bytes(payload)
    digest, _, _ = local.put_file(src)
    assert Path(local.path(digest)).read_bytes() == payload


def test_objects_in_folders_this_writer_created_are_known_without_a_lookup(
        store: BlobStore, local: LocalObjects, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sources = []
    for i in range(40):  # enough to land several objects in one fan-out folder
        sources.append(tmp_path / f"s{i}.bin")
        sources[-1].write_bytes(b"sample %d" % (i % 20))  # each content twice
    lookups: list[str] = []
    real_access = os.access
    monkeypatch.setattr(lo_module.os, "access", lambda p, m: lookups.append(str(p)) or real_access(p, m))
    digests = [local.put_file(src)[0] for src in sources]
    assert len(set(digests)) == 20 and len(list(store.digests())) == 20
    folders = {d[:2] for d in digests}
    assert len(lookups) <= len(folders)  # one lookup at most per folder: the one before the folder existed
    assert all(local.exists(d) for d in digests)
    assert [store.get_bytes(d) for d in digests] == [src.read_bytes() for src in sources]


def test_another_writers_object_in_a_fresh_folder_is_rewritten_harmlessly(
        store: BlobStore, local: LocalObjects, tmp_path: Path) -> None:
    first = tmp_path / "first.bin"
    first.write_bytes(b"first")
    digest = local.put_file(first)[0]
    other = BlobStore(tmp_path / "store").local
    assert other is not None
    twin = Path(local.path(digest)).parent  # find bytes whose object lands in the same fresh folder
    payload = next(p for i in range(100_000) if blake3.blake3(p := b"x%d" % i).hexdigest().startswith(twin.name))
    (tmp_path / "theirs.bin").write_bytes(payload)
    theirs = other.put_file(tmp_path / "theirs.bin")[0]
    assert other.exists(theirs) and not local.exists(theirs)  # not seen by this writer: a false "missing" only
    assert local.put_file(tmp_path / "theirs.bin")[0] == theirs and local.exists(theirs)
    assert store.get_bytes(theirs) == payload and _files(tmp_path / "store").count(
        f"objects/{theirs[:2]}/{theirs[2:]}") == 1


def test_a_folder_made_by_someone_else_is_looked_up(store: BlobStore, local: LocalObjects, tmp_path: Path) -> None:
    src = tmp_path / "a.bin"
    src.write_bytes(b"made before")
    digest = blake3.blake3(b"made before").hexdigest()
    folder = tmp_path / "store" / "objects" / digest[:2]
    folder.mkdir(parents=True)
    (folder / digest[2:]).write_bytes(b"made before")  # stored by an earlier process
    fresh = BlobStore(tmp_path / "store").local
    assert fresh is not None and fresh.exists(digest)
    before = (folder / digest[2:]).stat().st_ino
    assert fresh.put_file(src)[0] == digest and (folder / digest[2:]).stat().st_ino == before  # not rewritten
