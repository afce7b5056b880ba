"""What the Lineage page shows: the graph around any object (data → run → model → deployment → monitor) as
cytoscape.js elements, each node linking to its object's page."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from sqlalchemy import select

from keel.errors import InvalidInput, NotFound
from keel.governance.lineage import Graph, Link, Node
from keel.governance.lineage_store import SqlLineage
from keel.monitoring.monitor_store import SqlMonitorStore
from keel.store import Database
from keel.store.tables import dataset_versions, lineage_edges

__all__ = ["graph_elements", "lineage_graph", "lineage_starts", "node_href"]

_MAX_NODES = 400


def node_href(kind: str, ident: str, dataset_refs: dict[str, str] | None = None) -> str:
    """The UI page of a lineage node (the lineage page centred on it when the object has no page of its own)."""
    q = quote
    if kind == "run":
        return f"/ui/runs/{q(ident, safe='')}"
    if kind == "model_version":
        name, _, number = ident.rpartition("/")
        return f"/ui/models/{q(name, safe='')}/versions/{q(number, safe='')}"
    if kind == "alias":
        return f"/ui/models/{q(ident.rpartition('@')[0], safe='')}"
    if kind == "dataset_version" and dataset_refs and ident in dataset_refs:
        name, _, number = dataset_refs[ident].partition("@v")
        return f"/ui/data/{q(name, safe='')}?version={number}"
    if kind in ("deployment", "deployment_revision"):
        return f"/ui/deployments/{q(ident.split('#')[0], safe='')}"
    if kind == "monitor":
        return f"/ui/monitoring/{q(ident, safe='')}"
    if kind in ("feature_view", "on_demand_feature_view"):
        return f"/ui/features#view-{q(ident.split('@')[0], safe='')}"
    if kind in ("pipeline_run", "step_run"):
        return f"/ui/pipelines/{q(ident.split('/')[0], safe='')}"
    return f"/ui/lineage?id={q(f'{kind}:{ident}', safe='')}"


def _label(node: Node, dataset_refs: dict[str, str]) -> str:
    if node.kind == "dataset_version":
        return dataset_refs.get(node.id, node.id[:12])
    if node.kind in ("run", "validation", "artifact", "logged_model") and len(node.id) > 14:
        return f"{node.kind} {node.id[:10]}…"
    if node.kind == "predictions" and len(node.id) > 30:
        return "…" + node.id[-28:]
    return node.id


def _dataset_refs(db: Database, project: str, ids: list[str]) -> dict[str, str]:
    if not ids:
        return {}
    dv = dataset_versions.c
    with db.read() as conn:
        rows = conn.execute(select(dv.id, dv.name, dv.number).where(dv.project == project, dv.id.in_(ids))).all()
    return {r.id: f"{r.name}@v{r.number}" for r in rows}


def graph_elements(graph: Graph, extra: list[Link], dataset_refs: dict[str, str]) -> list[dict[str, Any]]:
    """Cytoscape elements (``{"data": {...}}``) of ``graph`` plus ``extra`` links: one node per object (``id``
    ``KIND:ID``, ``label``, ``kind``, ``href``, ``root`` for the centre) and one edge per link (``label`` the
    relation), at most a few hundred nodes (the closest first, as the walk reached them)."""
    links = [*graph.ancestors, *graph.descendants, *extra]
    nodes: dict[Node, None] = {graph.root: None}
    kept: list[Link] = []
    for link in links:
        if len(nodes) >= _MAX_NODES and (link.upstream not in nodes or link.downstream not in nodes):
            continue
        nodes.update({link.upstream: None, link.downstream: None})
        kept.append(link)
    elements: list[dict[str, Any]] = [
        {"data": {"id": str(n), "label": _label(n, dataset_refs), "kind": n.kind, "ident": n.id,
                  "href": node_href(n.kind, n.id, dataset_refs), "root": n == graph.root}} for n in nodes]
    seen: set[str] = set()
    for link in kept:
        edge_id = f"{link.upstream}->{link.relation}->{link.downstream}"
        if edge_id not in seen:
            seen.add(edge_id)
            elements.append({"data": {"id": edge_id, "source": str(link.upstream), "target": str(link.downstream),
                                      "label": link.relation}})
    return elements


def _monitor_links(db: Database, project: str, graph: Graph) -> list[Link]:
    """Monitors watch a deployment's prediction log; the lineage table has no edge for that, so add one per
    monitor of every deployment in the graph (``deployment --watched_by--> monitor``)."""
    deployments = {n.id.split("#")[0] for n in graph.nodes() if n.kind in ("deployment", "deployment_revision")}
    if graph.root.kind == "monitor":
        monitor = SqlMonitorStore(db, project).get(graph.root.id)
        return [Link(Node("deployment", monitor.deployment), "watched_by", graph.root)]
    if not deployments:
        return []
    return [Link(Node("deployment", m.deployment), "watched_by", Node("monitor", m.name))
            for m in SqlMonitorStore(db, project).list() if m.deployment in deployments]


def lineage_graph(db: Database, project: str, ident: str, *, depth: int | None = None) -> dict[str, Any]:
    """The graph around object ``ident`` (any id ``keel lineage`` takes, or ``KIND:ID``; ``monitor:NAME`` for a
    monitor, ``dataset:NAME@vN`` for a dataset version): the root, the other candidates when the id is ambiguous,
    and the cytoscape elements."""
    ident = ident.strip()
    if not ident:
        raise InvalidInput("give the id of an object (a run id, NAME/V, NAME@vN, NAME#REV or KIND:ID)", field="id")
    if depth is not None and not 0 <= depth <= 50:
        raise InvalidInput(f"depth must be between 0 and 50, got {depth}", field="depth")
    found = _find(db, project, ident)
    lineage = SqlLineage(db, project)
    root = _current_version(lineage, found[0]) if found[0].kind == "alias" else found[0]
    graph = lineage.graph(root, depth)
    extra = _monitor_links(db, project, graph)
    refs = _dataset_refs(db, project, [n.id for n in graph.nodes() if n.kind == "dataset_version"])
    return {"root": {"kind": root.kind, "id": root.id, "key": str(root)}, "asked": str(found[0]),
            "candidates": [{"kind": n.kind, "id": n.id, "key": str(n)} for n in found],
            "elements": graph_elements(graph, extra, refs)}


def _current_version(lineage: SqlLineage, alias: Node) -> Node:
    """The model version an alias node was last promoted to (the alias itself when none was), so the graph around
    ``NAME@champion`` reaches the deployments serving that version too."""
    promotions = [link for link in lineage.links([alias])
                  if link.downstream == alias and link.relation == "promoted_to"]
    return max(promotions, key=lambda link: link.created_at).upstream if promotions else alias


def _find(db: Database, project: str, ident: str) -> list[Node]:
    kind, sep, rest = ident.partition(":")
    if sep and kind == "monitor":
        SqlMonitorStore(db, project).get(rest)  # NotFound names the monitor
        return [Node("monitor", rest)]
    dataset_id = _dataset_version_id(db, project, ident)
    if dataset_id is not None:
        return [Node("dataset_version", dataset_id)]
    found = SqlLineage(db, project).find(ident)
    if not found:
        raise NotFound(f"no object {ident!r} in the lineage graph; give a run id, a model version NAME/V, a dataset "
                       "version NAME@vN, a deployment revision NAME#REV, or KIND:ID", field="id")
    return found


def _dataset_version_id(db: Database, project: str, ident: str) -> str | None:
    """The id of dataset version ``NAME@vN`` (or ``dataset:NAME@vN``), None when ``ident`` is not one."""
    from keel.data.entities import parse_ref

    ref = ident.removeprefix("dataset:")
    if "@v" not in ref:
        return None
    try:
        name, number, _ = parse_ref(ref)
    except InvalidInput:
        return None
    if number is None:
        return None
    dv = dataset_versions.c
    with db.read() as conn:
        return conn.execute(select(dv.id).where(dv.project == project, dv.name == name, dv.number == number)).scalar()


def lineage_starts(db: Database, project: str, *, limit: int = 20) -> list[dict[str, str]]:
    """Good places to start exploring: model aliases, deployments and monitors (``kind``, ``id``, ``key``)."""
    le = lineage_edges.c
    with db.read() as conn:
        rows = conn.execute(select(le.dst_kind, le.dst_id).where(le.project == project, le.dst_kind == "alias")
                            .union(select(le.src_kind, le.src_id).where(le.project == project,
                                                                        le.src_kind == "deployment"))).all()
    nodes = sorted({(kind, ident) for kind, ident in rows})[:limit]
    nodes += [("monitor", m.name) for m in SqlMonitorStore(db, project).list()][:limit]
    return [{"kind": kind, "id": ident, "key": f"{kind}:{ident}"} for kind, ident in nodes]
