"""What Keel's two ASGI apps share (the metadata server and the model server): JSON responses rendered by orjson,
and error mapping -- a :class:`~keel.errors.KeelError` becomes its HTTP status with a JSON body; anything that is
the caller's fault is a 4xx naming the field, never a traceback or a 500."""

from __future__ import annotations

import logging
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse

from keel.errors import InvalidInput, KeelError

__all__ = ["OrjsonResponse", "install_error_handlers", "parse_json_object", "read_json"]

log = logging.getLogger("keel.server")


class OrjsonResponse(JSONResponse):
    """A JSON response serialized with orjson."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


async def read_json(request: Request) -> dict[str, Any]:
    """The request's JSON object body (``{}`` when empty); malformed JSON is a 400 naming the problem."""
    return parse_json_object(await request.body())


def parse_json_object(raw: bytes) -> dict[str, Any]:
    """``raw`` as a JSON object (``{}`` when empty); malformed JSON or a non-object is :class:`InvalidInput`."""
    if not raw.strip():
        return {}
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"request body: malformed JSON ({exc})", field="body") from exc
    if not isinstance(body, dict):
        raise InvalidInput("request body: expected a JSON object", field="body")
    return body


def _error_response(status: int, body: dict[str, Any]) -> OrjsonResponse:
    return OrjsonResponse(body, status_code=status)


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers that turn errors into JSON responses."""

    @app.exception_handler(KeelError)
    async def _keel_error(_request: Request, exc: KeelError) -> OrjsonResponse:
        if exc.http_status >= 500:
            log.error("%s: %s", exc.error_code, exc.message)
        return _error_response(exc.http_status, exc.to_dict())

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_request: Request, exc: RequestValidationError) -> OrjsonResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path"))
        message = f"{where or 'request'}: {first.get('msg', 'invalid value')}"
        return _error_response(400, {"error_code": "INVALID_PARAMETER_VALUE", "message": message, "field": where})

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_request: Request, exc: StarletteHTTPException) -> OrjsonResponse:
        code = {404: "ENDPOINT_NOT_FOUND", 405: "ENDPOINT_NOT_FOUND"}.get(exc.status_code, "BAD_REQUEST")
        return _error_response(exc.status_code, {"error_code": code, "message": str(exc.detail)})

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, exc: Exception) -> OrjsonResponse:
        log.exception("unexpected error")
        return _error_response(500, {"error_code": "INTERNAL_ERROR", "message": f"{type(exc).__name__}: {exc}"})
