"""Deployments pages: ``/ui/deployments`` (routes and weights) and ``/ui/deployments/{name}`` (live traffic charts,
roll-out history with rollback); ``/ui/api/deployments/{name}/traffic`` and ``/ui/api/server/counters`` feed the
charts. Rollback calls ``POST /api/v1/deployments/{name}/rollback`` from the page, so the server checks the role."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse

from keel.asgi import OrjsonResponse
from keel.server.state import blocking, state
from keel.ui import queries_deployments
from keel.ui.rendering import render
from keel.ui.routing import ui_router

__all__ = ["router"]

router = ui_router()


@router.get("/ui/deployments")
async def deployments(request: Request) -> HTMLResponse:
    """Every live deployment with its current routes."""
    rows = await blocking(queries_deployments.list_deployments, state(request).deployments)
    return render(request, "deployments.html", active="deployments", deployments=rows)


@router.get("/ui/deployments/{name}")
async def deployment(request: Request, name: str) -> HTMLResponse:
    """One deployment: routes, shadows, live traffic, revision history."""
    detail = await blocking(queries_deployments.deployment_detail, state(request).deployments, name)
    return render(request, "deployments_detail.html", active="deployments", name=name, **detail)


@router.get("/ui/api/deployments/{name}/traffic", response_class=OrjsonResponse)
async def traffic(name: str, minutes: int = 60) -> dict[str, Any]:
    """Requests/s, p50/p99 latency and error rate per time bucket from the deployment's prediction log."""
    return await blocking(queries_deployments.traffic, name, minutes=minutes)


@router.get("/ui/api/server/counters", response_class=OrjsonResponse)
async def counters(request: Request) -> dict[str, Any]:
    """This server's cumulative request counters (its own Prometheus metrics)."""
    metrics = getattr(request.app.state, "metrics", None)
    if metrics is None:
        return {"requests": 0, "client_errors": 0, "server_errors": 0, "latency_sum_s": 0, "latency_count": 0}
    return queries_deployments.server_counters(metrics)
