"""Where a tabular dataset version's bytes live, for engines (DuckDB) that read the files in place."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from keel.data.entities import DatasetVersion
from keel.errors import InvalidInput

__all__ = ["TableFiles", "table_files"]


@dataclass(frozen=True)
class TableFiles:
    """A tabular version: its format (one of :data:`keel.data.tabular.FORMATS`), its files' locations in manifest
    order (local paths, or ``protocol://path`` URLs), and the fsspec filesystem to read them through when the root is
    not local."""

    version: DatasetVersion
    format: str
    urls: list[str]
    fs: Any | None

    @property
    def paths(self) -> list[str]:
        """The locations as ``fs`` names them (without the protocol), for readers given the filesystem."""
        return [u.split("://", 1)[1] for u in self.urls] if self.fs is not None else self.urls


def table_files(ref: str | DatasetVersion) -> TableFiles:
    """Resolve ``NAME@vN`` / ``NAME`` (latest) to the stored objects holding its table, without copying them; each
    object is first re-hashed (streamed) so that an engine never reads bytes that no longer match the version."""
    from keel.artifacts.storage import protocol_of
    from keel.data.tabular import table_format
    from keel.data.versioning import _local, _manifest, get_version

    local = _local()
    version = ref if isinstance(ref, DatasetVersion) else get_version(ref)
    _, manifest = _manifest(local.blobs, version)
    fmt = table_format(list(manifest))
    if fmt is None:
        raise InvalidInput(f"dataset {version.ref} is not a table (Parquet, CSV, TSV or JSON-lines files of one "
                           "format)", field="source")
    storage = local.blobs.storage
    digests = [digest for _, (digest, _) in sorted(manifest.items())]
    for digest in digests:
        local.blobs.verify(digest)
    paths = [local.blobs.readable_path(digest) for digest in digests]
    if storage.is_local:
        return TableFiles(version, fmt, paths, None)
    return TableFiles(version, fmt, [f"{protocol_of(storage.fs)}://{p}" for p in paths], storage.fs)
