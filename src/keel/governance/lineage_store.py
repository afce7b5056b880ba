"""The lineage query over ``lineage_edges`` in the local metadata store: find a node by id, walk its graph."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection

from sqlalchemy import Connection, or_, select, union

from keel.errors import InvalidInput, NotFound
from keel.governance.lineage import Graph, Link, Node, orient, walk
from keel.local_store import local_database
from keel.store import Database
from keel.store.lineage import Edge
from keel.store.tables import lineage_edges

__all__ = ["SqlLineage", "find_nodes", "lineage"]

_LE = lineage_edges.c


class SqlLineage:
    """Lineage edges of one project in a :class:`~keel.store.Database`."""

    def __init__(self, db: Database, project: str = "default") -> None:
        self.db = db
        self.project = project

    def find(self, ident: str) -> list[Node]:
        """Nodes whose id is ``ident``; for ``KIND:ID``, the node of that kind and id when the graph has it."""
        kind, sep, rest = ident.partition(":")
        with self.db.read() as conn:
            if sep and (typed := self._nodes(conn, rest, kind)):
                return typed
            return self._nodes(conn, ident)

    def _nodes(self, conn: Connection, ident: str, kind: str | None = None) -> list[Node]:
        ends = []
        for k, i in ((_LE.src_kind, _LE.src_id), (_LE.dst_kind, _LE.dst_id)):
            query = select(k.label("kind"), i.label("id")).where(_LE.project == self.project, i == ident)
            ends.append(query.where(k == kind) if kind is not None else query)
        return sorted(Node(*row) for row in conn.execute(union(*ends)).all())

    def links(self, nodes: Collection[Node]) -> list[Link]:
        """Every link with an end among ``nodes``, oldest first."""
        by_kind: dict[str, list[str]] = defaultdict(list)
        for node in nodes:
            by_kind[node.kind].append(node.id)
        touching = [((_LE.src_kind == kind) & _LE.src_id.in_(ids)) | ((_LE.dst_kind == kind) & _LE.dst_id.in_(ids))
                    for kind, ids in by_kind.items()]
        query = select(_LE.src_kind, _LE.src_id, _LE.relation, _LE.dst_kind, _LE.dst_id, _LE.created_at).where(
            _LE.project == self.project, or_(*touching)).order_by(_LE.created_at, _LE.id)
        with self.db.read() as conn:
            return [orient(Edge(*row)) for row in conn.execute(query).all()]

    def graph(self, node: Node, depth: int | None = None) -> Graph:
        """The lineage around ``node`` (see :func:`keel.governance.lineage.walk`)."""
        return walk(node, self.links, depth)


def _local() -> SqlLineage:
    return SqlLineage(*local_database("the lineage query reads"))


def find_nodes(ident: str) -> list[Node]:
    """Nodes of the local lineage graph with id ``ident`` (or ``KIND:ID``); NotFound when there is none."""
    if not ident:
        raise InvalidInput("give the id of an object (a run id, NAME/V, a dataset version id, NAME#REV…)",
                           field="id")
    found = _local().find(ident)
    if not found:
        raise NotFound(f"no object {ident!r} in the lineage graph; give a run id, a model version NAME/V, a "
                       "dataset version id, a deployment revision NAME#REV, or KIND:ID", field="id")
    return found


def lineage(kind: str, ident: str, depth: int | None = None) -> Graph:
    """Ancestors and descendants of object ``ident`` of ``kind`` in the local store, up to ``depth`` links each
    way (``None``: all); an object with no edges gives a graph of its root alone."""
    if depth is not None and depth < 0:
        raise InvalidInput(f"depth {depth} is negative; give 0 or more (or none for the whole graph)", field="depth")
    return _local().graph(Node(kind, ident), depth)
