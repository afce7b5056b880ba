"""Artifact routes: MLflow's proxy (``/api/2.0/mlflow-artifacts/artifacts``) and Keel's ``/api/v1/artifacts``.

Both address the same logical tree, e.g. ``<experiment>/<run_id>/artifacts/model.pkl``; uploads are streamed to a
temporary file, hashed and stored content-addressed; downloads are checksum-verified before the first byte leaves.
"""

from __future__ import annotations

import os
import posixpath
import tempfile
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse
from starlette.background import BackgroundTask

from keel.errors import InvalidInput
from keel.server.permissions import requires
from keel.server.state import blocking, state

__all__ = ["router"]

router = APIRouter(tags=["artifacts"], dependencies=[requires("read")])
_PREFIXES = ("/api/2.0/mlflow-artifacts/artifacts", "/api/v1/artifacts")


def _inside_root(repo: Any, path: str) -> None:
    """Refuse a path that a symlink inside a local artifact root leads out of it (InvalidInput, a 400)."""
    storage: Any = getattr(getattr(repo, "blobs", None), "storage", None)
    if storage is None or not getattr(storage, "is_local", False):
        return
    _, ref = repo._ref(path, allow_root=True)  # the path checks of keel.artifacts (.., absolute, \\, NUL…)
    root = os.path.realpath(storage.root)
    if os.path.commonpath([root, os.path.realpath(storage.full(ref))]) != root:
        raise InvalidInput(f"artifact path {path!r} is refused: it leads out of the artifact store through a "
                           "symlink; remove the link or store the file under a plain path", field="path")


async def _upload(path: str, request: Request) -> dict[str, Any]:
    _inside_root(state(request).artifacts, path)
    fd, tmp = tempfile.mkstemp(prefix="keel-upload-")
    try:
        with os.fdopen(fd, "wb") as out:
            async for chunk in request.stream():
                out.write(chunk)
        await blocking(state(request).artifacts.put_file, path, tmp)
    finally:
        os.unlink(tmp)
    return {}


async def _download(path: str, request: Request) -> FileResponse:
    repo = state(request).artifacts
    _inside_root(repo, path)
    fd, tmp = tempfile.mkstemp(prefix="keel-download-")
    os.close(fd)
    try:
        await blocking(repo.get_file, path, tmp)
    except BaseException:
        os.unlink(tmp)
        raise
    return FileResponse(tmp, filename=posixpath.basename(path), media_type="application/octet-stream",
                        background=BackgroundTask(os.unlink, tmp))


async def _list(path: str, request: Request) -> dict[str, Any]:
    _inside_root(state(request).artifacts, path)
    infos = await blocking(state(request).artifacts.list, path)
    files = [{"path": posixpath.basename(i.path.rstrip("/")), "is_dir": i.is_dir,
              **({} if i.is_dir else {"file_size": i.file_size})} for i in infos]
    return {"files": files} if files else {}


for _prefix in _PREFIXES:
    router.add_api_route(f"{_prefix}/{{path:path}}", _upload, methods=["PUT"], summary="Upload an artifact",
                         dependencies=[requires("write")])
    router.add_api_route(f"{_prefix}/{{path:path}}", _download, methods=["GET"], summary="Download an artifact")
    router.add_api_route(_prefix, _list, methods=["GET"], summary="List artifacts under ?path=")
