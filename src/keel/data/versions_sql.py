"""Dataset versions in the metadata store (SQLite or PostgreSQL): the ``datasets`` and ``dataset_versions`` tables."""

from __future__ import annotations

import builtins
import json
import time
import uuid
from dataclasses import asdict
from typing import Any

from sqlalchemy import Row, func, insert, select
from sqlalchemy.exc import IntegrityError

from keel.data.entities import DatasetVersion, version_from_row
from keel.errors import Conflict, InvalidInput, NotFound
from keel.pipelines.schedules_sql import record_event
from keel.store import Database
from keel.store.lineage import Edge, edges_touching, record_edge
from keel.store.tables import dataset_versions, datasets

__all__ = ["SqlDatasetStore"]

_DV = dataset_versions.c


def _row_to_version(row: Row[Any]) -> DatasetVersion:
    return version_from_row(row._mapping)


class SqlDatasetStore:
    """Datasets and their numbered versions over a :class:`~keel.store.Database`, scoped to one project."""

    def __init__(self, db: Database, project: str = "default") -> None:
        self.db = db
        self.project = project

    def _where(self, name: str) -> list[Any]:
        return [_DV.project == self.project, _DV.name == name]

    def latest(self, name: str) -> DatasetVersion | None:
        """The newest version of ``name``, or ``None`` when it has none."""
        with self.db.read() as conn:
            row = conn.execute(select(dataset_versions).where(*self._where(name))
                               .order_by(_DV.number.desc()).limit(1)).first()
        return _row_to_version(row) if row else None

    def list(self, name: str) -> list[DatasetVersion]:
        """Every version of ``name``, newest first; NotFound if the dataset does not exist."""
        with self.db.read() as conn:
            rows = conn.execute(select(dataset_versions).where(*self._where(name))
                                .order_by(_DV.number.desc())).all()
        if not rows:
            raise NotFound(f"dataset {name!r} does not exist; create it with `keel data add PATH --name {name}`",
                           field="name")
        return [_row_to_version(r) for r in rows]

    def get(self, name: str, number: int | None = None, version_id: str | None = None) -> DatasetVersion:
        """One version by number, by id (or unique id prefix), or the latest; NotFound naming what is missing."""
        query = select(dataset_versions).where(*self._where(name))
        if number is not None:
            query = query.where(_DV.number == number)
        elif version_id is not None:
            query = query.where(_DV.id.startswith(version_id, autoescape=True))
        with self.db.read() as conn:
            rows = conn.execute(query.order_by(_DV.number.desc()).limit(2)).all()
        if not rows:
            wanted = f"v{number}" if number is not None else f"id {version_id}" if version_id else "any version"
            raise NotFound(f"dataset {name!r} has no {wanted}; list them with `keel data versions {name}`",
                           field="ref")
        if version_id is not None and len(rows) > 1:
            raise InvalidInput(f"dataset {name!r}: id prefix {version_id!r} is ambiguous; give more characters",
                               field="ref")
        return _row_to_version(rows[0])

    def create(self, fields: dict[str, Any]) -> DatasetVersion:
        """Insert the next version of ``fields['name']`` (number and parent from the latest) and return it.

        ``fields`` holds every :class:`DatasetVersion` field but id, number, parent_id and created_at.
        """
        name, now = fields["name"], int(time.time() * 1000)
        try:
            with self.db.write() as conn:
                last = conn.execute(select(_DV.id, _DV.number).where(*self._where(name))
                                    .order_by(_DV.number.desc()).limit(1)).first()
                if last is None and not conn.execute(select(func.count()).select_from(datasets).where(
                        datasets.c.project == self.project, datasets.c.name == name)).scalar():
                    conn.execute(insert(datasets).values(project=self.project, name=name, created_at=now))
                version = DatasetVersion(id=uuid.uuid4().hex[:12], number=(last.number if last else 0) + 1,
                                         parent_id=last.id if last else None, created_at=now, **fields)
                row = asdict(version)
                row["schema"] = json.dumps(row["schema"]) if row["schema"] is not None else None
                row["stats"] = json.dumps(row["stats"], default=str) if row["stats"] is not None else None
                conn.execute(insert(dataset_versions).values(project=self.project, **row))
                # same transaction: every new version fires the `dataset:NAME` triggers (keel.pipelines.triggers)
                record_event(conn, self.project, f"dataset:{name}", {"ref": version.ref, "id": version.id}, now)
        except IntegrityError as exc:
            raise Conflict(f"dataset {name!r} got a new version while this one was being added; add it again") \
                from exc
        return version

    def link_validation(self, version: DatasetVersion, report_digest: str, passed: bool) -> None:
        """Record ``dataset_version --validation_passed|validation_failed--> validation <report digest>``."""
        relation = "validation_passed" if passed else "validation_failed"
        with self.db.write() as conn:
            record_edge(conn, self.project, Edge("dataset_version", version.id, relation, "validation", report_digest))

    def validations(self, version: DatasetVersion) -> builtins.list[tuple[str, bool, int]]:
        """``(report digest, passed, recorded at ms)`` of every validation of ``version``, oldest first."""
        with self.db.read() as conn:
            edges = edges_touching(conn, "dataset_version", [version.id])
        return [(e.dst_id, e.relation == "validation_passed", e.created_at) for e in edges
                if e.dst_kind == "validation"]

    def link_run(self, version: DatasetVersion, run_id: str) -> None:
        """Record the lineage edge ``dataset_version --input_to--> run``."""
        with self.db.write() as conn:
            record_edge(conn, self.project, Edge("dataset_version", version.id, "input_to", "run", run_id))
