"""``GET /api/v1/lineage/{id}``: the lineage graph around any object, the same JSON as ``keel lineage --json``.

``direction=up`` keeps the ancestors (which data trained this model), ``down`` the descendants (which deployments a
dataset version reached), ``both`` (the default) keeps both; ``depth`` limits the links followed each way.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Literal

from fastapi import APIRouter, FastAPI, Query, Request

from keel.errors import NotFound
from keel.governance.lineage_store import SqlLineage
from keel.server.permissions import requires
from keel.server.state import blocking, state

__all__ = ["install_lineage", "router"]

router = APIRouter(prefix="/api/v1", tags=["lineage"])


def install_lineage(app: FastAPI) -> None:
    """Serve the lineage of each request's project (the ``lineage`` store of its :class:`ServerState`) from
    ``app``."""
    app.include_router(router)


@router.get("/lineage/{ident:path}", dependencies=[requires("read")], summary="Lineage graph around an object")
async def get_lineage(ident: str, request: Request,
                      direction: Literal["up", "down", "both"] = Query("both", description="up: ancestors, down: "
                                                                       "descendants, both: the two."),
                      depth: int | None = Query(None, ge=0, le=1000, description="Links to follow each way "
                                                "(default: all).")) -> list[dict[str, Any]]:
    """The graph(s) around the object(s) with this id (``KIND:ID`` picks one kind)."""
    return await blocking(_graphs, state(request).lineage, ident, direction, depth)


def _graphs(store: SqlLineage, ident: str, direction: str, depth: int | None) -> list[dict[str, Any]]:
    nodes = store.find(ident) if ident else []
    if not nodes:
        raise NotFound(f"no object {ident!r} in the lineage graph; give a run id, a model version NAME/V, a "
                       "dataset version id, a deployment revision NAME#REV, or KIND:ID", field="id")
    graphs = [store.graph(node, depth) for node in nodes]
    if direction == "up":
        graphs = [replace(g, descendants=()) for g in graphs]
    elif direction == "down":
        graphs = [replace(g, ancestors=()) for g in graphs]
    return [g.to_dict() for g in graphs]
