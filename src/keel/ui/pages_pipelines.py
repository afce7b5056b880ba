"""Pipelines pages: ``/ui/pipelines`` (runs with status, duration, cached steps) and ``/ui/pipelines/{run_id}``
(steps with status, duration, cache hit, attempts, errors; logs from
``/ui/api/pipelines/{run_id}/steps/{node}/log``)."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse

from keel.asgi import OrjsonResponse
from keel.server.state import blocking
from keel.ui import queries_pipelines
from keel.ui.ops_context import ops_stores
from keel.ui.rendering import render
from keel.ui.routing import ui_router

__all__ = ["router"]

router = ui_router()


@router.get("/ui/pipelines")
async def pipelines(request: Request, pipeline: str | None = None, limit: int = 100) -> HTMLResponse:
    """The newest pipeline runs (``?pipeline=`` keeps one pipeline)."""
    s = ops_stores(request)
    listed = await blocking(queries_pipelines.list_runs, s.db, s.project, pipeline=pipeline, limit=limit)
    return render(request, "pipelines.html", active="pipelines", **listed)


@router.get("/ui/pipelines/{run_id}")
async def pipeline_run(request: Request, run_id: str) -> HTMLResponse:
    """One run and its steps."""
    s = ops_stores(request)
    detail = await blocking(queries_pipelines.run_detail, s.db, s.project, run_id)
    return render(request, "pipelines_run.html", active="pipelines", **detail)


@router.get("/ui/api/pipelines/{run_id}/steps/{node}/log", response_class=OrjsonResponse)
async def step_log(request: Request, run_id: str, node: str) -> dict[str, Any]:
    """A step's captured output (the last 200 kB)."""
    s = ops_stores(request)
    return await blocking(queries_pipelines.step_log, s.db, s.project, s.blobs, run_id, node)
