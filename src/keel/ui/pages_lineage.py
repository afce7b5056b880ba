"""Lineage page: ``/ui/lineage?id=...`` draws the graph around any object (data → run → model → deployment →
monitor) with cytoscape.js; clicking a node opens that object's page. ``/ui/api/lineage`` answers the same graph
as JSON (cytoscape elements)."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse

from keel.asgi import OrjsonResponse
from keel.errors import InvalidInput, KeelError
from keel.server.state import blocking
from keel.ui import queries_lineage
from keel.ui.ops_context import ops_stores
from keel.ui.rendering import render
from keel.ui.routing import ui_router

__all__ = ["router"]

router = ui_router()


@router.get("/ui/lineage")
async def lineage(request: Request, id: str = "", depth: str = "") -> HTMLResponse:  # noqa: A002
    """The graph around object ``id`` (a search box when none is given; the error beside it when unknown);
    ``depth`` limits the links walked each way (empty: all)."""
    graph: dict[str, Any] | None = None
    error = None
    levels = _depth(depth)
    s = ops_stores(request)
    starts = [] if id.strip() else await blocking(queries_lineage.lineage_starts, s.db, s.project)
    if id.strip():
        try:
            graph = await blocking(queries_lineage.lineage_graph, s.db, s.project, id, depth=levels)
        except KeelError as exc:  # an unknown id is a search miss: show it beside the search box
            error = exc.message
    return render(request, "lineage.html", active="lineage", ident=id, depth=levels, graph=graph, error=error,
                  starts=starts)


def _depth(text: str) -> int | None:
    """The search form's depth: empty for the whole graph, else a whole number."""
    if not text.strip():
        return None
    if not text.strip().isdigit():
        raise InvalidInput(f"depth must be a whole number (or empty for the whole graph), got {text!r}", field="depth")
    return int(text)


@router.get("/ui/api/lineage", response_class=OrjsonResponse)
async def lineage_json(request: Request, id: str, depth: int | None = None) -> dict[str, Any]:  # noqa: A002
    """The graph around ``id`` as cytoscape elements."""
    s = ops_stores(request)
    return await blocking(queries_lineage.lineage_graph, s.db, s.project, id, depth=depth)
