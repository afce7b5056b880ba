"""A small JSON-over-HTTP session with retries and Keel's error mapping."""

from __future__ import annotations

import time
from typing import Any

import httpx
import orjson

from keel.errors import KeelError, Unavailable, error_from_code

__all__ = ["HttpSession"]

_RETRY_STATUS = {502, 503, 504}


class HttpSession:
    """Sends requests to a Keel server; retries while it is unreachable, raises :class:`KeelError` on errors."""

    def __init__(self, base_url: str, *, token: str | None = None, timeout_s: float = 30.0,
                 retry_for_s: float = 120.0) -> None:
        self.base_url = base_url.rstrip("/")
        headers = {"User-Agent": "keel-client"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        project = _configured_project()
        if project:  # a server serving another project refuses, rather than the SDK writing into the wrong one
            headers["X-Keel-Project"] = project
        self.retry_for_s = retry_for_s
        self._client = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout_s,
                                    limits=httpx.Limits(max_keepalive_connections=8))

    def request(self, method: str, path: str, *, json: Any = None, content: bytes | None = None,
                params: dict[str, Any] | None = None, idempotent: bool = True,
                headers: dict[str, str] | None = None) -> httpx.Response:
        """Send one request; transport failures are retried with backoff for up to ``retry_for_s``.

        A request that is not idempotent is retried only when the connection was never made.
        """
        body = orjson.dumps(json) if json is not None else content
        hdrs = dict(headers or {})
        if json is not None:
            hdrs["Content-Type"] = "application/json"
        deadline = time.monotonic() + self.retry_for_s
        delay = 0.05
        while True:
            try:
                resp = self._client.request(method, path, content=body, params=params, headers=hdrs)
            except httpx.TransportError as exc:
                retryable = idempotent or isinstance(exc, httpx.ConnectError)
                if not retryable or time.monotonic() + delay > deadline:
                    raise Unavailable(f"keel server at {self.base_url} unreachable: {exc}") from exc
            else:
                if resp.status_code not in _RETRY_STATUS or time.monotonic() + delay > deadline:
                    return _checked(resp)
            time.sleep(delay)
            delay = min(delay * 2, 2.0)

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        """Send a request and decode the JSON answer."""
        resp = self.request(method, path, **kwargs)
        return orjson.loads(resp.content) if resp.content else {}

    def close(self) -> None:
        """Close pooled connections."""
        self._client.close()


def _configured_project() -> str | None:
    """The project set explicitly (``KEEL_PROJECT`` or ``keel.yaml``), else None (the server's own)."""
    from keel.config import get_settings

    settings = get_settings()
    return settings.project if "project" in settings.model_fields_set else None


def _checked(resp: httpx.Response) -> httpx.Response:
    if resp.status_code < 400:
        return resp
    try:
        body = orjson.loads(resp.content)
        code, message = body.get("error_code"), body.get("message") or resp.text
    except (orjson.JSONDecodeError, AttributeError):
        code, message = None, resp.text or resp.reason_phrase
    err: KeelError = error_from_code(code, message, resp.status_code)
    raise err
