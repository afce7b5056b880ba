"""Where alerts go: ``log`` (a warning in the process log), ``webhook:URL`` (an HTTP POST of the alert as JSON,
retried with backoff), ``trigger[:EVENT]`` (a Keel trigger event, ``alert:<rule>`` by default, so an alert can start a
pipeline such as retraining)."""

from __future__ import annotations

import logging
import time
from typing import Any

from keel.errors import InvalidInput

__all__ = ["check_channel", "deliver"]

log = logging.getLogger("keel.monitoring")
RETRY_DELAYS_S = (0.2, 0.5, 1.0)


def check_channel(channel: str) -> str:
    """The channel if it is one of the accepted forms, else InvalidInput naming them."""
    kind, _, target = channel.partition(":")
    if kind == "log" and not target or kind == "trigger" or kind == "webhook" and target.startswith(("http://",
                                                                                                     "https://")):
        return channel
    raise InvalidInput(f"alert channel {channel!r} is not log, webhook:http(s)://URL or trigger[:EVENT]",
                       field="channels")


def deliver(channel: str, rule: str, payload: dict[str, Any]) -> dict[str, Any]:
    """Send one alert event (``payload``) to ``channel``; returns ``{channel, ok, attempts, error}`` (never raises)."""
    kind, _, target = channel.partition(":")
    try:
        if kind == "webhook":
            return _webhook(channel, target, payload)
        if kind == "trigger":
            from keel.pipelines.triggers import emit

            emit(target or f"alert:{rule}", payload)
        else:
            log.warning("keel alert %s: %s", rule, payload.get("message"))
        return {"channel": channel, "ok": True, "attempts": 1, "error": None}
    except Exception as exc:  # a broken channel must not stop the monitor or the other channels
        return {"channel": channel, "ok": False, "attempts": 1, "error": f"{type(exc).__name__}: {exc}"}


def _webhook(channel: str, url: str, payload: dict[str, Any]) -> dict[str, Any]:
    import httpx

    error = None
    for attempt, delay in enumerate((0.0, *RETRY_DELAYS_S), start=1):
        time.sleep(delay)
        try:
            response = httpx.post(url, json=payload, timeout=5.0)
            if response.status_code < 300:
                return {"channel": channel, "ok": True, "attempts": attempt, "error": None}
            error = f"HTTP {response.status_code}"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"
    log.error("keel alert webhook %s failed after %d attempts: %s", url, len(RETRY_DELAYS_S) + 1, error)
    return {"channel": channel, "ok": False, "attempts": len(RETRY_DELAYS_S) + 1, "error": error}
