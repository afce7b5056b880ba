"""``keel lineage ID``: the graph around any object, ancestors above and descendants below."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import typer
from rich.markup import escape
from rich.tree import Tree

from keel.cli.output import console
from keel.errors import KeelError, NotFound

if TYPE_CHECKING:
    from keel.governance.lineage import Graph, Link, Node

__all__ = ["lineage"]


def lineage(ident: str = typer.Argument(..., metavar="ID", help="An object id: run id, NAME/V, dataset version "
                                        "id or NAME@vN, NAME#REV, a path, or KIND:ID."),
            depth: int | None = typer.Option(None, "--depth", "-d", min=0, help="Links to follow each way "
                                             "(default: all)."),
            as_json: bool = typer.Option(False, "--json", help="Print the graph(s) as JSON.")) -> None:
    """Show where an object came from (ancestors) and what it flowed into (descendants)."""
    from keel.governance.lineage_store import lineage as lineage_graph

    graphs = [lineage_graph(node.kind, node.id, depth) for node in _roots(ident)]
    if as_json:
        typer.echo(json.dumps([g.to_dict() for g in graphs], indent=2))
        return
    for graph in graphs:
        _print(graph)


def _roots(ident: str) -> list[Node]:
    """Nodes with this id; a dataset reference (``NAME@v3``) names its version even before it has edges."""
    from keel.governance.lineage import Node
    from keel.governance.lineage_store import find_nodes

    try:
        return find_nodes(ident)
    except NotFound as missing:
        version_id = _dataset_version_id(ident)
        if version_id is None:
            raise missing from None
        return [Node("dataset_version", version_id)]


def _dataset_version_id(ident: str) -> str | None:
    if "@" not in ident:
        return None
    from keel.data.versioning import get_version

    try:
        return get_version(ident).id
    except KeelError:
        return None


def _print(graph: Graph) -> None:
    up = Tree("[bold]ancestors[/bold] (where it came from)", guide_style="dim")
    _grow(up, graph, graph.root, set(), up=True)
    down = Tree("[bold]descendants[/bold] (what it flowed into)", guide_style="dim")
    _grow(down, graph, graph.root, set(), up=False)
    console.print(up if graph.ancestors else "[dim]no ancestors[/dim]")
    console.print(f"[bold green]● {_label(graph.root)}[/bold green]")
    console.print(down if graph.descendants else "[dim]no descendants[/dim]")


def _grow(tree: Tree, graph: Graph, node: Node, shown: set[Node], *, up: bool) -> None:
    shown.add(node)
    links: list[Link] = graph.parents(node) if up else graph.children(node)
    for link in links:
        other = link.upstream if up else link.downstream
        arrow = f"{link.relation} ◂" if up else f"{link.relation} ▸"
        if other in shown:
            tree.add(f"[dim]{arrow}[/dim] {_label(other)} [dim](shown above)[/dim]")
            continue
        _grow(tree.add(f"[dim]{arrow}[/dim] {_label(other)}"), graph, other, shown, up=up)


def _label(node: Node) -> str:
    return f"[cyan]{escape(node.kind)}[/cyan] {escape(node.id)}"
