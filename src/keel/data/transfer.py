"""``keel data push|pull``: copy dataset versions between the local store and a remote, only what is missing.

A remote holds the same content-addressed layout as the local artifact root, plus one JSON record per version::

    objects/ab/cdef...                  file contents and manifests, by BLAKE3 digest
    datasets/<name>/<version id>.json   the version's metadata (its ``dataset_versions`` row)

Push lists the remote's objects once, uploads the missing ones in a thread pool (each written to a temp key and
renamed, and re-hashed while read, so a failure leaves no partial object), and writes the version records last: a
record on a remote promises that every object it needs is there. Pull does the reverse, verifying the BLAKE3 hash
of every object it downloads before renaming it into place, and inserts the version rows only once all objects
are in, so a corrupt or unreachable remote leaves the local store as it was.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import Connection, insert, select

from keel.artifacts import BlobStore
from keel.data.entities import DatasetVersion, parse_ref
from keel.data.remotes import get_remote, open_remote
from keel.data.snapshot import Progress, parse_manifest
from keel.errors import Conflict, CorruptArtifact, InvalidInput, NotFound
from keel.store import open_database
from keel.store.tables import dataset_versions, datasets
from keel.tracking.context import get_backend

__all__ = ["TransferResult", "pull", "push"]

_WORKERS = 8
_DV = dataset_versions.c


@dataclass(frozen=True)
class TransferResult:
    """What a push or pull moved: the versions newly published/recreated, and the objects and bytes copied."""

    versions: list[str]
    objects: int
    bytes: int


def push(ref: str, remote: str = "origin", *, progress: Progress | None = None,
         workers: int = _WORKERS) -> TransferResult:
    """Send ``NAME@v`` (or every version of ``NAME``) to ``remote``: the objects it lacks, then the records."""
    name, number, version_id = parse_ref(ref)
    target = open_remote(get_remote(remote))
    chosen = _local_versions(name, number, version_id)
    local = _local_blobs()
    wanted: dict[str, int] = {}
    for version in chosen:
        wanted.update(_needed(local, version))
    present = set(target.digests())
    missing = {d: size for d, size in wanted.items() if d not in present}
    _copy(local, target, missing, progress, workers)
    published = set(target.storage.find(f"datasets/{name}"))
    new = [v for v in chosen if f"{v.id}.json" not in published]
    for version in new:
        target.storage.write_atomic(_record_path(version.name, version.id), [_record(version)])
    return TransferResult([v.ref for v in new], len(missing), sum(missing.values()))


def pull(ref: str, remote: str = "origin", *, progress: Progress | None = None,
         workers: int = _WORKERS) -> TransferResult:
    """Fetch ``NAME@v`` (or every version of ``NAME``) from ``remote``, verify it, and recreate it locally."""
    name, number, version_id = parse_ref(ref)
    source = open_remote(get_remote(remote))
    chosen = _select(_remote_versions(source, name), name, number, version_id, remote)
    known = _local_ids(name)
    todo = [v for v in chosen if v.id not in known]
    local = _local_blobs()
    wanted: dict[str, int] = {}
    for version in todo:
        wanted.update(_needed(source, version))
    with ThreadPoolExecutor(workers) as pool:
        there = dict(zip(wanted, pool.map(local.exists, wanted), strict=True))
    missing = {d: size for d, size in wanted.items() if not there[d]}
    _copy(source, local, missing, progress, workers)
    _insert_versions(todo)
    return TransferResult([v.ref for v in todo], len(missing), sum(missing.values()))


def _needed(blobs: BlobStore, version: DatasetVersion) -> dict[str, int]:
    """Every object of ``version`` (its files and its manifest) with its size; the manifest is verified."""
    raw = blobs.get_bytes(version.manifest_digest)
    _, manifest = parse_manifest(raw)
    return {**{digest: size for digest, size in manifest.values()}, version.manifest_digest: len(raw)}


def _copy(src: BlobStore, dst: BlobStore, objects: Mapping[str, int], progress: Progress | None,
          workers: int) -> None:
    """Copy ``objects`` in parallel, each atomically and verified; stop at the first failure and re-raise it."""
    total, done = sum(objects.values()), 0
    pool = ThreadPoolExecutor(workers)
    try:
        pending = {pool.submit(_copy_one, src, dst, digest, size) for digest, size in objects.items()}
        while pending:
            finished, pending = wait(pending, return_when=FIRST_EXCEPTION)
            for future in finished:
                done += future.result()
            if progress:
                progress("transferring", done, total)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _copy_one(src: BlobStore, dst: BlobStore, digest: str, size: int) -> int:
    # iter_chunks raises CorruptArtifact after the last chunk, so write_atomic drops the temp object
    dst.storage.write_atomic(dst.object_path(digest), src.iter_chunks(digest))
    return size


def _record_path(name: str, version_id: str) -> str:
    return f"datasets/{name}/{version_id}.json"


def _record(version: DatasetVersion) -> bytes:
    return json.dumps({"format": 1, **asdict(version)}, default=str, sort_keys=True).encode()


def _remote_versions(source: BlobStore, name: str) -> list[DatasetVersion]:
    """Every version record of ``name`` on the remote, oldest first."""
    files = [f for f in source.storage.find(f"datasets/{name}") if f.endswith(".json")]
    raws = source.storage.read_many(f"datasets/{name}/{f}" for f in files)
    versions = [_parse_record(rel, raw, source.url) for rel, raw in raws.items()]
    return sorted(versions, key=lambda v: v.number)


def _parse_record(rel: str, raw: bytes, url: str) -> DatasetVersion:
    try:
        body = json.loads(raw)
        body.pop("format", None)
        return DatasetVersion(**body)
    except (ValueError, TypeError) as exc:
        raise CorruptArtifact(f"version record {rel!r} on the remote at {url} is malformed ({exc}); "
                              "push the version again from a machine that has it") from exc


def _select(records: list[DatasetVersion], name: str, number: int | None, version_id: str | None,
            remote: str) -> list[DatasetVersion]:
    chosen = [v for v in records if (number is None or v.number == number)
              and (version_id is None or v.id.startswith(version_id))]
    if not chosen:
        wanted = f"v{number}" if number is not None else f"id {version_id}" if version_id else "any version"
        raise NotFound(f"dataset {name!r} has no {wanted} on remote {remote!r}; push it there first", field="ref")
    if version_id is not None and len(chosen) > 1:
        raise InvalidInput(f"dataset {name!r}: id prefix {version_id!r} is ambiguous on remote {remote!r}; "
                           "give more characters", field="ref")
    return chosen


# -- the local side -----------------------------------------------------------------------------------------


def _local_blobs() -> BlobStore:
    return BlobStore(get_backend().settings.resolved_artifact_root)


def _local_versions(name: str, number: int | None, version_id: str | None) -> list[DatasetVersion]:
    from keel.data import versioning

    if number is None and version_id is None:
        return list(reversed(versioning.versions(name)))
    return [versioning.get_version(f"{name}@v{number}" if number is not None else f"{name}@{version_id}")]


def _local_ids(name: str) -> dict[str, int]:
    settings = get_backend().settings
    db = open_database(settings.resolved_db_url, busy_timeout_ms=settings.sqlite_busy_timeout_ms)
    with db.read() as conn:
        rows = conn.execute(select(_DV.id, _DV.number).where(_DV.project == settings.project, _DV.name == name))
        return {row.id: row.number for row in rows}


def _insert_versions(versions: Iterable[DatasetVersion]) -> None:
    """Insert pulled versions as they are (same id, number and parent) in one transaction."""
    settings = get_backend().settings
    db = open_database(settings.resolved_db_url, busy_timeout_ms=settings.sqlite_busy_timeout_ms)
    with db.write() as conn:
        for version in versions:
            _insert_version(conn, settings.project, version)


def _insert_version(conn: Connection, project: str, version: DatasetVersion) -> None:
    taken = conn.execute(select(_DV.id).where(_DV.project == project, _DV.name == version.name,
                                              _DV.number == version.number)).scalar()
    if taken is not None:
        raise Conflict(f"dataset {version.ref} is {taken} here but {version.id} on the remote: the histories "
                       "diverged; pull into a fresh home or under another name")
    if conn.execute(select(datasets.c.name).where(datasets.c.project == project,
                                                  datasets.c.name == version.name)).first() is None:
        conn.execute(insert(datasets).values(project=project, name=version.name, created_at=version.created_at))
    conn.execute(insert(dataset_versions).values(project=project, **_row(version)))


def _row(version: DatasetVersion) -> dict[str, Any]:
    row = asdict(version)
    row["schema"] = json.dumps(row["schema"]) if row["schema"] is not None else None
    row["stats"] = json.dumps(row["stats"], default=str) if row["stats"] is not None else None
    return row
