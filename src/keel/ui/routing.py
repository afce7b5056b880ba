"""Routers for UI pages: every page route declares ``read`` and renders Keel errors as an HTML error page.

``ui_router()`` is what a page module uses::

    router = ui_router()

    @router.get("/ui/things")
    async def things(request: Request) -> HTMLResponse: ...

A :class:`~keel.errors.KeelError` raised by a page (e.g. ``NotFound`` for an unknown run) becomes the error page
with the matching status; for ``/ui/api/`` and non-GET routes it stays the server's JSON error body.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from starlette.responses import Response

from keel.errors import KeelError
from keel.server.permissions import Permission, requires
from keel.ui.rendering import render

__all__ = ["UIRoute", "ui_router"]


def _is_page(request: Request) -> bool:
    """A browser page load (HTML errors), not a JSON call from the UI's scripts (JSON errors)."""
    return request.method == "GET" and not request.url.path.startswith("/ui/api/")


def _to_login(request: Request) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/ui/login?next={quote(target, safe='')}", status_code=303)


class UIRoute(APIRoute):
    """An APIRoute whose Keel errors render as the UI's error page (HTML) instead of a JSON body."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except HTTPException as exc:  # an auth dependency may raise these instead of a KeelError
                if exc.status_code != 401 or not _is_page(request):
                    raise
                return _to_login(request)
            except KeelError as exc:
                if not _is_page(request):
                    raise
                if exc.http_status == 401:
                    return _to_login(request)
                return render(request, "error.html", status_code=exc.http_status, message=exc.message,
                              title=type(exc).__name__)

        return route


def ui_router(permission: Permission = "read", **kwargs: Any) -> APIRouter:
    """An APIRouter for UI routes: HTML responses, :class:`UIRoute` error pages, and the ``permission`` dependency
    (``read`` for pages and ``/ui/api``; ``public`` only for the login page, static files and redirects)."""
    kwargs.setdefault("default_response_class", HTMLResponse)
    kwargs.setdefault("include_in_schema", False)
    return APIRouter(route_class=UIRoute, dependencies=[requires(permission)], **kwargs)
