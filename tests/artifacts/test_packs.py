"""Pack files: small objects of a bulk add in one file, found by digest, verified on read, written all or nothing."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import blake3
import pytest

from keel.artifacts import BlobStore
from keel.artifacts import packs as packs_module
from keel.artifacts.local_objects import PACK_OBJECT, LocalObjects
from keel.artifacts.packs import PackIndex, PackWriter, read_index
from keel.artifacts.storage import TEMP_PREFIX
from keel.errors import Conflict, CorruptArtifact, NotFound


def _samples(root: Path, count: int, start: int = 0) -> list[Path]:
    root.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(start, start + count):
        paths.append(root / f"s{i:05d}.bin")
        paths[-1].write_bytes(b"sample %d " % i + os.urandom(i % 300))
    return paths


def _digest(path: Path) -> str:
    return str(blake3.blake3(path.read_bytes()).hexdigest())


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_a_bulk_add_packs_small_objects_into_one_file_and_reads_them_back(
        store: BlobStore, local: LocalObjects, tmp_path: Path) -> None:
    sources = _samples(tmp_path / "src", 150)
    (tmp_path / "src" / "twin.bin").write_bytes(sources[7].read_bytes())  # same content: packed once
    with local.bulk(pack=True):
        digests = [local.put_file(p)[0] for p in [*sources, tmp_path / "src" / "twin.bin"]]
    assert digests == [_digest(p) for p in sources] + [_digest(sources[7])]
    files = _files(tmp_path / "store")
    assert [f.rsplit(".", 1)[1] for f in files] == ["idx", "pack"] and all(f.startswith("packs/") for f in files)
    assert not (tmp_path / "store" / "objects").exists()  # no object file at all
    pack = tmp_path / "store" / files[1]
    assert pack.stat().st_size == sum(p.stat().st_size for p in sources)
    assert set(store.digests()) == set(digests)
    fresh = BlobStore(tmp_path / "store")  # another process: finds them through the index
    for path, digest in zip(sources, digests, strict=False):
        assert fresh.exists(digest) and fresh.size(digest) == path.stat().st_size
        assert fresh.get_bytes(digest) == path.read_bytes() == b"".join(fresh.iter_chunks(digest))
    fresh.get_file(digests[3], tmp_path / "out.bin")
    assert (tmp_path / "out.bin").read_bytes() == sources[3].read_bytes()


def test_index_lists_every_object_sorted_with_offsets_that_locate_its_bytes(tmp_path: Path) -> None:
    writer = PackWriter(str(tmp_path / "packs"), TEMP_PREFIX + "w")
    blobs = {str(blake3.blake3(b).hexdigest()): b for b in (b"a" * 10, b"", b"x" * 9000, b"tail")}
    for digest, data in blobs.items():
        writer.add(digest, data)
    pack, entries = writer.finish()
    [index] = [p for p in os.listdir(tmp_path / "packs") if p.endswith(".idx")]
    assert pack == str(tmp_path / "packs" / index[:-4]) + ".pack"
    listed = read_index(str(tmp_path / "packs" / index))
    assert [d for d, _, _ in listed] == sorted(blobs)
    raw = Path(pack).read_bytes()
    assert {d: raw[off:off + size] for d, off, size in listed} == blobs
    assert {d: (off, size) for d, off, size in listed} == entries


def test_objects_across_the_buffer_boundary_and_unaligned_tails_survive(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(packs_module, "_BUFFER", 8192)  # two aligned blocks: objects straddle many buffers
    writer = PackWriter(str(tmp_path / "packs"), TEMP_PREFIX + "w")
    blobs = [os.urandom(n) for n in (5000, 5000, 12289, 1, 4096, 777)]
    for data in blobs:
        writer.add(str(blake3.blake3(data).hexdigest()), data)
    pack, _ = writer.finish()
    assert Path(pack).read_bytes() == b"".join(blobs)


@pytest.mark.parametrize("where", ["open", "write"])
def test_a_filesystem_refusing_o_direct_gets_plain_writes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str) -> None:
    flag = 0o40000000  # a flag bit the fake refuses, standing in for O_DIRECT
    monkeypatch.setattr(packs_module, "_O_DIRECT", flag)
    monkeypatch.setattr(packs_module, "_BUFFER", 8192)
    real_open, real_pwrite, refused = os.open, os.pwrite, []

    def fake_open(path: str, flags: int, mode: int = 0o777) -> int:
        if flags & flag and where == "open":
            refused.append("open")
            raise OSError(errno.EINVAL, "no O_DIRECT here")
        fd = real_open(path, flags & ~flag, mode)
        if flags & flag:
            direct_fds.add(fd)
        return fd

    def fake_pwrite(fd: int, data: bytes, offset: int) -> int:
        if fd in direct_fds:
            refused.append("write")
            raise OSError(errno.EINVAL, "no O_DIRECT writes here")
        return real_pwrite(fd, data, offset)

    def fake_close(fd: int) -> None:
        direct_fds.discard(fd)
        real_close(fd)

    direct_fds: set[int] = set()
    real_close = os.close
    monkeypatch.setattr(packs_module.os, "open", fake_open)
    monkeypatch.setattr(packs_module.os, "pwrite", fake_pwrite)
    monkeypatch.setattr(packs_module.os, "close", fake_close)
    writer = PackWriter(str(tmp_path / "packs"), TEMP_PREFIX + "w")
    blobs = [os.urandom(n) for n in (6000, 6000, 6000, 10)]
    for data in blobs:
        writer.add(str(blake3.blake3(data).hexdigest()), data)
    pack, _ = writer.finish()
    assert refused and refused[0] == where
    assert Path(pack).read_bytes() == b"".join(blobs)


def test_a_damaged_index_is_refused_naming_the_file(store: BlobStore, local: LocalObjects, tmp_path: Path) -> None:
    sources = _samples(tmp_path / "src", 5)
    with local.bulk(pack=True):
        digests = [local.put_file(p)[0] for p in sources]
    [index] = (tmp_path / "store" / "packs").glob("*.idx")
    raw = bytearray(index.read_bytes())
    raw[20] ^= 1  # a digest byte
    index.write_bytes(bytes(raw))
    with pytest.raises(CorruptArtifact, match=f"pack index {index}.*damaged"):
        BlobStore(tmp_path / "store").get_bytes(digests[0])
    index.write_bytes(bytes(raw[:40]))  # torn
    with pytest.raises(CorruptArtifact, match="damaged"):
        read_index(str(index))


def test_flipped_or_missing_packed_bytes_are_caught_on_read(
        store: BlobStore, local: LocalObjects, tmp_path: Path) -> None:
    sources = _samples(tmp_path / "src", 5)
    with local.bulk(pack=True):
        digests = [local.put_file(p)[0] for p in sources]
    [pack] = (tmp_path / "store" / "packs").glob("*.pack")
    raw = bytearray(pack.read_bytes())
    raw[0] ^= 0xFF  # the first object's first byte
    pack.write_bytes(bytes(raw))
    fresh = BlobStore(tmp_path / "store")
    with pytest.raises(CorruptArtifact, match=digests[0]):
        fresh.get_bytes(digests[0])
    with pytest.raises(CorruptArtifact, match=digests[0]):
        fresh.verify(digests[0])
    last = max(digests, key=lambda d: fresh.local.packed(d).offset)  # type: ignore[union-attr]
    pack.write_bytes(bytes(raw[:-1]))
    with pytest.raises(CorruptArtifact, match="truncated"):
        fresh.get_bytes(last)


def test_a_pack_without_its_index_is_ignored(store: BlobStore, local: LocalObjects, tmp_path: Path) -> None:
    sources = _samples(tmp_path / "src", 5)
    with local.bulk(pack=True):
        digests = [local.put_file(p)[0] for p in sources]
    [index] = (tmp_path / "store" / "packs").glob("*.idx")
    index.unlink()  # as after a crash between naming the pack and naming its index
    fresh = BlobStore(tmp_path / "store")
    assert not any(fresh.exists(d) for d in digests) and list(fresh.digests()) == []
    with pytest.raises(NotFound, match=digests[0]):
        fresh.get_bytes(digests[0])
    assert fresh.local is not None
    with fresh.local.bulk(pack=True):  # stored again, readable again
        assert [fresh.local.put_file(p)[0] for p in sources] == digests
    assert BlobStore(tmp_path / "store").get_bytes(digests[2]) == sources[2].read_bytes()


def test_a_failed_bulk_leaves_no_pack_and_forgets_its_objects(
        store: BlobStore, local: LocalObjects, tmp_path: Path) -> None:
    sources = _samples(tmp_path / "src", 20)
    with pytest.raises(Conflict), local.bulk(pack=True):
        digests = [local.put_file(p)[0] for p in sources]
        raise Conflict("a source moved")
    assert _files(tmp_path / "store") == []  # nothing named, no temp file left
    assert not any(local.exists(d) for d in digests)
    with local.bulk(pack=True):
        assert local.put_file(sources[0])[0] == digests[0]
    assert store.get_bytes(digests[0]) == sources[0].read_bytes()


def test_without_pack_or_above_the_limit_objects_stay_loose(
        store: BlobStore, local: LocalObjects, tmp_path: Path) -> None:
    small = _samples(tmp_path / "src", 3)
    big = tmp_path / "src" / "big.bin"
    big.write_bytes(os.urandom(PACK_OBJECT))
    with local.bulk(pack=False):
        loose = local.put_file(small[0])[0]
    with local.bulk(pack=True):
        packed = local.put_file(small[1])[0]
        large = local.put_file(big)[0]
    assert Path(local.path(loose)).is_file() and Path(local.path(large)).is_file()
    assert not Path(local.path(packed)).exists() and local.packed(packed) is not None
    assert local.packed(loose) is None and local.packed(large) is None


def test_objects_already_stored_loose_or_packed_are_not_written_again(
        store: BlobStore, local: LocalObjects, tmp_path: Path) -> None:
    sources = _samples(tmp_path / "src", 10)
    store.put_bytes(sources[0].read_bytes())  # loose
    with local.bulk(pack=True):
        for p in sources[1:5]:
            local.put_file(p)
    other = BlobStore(tmp_path / "store").local  # a later process
    assert other is not None
    with other.bulk(pack=True):
        for p in sources:
            other.put_file(p)
    packs = sorted((tmp_path / "store" / "packs").glob("*.pack"))
    assert len(packs) == 2 and sorted(p.stat().st_size for p in packs) == sorted(
        [sum(p.stat().st_size for p in sources[1:5]), sum(p.stat().st_size for p in sources[5:])])


def test_a_pack_added_by_another_process_is_found_on_a_miss(
        store: BlobStore, local: LocalObjects, tmp_path: Path) -> None:
    reader = BlobStore(tmp_path / "store")
    sources = _samples(tmp_path / "src", 4)
    digest = _digest(sources[0])
    assert not reader.exists(digest)  # the reader looked (no packs yet) ...
    with local.bulk(pack=True):
        for p in sources:
            local.put_file(p)
    assert reader.exists(digest) and reader.get_bytes(digest) == sources[0].read_bytes()  # ... and looks again


def test_readable_path_unpacks_a_packed_object_in_place(store: BlobStore, local: LocalObjects, tmp_path: Path) -> None:
    sources = _samples(tmp_path / "src", 3)
    with local.bulk(pack=True):
        digest = local.put_file(sources[1])[0]
    path = store.readable_path(digest)
    assert path == local.path(digest) and Path(path).read_bytes() == sources[1].read_bytes()
    assert store.readable_path(digest) == path  # already loose: no second copy
    assert set(store.digests()) == {_digest(p) for p in sources[1:2]}  # once, though loose and packed


def test_pack_index_ignores_a_missing_folder(tmp_path: Path) -> None:
    index = PackIndex(str(tmp_path / "nothing"))
    assert index.get("ab" * 32) is None and list(index.digests()) == []
