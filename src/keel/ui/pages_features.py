"""Features page: ``/ui/features`` (feature views with materialization freshness, entities, on-demand views) and
``/ui/api/features/{view}/skew`` (an online/offline skew check run on request)."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse

from keel.asgi import OrjsonResponse
from keel.server.state import blocking
from keel.ui import queries_features
from keel.ui.ops_context import ops_stores
from keel.ui.rendering import render
from keel.ui.routing import ui_router

__all__ = ["router"]

router = ui_router()


@router.get("/ui/features")
async def features(request: Request) -> HTMLResponse:
    """Applied feature views, their freshness and last materializations."""
    s = ops_stores(request)
    catalog = await blocking(queries_features.feature_catalog, s.db, s.project)
    return render(request, "features.html", active="features", **catalog)


@router.get("/ui/api/features/{view}/skew", response_class=OrjsonResponse)
async def skew(view: str, sample: int = 50) -> dict[str, Any]:
    """Compare ``sample`` online values of ``view`` with the offline truth (``keel features skew``)."""
    return await blocking(queries_features.skew_report, view, sample)
