"""Dataset versioning on the local store: ``keel.data.add``, ``versions``, ``get_version``, ``load``, ``checkout``.

A version is a manifest (relative path → BLAKE3 digest and size) stored in the content-addressed store beside the
files' bytes, plus a row in the metadata store with provenance and, for tables, schema and column statistics.
Adding unchanged data returns the existing version after one ``stat`` per file (see :mod:`keel.data.statcache`).
"""

from __future__ import annotations

import gc
import json
import os
import stat
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, overload

from keel.artifacts import BlobStore, check_path, hash_bytes
from keel.config import current_project, current_user, get_settings
from keel.data import snapshot
from keel.data.entities import (
    TABLE_SUFFIXES,
    VERSION_COLUMNS,
    DatasetVersion,
    check_dataset_name,
    parse_ref,
    version_from_row,
)
from keel.data.pointer import Pointer, is_pointer, read_pointer, write_pointer
from keel.data.statcache import StatCache, stat_key
from keel.errors import Conflict, CorruptArtifact, InvalidInput
from keel.store import open_database
from keel.store.sqlite_reader import read_sqlite

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from keel.data.versions_sql import SqlDatasetStore
    from keel.store import Database

__all__ = ["DatasetVersion", "add", "checkout", "get_version", "load", "pointed_version", "record_validation",
           "validation_reports", "versions"]


_LATEST = (f"SELECT {', '.join(VERSION_COLUMNS)} FROM dataset_versions WHERE project = ? AND name = ? "
           "ORDER BY number DESC LIMIT 1")


class _Local:
    """The local store's parts; the metadata database opens on first use (see :meth:`latest`)."""

    def __init__(self) -> None:
        settings = get_settings()  # what get_backend() would hold, without loading the tracking SDK
        if settings.is_remote:
            raise InvalidInput("dataset versioning works on the local store for now; unset KEEL_TRACKING_URI",
                               field="tracking_uri")
        self.project = current_project()
        self.blobs = BlobStore(settings.resolved_artifact_root)
        self.cache = StatCache(settings.home / "state" / "data_stat.db")

    @cached_property
    def store(self) -> SqlDatasetStore:
        from keel.data.versions_sql import SqlDatasetStore

        return SqlDatasetStore(_database(), self.project)

    def open_soon(self) -> Callable[[], None]:
        """Start opening the metadata database (importing SQLAlchemy, creating or migrating the schema: ~0.3 s of
        CPU) in a thread while the caller stores files, which mostly waits on the disk; returns the wait for it,
        which raises what opening raised."""
        failure: list[BaseException] = []

        def work() -> None:
            try:
                self.store  # noqa: B018 - the cached property does the work
            except BaseException as exc:  # handed to the waiting caller
                failure.append(exc)

        thread = threading.Thread(target=work, name="keel-open-metadata", daemon=True)
        thread.start()

        def wait() -> None:
            thread.join()
            if failure:
                raise failure[0]

        return wait

    def latest(self, name: str) -> DatasetVersion | None:
        """The newest version of ``name``: on an embedded database at the head revision, read with the standard
        library, so that a no-op re-add never loads SQLAlchemy."""
        settings = get_settings()
        rows = read_sqlite(settings.resolved_db_url, _LATEST, (self.project, name),
                           busy_timeout_ms=settings.sqlite_busy_timeout_ms)
        if rows is None:
            return self.store.latest(name)
        return version_from_row(dict(zip(VERSION_COLUMNS, rows[0], strict=True))) if rows else None


@contextmanager
def _no_gc_pauses() -> Iterator[None]:
    """Without cyclic garbage collection for the block: storing 50,000 files allocates a few objects per file,
    and the collector would walk the growing heap again and again (~3% of the time) for no cycle."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _local() -> _Local:
    return _Local()


def add(path: str | Path, name: str, message: str = "", *, author: str | None = None,
        progress: snapshot.Progress | None = None, query: str | None = None,
        origin: str | None = None) -> DatasetVersion:
    """Snapshot a file or directory as the next version of dataset ``name`` and write ``NAME.keel.yaml`` beside it.

    ``path`` may also be a URL (``s3://…``, ``https://…``: staged, then snapshotted) or, with ``query``, a SQLAlchemy
    URL whose query result is snapshotted as a Parquet table (see :mod:`keel.data.staging`). Returns the latest
    version unchanged when the content equals it (costing a stat per file). ``origin`` is recorded as the source.
    """
    check_dataset_name(name)
    from keel.data.staging import add_source, is_remote_source

    if query is not None or (isinstance(path, str) and is_remote_source(path)):
        return add_source(str(path), name, message, query=query, author=author)
    local, data = _local(), Path(path)
    scanned_from = time.time_ns()
    kind, files = snapshot.scan(data)
    tree, tree_signature = str(data.absolute()), snapshot.signature(kind, files)
    known = local.cache.tree_digest(tree, tree_signature)
    latest = local.latest(name) if known else None
    if latest is not None and latest.manifest_digest == known:  # unchanged since the last add: one stat per file
        write_pointer(data, latest)
        return latest
    opening: list[Callable[[], None]] = []  # the metadata DB opens in a thread while the files are read
    with local.blobs.storage.deferred_sync():  # every object written here is durable before the row commits
        with _no_gc_pauses():
            manifest, stored = snapshot.ingest_files(files, local.cache, local.blobs, progress,
                                                     lambda: opening.append(local.open_soon()))
        opened = opening[0] if opening else local.open_soon()
        body = snapshot.manifest_bytes(kind, manifest)
        digest = hash_bytes(body)
        if snapshot.settled(files, scanned_from):
            local.cache.store_tree(tree, tree_signature, digest)
        opened()
        latest = local.latest(name)
        if latest is not None and latest.manifest_digest == digest:
            write_pointer(data, latest)
            return latest
        snapshot.store_files(local.blobs, files, manifest, progress, stored)
        local.blobs.put_bytes(body)
    # keel.data.tabular (pandas, pyarrow) is imported only when the first file could make the snapshot a table
    described = _describe(files) if Path(files[0].rel).suffix.lower() in TABLE_SUFFIXES else None
    rows, schema, stats = described or (None, None, None)
    version = local.store.create({
        "name": name, "message": message, "author": author or current_user(), "kind": kind, "path": data.name,
        "source": origin or str(data.absolute()), "manifest_digest": digest, "file_count": len(files),
        "size_bytes": sum(size for _, size in manifest.values()), "row_count": rows,
        "schema": schema, "stats": stats})
    write_pointer(data, version)
    return version


def _describe(files: list[snapshot.LocalFile]) -> tuple[int, list[dict[str, Any]], dict[str, Any]] | None:
    from keel.data.tabular import describe, table_format

    fmt = table_format([f.rel for f in files])
    return describe([Path(f.path) for f in files], fmt) if fmt else None


def versions(name: str) -> list[DatasetVersion]:
    """Every version of dataset ``name``, newest first (NotFound if there is no such dataset)."""
    return _local().store.list(check_dataset_name(name))


def get_version(ref: str) -> DatasetVersion:
    """Resolve ``NAME@v3``, ``NAME@<id or id prefix>``, ``NAME`` (the latest version) or a ``NAME.keel.yaml``
    pointer file (the version it pins)."""
    if is_pointer(ref) and Path(ref).is_file():
        return pointed_version(Path(ref))
    name, number, version_id = parse_ref(ref)
    return _local().store.get(name, number, version_id)


@overload
def load(ref: str | DatasetVersion, *, format: Literal["pandas"] = "pandas") -> pd.DataFrame: ...


@overload
def load(ref: str | DatasetVersion, *, format: Literal["arrow"]) -> pa.Table: ...


def load(ref: str | DatasetVersion, *, format: str = "pandas") -> pd.DataFrame | pa.Table:
    """A tabular version (Parquet, CSV, TSV or JSON-lines files, all of one format) as a pandas DataFrame, or with
    ``format="arrow"`` as a pyarrow Table; bytes verified."""
    from keel.data.tabular import read_table, table_format

    if format not in ("pandas", "arrow"):
        raise InvalidInput(f"load format {format!r} is not supported; use 'pandas' or 'arrow'", field="format")
    local = _local()
    version = ref if isinstance(ref, DatasetVersion) else get_version(ref)
    _, manifest = _manifest(local.blobs, version)
    fmt = table_format(list(manifest))
    if fmt is None:
        raise InvalidInput(f"dataset {version.ref} is not a table: load reads Parquet, CSV, TSV or JSON-lines files "
                           "(all of one format); use `keel data checkout` for other files", field="ref")
    chunks = [local.blobs.get_bytes(digest) for _, (digest, _) in sorted(manifest.items())]
    table = read_table(chunks, fmt, version.ref)
    return table if format == "arrow" else table.to_pandas()


def checkout(ref: str | Path | DatasetVersion, out_dir: str | Path | None = None, *,
             progress: snapshot.Progress | None = None) -> Path:
    """Materialise a version's files (each verified against its hash) and return the file or directory written.

    ``ref`` is ``NAME@v``, a DatasetVersion, or a pointer file; a pointer restores the data beside itself unless
    ``out_dir`` is given. Files of a directory version go directly under ``out_dir``. Files already there with the
    right content (vouched for by the stat cache, else hashed) are left alone. ``progress("writing", bytes done,
    bytes total)`` is called as files are written (every 256 files and at the end).
    """
    local = _local()
    version, target = _resolve_checkout(local, ref, out_dir)
    kind, manifest = _manifest(local.blobs, version)
    root = target if kind == "dir" else target.parent
    fresh = _already_there(local.cache, root, manifest)
    todo = [(root / check_path(rel), digest, size) for rel, (digest, size) in manifest.items() if rel not in fresh]
    total, done = sum(size for _, _, size in todo), [0, 0]

    def wrote(size: int) -> None:
        done[0] += size
        done[1] += 1
        if progress is not None and done[1] % 256 == 0:
            progress("writing", done[0], total)

    local.blobs.get_files(((digest, path) for path, digest, _ in todo), wrote)
    if progress is not None and todo:
        progress("writing", done[0], total)
    local.cache.store((str(p.absolute()), stat_key(p.stat()), digest) for p, digest, _ in todo)
    return target


def _resolve_checkout(local: _Local, ref: str | Path | DatasetVersion,
                      out_dir: str | Path | None) -> tuple[DatasetVersion, Path]:
    if isinstance(ref, DatasetVersion):
        version = ref
    elif is_pointer(str(ref)):
        pointer = read_pointer(Path(ref))
        version = _pinned(local, pointer, Path(ref))
        if out_dir is None:
            return version, Path(ref).absolute().parent / pointer.path
    else:
        version = get_version(str(ref))
    if out_dir is None:
        raise InvalidInput(f"checkout of {version.ref}: give the output directory (-o DIR)", field="out_dir")
    out = Path(out_dir)
    return version, out if version.kind == "dir" else out / version.path


def pointed_version(pointer_file: Path) -> DatasetVersion:
    """The version a ``NAME.keel.yaml`` pointer pins; CorruptArtifact if its hash no longer matches that version."""
    return _pinned(_local(), read_pointer(pointer_file), pointer_file)


def _pinned(local: _Local, pointer: Pointer, pointer_file: Path) -> DatasetVersion:
    version = local.store.get(pointer.name, version_id=pointer.version)
    if version.manifest_digest != pointer.hash:
        raise CorruptArtifact(f"{pointer_file}: hash {pointer.hash} does not match {version.ref} "
                              f"({version.manifest_digest}); restore the pointer from git", field="pointer")
    return version


def _already_there(cache: StatCache, root: Path, manifest: snapshot.Manifest) -> set[str]:
    """Relative paths whose local file already holds the wanted content: same size, and the digest the stat cache
    vouches for or, where it has none, the file's hash (then cached), so a repeated checkout writes nothing."""
    present = []
    for rel, (_, size) in manifest.items():
        path = str((root / rel).absolute())
        try:
            st = os.stat(path)
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode) and st.st_size == size:
            present.append(snapshot.LocalFile(rel, path, stat_key(st), st.st_dev))
    if not present:
        return set()
    present.sort(key=lambda f: f.path)  # the stat cache reads a sorted run of paths under one root in one scan
    try:
        found = snapshot.digest_files(present, cache)
    except Conflict:  # a file changed while it was hashed: the checkout writes every file again
        return set()
    return {rel for rel, (digest, _) in found.items() if digest == manifest[rel][0]}


def _manifest(blobs: BlobStore, version: DatasetVersion) -> tuple[str, snapshot.Manifest]:
    return snapshot.parse_manifest(blobs.get_bytes(version.manifest_digest))


def record_validation(ref: str | DatasetVersion, report_json: str, passed: bool) -> str:
    """Store a validation report (JSON) in the content-addressed store and link it to the dataset version it
    checked; returns the report's digest (read it back with :func:`validation_reports`)."""
    local = _local()
    version = ref if isinstance(ref, DatasetVersion) else get_version(ref)
    digest = local.blobs.put_bytes(report_json.encode("utf-8"))
    local.store.link_validation(version, digest, passed)
    return digest


def validation_reports(ref: str | DatasetVersion) -> list[dict[str, Any]]:
    """Every stored validation report of a dataset version, oldest first, each with ``passed`` and ``digest``."""
    local = _local()
    version = ref if isinstance(ref, DatasetVersion) else get_version(ref)
    return [{**json.loads(local.blobs.get_bytes(digest)), "digest": digest, "passed": passed, "recorded_at": at}
            for digest, passed, at in local.store.validations(version)]


def link_run(version: DatasetVersion, run_id: str) -> None:
    """Record that run ``run_id`` consumed ``version`` (a lineage edge); a no-op against a remote server."""
    settings = get_settings()
    if not settings.is_remote:
        from keel.data.versions_sql import SqlDatasetStore

        SqlDatasetStore(_database(), current_project()).link_run(version, run_id)


def _database() -> Database:
    settings = get_settings()
    return open_database(settings.resolved_db_url, busy_timeout_ms=settings.sqlite_busy_timeout_ms)
