"""Rendering for the web UI: one Jinja2 environment over ``ui/templates`` and the nav every page shows."""

from __future__ import annotations

import json
import time
from functools import lru_cache
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from keel.jsonable import json_safe

__all__ = ["NAV", "STATIC_DIR", "TEMPLATE_DIR", "environment", "render", "to_json_script", "whoami_url"]

UI_DIR = Path(__file__).resolve().parent
TEMPLATE_DIR = UI_DIR / "templates"
STATIC_DIR = UI_DIR / "static"

# (key, label, path): the pages in the nav, in lifecycle order; ``active=key`` highlights one.
NAV: tuple[tuple[str, str, str], ...] = (
    ("experiments", "Experiments", "/ui/experiments"),
    ("models", "Models", "/ui/models"),
    ("data", "Data", "/ui/data"),
    ("features", "Features", "/ui/features"),
    ("deployments", "Deployments", "/ui/deployments"),
    ("monitoring", "Monitoring", "/ui/monitoring"),
    ("pipelines", "Pipelines", "/ui/pipelines"),
    ("lineage", "Lineage", "/ui/lineage"),
)


def to_json_script(value: Any) -> Markup:
    """``value`` as JSON safe to embed in ``<script type="application/json">`` (no ``</script>`` breakout)."""
    text = json.dumps(json_safe(value), separators=(",", ":"), allow_nan=False)
    return Markup(text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))


def _format_ms(value: Any) -> str:
    """Epoch milliseconds as ``YYYY-MM-DD HH:MM:SS`` (UTC); empty for missing values."""
    import datetime as dt

    if value in (None, "", 0):
        return ""
    return dt.datetime.fromtimestamp(int(value) / 1000, tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def _format_number(value: Any) -> str:
    """A metric value short enough for a table cell."""
    if isinstance(value, float):
        return f"{value:.6g}"
    return "" if value is None else str(value)


@lru_cache(maxsize=1)
def environment() -> Environment:
    """The UI's Jinja2 environment (autoescaped; filters ``tojson_script``, ``ms``, ``num``)."""
    env = Environment(loader=FileSystemLoader(str(TEMPLATE_DIR)), autoescape=select_autoescape(["html"]),
                      trim_blocks=True, lstrip_blocks=True)
    env.filters["tojson_script"] = to_json_script
    env.filters["ms"] = _format_ms
    env.filters["num"] = _format_number
    env.globals["NAV"] = NAV
    return env


WHOAMI = "/api/v1/auth/whoami"


def whoami_url(request: Request) -> str:
    """The endpoint the pages ask who is signed in (``GET /api/v1/auth/whoami``, public)."""
    return WHOAMI


def render(request: Request, template: str, *, active: str = "", status_code: int = 200,
           **context: Any) -> HTMLResponse:
    """Render ``template`` with ``context``; ``active`` is the nav key to highlight."""
    from keel import __version__
    from keel.server.state import request_project

    project = request_project(request)
    html = environment().get_template(template).render(request=request, active=active, version=__version__,
                                                       path=request.url.path, whoami_url=whoami_url(request),
                                                       project=project, projects=_project_names(request, project),
                                                       **context)
    return HTMLResponse(html, status_code=status_code)


_PROJECTS_TTL_S = 5.0


def _project_names(request: Request, current: str) -> list[str]:
    """The projects the nav's picker offers (cached for a few seconds: every page shows them)."""
    app_state = request.app.state
    db = getattr(app_state, "keel_db", None)
    cached = getattr(app_state, "keel_ui_projects", None)
    now = time.monotonic()
    if cached is not None and cached[0] > now:
        names: set[str] = cached[1]
    elif db is not None:
        from keel.governance.projects import list_projects

        names = {p.name for p in list_projects(db)}
        app_state.keel_ui_projects = (now + _PROJECTS_TTL_S, names)
    else:
        names = set()
    return sorted(names | {current, str(getattr(app_state, "keel_project", current))})
