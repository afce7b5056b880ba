"""Lineage edges: one table links every object of the metadata graph (``src --relation--> dst``).

Edges are idempotent: recording an edge that exists refreshes its time instead of adding a second row.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, insert, or_, select, update

from keel.store.tables import lineage_edges

__all__ = ["Edge", "edges_touching", "record_edge", "record_new_edges"]


@dataclass(frozen=True)
class Edge:
    """One lineage edge: ``(src_kind, src_id) --relation--> (dst_kind, dst_id)`` at ``created_at`` (ms)."""

    src_kind: str
    src_id: str
    relation: str
    dst_kind: str
    dst_id: str
    created_at: int = 0


def record_edge(conn: Connection, project: str, edge: Edge) -> None:
    """Insert ``edge`` (or refresh the time of the same edge) inside the caller's write transaction."""
    le = lineage_edges.c
    at = edge.created_at or int(time.time() * 1000)
    key = {"src_kind": edge.src_kind, "src_id": edge.src_id, "relation": edge.relation,
           "dst_kind": edge.dst_kind, "dst_id": edge.dst_id}
    match = [getattr(le, name) == value for name, value in key.items()]
    if conn.execute(update(lineage_edges).where(*match).values(created_at=at)).rowcount == 0:
        conn.execute(insert(lineage_edges).values(project=project, created_at=at, **key))


def record_new_edges(conn: Connection, project: str, edges: Sequence[Edge]) -> None:
    """Insert edges known to be new (e.g. each naming an object created in this transaction) in one statement."""
    if edges:
        now = int(time.time() * 1000)
        conn.execute(insert(lineage_edges), [
            {"project": project, "src_kind": e.src_kind, "src_id": e.src_id, "relation": e.relation,
             "dst_kind": e.dst_kind, "dst_id": e.dst_id, "created_at": e.created_at or now} for e in edges])


def edges_touching(conn: Connection, kind: str, ids: Sequence[str]) -> list[Edge]:
    """Every edge whose source or destination is one of ``ids`` of ``kind``, oldest first."""
    le = lineage_edges.c
    rows = conn.execute(select(le.src_kind, le.src_id, le.relation, le.dst_kind, le.dst_id, le.created_at).where(
        or_((le.src_kind == kind) & le.src_id.in_(ids), (le.dst_kind == kind) & le.dst_id.in_(ids)),
    ).order_by(le.created_at, le.id)).all()
    return [Edge(*row) for row in rows]
