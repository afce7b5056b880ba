"""Path safety: logical paths are checked, uploads refuse escaping symlinks, downloads stay inside dest."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import fsspec
import pytest

from keel.artifacts import ArtifactRepository, check_path
from keel.errors import InvalidInput, NotFound

BAD_PATHS = [
    "../x",
    "/etc/passwd",
    "a/../../b",
    "a/..",
    "..",
    "a\\b",
    "..\\..\\windows",
    "C:/x",
    "c:x",
    "a//b",
    "a\x00b",
    "a/\nb",
    "",
    "/",
    "./",
    ".tmp-123/x",
]


@pytest.mark.parametrize("bad", BAD_PATHS)
def test_check_path_refuses(bad: str) -> None:
    with pytest.raises(InvalidInput, match="artifact path") as info:
        check_path(bad)
    assert repr(bad) in info.value.message
    assert info.value.field == "path"


@pytest.mark.parametrize(
    ("given", "normal"),
    [
        ("a/b.txt", "a/b.txt"),
        ("./a/./b.txt", "a/b.txt"),
        ("model/", "model"),
        ("1/0123abcd/artifacts/model/model.pkl", "1/0123abcd/artifacts/model/model.pkl"),
        ("with space/ünïcode.txt", "with space/ünïcode.txt"),
        ("..hidden/x..y", "..hidden/x..y"),
        ("ab:c", "ab:c"),
    ],
)
def test_check_path_normalizes(given: str, normal: str) -> None:
    assert check_path(given) == normal


def test_root_is_allowed_only_when_asked() -> None:
    assert check_path("", allow_root=True) == ""
    assert check_path(".", allow_root=True) == ""
    with pytest.raises(InvalidInput, match="empty"):
        check_path(".")


@pytest.mark.parametrize("bad", ["../x", "/etc/passwd", "a/../../b", "a\\b", "C:/x"])
def test_repository_refuses_bad_paths_before_storing(
    repo: ArtifactRepository, tmp_path: Path, bad: str
) -> None:
    src = tmp_path / "f.txt"
    src.write_bytes(b"secret")
    with pytest.raises(InvalidInput):
        repo.put_bytes(bad, b"secret")
    with pytest.raises(InvalidInput):
        repo.put_file(bad, src)
    with pytest.raises(InvalidInput):
        repo.get_bytes(bad)
    with pytest.raises(InvalidInput):
        repo.list(bad)
    with pytest.raises(InvalidInput):
        repo.namespace(bad)
    assert list(repo.blobs.digests()) == []


def test_put_dir_refuses_symlink_out_of_the_directory(repo: ArtifactRepository, tmp_path: Path) -> None:
    outside = tmp_path / "secret.txt"
    outside.write_bytes(b"do not upload")
    src = tmp_path / "src"
    src.mkdir()
    (src / "ok.txt").write_bytes(b"fine")
    (src / "leak.txt").symlink_to(outside)
    with pytest.raises(InvalidInput, match="outside"):
        repo.put_dir("run", src)
    assert not repo.exists("run")
    assert list(repo.blobs.digests()) == []  # refused before anything was uploaded


def test_put_dir_refuses_directory_symlink_out(repo: ArtifactRepository, tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "passwd").write_bytes(b"root:x:0:0")
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "sub" / "etc").symlink_to(tmp_path / "etc", target_is_directory=True)
    with pytest.raises(InvalidInput, match="outside"):
        repo.put_dir("run", src)
    assert list(repo.blobs.digests()) == []


def test_put_dir_follows_symlinks_inside(repo: ArtifactRepository, tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "real").mkdir(parents=True)
    (src / "real" / "data.txt").write_bytes(b"payload")
    (src / "alias.txt").symlink_to(src / "real" / "data.txt")
    (src / "relative.txt").symlink_to(os.path.join("real", "data.txt"))
    (src / "linked").symlink_to(src / "real", target_is_directory=True)
    written = repo.put_dir("run", src)
    assert written == ["run/alias.txt", "run/linked/data.txt", "run/real/data.txt", "run/relative.txt"]
    for path in written:
        assert repo.get_bytes(path) == b"payload"
    assert len(list(repo.blobs.digests())) == 1


def test_put_dir_refuses_loops_and_broken_links(repo: ArtifactRepository, tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "a").mkdir(parents=True)
    (src / "a" / "up").symlink_to(src, target_is_directory=True)
    with pytest.raises(InvalidInput, match="loop"):
        repo.put_dir("run", src)
    os.unlink(src / "a" / "up")
    (src / "a" / "dangling").symlink_to(src / "missing")
    with pytest.raises(InvalidInput, match="broken"):
        repo.put_dir("run", src)
    assert list(repo.blobs.digests()) == []


def test_put_dir_needs_a_directory(repo: ArtifactRepository, tmp_path: Path) -> None:
    with pytest.raises(NotFound):
        repo.put_dir("run", tmp_path / "missing")
    (tmp_path / "file.txt").write_bytes(b"x")
    with pytest.raises(InvalidInput, match="not a directory"):
        repo.put_dir("run", tmp_path / "file.txt")


def test_get_dir_refuses_symlink_out_of_destination(repo: ArtifactRepository, tmp_path: Path) -> None:
    repo.put_bytes("run/sub/evil.txt", b"overwrite you")
    victim = tmp_path / "victim"
    victim.mkdir()
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "sub").symlink_to(victim, target_is_directory=True)
    with pytest.raises(InvalidInput, match="outside"):
        repo.get_dir("run", dest)
    assert list(victim.iterdir()) == []


def test_get_dir_replaces_a_file_symlink_not_its_target(repo: ArtifactRepository, tmp_path: Path) -> None:
    repo.put_bytes("run/a.txt", b"new")
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"untouched")
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "a.txt").symlink_to(victim)
    repo.get_dir("run", dest)
    assert victim.read_bytes() == b"untouched"
    assert not (dest / "a.txt").is_symlink() and (dest / "a.txt").read_bytes() == b"new"


def test_get_dir_refuses_tampered_index_names(tmp_path: Path) -> None:
    """Object stores keep keys verbatim, so a planted ``refs/run/../../x`` must not steer a download."""
    name = f"keel-test-{uuid.uuid4().hex}"
    repo = ArtifactRepository.from_url(f"memory://{name}")
    try:
        repo.put_bytes("run/ok.txt", b"ok")
        fs = repo.blobs.storage.fs
        fs.pipe_file(f"/{name}/refs/run/../../escape.txt", fs.cat_file(f"/{name}/refs/run/ok.txt"))
        dest = tmp_path / "a" / "b" / "dest"
        with pytest.raises(InvalidInput, match=r"\.\."):
            repo.get_dir("run", dest)
        assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == []
    finally:
        fsspec.filesystem("memory").rm(f"/{name}", recursive=True)
