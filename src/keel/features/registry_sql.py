"""Feature definitions and materialization runs in the metadata store (SQLite or PostgreSQL).

Every apply of a changed definition adds a row with the next version number; a removal adds a row whose spec is
NULL. The current registry is the newest row per (kind, name) that is not a removal.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError

from keel.errors import Conflict
from keel.store import Database
from keel.store.lineage import Edge, record_edge
from keel.store.tables import feature_definitions, feature_materializations

__all__ = ["Materialization", "Record", "SqlFeatureRegistry", "spec_digest"]

_FD = feature_definitions.c
_FM = feature_materializations.c


def spec_digest(spec: dict[str, Any] | None) -> str:
    """A stable digest of a spec (sorted-key JSON), used to tell changed definitions from unchanged ones."""
    return hashlib.blake2b(json.dumps(spec, sort_keys=True).encode(), digest_size=16).hexdigest()


@dataclass(frozen=True)
class Record:
    """One stored version of a definition (``spec`` is None for a removal)."""

    id: str
    kind: str
    name: str
    version: int
    spec: dict[str, Any] | None
    digest: str
    author: str
    created_at: int


@dataclass(frozen=True)
class Materialization:
    """One materialization of a view: its window (epoch µs), the newest source timestamp written, the row count."""

    view: str
    start_us: int | None
    end_us: int
    watermark_us: int | None
    rows: int
    source_version: str | None
    store: str
    created_at: int


def _record(row: Any) -> Record:
    m = row._mapping
    return Record(m["id"], m["kind"], m["name"], m["version"], json.loads(m["spec"]) if m["spec"] else None,
                  m["digest"], m["author"], m["created_at"])


class SqlFeatureRegistry:
    """The feature registry of one project over a :class:`~keel.store.Database`."""

    def __init__(self, db: Database, project: str = "default") -> None:
        self.db = db
        self.project = project

    def current(self) -> dict[tuple[str, str], Record]:
        """The live definitions: the newest version of each (kind, name) that is not a removal."""
        newest = (select(_FD.kind, _FD.name, func.max(_FD.version).label("v"))
                  .where(_FD.project == self.project).group_by(_FD.kind, _FD.name).subquery())
        query = select(feature_definitions).join(
            newest, (_FD.kind == newest.c.kind) & (_FD.name == newest.c.name) & (_FD.version == newest.c.v)
        ).where(_FD.project == self.project)
        with self.db.read() as conn:
            records = [_record(r) for r in conn.execute(query)]
        return {(r.kind, r.name): r for r in records if r.spec is not None}

    def generation(self) -> tuple[int, int]:
        """A cheap token that changes whenever definitions are applied (row count, newest time)."""
        with self.db.read() as conn:
            row = conn.execute(select(func.count(), func.max(_FD.created_at))
                               .where(_FD.project == self.project)).one()
        return int(row[0]), int(row[1] or 0)

    def history(self, kind: str, name: str) -> list[Record]:
        """Every stored version of one definition, newest first."""
        with self.db.read() as conn:
            rows = conn.execute(select(feature_definitions).where(
                _FD.project == self.project, _FD.kind == kind, _FD.name == name).order_by(_FD.version.desc())).all()
        return [_record(r) for r in rows]

    def write(self, changes: Sequence[tuple[str, str, dict[str, Any] | None]], author: str,
              edges: Sequence[Edge] = ()) -> list[Record]:
        """Store each ``(kind, name, spec or None for removal)`` as its next version, all in one transaction."""
        now = int(time.time() * 1000)
        written: list[Record] = []
        try:
            with self.db.write() as conn:
                for kind, name, spec in changes:
                    latest = conn.execute(select(func.max(_FD.version)).where(
                        _FD.project == self.project, _FD.kind == kind, _FD.name == name)).scalar()
                    record = Record(uuid.uuid4().hex, kind, name, (latest or 0) + 1, spec, spec_digest(spec),
                                    author, now)
                    conn.execute(insert(feature_definitions).values(
                        id=record.id, project=self.project, kind=kind, name=name, version=record.version,
                        spec=None if spec is None else json.dumps(spec, sort_keys=True), digest=record.digest,
                        author=author, created_at=now))
                    written.append(record)
                for edge in edges:
                    record_edge(conn, self.project, edge)
        except IntegrityError as exc:
            raise Conflict("another apply changed the same feature definitions at the same time; run it again",
                           field="definitions") from exc
        return written

    def record_materialization(self, run: Materialization) -> None:
        """Store one materialization run."""
        with self.db.write() as conn:
            conn.execute(insert(feature_materializations).values(
                project=self.project, view=run.view, start_us=run.start_us, end_us=run.end_us,
                watermark_us=run.watermark_us, rows=run.rows, source_version=run.source_version, store=run.store,
                created_at=run.created_at))

    def materializations(self, view: str, store: str | None = None) -> list[Materialization]:
        """Materialization runs of ``view`` (into ``store`` when given), newest first."""
        query = select(feature_materializations).where(_FM.project == self.project, _FM.view == view)
        if store is not None:
            query = query.where(_FM.store == store)
        with self.db.read() as conn:
            rows = conn.execute(query.order_by(_FM.id.desc())).all()
        return [Materialization(r.view, r.start_us, r.end_us, r.watermark_us, r.rows, r.source_version, r.store,
                                r.created_at) for r in rows]
