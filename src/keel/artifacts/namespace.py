"""Logical artifact paths (``1/<run_id>/artifacts/model/model.pkl``) mapped onto content-addressed blobs.

The index is a tree of small JSON pointer files in the same fsspec root as the blobs, so it works on any
backend and needs no database::

    refs/1/<run_id>/artifacts/model/model.pkl     {"digest": "<blake3 hex>", "size": 1234}
    objects/ab/cdef...                            the bytes

Every logical path goes through :func:`check_path` first: ``..``, absolute paths, backslashes, drive letters,
empty components and control characters are refused with :class:`~keel.errors.InvalidInput`. Uploading a
directory refuses symlinks that lead out of it; downloading one never writes outside the destination.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from keel.artifacts.blobs import BlobStore, check_digest
from keel.artifacts.storage import TEMP_PREFIX, local_errors
from keel.errors import CorruptArtifact, InvalidInput, NotFound

__all__ = ["ArtifactRepository", "FileInfo", "check_path"]

_REFS = "refs"
_DRIVE = re.compile(r"[A-Za-z]:")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class FileInfo:
    """One entry of a listing: ``path`` relative to the repository (or namespace) it was listed from.

    ``file_size`` and ``digest`` are ``None`` for directories.
    """

    path: str
    is_dir: bool
    file_size: int | None = None
    digest: str | None = None


def check_path(path: str, *, allow_root: bool = False) -> str:
    """Return ``path`` as a normalized relative POSIX path, or raise InvalidInput naming it and the problem.

    ``.`` components and one trailing ``/`` are dropped. Refused: ``..``, absolute paths, backslashes, drive
    letters (``C:``), empty components (``a//b``), control characters (NUL included), names starting with
    ``.tmp-`` (reserved for in-flight writes), and the empty path unless ``allow_root``.
    """
    if not isinstance(path, str):
        raise InvalidInput(f"artifact path {path!r} must be a string", field="path")
    body = path[:-1] if path.endswith("/") and path != "/" else path
    parts = [] if body in ("", ".") else body.split("/")
    problem = _path_problem(body, parts)
    normal = "/".join(p for p in parts if p != ".")
    if problem is None and not normal and not allow_root:
        problem = "it is empty"
    if problem is not None:
        raise InvalidInput(
            f"artifact path {path!r} is refused: {problem}; use a relative POSIX path like 'model/model.pkl'",
            field="path",
        )
    return normal


def _path_problem(body: str, parts: list[str]) -> str | None:
    if _CONTROL.search(body):
        return "it contains a control character"
    if "\\" in body:
        return "it contains a backslash"
    if body.startswith("/"):
        return "it is absolute"
    if parts and _DRIVE.match(parts[0]):
        return "it starts with a drive letter"
    if ".." in parts:
        return "it contains '..'"
    if "" in parts:
        return "it has an empty component"
    if any(p.startswith(TEMP_PREFIX) for p in parts):
        return f"names starting with {TEMP_PREFIX!r} are reserved"
    return None


def _join(*paths: str) -> str:
    return "/".join(p for p in paths if p)


class ArtifactRepository:
    """Logical files and directories over a :class:`BlobStore`, optionally scoped to a path prefix.

    ``repo.namespace("1/<run_id>/artifacts")`` gives a view in which every path (given or returned) is
    relative to that prefix; the unscoped repository is simply the view with prefix ``""``.
    """

    def __init__(self, blobs: BlobStore, prefix: str = "") -> None:
        self.blobs = blobs
        self.prefix = check_path(prefix, allow_root=True)
        self._storage = blobs.storage

    @classmethod
    def from_url(cls, url: str | os.PathLike[str], storage_options: Mapping[str, Any] | None = None,
                 prefix: str = "") -> ArtifactRepository:
        """Open the repository (blobs and index) rooted at an fsspec URL or local path."""
        return cls(BlobStore(url, storage_options), prefix)

    def namespace(self, path: str) -> ArtifactRepository:
        """A view scoped to ``path`` under this one (e.g. one run's artifacts)."""
        return ArtifactRepository(self.blobs, _join(self.prefix, check_path(path, allow_root=True)))

    def __repr__(self) -> str:
        return f"ArtifactRepository({self.blobs.url!r}, prefix={self.prefix!r})"

    def _ref(self, path: str, *, allow_root: bool = False) -> tuple[str, str]:
        """(normalized logical path, where its pointer file lives relative to the storage root)."""
        logical = check_path(path, allow_root=allow_root)
        return logical, _join(_REFS, self.prefix, logical)

    # -- writing -------------------------------------------------------------------------------------------

    def put_bytes(self, path: str, data: bytes) -> FileInfo:
        """Store ``data`` at ``path`` (replacing what was there) and describe it."""
        logical, ref = self._ref(path)
        return self._link(logical, ref, self.blobs.put_bytes(data), len(data))

    def put_file(self, path: str, local_file: str | os.PathLike[str]) -> FileInfo:
        """Store a local file at ``path``, streamed; unchanged content is not uploaded again."""
        logical, ref = self._ref(path)
        digest, size = self.blobs.put_file(local_file)
        return self._link(logical, ref, digest, size)

    def put_dir(self, path: str, local_dir: str | os.PathLike[str]) -> list[str]:
        """Store every file below ``local_dir`` under ``path``; return the logical paths written, sorted.

        Symlinks are followed as long as they resolve inside ``local_dir``; one that leads outside (or
        dangles, or loops) is refused with InvalidInput before anything is uploaded.
        """
        base = check_path(path, allow_root=True)
        planned = [(check_path(_join(base, rel)), file) for rel, file in _walk_local(Path(local_dir))]
        for logical, file in planned:
            self.put_file(logical, file)
        return [logical for logical, _ in planned]

    def _link(self, logical: str, ref: str, digest: str, size: int) -> FileInfo:
        body = json.dumps({"digest": digest, "size": size}, separators=(",", ":")).encode()
        try:
            self._storage.write_atomic(ref, [body])
        except InvalidInput as exc:
            raise InvalidInput(
                f"cannot store artifact {logical!r} in {self}: it, or one of its parents, clashes with an "
                "existing file or directory of the same name; pick another path or delete the old one first",
                field="path",
            ) from exc
        return FileInfo(logical, False, size, digest)

    def delete(self, path: str) -> None:
        """Remove the file or directory at ``path`` from the index (the blobs stay; they may be shared)."""
        logical, ref = self._ref(path, allow_root=True)
        if not self._storage.exists(ref):
            raise NotFound(f"artifact {logical!r} does not exist in {self}")
        self._storage.remove(ref)

    # -- reading -------------------------------------------------------------------------------------------

    def stat(self, path: str) -> FileInfo:
        """Describe the file or directory at ``path``; NotFound if there is neither."""
        logical, ref = self._ref(path, allow_root=True)
        if self._storage.isdir(ref):
            return FileInfo(logical, True)
        if not logical:
            raise NotFound(f"{self} holds no artifacts yet")
        digest, size = self._read_ref(logical, ref)
        return FileInfo(logical, False, size, digest)

    def exists(self, path: str) -> bool:
        """Whether a file or directory exists at ``path``."""
        return self._storage.exists(self._ref(path, allow_root=True)[1])

    def get_bytes(self, path: str) -> bytes:
        """The content of the file at ``path``, verified against its digest."""
        logical, ref = self._ref(path)
        return self.blobs.get_bytes(self._read_ref(logical, ref)[0])

    def get_file(self, path: str, dest: str | os.PathLike[str]) -> Path:
        """Download the file at ``path`` to the local path ``dest`` (verified, then renamed into place)."""
        logical, ref = self._ref(path)
        self.blobs.get_file(self._read_ref(logical, ref)[0], dest)
        return Path(dest)

    def get_dir(self, path: str, dest_dir: str | os.PathLike[str]) -> list[Path]:
        """Download every file below ``path`` into ``dest_dir``; return the local files written.

        Nothing is ever written outside ``dest_dir``: a stored name that would escape it, or an existing
        symlink in ``dest_dir`` that leads out of it, is refused with InvalidInput.
        """
        logical, ref = self._ref(path, allow_root=True)
        rels = self._storage.find(ref)
        if not rels:
            if logical and self._storage.exists(ref):
                raise InvalidInput(f"artifact {logical!r} is a file; download it with get_file")
            raise NotFound(f"artifact directory {logical!r} does not exist in {self}")
        safe = [check_path(rel) for rel in rels]
        root = Path(dest_dir)
        with local_errors(root):
            root.mkdir(parents=True, exist_ok=True)
            real_root = root.resolve()
        written = [_safe_target(real_root, rel) for rel in safe]
        digests = [self._read_ref(*self._ref(_join(logical, rel)))[0] for rel in safe]
        self.blobs.get_files(zip(digests, written, strict=True))
        return written

    def list(self, path: str = "") -> list[FileInfo]:
        """Immediate children of the directory ``path``, sorted; ``[]`` if it is missing or a file."""
        logical, ref = self._ref(path, allow_root=True)
        entries = self._storage.listdir(ref)
        refs = self._storage.read_many(_join(ref, e.name) for e in entries if not e.is_dir)
        infos = []
        for entry in entries:
            child = _join(logical, entry.name)
            if entry.is_dir:
                infos.append(FileInfo(child, True))
            else:
                digest, size = _parse_ref(child, refs[_join(ref, entry.name)], self)
                infos.append(FileInfo(child, False, size, digest))
        return infos

    def _read_ref(self, logical: str, ref: str) -> tuple[str, int]:
        try:
            raw = self._storage.read_bytes(ref)
        except (NotFound, InvalidInput) as exc:
            if self._storage.isdir(ref):
                raise InvalidInput(f"artifact {logical!r} is a directory; use list or get_dir") from exc
            raise NotFound(f"artifact {logical!r} does not exist in {self}") from exc
        return _parse_ref(logical, raw, self)


def _parse_ref(logical: str, raw: bytes, where: ArtifactRepository) -> tuple[str, int]:
    try:
        body = json.loads(raw)
        digest, size = check_digest(body["digest"]), body["size"]
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise ValueError(f"bad size {size!r}")
    except (ValueError, TypeError, KeyError, InvalidInput) as exc:
        raise CorruptArtifact(
            f"the index entry of artifact {logical!r} in {where} is unreadable ({exc}); store the file again"
        ) from exc
    return digest, size


def _walk_local(local_dir: Path) -> list[tuple[str, Path]]:
    """Every regular file below ``local_dir`` as (relative POSIX path, real path), following safe symlinks."""
    with local_errors(local_dir):
        real_root = local_dir.resolve(strict=True)
        if not real_root.is_dir():
            raise InvalidInput(f"{str(local_dir)!r} is not a directory; store single files with put_file")
        return sorted(_walk_real(local_dir, real_root))


def _walk_real(local_dir: Path, real_root: Path) -> Iterator[tuple[str, Path]]:
    stack: list[tuple[Path, str, frozenset[Path]]] = [(real_root, "", frozenset({real_root}))]
    while stack:
        directory, rel, ancestors = stack.pop()
        for entry in os.scandir(directory):
            child_rel = _join(rel, entry.name)
            real = _follow(Path(entry.path), local_dir, real_root) if entry.is_symlink() else Path(entry.path)
            if real.is_dir():
                if real in ancestors:
                    raise InvalidInput(f"{entry.path!r} in {str(local_dir)!r} is a symlink loop; remove it")
                stack.append((real, child_rel, ancestors | {real}))
            elif real.is_file():
                yield child_rel, real
            else:
                raise InvalidInput(f"{entry.path!r} is neither a regular file nor a directory; move it out")


def _follow(link: Path, local_dir: Path, real_root: Path) -> Path:
    real = link.resolve()
    if not real.is_relative_to(real_root):
        raise InvalidInput(
            f"{str(link)!r} is a symlink to {str(real)!r}, outside {str(local_dir)!r}; copy the target in"
        )
    if not real.exists():
        raise InvalidInput(f"{str(link)!r} is a broken symlink; fix or remove it")
    return real


def _safe_target(real_root: Path, rel: str) -> Path:
    """The local path for ``rel`` under ``real_root``, creating parents, refusing any that lead outside."""
    *dirs, name = rel.split("/")
    current = real_root
    for part in dirs:
        step = current / part
        if step.is_symlink() or step.exists():
            real = step.resolve()
            if not real.is_relative_to(real_root):
                raise InvalidInput(f"{str(step)!r} leads outside the download directory {str(real_root)!r}; "
                                   "remove that symlink or pick an empty directory")
            current = real
        else:
            with local_errors(step):
                step.mkdir()
            current = step
    return current / name
