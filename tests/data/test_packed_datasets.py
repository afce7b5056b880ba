"""Datasets of many small files: packed objects, a forked child reader, and everything that reads them back
(checkout, diff, load, validate, push and pull)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pandas as pd
import pytest

from keel import data
from keel.artifacts import BlobStore
from keel.artifacts.storage import TEMP_PREFIX
from keel.data import child_reader, snapshot
from keel.data.statcache import StatCache
from keel.errors import Conflict, KeelError, NotFound
from keel.tracking.context import get_backend, reset_backend

FILES = 240  # above snapshot._PACK_MIN; the fork threshold is lowered below it


@pytest.fixture(autouse=True)
def fork_early(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(snapshot, "FORK_MIN", 50)


def _settle(root: Path) -> None:
    past = time.time() - 60
    for path in [root, *root.rglob("*")]:
        os.utime(path, (past, past))


def _store_root() -> Path:
    return Path(get_backend().settings.resolved_artifact_root)


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def samples(keel_home: Path, tmp_path: Path) -> Path:
    root = tmp_path / "samples"
    for i in range(FILES):
        folder = root / f"class{i % 4}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"img{i:04d}.bin").write_bytes(b"img %d " % i + os.urandom(200 + i))
    _settle(root)
    return root


def test_many_small_files_land_in_packs_written_by_two_processes(samples: Path, tmp_path: Path) -> None:
    version = data.add(samples, "imgs")
    root = _store_root()
    packs = sorted(p.name for p in (root / "packs").iterdir())
    expected = 2 if child_reader.can_fork() else 1  # this process and the forked child each write one
    assert len([p for p in packs if p.endswith(".pack")]) == expected
    assert len([p for p in packs if p.endswith(".idx")]) == expected and not any(TEMP_PREFIX in p for p in packs)
    loose = [p for p in (root / "objects").rglob("*") if p.is_file()]
    assert [p.parent.name + p.name for p in loose] == [version.manifest_digest]  # only the manifest is loose
    blobs = BlobStore(root)
    stored = set(blobs.digests())
    assert len(stored) == FILES + 1
    assert sorted(blobs.get_bytes(d) for d in stored - {version.manifest_digest}) == sorted(_tree(samples).values())
    data.checkout("imgs@v1", tmp_path / "out")
    assert _tree(tmp_path / "out") == _tree(samples)


def test_a_changed_sample_is_stored_alone_and_the_diff_names_it(samples: Path) -> None:
    data.add(samples, "imgs")
    before = set(BlobStore(_store_root()).digests())
    target = samples / "class1" / "img0005.bin"
    target.write_bytes(b"changed")
    v2 = data.add(samples, "imgs")
    new = set(BlobStore(_store_root()).digests()) - before
    assert len(new) == 2 and v2.manifest_digest in new  # the changed file and the new manifest
    assert data.diff("imgs@v1", "imgs@v2").files.changed == ["class1/img0005.bin"]


def test_push_and_pull_move_packed_objects_to_another_home(
        samples: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data.add(samples, "imgs")
    data.add_remote("origin", str(tmp_path / "remote"))
    pushed = data.push("imgs")
    assert pushed.objects == FILES + 1
    assert len(set(BlobStore(tmp_path / "remote").digests())) == FILES + 1
    monkeypatch.setenv("KEEL_HOME", str(tmp_path / "elsewhere"))
    reset_backend()
    data.add_remote("origin", str(tmp_path / "remote"))
    assert data.pull("imgs").objects == FILES + 1
    data.checkout("imgs@v1", tmp_path / "pulled")
    assert _tree(tmp_path / "pulled") == _tree(samples)


def test_a_table_of_many_small_parquet_parts_loads_and_validates(keel_home: Path, tmp_path: Path) -> None:
    root = tmp_path / "parts"
    root.mkdir()
    for i in range(120):
        pd.DataFrame({"id": [2 * i, 2 * i + 1], "v": [float(i)] * 2}).to_parquet(root / f"part{i:03d}.parquet")
    _settle(root)
    version = data.add(root, "parts")
    assert any((_store_root() / "packs").glob("*.pack"))
    frame = data.load(version.ref)
    assert sorted(frame["id"]) == list(range(240))
    result = data.validate(version.ref, data.Suite.model_validate(
        {"checks": [{"check": "unique", "column": "id"}, {"check": "row_count", "min": 240, "max": 240}]}))
    assert result.success and result.row_count == 240 and not result.failed


def _ingest(samples: Path, keel_home: Path) -> tuple[list[snapshot.LocalFile], StatCache, BlobStore]:
    _, files = snapshot.scan(samples)
    return files, StatCache(keel_home / "statcache.db"), BlobStore(keel_home / "artifacts")


def _leftovers(store: Path) -> list[str]:
    return [p.name for p in store.rglob("*") if p.is_file() and p.name.startswith(TEMP_PREFIX)]


def test_a_failure_in_the_child_comes_back_as_the_same_error(samples: Path, keel_home: Path) -> None:
    files, cache, blobs = _ingest(samples, keel_home)
    gone = files[-1]  # the child reads the last 60% of the files
    os.unlink(gone.path)
    with pytest.raises(NotFound, match=f"local file {gone.path!r} does not exist"):
        snapshot.ingest_files(files, cache, blobs)
    assert _leftovers(keel_home / "artifacts") == []
    assert not list((keel_home / "artifacts").rglob("*.idx"))  # neither side named a pack


def test_a_failure_in_this_process_stops_the_child(samples: Path, keel_home: Path) -> None:
    files, cache, blobs = _ingest(samples, keel_home)
    moved = files[0]  # this process's share
    Path(moved.path).write_bytes(b"rewritten since the scan")
    with pytest.raises(Conflict, match="changed while it was being added"):
        snapshot.ingest_files(files, cache, blobs)
    assert _leftovers(keel_home / "artifacts") == []


def test_a_child_that_dies_is_an_error_not_a_hang(
        samples: Path, keel_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if not child_reader.can_fork():
        pytest.skip("no second core: no child reader")  # never on CI (two cores)
    monkeypatch.setattr(child_reader, "_child", lambda *args: os._exit(3))
    files, cache, blobs = _ingest(samples, keel_home)
    with pytest.raises(KeelError, match="stopped without an answer"):
        snapshot.ingest_files(files, cache, blobs)
