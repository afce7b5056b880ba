"""BlobStore: content addressing, dedup, verification on read, atomic writes, error mapping."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import blake3
import pytest

from keel.artifacts import BlobStore
from keel.artifacts import blobs as blobs_module
from keel.artifacts import storage as storage_module
from keel.errors import Conflict, CorruptArtifact, InvalidInput, NotFound, Unavailable

FlipByte = Callable[[BlobStore, str, int], None]
StoredFiles = Callable[[BlobStore, str], list[str]]


def test_put_bytes_round_trip_and_layout(blobs: BlobStore) -> None:
    data = b"hello keel"
    digest = blobs.put_bytes(data)
    assert digest == blake3.blake3(data).hexdigest()
    assert blobs.object_path(digest) == f"objects/{digest[:2]}/{digest[2:]}"
    assert blobs.storage.exists(blobs.object_path(digest))
    assert blobs.exists(digest)
    assert blobs.size(digest) == len(data)
    assert blobs.get_bytes(digest) == data


def test_put_file_get_file_round_trip_multi_chunk(blobs: BlobStore, tmp_path: Path) -> None:
    payload = os.urandom(2 * blobs_module.CHUNK_SIZE + 12345)
    src = tmp_path / "src.bin"
    src.write_bytes(payload)
    digest, size = blobs.put_file(src)
    assert (digest, size) == (blake3.blake3(payload).hexdigest(), len(payload))
    dest = tmp_path / "out" / "copy.bin"
    blobs.get_file(digest, dest)
    assert dest.read_bytes() == payload
    assert [p.name for p in dest.parent.iterdir()] == ["copy.bin"]


def test_put_file_streams_in_chunks(
    blobs: BlobStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(blobs_module, "CHUNK_SIZE", 1024)
    src = tmp_path / "src.bin"
    src.write_bytes(os.urandom(10_000))
    sizes: list[int] = []
    real_write = blobs.storage.write_atomic

    def recording_write(rel: str, chunks: Iterable[bytes]) -> None:
        def spy() -> Iterator[bytes]:
            for chunk in chunks:
                sizes.append(len(chunk))
                yield chunk

        real_write(rel, spy())

    monkeypatch.setattr(blobs.storage, "write_atomic", recording_write)
    digest, _ = blobs.put_file(src)
    assert len(sizes) == 10 and max(sizes) <= 1024
    assert blobs.get_bytes(digest) == src.read_bytes()


def test_same_content_is_stored_once(blobs: BlobStore, tmp_path: Path, stored_files: StoredFiles) -> None:
    src = tmp_path / "a.txt"
    src.write_bytes(b"same")
    d1 = blobs.put_bytes(b"same")
    d2, _ = blobs.put_file(src)
    d3 = blobs.put_bytes(b"same")
    assert d1 == d2 == d3
    assert list(blobs.digests()) == [d1]
    d4 = blobs.put_bytes(b"different")
    assert sorted(blobs.digests()) == sorted([d1, d4])
    assert len(stored_files(blobs, "objects")) == 2


def test_existing_object_is_not_uploaded_again(
    blobs: BlobStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    digest = blobs.put_bytes(b"payload")
    src = tmp_path / "same.bin"
    src.write_bytes(b"payload")

    def no_writes(rel: str, chunks: object) -> None:
        raise AssertionError(f"unexpected upload of {rel}")

    monkeypatch.setattr(blobs.storage, "write_atomic", no_writes)
    assert blobs.put_bytes(b"payload") == digest
    assert blobs.put_file(src) == (digest, 7)


def test_unchanged_settled_file_is_hashed_once(
    blobs: BlobStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = tmp_path / "weights.bin"
    src.write_bytes(b"v1" * 1000)
    os.utime(src, ns=(1_000_000_000_000_000_000, 1_000_000_000_000_000_000))  # 2001: long settled
    calls: list[Path] = []
    real_hash = blobs_module.hash_file

    def counting_hash(path: Path) -> tuple[str, int]:
        calls.append(path)
        return real_hash(path)

    monkeypatch.setattr(blobs_module, "hash_file", counting_hash)
    first = blobs.put_file(src)
    assert blobs.put_file(src) == first
    assert blobs.put_file(src) == first
    assert len(calls) == 1
    src.write_bytes(b"v2" * 1000)
    second = blobs.put_file(src)
    assert second[0] != first[0] and len(calls) == 2
    assert blobs.get_bytes(second[0]) == b"v2" * 1000


def test_file_changed_during_upload_is_refused(
    blobs: BlobStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stored_files: StoredFiles
) -> None:
    src = tmp_path / "a.txt"
    src.write_bytes(b"what is on disk now")
    stale = blake3.blake3(b"what was hashed earlier").hexdigest()
    monkeypatch.setattr(blobs_module, "hash_file", lambda path: (stale, 23))
    with pytest.raises(Conflict, match="changed while it was being stored"):
        blobs.put_file(src)
    assert not blobs.exists(stale)
    assert stored_files(blobs, "objects") == []


def test_flipped_byte_raises_on_every_read(blobs: BlobStore, flip_byte: FlipByte) -> None:
    digest = blobs.put_bytes(b"model weights " * 100)
    flip_byte(blobs, digest, 7)
    with pytest.raises(CorruptArtifact, match=digest):
        blobs.get_bytes(digest)
    with pytest.raises(CorruptArtifact, match=digest):
        blobs.verify(digest)
    with pytest.raises(CorruptArtifact, match=digest):
        b"".join(blobs.iter_chunks(digest))
    assert blobs.exists(digest)  # existence is not a content check


def test_get_file_of_corrupt_object_leaves_no_file(
    blobs: BlobStore, tmp_path: Path, flip_byte: FlipByte
) -> None:
    digest = blobs.put_bytes(b"x" * 5000)
    flip_byte(blobs, digest, 4999)
    dest_dir = tmp_path / "download"
    with pytest.raises(CorruptArtifact, match=digest):
        blobs.get_file(digest, dest_dir / "new.bin")
    assert list(dest_dir.iterdir()) == []
    existing = dest_dir / "old.bin"
    existing.write_bytes(b"previous content")
    with pytest.raises(CorruptArtifact):
        blobs.get_file(digest, existing)
    assert existing.read_bytes() == b"previous content"
    assert [p.name for p in dest_dir.iterdir()] == ["old.bin"]


def test_verify_passes_on_intact_object(blobs: BlobStore, flip_byte: FlipByte) -> None:
    digest = blobs.put_bytes(b"intact")
    blobs.verify(digest)
    flip_byte(blobs, digest, 0)
    with pytest.raises(CorruptArtifact):
        blobs.verify(digest)


def test_missing_digest_is_not_found(blobs: BlobStore, tmp_path: Path) -> None:
    missing = blake3.blake3(b"never stored").hexdigest()
    assert not blobs.exists(missing)
    with pytest.raises(NotFound, match=missing):
        blobs.get_bytes(missing)
    with pytest.raises(NotFound, match=missing):
        blobs.get_file(missing, tmp_path / "x")
    with pytest.raises(NotFound, match=missing):
        blobs.verify(missing)
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("bad", ["", "abc", "../" + "a" * 61, "g" * 64, "a" * 65])
def test_malformed_digest_is_invalid_input(blobs: BlobStore, bad: str) -> None:
    with pytest.raises(InvalidInput, match="not an artifact digest"):
        blobs.get_bytes(bad)


def test_uppercase_digest_is_accepted(blobs: BlobStore) -> None:
    digest = blobs.put_bytes(b"case")
    assert blobs.get_bytes(digest.upper()) == b"case"


def test_failed_rename_leaves_nothing_visible(
    blobs: BlobStore, monkeypatch: pytest.MonkeyPatch, stored_files: StoredFiles
) -> None:
    def broken_rename(*args: object, **kwargs: object) -> None:
        raise OSError("disk vanished mid-rename")

    monkeypatch.setattr(storage_module.os, "replace", broken_rename)  # local backend
    monkeypatch.setattr(blobs.storage.fs, "mv", broken_rename)  # every other backend
    with pytest.raises(Unavailable, match="disk vanished") as info:
        blobs.put_bytes(b"half written")
    assert isinstance(info.value.__cause__, OSError)
    assert list(blobs.digests()) == []
    assert stored_files(blobs, "objects") == []  # neither the object nor its temp file


def test_failure_mid_stream_leaves_nothing_visible(
    blobs: BlobStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stored_files: StoredFiles
) -> None:
    monkeypatch.setattr(blobs_module, "CHUNK_SIZE", 10)
    src = tmp_path / "a.bin"
    src.write_bytes(b"0123456789" * 5)
    real_read = blobs_module._read_local

    def failing_read(path: Path) -> Iterator[bytes]:
        for i, chunk in enumerate(real_read(path)):
            if i == 3:
                raise InvalidInput("source went away")
            yield chunk

    digest, _ = blobs_module.hash_file(src)
    monkeypatch.setattr(blobs_module, "_read_local", failing_read)
    monkeypatch.setattr(blobs_module, "hash_file", lambda path: (digest, 50))
    with pytest.raises(InvalidInput, match="source went away"):
        blobs.put_file(src)
    assert not blobs.exists(digest)
    assert stored_files(blobs, "objects") == []


def test_backend_errors_become_unavailable(blobs: BlobStore, monkeypatch: pytest.MonkeyPatch) -> None:
    digest = blobs.put_bytes(b"data")

    def unreachable(*args: object, **kwargs: object) -> bytes:
        raise ConnectionError("connection reset by peer")

    monkeypatch.setattr(blobs.storage.fs, "cat_file", unreachable)
    with pytest.raises(Unavailable, match="connection reset") as info:
        blobs.get_bytes(digest)
    assert isinstance(info.value.__cause__, ConnectionError)


def test_local_source_errors_name_the_file(blobs: BlobStore, tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="nope.txt"):
        blobs.put_file(tmp_path / "nope.txt")
    with pytest.raises(InvalidInput, match="is a directory"):
        blobs.put_file(tmp_path)


def test_unknown_protocol_is_invalid_input() -> None:
    with pytest.raises(InvalidInput, match="artifact root"):
        BlobStore("nosuchproto-xyz://bucket/prefix")


def test_get_files_writes_every_object_verified_with_one_sync_and_no_fsync(
    blobs: BlobStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    payloads = [os.urandom(100 + i) for i in range(20)] + [os.urandom(blobs_module.CHUNK_SIZE + 7)]
    digests = [blobs.put_bytes(p) for p in payloads]
    syncs, fsyncs = [], []
    monkeypatch.setattr(os, "sync", lambda: syncs.append(1))
    monkeypatch.setattr(os, "fsync", lambda fd: fsyncs.append(fd))
    dests = [tmp_path / "out" / f"part{i % 3}" / f"f{i}.bin" for i in range(len(payloads))]
    assert blobs.get_files(zip(digests, dests, strict=True)) == len(payloads)
    assert [d.read_bytes() for d in dests] == payloads
    assert (syncs, fsyncs) == ([1], [])  # durable by one sync once all are written, not one fsync each
    assert sorted(p.name for p in (tmp_path / "out").rglob("*") if p.is_file()) == sorted(d.name for d in dests)


def test_get_files_stops_at_a_corrupt_object_and_leaves_no_temp_file(
    blobs: BlobStore, tmp_path: Path, flip_byte: FlipByte, monkeypatch: pytest.MonkeyPatch
) -> None:
    good, bad = blobs.put_bytes(b"g" * 3000), blobs.put_bytes(b"b" * 3000)
    flip_byte(blobs, bad, 10)
    syncs: list[int] = []
    monkeypatch.setattr(os, "sync", lambda: syncs.append(1))
    out = tmp_path / "out"
    with pytest.raises(CorruptArtifact, match=bad):
        blobs.get_files([(good, out / "good.bin"), (bad, out / "bad.bin"), (good, out / "never.bin")])
    names = {p.name for p in out.iterdir()}  # a remote store fetches in parallel: the third may be written too
    assert "good.bin" in names and names <= {"good.bin", "never.bin"}  # no bad.bin, no temp file
    assert (out / "good.bin").read_bytes() == b"g" * 3000 and syncs == [1]  # what was written is synced
