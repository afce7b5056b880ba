"""The outermost layer of ``keel server``: request ids, body-size limits, timeouts and structured access logs.

For every HTTP request, :class:`RequestGuard`:

- takes the caller's ``X-Request-ID`` (letters, digits, ``._:-``, up to 128) or makes one, sets it in
  :func:`keel.governance.context.set_request_id` (so audit entries and log lines carry it) and echoes it back;
- refuses a body larger than ``max_request_bytes`` (artifact uploads: ``max_upload_bytes``) with a 413 JSON
  body, from ``Content-Length`` up front or while the body streams in;
- answers 504 JSON when the handler takes longer than ``request_timeout_s`` (artifact transfers and exports,
  which stream, are exempt);
- logs one line per request to ``keel.server.access``: time, level, request_id, method, path, status,
  duration_ms, user. With ``log_format="json"`` every ``keel`` log line is one JSON object carrying the request id
  of the request it belongs to. Secrets (URL passwords, bearer tokens, ``token=`` query values) are masked; headers
  are never logged.
"""

from __future__ import annotations

import asyncio
import logging
import re
import sys
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import orjson
from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from keel.config import Settings
from keel.errors import PayloadTooLarge
from keel.governance.context import acting_user, request_id, set_request_id
from keel.redact import redact_text

__all__ = ["JsonLogFormatter", "RequestGuard", "install_middleware"]

access_log = logging.getLogger("keel.server.access")
_GOOD_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
_UPLOAD_PREFIXES = ("/api/2.0/mlflow-artifacts/artifacts", "/api/v1/artifacts")
_STREAMING_PATHS = ("/api/v1/audit/export",)
_HANDLER_MARK = "_keel_json_handler"


def install_middleware(app: FastAPI, settings: Settings) -> None:
    """Make :class:`RequestGuard` the outermost middleware of ``app`` and set up the log format."""
    app.add_middleware(RequestGuard, max_request_bytes=settings.max_request_bytes,
                       max_upload_bytes=settings.max_upload_bytes, timeout_s=settings.request_timeout_s)
    if settings.log_format == "json":
        install_json_logging()


def install_json_logging(stream: Any = None) -> logging.Handler:
    """Log ``keel.*`` records as JSON lines to ``stream`` (stderr); once per process."""
    logger = logging.getLogger("keel")
    for handler in logger.handlers:
        if getattr(handler, _HANDLER_MARK, False):
            return handler
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonLogFormatter())
    setattr(handler, _HANDLER_MARK, True)
    logger.addHandler(handler)
    if logger.level == logging.NOTSET or logger.level > logging.INFO:
        logger.setLevel(logging.INFO)
    return handler


class JsonLogFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, request_id and any ``extra`` request fields."""

    FIELDS = ("method", "path", "status", "duration_ms", "user")

    def format(self, record: logging.LogRecord) -> str:
        body: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(), "logger": record.name,
            "request_id": getattr(record, "request_id", None) or request_id(),
        }
        body.update({k: getattr(record, k) for k in self.FIELDS if hasattr(record, k)})
        body["message"] = redact_text(record.getMessage())
        if record.exc_info:
            body["error"] = redact_text(self.formatException(record.exc_info).splitlines()[-1])
        return orjson.dumps(body, default=str).decode()


class RequestGuard:
    """Pure ASGI middleware (see the module docstring)."""

    def __init__(self, app: ASGIApp, *, max_request_bytes: int, max_upload_bytes: int, timeout_s: float) -> None:
        self.app = app
        self.max_request_bytes = max_request_bytes
        self.max_upload_bytes = max_upload_bytes
        self.timeout_s = timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = _incoming_id(scope) or uuid.uuid4().hex
        token = set_request_id(rid)
        started, status = time.perf_counter(), [500]
        try:
            await self._serve(scope, receive, _echoing(send, rid, status), status)
        finally:
            _log_access(scope, status[0], started, rid)
            token.var.reset(token)

    async def _serve(self, scope: Scope, receive: Receive, send: Send, status: list[int]) -> None:
        path: str = scope.get("path", "")
        upload = scope["method"] == "PUT" and path.startswith(_UPLOAD_PREFIXES)
        limit, setting = ((self.max_upload_bytes, "KEEL_MAX_UPLOAD_BYTES") if upload
                          else (self.max_request_bytes, "KEEL_MAX_REQUEST_BYTES"))
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _send_json(send, 413, _too_large(declared, limit, setting).to_dict())
            return
        receive = _counting(receive, limit, setting)
        exempt = path.startswith(_UPLOAD_PREFIXES) or path in _STREAMING_PATHS or self.timeout_s <= 0
        if exempt:
            await self.app(scope, receive, send)
            return
        try:
            await asyncio.wait_for(self.app(scope, receive, send), self.timeout_s)
        except TimeoutError:
            if status[0] != 0:  # the response has started: nothing sensible can be sent any more
                raise
            await _send_json(send, 504, {"error_code": "REQUEST_TIMEOUT", "message": (
                f"the request took longer than {self.timeout_s:g}s; retry later, or raise KEEL_REQUEST_TIMEOUT_S")})


def _incoming_id(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            text = value.decode("latin-1").strip()
            return text if _GOOD_ID.match(text) else None
    return None


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _too_large(size: int, limit: int, setting: str) -> PayloadTooLarge:
    return PayloadTooLarge(f"request body of {size} bytes or more is over the limit of {limit} bytes; send less, "
                           f"or raise {setting} on the server", field="body")


def _counting(receive: Receive, limit: int, setting: str) -> Receive:
    seen = 0

    async def counted() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise _too_large(seen, limit, setting)
        return message

    return counted


def _echoing(send: Send, rid: str, status: list[int]) -> Send:
    status[0] = 0  # 0 until the response starts

    async def echo(message: Message) -> None:
        if message["type"] == "http.response.start":
            status[0] = message["status"]
            headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"x-request-id"]
            message = {**message, "headers": [*headers, (b"x-request-id", rid.encode())]}
        await send(message)

    return echo


async def _send_json(send: Send, code: int, body: dict[str, Any]) -> None:
    payload = orjson.dumps(body)
    await send({"type": "http.response.start", "status": code,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]})
    await send({"type": "http.response.body", "body": payload})


def _log_access(scope: Scope, status: int, started: float, rid: str) -> None:
    status = status or 500  # never started: the app raised
    query = scope.get("query_string", b"").decode("latin-1")
    path = scope.get("path", "") + (f"?{query}" if query else "")
    state = scope.get("state") or {}  # request.state: the auth layer leaves the caller there
    user = getattr(state.get("keel_principal"), "user", None) if isinstance(state, dict) else None
    level = logging.ERROR if status >= 500 else logging.INFO
    access_log.log(level, "%s %s %s", scope.get("method", ""), redact_text(path), status, extra={
        "request_id": rid, "method": scope.get("method", ""), "path": redact_text(path), "status": status,
        "duration_ms": round((time.perf_counter() - started) * 1000, 2), "user": str(user or acting_user())})
