"""What the Data pages show: datasets with their latest version, a dataset's versions with validation verdicts, the
diff between two versions, and the stored validation reports. Pure reads of the metadata and blob stores."""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

from sqlalchemy import select

from keel.artifacts import BlobStore
from keel.data import snapshot
from keel.data.changes import DatasetDiff, diff_files, diff_schema, diff_stats
from keel.data.entities import DatasetVersion
from keel.data.versions_sql import SqlDatasetStore
from keel.store import Database
from keel.store.lineage import edges_touching
from keel.store.tables import dataset_versions

__all__ = ["dataset_detail", "dataset_diff", "list_datasets", "validation_reports"]

_DV = dataset_versions.c
_SUMMARY = (_DV.id, _DV.name, _DV.number, _DV.created_at, _DV.author, _DV.message, _DV.kind, _DV.file_count,
            _DV.size_bytes, _DV.row_count)


def _verdicts(db: Database, ids: list[str]) -> dict[str, list[tuple[bool, int, str]]]:
    """Validation verdicts ``(passed, at ms, report digest)`` per dataset version id, oldest first."""
    found: dict[str, list[tuple[bool, int, str]]] = defaultdict(list)
    if not ids:
        return found
    with db.read() as conn:
        for start in range(0, len(ids), 500):
            for e in edges_touching(conn, "dataset_version", ids[start:start + 500]):
                if e.dst_kind == "validation" and e.src_kind == "dataset_version":
                    found[e.src_id].append((e.relation == "validation_passed", e.created_at, e.dst_id))
    return found


def _verdict(checks: list[tuple[bool, int, str]]) -> str | None:
    """``passed`` / ``failed`` by the newest validation, None when never validated."""
    if not checks:
        return None
    return "passed" if max(checks, key=lambda c: c[1])[0] else "failed"


def list_datasets(db: Database, project: str) -> list[dict[str, Any]]:
    """Every dataset, by name: its version count and latest version (number, rows, size, author, validation)."""
    with db.read() as conn:
        rows = conn.execute(select(*_SUMMARY).where(_DV.project == project)
                            .order_by(_DV.name, _DV.number.desc())).all()
    latest: dict[str, dict[str, Any]] = {}
    counts: dict[str, int] = defaultdict(int)
    for row in rows:
        counts[row.name] += 1
        latest.setdefault(row.name, dict(row._mapping))
    verdicts = _verdicts(db, [v["id"] for v in latest.values()])
    return [{"name": name, "versions": counts[name], "latest": {**v, "validation": _verdict(verdicts.get(v["id"], []))}}
            for name, v in latest.items()]


def _version_row(v: DatasetVersion, checks: list[tuple[bool, int, str]]) -> dict[str, Any]:
    return {"id": v.id, "number": v.number, "ref": v.ref, "parent_id": v.parent_id, "message": v.message,
            "author": v.author, "created_at": v.created_at, "kind": v.kind, "source": v.source,
            "file_count": v.file_count, "size_bytes": v.size_bytes, "row_count": v.row_count,
            "columns": len(v.schema) if v.schema is not None else None,
            "validation": _verdict(checks), "validations": len(checks)}


def dataset_detail(db: Database, project: str, name: str) -> dict[str, Any]:
    """A dataset's versions (newest first) with their validation verdicts, and the latest version's schema and column
    statistics; NotFound when the dataset does not exist."""
    versions = SqlDatasetStore(db, project).list(name)
    verdicts = _verdicts(db, [v.id for v in versions])
    latest = versions[0]
    columns = [{**column, **(latest.stats or {}).get(column["name"], {})} for column in latest.schema or []]
    return {"name": name, "versions": [_version_row(v, verdicts.get(v.id, [])) for v in versions],
            "latest": _version_row(latest, verdicts.get(latest.id, [])), "columns": columns}


def dataset_diff(db: Database, project: str, blobs: BlobStore, name: str, old: int, new: int) -> dict[str, Any]:
    """What changed from version ``old`` to ``new`` of dataset ``name``: files, and for tables the schema, row
    counts and recorded column statistics (:class:`~keel.data.changes.DatasetDiff` as a dict, plus ``identical``)."""
    store = SqlDatasetStore(db, project)
    a, b = store.get(name, old), store.get(name, new)
    (_, files_a), (_, files_b) = (snapshot.parse_manifest(blobs.get_bytes(v.manifest_digest)) for v in (a, b))
    result = DatasetDiff(a.ref, b.ref, diff_files(files_a, files_b), a.row_count, b.row_count)
    if a.schema is not None and b.schema is not None:
        result = DatasetDiff(a.ref, b.ref, result.files, a.row_count, b.row_count, diff_schema(a.schema, b.schema),
                             diff_stats(a.stats or {}, b.stats or {}))
    return {**result.to_dict(), "identical": result.identical}


def validation_reports(db: Database, project: str, blobs: BlobStore, name: str, number: int) -> list[dict[str, Any]]:
    """Every stored validation report of ``name`` version ``number``, newest first, each with ``passed``,
    ``digest`` and ``recorded_at`` beside the report's own fields (suite, checks, row_count...)."""
    version = SqlDatasetStore(db, project).get(name, number)
    reports = [{**json.loads(blobs.get_bytes(digest)), "digest": digest, "passed": passed, "recorded_at": at}
               for passed, at, digest in _verdicts(db, [version.id]).get(version.id, [])]
    return sorted(reports, key=lambda r: r["recorded_at"], reverse=True)
