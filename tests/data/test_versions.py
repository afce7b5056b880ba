"""Dataset versions: dedup, stat-only re-add, pointer files, verified checkout, load, stats, lineage, errors."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

import keel
from keel import data
from keel.artifacts import BlobStore
from keel.artifacts.local_objects import LocalObjects
from keel.data import snapshot
from keel.errors import Conflict, CorruptArtifact, InvalidInput, NotFound
from keel.store import open_database
from keel.store.lineage import edges_touching
from keel.tracking.context import get_backend


def _settle(root: Path) -> None:
    """Backdate every file's mtime so the stat cache may trust it (files touched in the last 2 s are not cached)."""
    past = time.time() - 60
    for path in [root] if root.is_file() else root.rglob("*"):
        os.utime(path, (past, past))


def _blobs() -> BlobStore:
    return BlobStore(get_backend().settings.resolved_artifact_root)


@pytest.fixture
def folder(keel_home: Path, tmp_path: Path) -> Path:
    root = tmp_path / "images"
    (root / "sub").mkdir(parents=True)
    for i in range(3):
        (root / f"f{i}.bin").write_bytes(os.urandom(1000 + i))
    (root / "sub" / "same.bin").write_bytes(b"shared")
    (root / "sub" / "copy.bin").write_bytes(b"shared")
    _settle(root)
    return root


def test_directory_with_one_changed_file_stores_one_new_object(folder: Path) -> None:
    v1 = data.add(folder, "images", "first")
    before = set(_blobs().digests())
    assert v1.number == 1 and v1.file_count == 5 and v1.kind == "dir"
    assert len(before) == 5  # 4 distinct file contents (two files share bytes) + the manifest

    (folder / "f1.bin").write_bytes(b"changed")
    v2 = data.add(folder, "images", "second")
    new = set(_blobs().digests()) - before
    assert v2.number == 2 and v2.parent_id == v1.id and v2.message == "second"
    assert new == {snapshot.hash_file(folder / "f1.bin")[0], v2.manifest_digest}


def test_readd_of_unchanged_data_stats_without_hashing(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    v1 = data.add(folder, "images")
    calls: list[Path] = []
    real, real_put = snapshot.hash_file, LocalObjects.put_file
    monkeypatch.setattr(snapshot, "hash_file", lambda p: calls.append(Path(p)) or real(p))
    monkeypatch.setattr(LocalObjects, "put_file", lambda self, p, *a: calls.append(Path(p)) or real_put(self, p, *a))

    again = data.add(folder, "images")
    assert again == v1 and calls == []
    assert [v.number for v in data.versions("images")] == [1]

    (folder / "f2.bin").write_bytes(b"new bytes")
    _settle(folder / "f2.bin")
    v2 = data.add(folder, "images")
    assert calls == [(folder / "f2.bin").absolute()] and v2.number == 2


def test_pointer_file_round_trip(folder: Path) -> None:
    v1 = data.add(folder, "images")
    pointer = folder.parent / "images.keel.yaml"
    body = yaml.safe_load(pointer.read_text())
    assert body == {"name": "images", "version": v1.id, "number": 1, "hash": v1.manifest_digest, "path": "images"}
    v1_pointer = pointer.read_text()
    original = (folder / "f0.bin").read_bytes()

    (folder / "f0.bin").write_bytes(b"v2 content")
    data.add(folder, "images")
    assert yaml.safe_load(pointer.read_text())["number"] == 2

    pointer.write_text(v1_pointer)  # as if `git checkout` restored the old pointer
    (folder / "sub" / "same.bin").unlink()
    restored = data.checkout(str(pointer))
    assert restored == folder
    assert (folder / "f0.bin").read_bytes() == original and (folder / "sub" / "same.bin").read_bytes() == b"shared"


def test_checkout_verifies_hashes(keel_home: Path, tmp_path: Path) -> None:
    src = tmp_path / "train.csv"
    src.write_text("a,b\n1,x\n2,y\n")
    version = data.add(src, "train")
    out = data.checkout("train@v1", tmp_path / "out")
    assert out == tmp_path / "out" / "train.csv" and out.read_text() == src.read_text()

    digest = snapshot.hash_file(src)[0]
    obj = Path(_blobs().url) / _blobs().object_path(digest)
    obj.write_bytes(b"a,b\n1,x\n2,z\n")
    with pytest.raises(CorruptArtifact, match=digest):
        data.checkout(version, tmp_path / "again")
    assert not (tmp_path / "again" / "train.csv").exists()


def test_checkout_reports_bytes_written_and_writes_only_what_differs(keel_home: Path, tmp_path: Path) -> None:
    src = tmp_path / "parts"
    sizes = [10 + i % 97 for i in range(600)]
    for i, size in enumerate(sizes):
        (src / f"d{i % 3}").mkdir(parents=True, exist_ok=True)
        (src / f"d{i % 3}" / f"p{i:03d}.bin").write_bytes(bytes([i % 251]) * size)
    _settle(src)
    data.add(src, "parts")
    seen: list[tuple[str, int, int]] = []
    out = data.checkout("parts@v1", tmp_path / "out", progress=lambda *update: seen.append(update))
    assert sorted(p.read_bytes() for p in out.rglob("*.bin")) == sorted(p.read_bytes() for p in src.rglob("*.bin"))
    assert [s for s, _, _ in seen] == ["writing"] * 3 and {t for _, _, t in seen} == {sum(sizes)}
    done = [d for _, d, _ in seen]
    assert done == sorted(done) and done[-1] == sum(sizes) and len(set(done)) == 3  # after files 256 and 512, then all
    seen.clear()
    data.checkout("parts@v1", src, progress=lambda *update: seen.append(update))  # the stat cache vouches for all
    assert seen == []
    changed = out / "d1" / "p004.bin"
    changed.write_bytes(b"\xff" * changed.stat().st_size)  # same size, other bytes: hashed, found stale
    data.checkout("parts@v1", tmp_path / "out", progress=lambda *update: seen.append(update))
    assert seen == [("writing", sizes[4], sizes[4])]  # the one changed file is written again, the rest hashed
    assert changed.read_bytes() == (src / "d1" / "p004.bin").read_bytes()


def test_checkout_writes_everything_again_when_a_file_changes_while_it_is_compared(
        keel_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = tmp_path / "pair"
    src.mkdir()
    (src / "a.bin").write_bytes(b"a" * 50)
    (src / "b.bin").write_bytes(b"b" * 70)
    data.add(src, "pair")
    out = data.checkout("pair@v1", tmp_path / "out")

    def changing(*_args: object, **_kwargs: object) -> None:
        raise Conflict("a file changed while it was being added")

    monkeypatch.setattr(snapshot, "digest_files", changing)
    seen: list[tuple[str, int, int]] = []
    data.checkout("pair@v1", out, progress=lambda *update: seen.append(update))
    assert seen == [("writing", 120, 120)]  # no error: both files written again
    assert (out / "a.bin").read_bytes() == b"a" * 50


def test_load_csv_records_schema_and_stats(keel_home: Path, tmp_path: Path) -> None:
    src = tmp_path / "scores.csv"
    pd.DataFrame({"x": [1.0, 2.0, None, 5.0], "label": ["a", "b", "b", None]}).to_csv(src, index=False)
    version = data.add(src, "scores")
    assert version.row_count == 4
    assert [c["name"] for c in version.schema or []] == ["x", "label"]
    x, label = (version.stats or {})["x"], (version.stats or {})["label"]
    assert (x["null_count"], x["min"], x["max"], x["mean"]) == (1, 1.0, 5.0, pytest.approx(8 / 3))
    assert (label["null_count"], label["min"], label["max"], label["distinct_estimate"]) == (1, "a", "b", 2)
    assert data.get_version("scores").stats == version.stats  # round trip through the store

    frame = data.load("scores@v1")
    assert frame["x"].tolist()[:2] == [1.0, 2.0] and frame["x"].isna().tolist() == [False, False, True, False]
    assert frame["label"].tolist()[:3] == ["a", "b", "b"] and frame["label"].isna().sum() == 1


def test_load_directory_of_parquet(keel_home: Path, tmp_path: Path) -> None:
    root = tmp_path / "parts"
    root.mkdir()
    pd.DataFrame({"k": [1, 2], "v": ["a", "b"]}).to_parquet(root / "part-0.parquet")
    pd.DataFrame({"k": [3], "v": ["c"]}).to_parquet(root / "part-1.parquet")
    version = data.add(root, "parts")
    assert version.row_count == 3 and (version.stats or {})["k"]["max"] == 3
    frame = data.load(version.ref)
    assert frame["k"].tolist() == [1, 2, 3] and frame["v"].tolist() == ["a", "b", "c"]


def test_load_refuses_non_tabular(folder: Path) -> None:
    version = data.add(folder, "images")
    assert version.row_count is None and version.stats is None
    with pytest.raises(InvalidInput, match="not a table"):
        data.load("images")


def test_references_and_errors(folder: Path, tmp_path: Path) -> None:
    v1 = data.add(folder, "images")
    (folder / "f0.bin").write_bytes(b"x")
    v2 = data.add(folder, "images")
    assert data.get_version("images") == v2
    assert data.get_version("images@v1") == v1
    assert data.get_version(f"images@{v1.id}") == v1
    assert data.get_version(f"images@{v1.id[:6]}") == v1
    with pytest.raises(NotFound, match="v9"):
        data.get_version("images@v9")
    with pytest.raises(NotFound, match="'nope' does not exist"):
        data.versions("nope")
    with pytest.raises(NotFound, match="does not exist"):
        data.add(tmp_path / "missing.csv", "m")
    with pytest.raises(InvalidInput, match="dataset name"):
        data.add(folder, "bad/name")
    with pytest.raises(InvalidInput, match="after '@'"):
        data.get_version("images@latest!")


def test_log_input_links_the_version_to_the_run(keel_home: Path, tmp_path: Path) -> None:
    src = tmp_path / "train.csv"
    src.write_text("a\n1\n2\n")
    version = data.add(src, "train")
    with keel.start_run() as run:
        keel.log_input(version, context="training")
    run_id = run.info.run_id
    inputs = keel.get_run(run_id).inputs
    assert [(i.name, i.digest, i.context) for i in inputs] == [("train", version.manifest_digest, "training")]
    db = open_database(get_backend().settings.resolved_db_url)
    with db.read() as conn:
        edges = edges_touching(conn, "dataset_version", [version.id])
    assert [(e.relation, e.dst_kind, e.dst_id) for e in edges] == [("input_to", "run", run_id)]


def test_log_input_of_a_ref_string_resolves_and_links_a_local_version(keel_home: Path, tmp_path: Path) -> None:
    src = tmp_path / "train.csv"
    src.write_text("a\n1\n2\n")
    version = data.add(src, "train")
    with keel.start_run() as run:
        keel.log_input("train@v1", context="training")
        keel.log_input("external@2024-06", context="eval")  # no local dataset of that name: recorded as given
        (tmp_path / "train@v2.csv").write_text("a\n3\n")
        keel.log_input(str(tmp_path / "train@v2.csv"))  # a file whose name has an '@' is not a version ref
        with pytest.raises(NotFound, match="v9"):
            keel.log_input("train@v9")  # a known dataset, an unknown version: a typo, not a new reference
    run_id = run.info.run_id
    inputs = {i.name: i for i in keel.get_run(run_id).inputs}
    assert (inputs["train"].digest, inputs["train"].source) == (version.manifest_digest, f"train@{version.id}")
    assert inputs["external"].digest == "2024-06"
    assert inputs[str(tmp_path / "train")].digest == "v2.csv"  # recorded as given, as before
    db = open_database(get_backend().settings.resolved_db_url)
    with db.read() as conn:
        edges = edges_touching(conn, "dataset_version", [version.id])
    assert [(e.relation, e.dst_kind, e.dst_id) for e in edges] == [("input_to", "run", run_id)]
