"""Remotes and push/pull to a local-directory remote: only-missing transfer, fresh-home round trip, corruption,
a push that fails midway, and CLI errors."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import pandas as pd
import pytest

from keel import data
from keel.artifacts import BlobStore, FsspecStorage
from keel.artifacts.storage import TEMP_PREFIX
from keel.errors import AlreadyExists, CorruptArtifact, NotFound, Unavailable
from keel.tracking.context import reset_backend
from keel_testing import run_cli


def _settle(root: Path) -> None:
    past = time.time() - 60
    for path in [root, *root.rglob("*")]:
        os.utime(path, (past, past))


def _move_home(monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    """Switch to another, empty Keel home: "another machine" sharing only the remote."""
    monkeypatch.setenv("KEEL_HOME", str(home))
    reset_backend()


@pytest.fixture
def table_dir(keel_home: Path, tmp_path: Path) -> Path:
    root = tmp_path / "sales"
    root.mkdir()
    for i in range(3):
        pd.DataFrame({"id": range(i * 10, i * 10 + 10), "amount": [float(i)] * 10}).to_parquet(root / f"p{i}.parquet")
    _settle(root)
    return root


@pytest.fixture
def remote_dir(keel_home: Path, tmp_path: Path) -> Path:
    path = tmp_path / "remote"
    data.add_remote("origin", str(path))
    return path


def _objects(root: Path) -> set[str]:
    return set(BlobStore(str(root)).digests())


def _all_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


def test_remote_registry_add_list_remove(keel_home: Path, tmp_path: Path) -> None:
    data.add_remote("origin", str(tmp_path / "r"), {"auto_mkdir": True})
    with pytest.raises(AlreadyExists, match="remote 'origin' exists"):
        data.add_remote("origin", str(tmp_path / "other"))
    [remote] = data.list_remotes()
    assert (remote.name, remote.url, remote.options) == ("origin", str(tmp_path / "r"), {"auto_mkdir": True})
    data.remove_remote("origin")
    assert data.list_remotes() == []
    with pytest.raises(NotFound, match="keel remote list"):
        data.remove_remote("origin")


def test_push_sends_only_missing_objects(table_dir: Path, remote_dir: Path) -> None:
    v1 = data.add(table_dir, "sales")
    first = data.push("sales")
    assert first.versions == ["sales@v1"] and first.objects == 4  # 3 files + manifest
    assert _objects(remote_dir) == _objects(Path(os.environ["KEEL_HOME"]) / "artifacts")
    assert json.loads((remote_dir / "datasets" / "sales" / f"{v1.id}.json").read_text())["manifest_digest"] == \
        v1.manifest_digest

    again = data.push("sales")
    assert (again.versions, again.objects, again.bytes) == ([], 0, 0)

    pd.DataFrame({"id": [1], "amount": [9.5]}).to_parquet(table_dir / "p1.parquet")
    v2 = data.add(table_dir, "sales")
    third = data.push("sales@v2")
    assert third.versions == ["sales@v2"] and third.objects == 2  # the changed file + the new manifest
    assert v2.manifest_digest in _objects(remote_dir)


def test_pull_into_a_fresh_home_recreates_versions(table_dir: Path, remote_dir: Path, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    v1 = data.add(table_dir, "sales", "first")
    (table_dir / "p2.parquet").unlink()
    v2 = data.add(table_dir, "sales", "second")
    expected = {1: data.load("sales@v1"), 2: data.load("sales@v2")}
    data.push("sales")

    _move_home(monkeypatch, tmp_path / "elsewhere")
    data.add_remote("origin", str(remote_dir))
    with pytest.raises(NotFound):
        data.load("sales@v1")
    pulled = data.pull("sales@v1")
    assert pulled.versions == ["sales@v1"] and pulled.objects == 4
    pd.testing.assert_frame_equal(data.load("sales@v1"), expected[1])
    rest = data.pull("sales")
    assert rest.versions == ["sales@v2"] and rest.objects == 1  # v2's files are a subset of v1's
    got = data.get_version("sales@v2")
    assert (got.id, got.parent_id, got.message, got.row_count) == (v2.id, v1.id, "second", v2.row_count)
    pd.testing.assert_frame_equal(data.load("sales@v2"), expected[2])
    assert data.pull("sales").versions == []


def test_corrupt_remote_object_is_detected_and_nothing_is_recreated(
        table_dir: Path, remote_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    version = data.add(table_dir, "sales")
    data.push("sales")
    victim = next(d for d in _objects(remote_dir) if d != version.manifest_digest)
    path = remote_dir / "objects" / victim[:2] / victim[2:]
    path.write_bytes(path.read_bytes()[:-1] + b"X")

    new_home = tmp_path / "elsewhere"
    _move_home(monkeypatch, new_home)
    data.add_remote("origin", str(remote_dir))
    with pytest.raises(CorruptArtifact, match=victim):
        data.pull("sales")
    with pytest.raises(NotFound):
        data.get_version("sales@v1")
    local = new_home / "artifacts"
    assert victim not in _objects(local)
    assert not [p for p in _all_files(local) if p.name.startswith(TEMP_PREFIX)]


def _fail_after(k: int) -> Callable[..., None]:
    """A `_write_local` that writes k objects, then fails halfway through the next one's bytes."""
    original = FsspecStorage._write_local
    calls = {"n": 0}

    def write(self: FsspecStorage, tmp: str, final: str, chunks: Iterable[bytes]) -> None:
        calls["n"] += 1
        if calls["n"] <= k:
            original(self, tmp, final, chunks)
            return

        def broken() -> Iterable[bytes]:
            yield b"partial bytes"
            raise OSError("remote went away")

        original(self, tmp, final, broken())

    return write


def test_push_failing_midway_leaves_no_partial_objects_and_a_retry_completes(
        table_dir: Path, remote_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for i in range(3, 12):
        (table_dir / f"p{i}.parquet").write_bytes((table_dir / "p0.parquet").read_bytes() + os.urandom(8))
    version = data.add(table_dir, "blobs")  # mixed bytes: stored as files, 12 objects + manifest
    monkeypatch.setattr(FsspecStorage, "_write_local", _fail_after(5))
    with pytest.raises(Unavailable, match="remote went away"):
        data.push("blobs")
    files = _all_files(remote_dir)
    assert not [p for p in files if p.name.startswith(TEMP_PREFIX)]
    assert not (remote_dir / "datasets").exists()  # no version record before all its objects are there
    blobs = BlobStore(str(remote_dir))
    for digest in blobs.digests():
        blobs.verify(digest)  # every object present is whole
    assert 5 <= len(files) < 13

    monkeypatch.undo()
    retry = data.push("blobs")
    assert retry.versions == ["blobs@v1"] and retry.objects == 13 - len(files)
    assert version.manifest_digest in _objects(remote_dir)


def test_cli_push_pull_and_errors(table_dir: Path, remote_dir: Path, tmp_path: Path,
                                  capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    data.add(table_dir, "sales")
    code, out, err = run_cli("data", "push", "sales", "--remote", "nowhere", capsys=capsys)
    assert code == 2 and "remote 'nowhere' is not configured" in err and "Traceback" not in err
    code, out, _ = run_cli("data", "push", "sales", capsys=capsys)
    assert code == 0 and "pushed sales@v1 to origin: 4 object(s)" in out
    code, out, _ = run_cli("remote", "list", capsys=capsys)
    assert code == 0 and "origin" in out

    _move_home(monkeypatch, tmp_path / "elsewhere")
    code, _, err = run_cli("remote", "add", "origin", str(remote_dir), "-o", "novalue", capsys=capsys)
    assert code == 2 and "KEY=VALUE" in err
    assert run_cli("remote", "add", "origin", str(remote_dir), capsys=capsys)[0] == 0
    code, _, err = run_cli("data", "pull", "sales@v7", capsys=capsys)
    assert code == 2 and "no v7 on remote 'origin'" in err
    code, out, _ = run_cli("data", "pull", "sales", capsys=capsys)
    assert code == 0 and "pulled sales@v1 from origin: 4 object(s)" in out
    assert len(data.load("sales")) == 30
