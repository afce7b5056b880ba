"""``/ui/runs/{run_id}``: params, metrics with charts, tags, inputs/outputs and the artifact browser."""

from __future__ import annotations

from typing import Any

from fastapi import Query, Request
from fastapi.responses import HTMLResponse, Response

from keel.asgi import OrjsonResponse
from keel.server.state import blocking, state
from keel.ui import queries_runs, queries_series
from keel.ui.rendering import render
from keel.ui.routing import ui_router

__all__ = ["router"]

router = ui_router()


@router.get("/ui/runs/{run_id}")
async def run_page(run_id: str, request: Request) -> HTMLResponse:
    """One run."""
    s = state(request)
    details = await blocking(queries_runs.run_details, s.tracking, s.registry, run_id)
    return render(request, "run.html", active="experiments", **details)


@router.get("/ui/api/runs/{run_id}/series", response_class=OrjsonResponse)
async def run_series(run_id: str, request: Request, x: str = "step",
                     points: int = Query(1500, ge=10, le=20_000)) -> dict[str, Any]:
    """Every metric of the run as a downsampled curve (``x``: step, time or relative)."""
    tracking = state(request).tracking

    def collect() -> list[dict[str, Any]]:
        run = tracking.get_run(run_id)
        return [queries_series.metric_series(tracking, run_id, key, x, points) for key in sorted(run.metrics)]

    return {"series": await blocking(collect)}


@router.get("/ui/api/runs/{run_id}/artifacts", response_class=OrjsonResponse)
async def run_artifacts(run_id: str, request: Request, path: str = "") -> dict[str, Any]:
    """The artifact folder ``path`` of the run (immediate children)."""
    s = state(request)
    run = await blocking(s.tracking.get_run, run_id)
    files = await blocking(queries_runs.artifact_children, s.tracking, s.artifacts, run_id, path)
    return {"path": path, "files": files, "download_prefix": f"/api/v1/artifacts/{run.info.artifact_uri}/"}


@router.get("/ui/api/runs/{run_id}/preview", response_class=Response)
async def run_artifact_preview(run_id: str, request: Request, path: str) -> Response:
    """The file's bytes for an inline preview; HTML is served sandboxed (no scripts, no same-origin access)."""
    s = state(request)
    preview = await blocking(queries_runs.artifact_preview, s.tracking, s.artifacts, run_id, path)
    headers = {"X-Keel-Preview": preview.kind, "X-Content-Type-Options": "nosniff",
               "Content-Security-Policy": "sandbox; default-src 'none'; img-src data:; style-src 'unsafe-inline'"}
    media_type = "text/plain; charset=utf-8" if preview.kind in {"text", "json"} else preview.media_type
    return Response(preview.data, media_type=media_type, headers=headers)
