"""Artifacts over HTTP, through ``keel server``'s ``/api/v1/artifacts`` routes (same logical paths as local)."""

from __future__ import annotations

import os
import posixpath
from pathlib import Path
from typing import Any
from urllib.parse import quote

from keel.artifacts.namespace import check_path
from keel.client.http import HttpSession
from keel.errors import InvalidInput

__all__ = ["HttpArtifactStore", "RemoteFileInfo"]

_ROUTE = "/api/v1/artifacts"


class RemoteFileInfo:
    """One entry of a listing: path relative to the listed directory's parent tree, kind and size."""

    def __init__(self, path: str, is_dir: bool, file_size: int | None) -> None:
        self.path, self.is_dir, self.file_size = path, is_dir, file_size


class HttpArtifactStore:
    """Upload, list and download artifacts on a Keel server."""

    def __init__(self, session: HttpSession) -> None:
        self.http = session

    def put_bytes(self, path: str, data: bytes) -> None:
        """Store bytes at a logical path."""
        self.http.request("PUT", _url(path), content=data)

    def put_file(self, path: str, local_path: str | os.PathLike[str]) -> None:
        """Upload one file to a logical path."""
        self.put_bytes(path, Path(local_path).read_bytes())

    def put_dir(self, path: str, local_dir: str | os.PathLike[str]) -> list[str]:
        """Upload every file under ``local_dir`` (symlinks leaving it are refused)."""
        root = Path(local_dir).resolve()
        stored = []
        for file in sorted(p for p in Path(local_dir).rglob("*") if p.is_file()):
            if not file.resolve().is_relative_to(root):
                raise InvalidInput(f"log_artifacts: {file} links outside {root}; refusing to upload it",
                                   field="local_dir")
            logical = f"{path}/{file.relative_to(local_dir).as_posix()}"
            self.put_file(logical, file)
            stored.append(logical)
        return stored

    def get_bytes(self, path: str) -> bytes:
        """Download one artifact's bytes."""
        return self.http.request("GET", _url(path)).content

    def get_file(self, path: str, dest: str | os.PathLike[str]) -> None:
        """Download one artifact to ``dest``."""
        Path(dest).write_bytes(self.get_bytes(path))

    def list(self, path: str = "") -> list[RemoteFileInfo]:
        """Immediate children of a logical directory (paths joined to ``path``)."""
        out: dict[str, Any] = self.http.json("GET", _ROUTE, params={"path": check_path(path, allow_root=True)})
        return [RemoteFileInfo(posixpath.join(path, f["path"]), f["is_dir"], f.get("file_size"))
                for f in out.get("files", [])]

    def get_dir(self, path: str, dest: str | os.PathLike[str]) -> None:
        """Download a logical directory tree into ``dest``."""
        for info in self.list(path):
            name = posixpath.basename(info.path)
            target = Path(dest) / name
            if info.is_dir:
                target.mkdir(parents=True, exist_ok=True)
                self.get_dir(info.path, target)
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                self.get_file(info.path, target)


def _url(path: str) -> str:
    # Checked here: an HTTP client would silently resolve "a/../b" before the server could refuse it.
    return f"{_ROUTE}/{quote(check_path(path))}"
