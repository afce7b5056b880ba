"""The UI's frame: ``/`` and ``/ui/`` redirects, the login page (sets the ``keel_token`` cookie) and static files.

Static files are served by an APIRoute (not a ``StaticFiles`` mount) so they declare ``public`` like every route.
"""

from __future__ import annotations

import mimetypes
from typing import Any

from fastapi import Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from keel.asgi import read_json
from keel.errors import InvalidInput, NotFound
from keel.ui.rendering import STATIC_DIR, render
from keel.ui.routing import ui_router

__all__ = ["COOKIE", "router"]

COOKIE = "keel_token"
router = ui_router("public")


@router.get("/")
async def root() -> RedirectResponse:
    """The UI is the server's front page."""
    return RedirectResponse("/ui/", status_code=307)


@router.get("/ui")
@router.get("/ui/")
async def home() -> RedirectResponse:
    """The UI starts at the experiments list."""
    return RedirectResponse("/ui/experiments", status_code=307)


@router.get("/ui/login")
async def login_page(request: Request, next: str = "/ui/") -> HTMLResponse:  # noqa: A002 - the query name
    """A form that takes an API token, checks it with whoami and stores it in the ``keel_token`` cookie."""
    return render(request, "login.html", active="", next=_local(next))


def _local(target: str) -> str:
    """``target`` if it is a path on this server, else ``/ui/`` (no open redirect via ``//host`` or ``/\\host``)."""
    return target if target.startswith("/") and not target.startswith(("//", "/\\")) else "/ui/"


@router.post("/ui/login", response_class=Response)
async def login(request: Request) -> Response:
    """Store ``{"token": ...}`` in an HttpOnly, SameSite=Strict cookie (the server checks it on every request)."""
    body: dict[str, Any] = await read_json(request)
    token = body.get("token")
    if not isinstance(token, str) or not token.strip():
        raise InvalidInput("field 'token' is required: paste an API token (keel tokens create ...)")
    response = Response(status_code=204)
    response.set_cookie(COOKIE, token.strip(), httponly=True, samesite="strict", path="/",
                        secure=request.url.scheme == "https")
    return response


@router.post("/ui/logout", response_class=Response)
async def logout() -> Response:
    """Forget the token cookie."""
    response = Response(status_code=204)
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
    return response


@router.get("/ui/static/{path:path}", response_class=FileResponse)
async def static(path: str) -> FileResponse:
    """A file shipped in ``keel/ui/static`` (vendored libraries included: the UI works offline)."""
    target = (STATIC_DIR / path).resolve()
    if not target.is_relative_to(STATIC_DIR) or not target.is_file():
        raise NotFound(f"no static file {path!r} in the UI")
    media_type = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
    return FileResponse(target, media_type=media_type, headers={"Cache-Control": "public, max-age=3600"})
