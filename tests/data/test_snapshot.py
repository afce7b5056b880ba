"""Snapshots: one-pass ingest into a local store, hash-only ingest for other stores, the stat cache's rules."""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import blake3
import fsspec
import pytest

from keel import data
from keel.artifacts import BlobStore
from keel.data import snapshot
from keel.data.statcache import StatCache, racy_window_ns, stat_key
from keel.errors import Conflict
from keel.tracking.context import reset_backend


def _tree(root: Path, count: int) -> dict[str, bytes]:
    contents = {}
    for i in range(count):
        rel = f"part{i % 3}/f{i:04d}.bin"
        contents[rel] = os.urandom(10 + i % 50) if i % 7 else b"same bytes"  # some duplicates
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(contents[rel])
    past = time.time() - 60
    for path in root.rglob("*"):
        os.utime(path, (past, past))
    return contents


@pytest.fixture
def memory_root() -> Iterator[str]:
    name = f"keel-test-{uuid.uuid4().hex}"
    yield f"memory://{name}"
    fs = fsspec.filesystem("memory")
    if fs.exists(f"/{name}"):
        fs.rm(f"/{name}", recursive=True)


def test_manifest_bytes_are_the_canonical_json() -> None:
    names = ["b/c.txt", 'q"uote', "back\\slash", "ünï/cødé", "tab\there", "emoji😀", "\x01ctl", "Z", "a b", "a"]
    manifest = {n: (blake3.blake3(n.encode()).hexdigest(), i * 1_000_003) for i, n in enumerate(names)}
    for kind, files in (("dir", manifest), ("file", {}), ("dir", dict(reversed(list(manifest.items()))))):
        reference = json.dumps({"kind": kind, "files": {r: [d, s] for r, (d, s) in files.items()}},
                               separators=(",", ":"), sort_keys=True).encode()
        assert snapshot.manifest_bytes(kind, files) == reference


def test_ingest_into_a_local_store_stores_every_object_in_one_pass(tmp_path: Path) -> None:
    contents = _tree(tmp_path / "data", 40)
    blobs, cache = BlobStore(tmp_path / "store"), StatCache(tmp_path / "stat.db")
    _, files = snapshot.scan(tmp_path / "data")
    manifest, stored = snapshot.ingest_files(files, cache, blobs)
    assert {rel: digest for rel, (digest, _) in manifest.items()} == {
        rel: blake3.blake3(body).hexdigest() for rel, body in contents.items()}
    assert stored == {digest for digest, _ in manifest.values()} == set(blobs.digests())
    for digest, _ in manifest.values():
        blobs.verify(digest)
    assert snapshot.store_files(blobs, files, manifest, stored=stored) == 0

    again, stored_again = snapshot.ingest_files(files, cache, blobs)  # every digest from the stat cache
    assert again == manifest and stored_again == set()


def test_ingest_for_a_remote_store_hashes_then_store_files_uploads(tmp_path: Path, memory_root: str) -> None:
    contents = _tree(tmp_path / "data", 12)
    blobs, cache = BlobStore(memory_root), StatCache(tmp_path / "stat.db")
    assert blobs.local is None
    _, files = snapshot.scan(tmp_path / "data")
    manifest, stored = snapshot.ingest_files(files, cache, blobs)
    assert stored == set() and list(blobs.digests()) == []
    assert snapshot.store_files(blobs, files, manifest, stored=stored) == len(set(contents.values()))
    for rel, (digest, size) in manifest.items():
        assert blobs.get_bytes(digest) == contents[rel] and size == len(contents[rel])


def test_file_changed_after_the_scan_is_a_conflict(tmp_path: Path) -> None:
    _tree(tmp_path / "data", 5)
    blobs, cache = BlobStore(tmp_path / "store"), StatCache(tmp_path / "stat.db")
    _, files = snapshot.scan(tmp_path / "data")
    (tmp_path / "data" / files[2].rel).write_bytes(b"rewritten after the scan")
    with pytest.raises(Conflict, match="changed while it was being added"):
        snapshot.ingest_files(files, cache, blobs)


def test_stat_cache_trusts_only_files_settled_before_reading(tmp_path: Path) -> None:
    src = tmp_path / "f.bin"
    src.write_bytes(b"x")
    cache = StatCache(tmp_path / "stat.db")
    key = stat_key(src.stat())
    mtime = key[2]
    cache.store([(str(src), key, "d1")], read_from_ns=mtime + 50_000_000, window_ns=100_000_000)
    assert cache.lookup({str(src): key}) == {}  # written 50 ms before reading began: same clock tick possible
    cache.store([(str(src), key, "d2")], read_from_ns=mtime + 150_000_000, window_ns=100_000_000)
    assert cache.lookup({str(src): key}) == {str(src): "d2"}
    assert cache.lookup({str(src): (key[0], key[1] + 1, key[2])}) == {}  # any change of the key misses


def test_racy_window_is_short_only_on_known_local_filesystems(tmp_path: Path) -> None:
    assert racy_window_ns(os.makedev(4095, 4095)) == 2_000_000_000  # no such mount: the safe default
    window = racy_window_ns(tmp_path.stat().st_dev)
    assert window in (100_000_000, 2_000_000_000)
    mounts = Path("/proc/self/mountinfo")
    if mounts.exists():
        dev = tmp_path.stat().st_dev
        fields = next(line.split() for line in mounts.read_text().splitlines()
                      if line.split()[2] == f"{os.major(dev)}:{os.minor(dev)}")
        fstype = fields[fields.index("-") + 1]
        assert (window == 100_000_000) == (fstype in {"ext4", "xfs", "btrfs", "tmpfs", "overlay", "zfs", "ext3",
                                                      "ext2", "f2fs", "bcachefs"})


def test_lookup_by_range_matches_lookup_by_keys(tmp_path: Path) -> None:
    cache = StatCache(tmp_path / "stat.db")
    root = "/data/set"
    rows = [(f"{root}/f{i:05d}", (i, i, i), f"d{i}") for i in range(1200)]
    rows += [("/data/set2/other", (1, 1, 1), "x"), ("/data/se", (2, 2, 2), "y")]  # neighbours of the prefix
    cache.store(rows, read_from_ns=10**18)
    wanted = {p: key for p, key, _ in rows[:1100]} | {f"{root}/f00001": (9, 9, 9)}  # one stale key
    by_range = cache.lookup(wanted, under=root)
    assert by_range == cache.lookup(wanted) and len(by_range) == 1099 and f"{root}/f00001" not in by_range


def test_add_with_a_non_local_artifact_root(keel_home: Path, tmp_path: Path, memory_root: str,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    contents = _tree(tmp_path / "images", 20)
    monkeypatch.setenv("KEEL_ARTIFACT_ROOT", memory_root)
    reset_backend()
    v1 = data.add(tmp_path / "images", "images")
    assert data.add(tmp_path / "images", "images") == v1  # unchanged: the same version
    out = data.checkout("images@v1", tmp_path / "out")
    assert {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*") if p.is_file()} == contents
    assert len(list(BlobStore(memory_root).digests())) == len(set(contents.values())) + 1  # + the manifest
