"""``/ui/models``: the registry; a model's versions and aliases; one version with its gate decisions, signature,
deployments, lineage and model card; promoting an alias (confirmed, through the REST API)."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import HTMLResponse

from keel.server.state import blocking, state
from keel.ui import queries_models
from keel.ui.rendering import render
from keel.ui.routing import ui_router

__all__ = ["router"]

router = ui_router()


@router.get("/ui/models")
async def models(request: Request) -> HTMLResponse:
    """Every registered model."""
    found = await blocking(queries_models.list_models, state(request).registry)
    return render(request, "models.html", active="models", models=found)


@router.get("/ui/models/{name}")
async def model(name: str, request: Request) -> HTMLResponse:
    """A model's versions, aliases and gate verdicts, with the promote dialog."""
    details = await blocking(queries_models.model_details, state(request).registry, name)
    return render(request, "model.html", active="models", **details)


@router.get("/ui/models/{name}/versions/{version}")
async def model_version(name: str, version: str, request: Request) -> HTMLResponse:
    """One version."""
    s = state(request)
    details = await blocking(queries_models.version_details, s.registry, s.deployments, name, version)
    return render(request, "model_version.html", active="models", **details)


@router.get("/ui/models/{name}/versions/{version}/card")
async def model_card(name: str, version: str, request: Request) -> HTMLResponse:
    """The version's model card (``keel.evaluation.render_model_card``) as a standalone page."""
    s = state(request)
    await blocking(s.registry.get_model_version, name, version)  # NotFound for an unknown version
    try:
        from keel.evaluation import model_card as cards
    except ImportError:
        return render(request, "error.html", active="models", status_code=501, title="Model card unavailable",
                      message="This Keel build has no model cards (keel.evaluation.render_model_card is missing).")
    html = await blocking(cards.render_model_card, name, version, "html")
    return HTMLResponse(html, headers={"Content-Security-Policy": "script-src 'none'"})
