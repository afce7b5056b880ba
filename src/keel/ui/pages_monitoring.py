"""Monitoring pages: ``/ui/monitoring`` (monitors, newest alerts) and ``/ui/monitoring/{name}`` (drift heatmap
feature × window, reference vs current histograms, performance over time, alerts). Acknowledging calls
``POST /api/v1/alerts/{id}/ack`` from the page, so the server checks the role."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import HTMLResponse

from keel.errors import InvalidInput
from keel.server.state import blocking
from keel.ui import queries_monitoring
from keel.ui.ops_context import ops_stores
from keel.ui.rendering import render
from keel.ui.routing import ui_router

__all__ = ["router"]

router = ui_router()


@router.get("/ui/monitoring")
async def monitoring(request: Request) -> HTMLResponse:
    """Every monitor with its latest drift share and firing alerts; the newest alerts."""
    listed = await blocking(queries_monitoring.list_monitors, ops_stores(request).monitors)
    return render(request, "monitoring.html", active="monitoring", **listed)


@router.get("/ui/monitoring/{name}")
async def monitor(request: Request, name: str, windows: int = 1) -> HTMLResponse:
    """One monitor; ``?windows=N`` shows the histograms of the last N windows (default: the latest)."""
    if not 1 <= windows <= 1000:
        raise InvalidInput(f"windows must be between 1 and 1000, got {windows}", field="windows")
    data = await blocking(queries_monitoring.monitor_page, name, windows=windows)
    return render(request, "monitoring_monitor.html", active="monitoring", name=name, data=data, windows=windows)
