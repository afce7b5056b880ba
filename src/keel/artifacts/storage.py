"""The fsspec adapter under the artifact store: one root, relative POSIX paths, atomic writes, mapped errors.

Everything the blob store and the logical namespace do to bytes at rest goes through :class:`FsspecStorage`,
so this is the one place where fsspec and ``OSError`` exceptions are turned into Keel errors::

    FileNotFoundError                      -> NotFound
    IsADirectoryError                      -> InvalidInput  (a file was expected)
    FileExistsError, NotADirectoryError
    (while writing)                        -> InvalidInput  (a file and a directory want the same name)
    any other OSError                      -> Unavailable   (disk, network, permissions: retry or fix config)

Failures on the caller's own local files (the source of an upload, the target of a download) are mapped by
:func:`local_errors` instead, to errors that name that file.

Writes go to ``<dir>/.tmp-<uuid>`` in the destination directory and are then renamed over the final name. On
the local filesystem the temp file is fsynced and renamed with :func:`os.replace`, which is atomic; elsewhere
``fs.mv`` is used (object stores publish a key in one PUT/COPY, so readers never see half an object).
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from keel.artifacts.direct_io import fsync_dir
from keel.errors import InvalidInput, KeelError, NotFound, Unavailable

if TYPE_CHECKING:
    import fsspec

__all__ = ["EAGER_SYNC_BYTES", "TEMP_PREFIX", "Entry", "FsspecStorage", "local_error", "local_errors", "protocol_of"]

TEMP_PREFIX = ".tmp-"
"""Names starting with this are in-flight writes; listings skip them and logical paths may not use them."""
# object stores (s3fs, gcsfs) where an object appears only once its upload completes and an aborted upload leaves
# nothing: writes go straight to the final key
_ATOMIC_UPLOADS = {"s3", "gs"}

EAGER_SYNC_BYTES = 8 << 20
"""Inside deferred_sync(), a local write this big still fsyncs itself: a global ``sync`` would also flush every
other dirty file on the machine (such as the big source file just read), which costs more than one ``fsync``."""


@dataclass(frozen=True)
class Entry:
    """One child of a directory in the store: its name, whether it is a directory, and its size in bytes."""

    name: str
    is_dir: bool
    size: int


class FsspecStorage:
    """A directory tree under one fsspec URL (a local path, ``memory://x``, ``s3://bucket/prefix``, ...)."""

    def __init__(self, url: str | os.PathLike[str], storage_options: Mapping[str, Any] | None = None) -> None:
        self.url = os.fspath(url)
        self._sync_later = 0  # > 0 inside deferred_sync(): local writes skip their own fsyncs
        self._unsynced = False  # a local write inside deferred_sync() waits for its closing sync
        local = None if storage_options else _plain_local_path(self.url)
        if local is not None:  # fsspec (~0.15 s to import) loads only once something needs it
            self._fs: fsspec.AbstractFileSystem | None = None
            self.root: str = local.rstrip("/") or "/"
            self.is_local = True
            self.uploads_atomically = False
            return
        import fsspec.core
        from fsspec.implementations.local import LocalFileSystem

        try:
            fs, root = fsspec.core.url_to_fs(self.url, **dict(storage_options or {}))
        except ImportError as exc:
            raise InvalidInput(
                f"artifact root {self.url!r} needs an fsspec backend that is not installed ({exc}); "
                "install it, e.g. `pip install keel-mlops[s3]` for s3://",
                field="artifact_root",
            ) from exc
        except ValueError as exc:
            raise InvalidInput(f"artifact root {self.url!r} is not a usable fsspec URL: {exc}",
                               field="artifact_root") from exc
        self._fs = fs
        self.root = str(root).rstrip("/") or "/"
        self.is_local = isinstance(fs, LocalFileSystem)
        # an object store where a write can go straight to its key (see _upload)
        self.uploads_atomically = protocol_of(fs) in _ATOMIC_UPLOADS

    @property
    def fs(self) -> fsspec.AbstractFileSystem:
        """The fsspec filesystem under this root."""
        if self._fs is None:
            from fsspec.implementations.local import LocalFileSystem

            self._fs = LocalFileSystem()
        return self._fs

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r})"

    def full(self, rel: str) -> str:
        """The backend path of ``rel`` (a relative POSIX path; ``""`` is the root)."""
        if not rel:
            return self.root
        return f"{self.root.rstrip('/')}/{rel}"

    @contextlib.contextmanager
    def mapped_errors(self, rel: str) -> Iterator[None]:
        """Turn fsspec/``OSError`` failures on ``rel`` into Keel errors (``raise ... from exc``)."""
        try:
            yield
        except KeelError:
            raise
        except OSError as exc:
            raise self.error(rel, exc) from exc

    def error(self, rel: str, exc: OSError) -> KeelError:
        """The Keel error for ``exc`` raised on ``rel`` (what :meth:`mapped_errors` raises, for hot loops)."""
        if isinstance(exc, FileNotFoundError):
            return NotFound(f"{rel!r} does not exist in the artifact store at {self.url}")
        if isinstance(exc, IsADirectoryError):
            return InvalidInput(f"{rel!r} in the artifact store at {self.url} is a directory")
        return Unavailable(f"artifact store at {self.url} failed on {rel!r}: {exc}; check it is reachable and writable")

    # -- reading -------------------------------------------------------------------------------------------

    def exists(self, rel: str) -> bool:
        """Whether a file or directory exists at ``rel``."""
        with self.mapped_errors(rel):
            return bool(self.fs.exists(self.full(rel)))

    def isdir(self, rel: str) -> bool:
        """Whether ``rel`` is a directory."""
        with self.mapped_errors(rel):
            return bool(self.fs.isdir(self.full(rel)))

    def size(self, rel: str) -> int:
        """Size in bytes of the file at ``rel``."""
        with self.mapped_errors(rel):
            return int(self.fs.size(self.full(rel)))

    def read_bytes(self, rel: str) -> bytes:
        """The whole content of the file at ``rel``."""
        with self.mapped_errors(rel):
            return bytes(self.fs.cat_file(self.full(rel)))

    def read_many(self, rels: Iterable[str]) -> dict[str, bytes]:
        """Contents of several small files (concurrent fetches on async backends), keyed by relative path."""
        wanted = {self.full(rel): rel for rel in rels}
        if not wanted:
            return {}
        with self.mapped_errors(", ".join(sorted(wanted.values()))[:200]):
            got = self.fs.cat(list(wanted), on_error="raise")
        by_full = {self.fs._strip_protocol(k): v for k, v in got.items()}
        return {rel: bytes(by_full[self.fs._strip_protocol(full)]) for full, rel in wanted.items()}

    def iter_chunks(self, rel: str, chunk_size: int) -> Iterator[bytes]:
        """Stream the file at ``rel`` in chunks of at most ``chunk_size`` bytes."""
        with self.mapped_errors(rel), self.fs.open(self.full(rel), "rb") as fh:
            while chunk := fh.read(chunk_size):
                yield chunk

    def listdir(self, rel: str) -> list[Entry]:
        """Immediate children of the directory ``rel``, temp files left out; ``[]`` if it is missing."""
        full = self.full(rel)
        with self.mapped_errors(rel):
            if not self.fs.isdir(full):
                return []
            infos = self.fs.ls(full, detail=True)
        entries = []
        for info in infos:
            name = self.fs._strip_protocol(info["name"]).rstrip("/").rsplit("/", 1)[-1]
            if name.startswith(TEMP_PREFIX) or self.fs._strip_protocol(info["name"]).rstrip("/") == full:
                continue
            entries.append(Entry(name, info.get("type") == "directory", int(info.get("size") or 0)))
        return sorted(entries, key=lambda e: e.name)

    def find(self, rel: str) -> list[str]:
        """Every file below the directory ``rel``, as paths relative to ``rel`` (temp files left out)."""
        full = self.full(rel)
        with self.mapped_errors(rel):
            if not self.fs.isdir(full):
                return []
            found = self.fs.find(full)
        base = full.rstrip("/") + "/"
        out = []
        for path in found:
            path = self.fs._strip_protocol(path)
            if path.startswith(base) and not path.rsplit("/", 1)[-1].startswith(TEMP_PREFIX):
                out.append(path[len(base):])
        return sorted(out)

    # -- writing -------------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def deferred_sync(self) -> Iterator[None]:
        """Within the block, local writes skip their per-file fsyncs; leaving it makes every write durable at once
        (one ``sync``), before the caller acknowledges anything. Many small objects cost one flush, not two each."""
        self._sync_later += 1
        try:
            yield
        finally:
            self._sync_later -= 1
            if self._sync_later == 0 and self._unsynced:
                self._unsynced = False
                os.sync()

    def sync_now(self, size: int) -> bool:
        """Whether a local write of ``size`` bytes must fsync itself now (else the enclosing deferred_sync will)."""
        if not self._sync_later or size >= EAGER_SYNC_BYTES:
            return True
        self._unsynced = True
        return False

    def write_atomic(self, rel: str, chunks: Iterable[bytes]) -> None:
        """Write ``chunks`` to a temp name beside ``rel``, then rename it into place (all or nothing); on S3 and GCS,
        where an upload is all or nothing already, straight to ``rel``."""
        parent = rel.rpartition("/")[0]
        tmp_rel = f"{parent}/{TEMP_PREFIX}{uuid.uuid4().hex}".lstrip("/")
        try:
            with self.mapped_errors(rel), self._conflicts_are_invalid(rel):
                if self.is_local:
                    self._write_local(self.full(tmp_rel), self.full(rel), chunks)
                else:
                    self._write_remote(self.full(tmp_rel), self.full(rel), chunks)
        except BaseException:
            self._discard(tmp_rel)
            raise

    def _write_local(self, tmp: str, final: str, chunks: Iterable[bytes]) -> None:
        parent = os.path.dirname(final)
        os.makedirs(parent, exist_ok=True)
        with open(tmp, "xb") as fh:
            for chunk in chunks:
                fh.write(chunk)
            fh.flush()
            sync_now = self.sync_now(fh.tell())
            if sync_now:
                os.fsync(fh.fileno())
        os.replace(tmp, final)
        if sync_now:
            fsync_dir(parent)

    def _write_remote(self, tmp: str, final: str, chunks: Iterable[bytes]) -> None:
        if self.fs.isdir(final):
            raise IsADirectoryError(final)
        self.fs.makedirs(final.rpartition("/")[0], exist_ok=True)
        if self.uploads_atomically:
            self._upload(final, chunks)
            return
        with self.fs.open(tmp, "wb") as fh:
            for chunk in chunks:
                fh.write(chunk)
        self.fs.mv(tmp, final)

    def _upload(self, final: str, chunks: Iterable[bytes]) -> None:
        """Straight to the final key, on object stores whose uploads are all or nothing (an object appears only
        once its upload completes): on failure the upload is aborted, never completed with what was sent so far.
        This spares the server-side copy a rename costs there."""
        fh = self.fs.open(final, "wb")
        try:
            for chunk in chunks:
                fh.write(chunk)
            fh.close()  # sends the last part and completes the upload
        except BaseException:
            with contextlib.suppress(Exception):
                fh.discard()  # aborts a multipart (S3) or resumable (GCS) upload already under way
            fh.closed = True  # so that nothing (close, garbage collection) completes the upload
            raise

    @contextlib.contextmanager
    def _conflicts_are_invalid(self, rel: str) -> Iterator[None]:
        try:
            yield
        except (FileExistsError, NotADirectoryError, IsADirectoryError) as exc:
            raise InvalidInput(
                f"cannot write {rel!r}: it, or one of its parent directories, clashes with an existing "
                "file or directory of the same name; pick another name or delete the old one first"
            ) from exc

    def _discard(self, rel: str) -> None:
        if self.uploads_atomically:
            return  # no temp object was written
        with contextlib.suppress(OSError):
            self.fs.rm_file(self.full(rel))

    def remove(self, rel: str) -> None:
        """Delete the file or directory tree at ``rel``, then prune directories it left empty."""
        with self.mapped_errors(rel):
            self.fs.rm(self.full(rel), recursive=True)
        self._prune_empty_parents(rel)

    def _prune_empty_parents(self, rel: str) -> None:
        parent = rel.rpartition("/")[0]
        while parent:
            full = self.full(parent)
            try:
                if not self.fs.isdir(full) or self.fs.ls(full, detail=False):
                    return
                self.fs.rmdir(full)
            except OSError:
                return
            parent = parent.rpartition("/")[0]


def _plain_local_path(url: str) -> str | None:
    """The absolute POSIX path of a plain local root (``/a/b``, ``rel/dir``, ``file:///a``), else None."""
    path = url.removeprefix("file://")
    if "://" in path or "::" in path or os.sep != "/":
        return None
    return os.path.abspath(os.path.expanduser(path))

@contextlib.contextmanager
def local_errors(path: str | os.PathLike[str]) -> Iterator[None]:
    """Map failures on a caller's local file to errors naming that file."""
    try:
        yield
    except KeelError:
        raise
    except OSError as exc:
        raise local_error(path, exc) from exc


def local_error(path: str | os.PathLike[str], exc: OSError) -> KeelError:
    """The Keel error for ``exc`` raised on the caller's local file ``path`` (what :func:`local_errors` raises)."""
    if isinstance(exc, FileNotFoundError):
        return NotFound(f"local file {os.fspath(path)!r} does not exist")
    if isinstance(exc, IsADirectoryError):
        return InvalidInput(f"{os.fspath(path)!r} is a directory where a file was expected")
    return InvalidInput(f"cannot use local file {os.fspath(path)!r}: {exc}")


def protocol_of(fs: Any) -> str:
    """The main protocol of an fsspec filesystem (``s3`` for s3fs, whose protocols are ``s3`` and ``s3a``)."""
    return str(fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0])
