"""Snapshot data that lives elsewhere: a file or directory at any fsspec URL (``s3://``, ``http(s)://``, …) or a
table read through a SQLAlchemy URL. The data is staged under the Keel home, snapshotted like a local path, and the
staging removed; the pointer file ``NAME.keel.yaml`` goes to ``pointer_dir`` (default: the working directory), like
``dvc import-url`` writes its ``.dvc`` file where it runs.
"""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path, PurePosixPath

from keel.data.entities import DatasetVersion
from keel.data.pointer import write_pointer
from keel.errors import InvalidInput

__all__ = ["add_source", "is_remote_source"]


def is_remote_source(source: str) -> bool:
    """True for a URL with a scheme (``s3://``, ``https://``, ``postgresql+psycopg://``…) or a ``sql:`` source."""
    return "://" in source or source.startswith("sql:")


def add_source(source: str, name: str, message: str = "", *, query: str | None = None, author: str | None = None,
               pointer_dir: str | Path | None = None) -> DatasetVersion:
    """Snapshot ``source`` (a URL; with ``query``, a table) as the next version of dataset ``name``."""
    from keel.data import versioning
    from keel.data.sources import is_sql_url
    from keel.tracking.context import get_backend

    staging = get_backend().settings.home / "cache" / "staging" / uuid.uuid4().hex
    staging.mkdir(parents=True)
    try:
        if query is not None or is_sql_url(source):
            target = _stage_table(source, query, staging / f"{name}.parquet")
        else:
            target = _stage_files(source, staging)
        version = versioning.add(target, name, message or f"from {source}", author=author, origin=source)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    write_pointer(Path(pointer_dir or Path.cwd()) / version.path, version)
    return version


def _stage_table(source: str, query: str | None, out: Path) -> Path:
    from keel.data.sources import ingest, read

    if query is None:
        raise InvalidInput(f"source {source!r} is a database: give the table as --query 'SELECT …'", field="query")
    return ingest(read(source, query=query), out)


def _stage_files(source: str, staging: Path) -> Path:
    import fsspec

    from keel.data.sources_files import file_errors

    with file_errors(source, "files"):
        fs, path = fsspec.core.url_to_fs(source)
        # info(), not exists(): exists() answers False for an unreachable host too, which would read "does not
        # exist"; info() raises, and file_errors tells FileNotFoundError (NotFound) from a host it cannot reach.
        is_dir = fs.info(path).get("type") == "directory"
        target = staging / (PurePosixPath(path.rstrip("/")).name or "data")
        if is_dir:
            fs.get(path.rstrip("/") + "/", str(target) + "/", recursive=True)
        else:
            fs.get(path, str(target))
    return target
