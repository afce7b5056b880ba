"""ArtifactRepository: logical paths over blobs, scoped namespaces, listing, directories, deletion."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from keel.artifacts import ArtifactRepository, BlobStore, FileInfo, hash_bytes
from keel.errors import CorruptArtifact, InvalidInput, NotFound

FlipByte = Callable[[BlobStore, str, int], None]


def make_tree(root: Path) -> dict[str, bytes]:
    files = {
        "MLmodel": b"flavors: {}\n",
        "model.pkl": b"\x80\x04pickle" * 50,
        "data/train.csv": b"a,b\n1,2\n",
        "data/nested/deep.txt": b"deep",
        "empty.txt": b"",
    }
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return files


def test_bytes_round_trip_and_stat(repo: ArtifactRepository) -> None:
    info = repo.put_bytes("1/run/artifacts/notes.txt", b"hello")
    assert info == FileInfo("1/run/artifacts/notes.txt", False, 5, hash_bytes(b"hello"))
    assert repo.get_bytes("1/run/artifacts/notes.txt") == b"hello"
    assert repo.stat("1/run/artifacts/notes.txt") == info
    assert repo.stat("1/run") == FileInfo("1/run", True)
    assert repo.exists("1/run/artifacts/notes.txt") and repo.exists("1/run")
    assert not repo.exists("1/run/artifacts/other.txt")


def test_overwrite_replaces_content(repo: ArtifactRepository) -> None:
    repo.put_bytes("a.txt", b"old")
    repo.put_bytes("a.txt", b"new!")
    assert repo.get_bytes("a.txt") == b"new!"
    assert repo.stat("a.txt").file_size == 4


def test_file_round_trip(repo: ArtifactRepository, tmp_path: Path) -> None:
    src = tmp_path / "model.pkl"
    src.write_bytes(b"weights" * 1000)
    info = repo.put_file("model/model.pkl", src)
    assert info.file_size == 7000 and info.digest == hash_bytes(src.read_bytes())
    out = repo.get_file("model/model.pkl", tmp_path / "dl" / "m.pkl")
    assert out.read_bytes() == src.read_bytes()


def test_dir_round_trip(repo: ArtifactRepository, tmp_path: Path) -> None:
    files = make_tree(tmp_path / "src")
    written = repo.put_dir("run1/model", tmp_path / "src")
    assert written == sorted(f"run1/model/{rel}" for rel in files)
    local = repo.get_dir("run1/model", tmp_path / "dest")
    assert sorted(local) == sorted((tmp_path / "dest" / rel).resolve() for rel in files)
    for rel, data in files.items():
        assert (tmp_path / "dest" / rel).read_bytes() == data


def test_same_content_at_two_paths_is_one_object(repo: ArtifactRepository, tmp_path: Path) -> None:
    repo.put_bytes("a/x.bin", b"shared")
    repo.put_bytes("b/y.bin", b"shared")
    make_tree(tmp_path / "t")
    repo.put_dir("c", tmp_path / "t")
    repo.put_dir("d", tmp_path / "t")
    assert len(list(repo.blobs.digests())) == 1 + 5


def test_list_gives_immediate_children(repo: ArtifactRepository, tmp_path: Path) -> None:
    make_tree(tmp_path / "src")
    repo.put_dir("m", tmp_path / "src")
    assert repo.list("m") == [
        FileInfo("m/MLmodel", False, 12, hash_bytes(b"flavors: {}\n")),
        FileInfo("m/data", True),
        FileInfo("m/empty.txt", False, 0, hash_bytes(b"")),
        FileInfo("m/model.pkl", False, 400, hash_bytes(b"\x80\x04pickle" * 50)),
    ]
    assert [(i.path, i.is_dir, i.file_size) for i in repo.list("m/data")] == [
        ("m/data/nested", True, None),
        ("m/data/train.csv", False, 8),
    ]
    assert repo.list("") == [FileInfo("m", True)]
    assert repo.list() == repo.list("")


def test_list_of_missing_or_file_is_empty(repo: ArtifactRepository) -> None:
    assert repo.list() == []
    repo.put_bytes("f.txt", b"1")
    assert repo.list("f.txt") == []
    assert repo.list("nope") == []


def test_namespace_scopes_paths(repo: ArtifactRepository, tmp_path: Path) -> None:
    run_a = repo.namespace("1/aaa/artifacts")
    run_b = repo.namespace("1/bbb/artifacts")
    run_a.put_bytes("model/MLmodel", b"A")
    run_b.put_bytes("model/MLmodel", b"B")
    assert run_a.get_bytes("model/MLmodel") == b"A"
    assert run_b.get_bytes("model/MLmodel") == b"B"
    assert repo.get_bytes("1/aaa/artifacts/model/MLmodel") == b"A"
    assert run_a.list() == [FileInfo("model", True)]
    assert [i.path for i in run_a.list("model")] == ["model/MLmodel"]
    assert run_a.stat("model/MLmodel").path == "model/MLmodel"
    assert [i.path for i in repo.list("1")] == ["1/aaa", "1/bbb"]
    assert run_a.namespace("model").get_bytes("MLmodel") == b"A"


def test_delete_removes_refs_not_blobs(repo: ArtifactRepository) -> None:
    repo.put_bytes("d/a.txt", b"a")
    repo.put_bytes("d/sub/b.txt", b"b")
    repo.put_bytes("keep.txt", b"k")
    repo.delete("d/sub/b.txt")
    assert not repo.exists("d/sub/b.txt")
    assert [i.path for i in repo.list("d")] == ["d/a.txt"]  # the emptied directory is gone too
    assert repo.blobs.exists(hash_bytes(b"b"))
    repo.delete("d")
    assert not repo.exists("d")
    assert repo.list() == [FileInfo("keep.txt", False, 1, hash_bytes(b"k"))]
    with pytest.raises(NotFound, match="'d'"):
        repo.delete("d")


def test_missing_paths_are_not_found(repo: ArtifactRepository, tmp_path: Path) -> None:
    repo.put_bytes("a/b.txt", b"x")
    with pytest.raises(NotFound, match="a/c.txt"):
        repo.get_bytes("a/c.txt")
    with pytest.raises(NotFound, match="a/c.txt"):
        repo.get_file("a/c.txt", tmp_path / "c.txt")
    with pytest.raises(NotFound, match="zzz"):
        repo.get_dir("zzz", tmp_path / "out")
    with pytest.raises(NotFound, match="a/c.txt"):
        repo.stat("a/c.txt")
    assert not (tmp_path / "c.txt").exists()


def test_file_and_directory_confusion_is_invalid_input(repo: ArtifactRepository, tmp_path: Path) -> None:
    repo.put_bytes("a/b.txt", b"x")
    with pytest.raises(InvalidInput, match="is a directory"):
        repo.get_bytes("a")
    with pytest.raises(InvalidInput, match="is a file"):
        repo.get_dir("a/b.txt", tmp_path / "out")
    with pytest.raises(InvalidInput, match="clashes"):
        repo.put_bytes("a", b"file where a directory is")
    with pytest.raises(InvalidInput, match="clashes"):
        repo.put_bytes("a/b.txt/c", b"child of a file")
    assert repo.get_bytes("a/b.txt") == b"x"
    assert repo.list("a") == [FileInfo("a/b.txt", False, 1, hash_bytes(b"x"))]


def test_corrupt_object_through_repository(
    repo: ArtifactRepository, tmp_path: Path, flip_byte: FlipByte
) -> None:
    info = repo.put_bytes("m/model.pkl", b"weights" * 10)
    assert info.digest is not None
    flip_byte(repo.blobs, info.digest, 3)
    with pytest.raises(CorruptArtifact, match=info.digest):
        repo.get_bytes("m/model.pkl")
    with pytest.raises(CorruptArtifact, match=info.digest):
        repo.get_file("m/model.pkl", tmp_path / "dl" / "model.pkl")
    with pytest.raises(CorruptArtifact):
        repo.get_dir("m", tmp_path / "dir")
    assert not (tmp_path / "dl" / "model.pkl").exists()
    assert list((tmp_path / "dir").iterdir()) == []


def test_unreadable_index_entry_is_corrupt(repo: ArtifactRepository) -> None:
    repo.put_bytes("a.txt", b"x")
    storage = repo.blobs.storage
    storage.fs.pipe_file(storage.full("refs/a.txt"), b"{not json")
    with pytest.raises(CorruptArtifact, match="a.txt"):
        repo.get_bytes("a.txt")
    storage.fs.pipe_file(storage.full("refs/a.txt"), json.dumps({"digest": "../../x", "size": 1}).encode())
    with pytest.raises(CorruptArtifact, match="a.txt"):
        repo.stat("a.txt")


def test_index_is_plain_json_pointers(repo: ArtifactRepository) -> None:
    repo.namespace("1/r/artifacts").put_bytes("x.txt", b"abc")
    storage = repo.blobs.storage
    body = json.loads(storage.read_bytes("refs/1/r/artifacts/x.txt"))
    assert body == {"digest": hash_bytes(b"abc"), "size": 3}


def test_from_url_opens_same_store(root_url: str) -> None:
    ArtifactRepository.from_url(root_url, prefix="p").put_bytes("x", b"1")
    assert ArtifactRepository.from_url(root_url).get_bytes("p/x") == b"1"
