"""``/ui/compare?runs=a,b``: overlaid metric curves (step/time, downsampled), params-vs-metric scatter, diff."""

from __future__ import annotations

from typing import Any

from fastapi import Query, Request
from fastapi.responses import HTMLResponse

from keel.asgi import OrjsonResponse
from keel.server.state import blocking, state
from keel.ui import queries_compare
from keel.ui.rendering import render
from keel.ui.routing import ui_router

__all__ = ["router"]

router = ui_router()


@router.get("/ui/compare")
async def compare(request: Request, runs: str = "") -> HTMLResponse:
    """The chosen runs side by side."""
    ids = queries_compare.parse_run_ids(runs)
    table = await blocking(queries_compare.compare_table, state(request).tracking, ids)
    return render(request, "compare.html", active="experiments", run_ids=ids, **table)


@router.get("/ui/api/compare/series", response_class=OrjsonResponse)
async def compare_series(request: Request, runs: str, x: str = "step",
                         points: int = Query(1500, ge=10, le=20_000)) -> dict[str, Any]:
    """Every metric of the runs, one downsampled curve per run (``x``: step, time or relative)."""
    ids = queries_compare.parse_run_ids(runs)
    return {"charts": await blocking(queries_compare.compare_series, state(request).tracking, ids, x, points)}
