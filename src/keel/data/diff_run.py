"""``keel.data.diff``: compare two dataset versions of the local store (see :mod:`keel.data.changes`)."""

from __future__ import annotations

import pyarrow.dataset as pads

from keel.artifacts import BlobStore
from keel.data import snapshot
from keel.data.changed_rows import diff_rows
from keel.data.changes import DatasetDiff, diff_files, diff_schema, diff_stats
from keel.data.entities import DatasetVersion
from keel.data.table_files import table_files
from keel.data.tabular import open_dataset
from keel.data.versioning import get_version
from keel.errors import InvalidInput
from keel.tracking.context import get_backend

__all__ = ["diff"]


def diff(old: str | DatasetVersion, new: str | DatasetVersion, key: str | None = None) -> DatasetDiff:
    """What changed from version ``old`` to ``new`` (``NAME@vN`` refs or versions): files; for tables the schema,
    row count and recorded column statistics; and with ``key``, the rows added, removed and changed by that column.
    """
    a, b = (v if isinstance(v, DatasetVersion) else get_version(v) for v in (old, new))
    blobs = BlobStore(get_backend().settings.resolved_artifact_root)
    (_, files_a), (_, files_b) = (snapshot.parse_manifest(blobs.get_bytes(v.manifest_digest)) for v in (a, b))
    result = DatasetDiff(a.ref, b.ref, diff_files(files_a, files_b), a.row_count, b.row_count)
    tables = a.schema is not None and b.schema is not None
    if tables:
        result = DatasetDiff(result.old, result.new, result.files, a.row_count, b.row_count,
                             diff_schema(a.schema or [], b.schema or []), diff_stats(a.stats or {}, b.stats or {}))
    if key is None:
        return result
    if not tables:
        which = a.ref if a.schema is None else b.ref
        raise InvalidInput(f"--key {key!r}: {which} is not a table (Parquet, CSV, TSV or JSON-lines files), so it "
                           "has no rows to compare; drop --key", field="key")
    rows = diff_rows(_dataset(a), _dataset(b), key, old_ref=a.ref, new_ref=b.ref)
    return DatasetDiff(result.old, result.new, result.files, result.old_rows, result.new_rows, result.schema,
                       result.stats, rows)


def _dataset(version: DatasetVersion) -> pads.Dataset:
    """The version's stored files as one Arrow dataset, read in place (each object verified first)."""
    files = table_files(version)
    return open_dataset(files.paths, files.format, files.fs)
