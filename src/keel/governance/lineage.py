"""The lineage graph as values, and the walk from one object to its ancestors and descendants.

Each capability records edges as it sees them (``src --relation--> dst``). A few point against the flow of data:
a deployment revision *serves* a model version, an input is *scored_by* a model. The walk turns those around
(:data:`FLOW_REVERSED`) so that "descendants" always means what an object flowed into — the data a model was
trained on is its ancestor, the deployments serving it are its descendants — and the question "which
deployments did a bad data version reach" is a walk down.

The walk is pure: it asks a ``neighbours`` callable for the links touching a set of nodes, one level at a time,
and never visits a node twice, so cycles end.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from typing import Any

from keel.store.lineage import Edge

__all__ = ["FLOW_REVERSED", "Graph", "Link", "Neighbours", "Node", "orient", "walk"]

FLOW_REVERSED: dict[str, str] = {"serves": "served_by", "shadows": "shadowed_by", "scored_by": "scored"}
"""Stored relation → its name once turned to follow the flow of data."""


@dataclass(frozen=True, order=True)
class Node:
    """One object of the graph: its kind (``run``, ``model_version``, ``dataset_version``…) and string id."""

    kind: str
    id: str

    def __str__(self) -> str:
        return f"{self.kind}:{self.id}"


@dataclass(frozen=True)
class Link:
    """An edge oriented along the flow of data: ``upstream --relation--> downstream`` at ``created_at`` (ms)."""

    upstream: Node
    relation: str
    downstream: Node
    created_at: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"from": {"kind": self.upstream.kind, "id": self.upstream.id}, "relation": self.relation,
                "to": {"kind": self.downstream.kind, "id": self.downstream.id}, "created_at": self.created_at}


Neighbours = Callable[[Collection[Node]], Iterable[Link]]
"""Every link with an end among the given nodes (either direction)."""


def orient(edge: Edge) -> Link:
    """The stored edge as a link along the flow of data."""
    src, dst = Node(edge.src_kind, edge.src_id), Node(edge.dst_kind, edge.dst_id)
    if edge.relation in FLOW_REVERSED:
        return Link(dst, FLOW_REVERSED[edge.relation], src, edge.created_at)
    return Link(src, edge.relation, dst, edge.created_at)


@dataclass(frozen=True)
class Graph:
    """The lineage around ``root``: links into it recursively (ancestors) and out of it (descendants)."""

    root: Node
    ancestors: tuple[Link, ...]
    descendants: tuple[Link, ...]

    def parents(self, node: Node) -> list[Link]:
        """Ancestor links ending at ``node``."""
        return [link for link in self.ancestors if link.downstream == node]

    def children(self, node: Node) -> list[Link]:
        """Descendant links starting at ``node``."""
        return [link for link in self.descendants if link.upstream == node]

    def nodes(self) -> set[Node]:
        """Every node of the graph, the root included."""
        return {self.root} | {n for link in self.ancestors + self.descendants for n in (link.upstream,
                                                                                          link.downstream)}

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: the root, then ancestor and descendant links in the order they were reached."""
        return {"root": {"kind": self.root.kind, "id": self.root.id},
                "ancestors": [link.to_dict() for link in self.ancestors],
                "descendants": [link.to_dict() for link in self.descendants]}


def walk(root: Node, neighbours: Neighbours, depth: int | None = None) -> Graph:
    """The graph around ``root`` up to ``depth`` links each way (``None``: all), each node visited once."""
    return Graph(root, _one_way(root, neighbours, depth, up=True), _one_way(root, neighbours, depth, up=False))


def _one_way(root: Node, neighbours: Neighbours, depth: int | None, *, up: bool) -> tuple[Link, ...]:
    seen, frontier, found = {root}, {root}, dict[Link, None]()
    level = 0
    while frontier and (depth is None or level < depth):
        reached: set[Node] = set()
        for link in neighbours(frontier):
            near, far = (link.downstream, link.upstream) if up else (link.upstream, link.downstream)
            if near not in frontier or link in found:
                continue
            found[link] = None
            if far not in seen:
                seen.add(far)
                reached.add(far)
        frontier, level = reached, level + 1
    return tuple(found)
