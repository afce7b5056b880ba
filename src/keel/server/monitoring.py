"""Keel's monitoring routes: monitors, their results, reports and runs (``/api/v1/monitors``), delayed labels
(``POST /api/v1/deployments/{name}/labels``) and alerts (``/api/v1/alerts``).

Monitors live in the local metadata store of the server process (the same one the SDK's ``keel.monitoring.monitors``
reaches), so these routes call the SDK in the thread pool. Times are epoch milliseconds, like the stored results.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import orjson
import pandas as pd
from fastapi import APIRouter
from pydantic import BaseModel, Field

from keel.errors import InvalidInput
from keel.monitoring import monitors
from keel.monitoring.monitor_run import monitor_store
from keel.monitoring.report import Windows, report_data
from keel.server.permissions import requires
from keel.server.state import blocking
from keel.serving.deployment import check_deployment_name

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", tags=["monitoring"], dependencies=[requires("read")])
_ONE = "/monitors/{name}"


class LabelItem(BaseModel):
    """One delayed label: the prediction's ``key`` (a request id or a value of the key input column)."""

    key: str | int | float
    label: Any


class Labels(BaseModel):
    """Body of ``POST /api/v1/deployments/{name}/labels``."""

    labels: list[LabelItem]
    key: str = "request_id"


class RunBody(BaseModel):
    """Optional body of ``POST /api/v1/monitors/{name}/run``: ``now`` (epoch seconds) ends the last window."""

    now: float | None = None


class AckBody(BaseModel):
    """Optional body of ``POST /api/v1/alerts/{id}/ack``: who acknowledges (default: the server's user)."""

    user: str | None = Field(default=None, max_length=200)


def _monitor(name: str) -> dict[str, Any]:
    store = monitor_store()
    found = asdict(store.get(name))
    found["rules"] = [asdict(r) for r in store.rules(name)]
    return found


@router.get("/monitors")
async def list_monitors() -> dict[str, Any]:
    """Every monitor, by name."""
    found = await blocking(lambda: monitor_store().list())
    return {"monitors": [asdict(m) for m in found]}


@router.get(_ONE)
async def get_monitor(name: str) -> dict[str, Any]:
    """One monitor with its alert rules."""
    return {"monitor": await blocking(_monitor, name)}


def _results(name: str, metric: str | None, since: int | None) -> list[dict[str, Any]]:
    store = monitor_store()
    store.get(name)  # 404 for an unknown monitor rather than an empty list
    return [asdict(r) for r in store.results(name, metric=metric, since=since)]  # NaN is sent as null


@router.get(_ONE + "/results")
async def monitor_results(name: str, metric: str | None = None, since: int | None = None) -> dict[str, Any]:
    """Stored results, oldest window first: ``?metric=`` keeps one metric, ``?since=`` (epoch ms) the windows ending
    after it."""
    return {"results": await blocking(_results, name, metric or None, since)}


@router.get(_ONE + "/report")
async def monitor_report(name: str, windows: int | None = None, since: int | None = None, until: int | None = None,
                         bins: int = 20) -> dict[str, Any]:
    """The report's data (:func:`keel.monitoring.report.report_data`): the latest window by default, the last
    ``?windows=N``, or the windows ending in ``?since=&until=`` (epoch ms)."""
    if (since is None) != (until is None):
        raise InvalidInput("give both since and until (epoch ms), or neither", field="since" if since is None
                           else "until")
    chosen: Windows = (since, until) if since is not None and until is not None else windows
    return await blocking(report_data, name, windows=chosen, bins=bins)


@router.post(_ONE + "/run", dependencies=[requires("maintain")])
async def run_monitor(name: str, body: RunBody | None = None) -> dict[str, Any]:
    """Process every complete window since the monitor's last run; the windows processed."""
    windows = await blocking(monitors.run_monitor, name, now=body.now if body is not None else None)
    return {"windows": [asdict(w) for w in windows]}


@router.post("/deployments/{name}/labels", dependencies=[requires("write")])
async def add_labels(name: str, body: Labels) -> dict[str, Any]:
    """Store delayed labels and recompute the performance of the deployment's monitors; the match report."""
    check_deployment_name(name)
    if not body.labels:
        raise InvalidInput("labels is empty; send at least one {\"key\": ..., \"label\": ...}", field="labels")
    try:
        orjson.dumps([[item.key, item.label] for item in body.labels])
    except TypeError as exc:  # e.g. an integer beyond 64 bits: labels are stored as JSON
        raise InvalidInput(f"labels: a key or label cannot be stored ({exc}); send strings, booleans, null or "
                           "numbers within 64 bits", field="labels") from exc
    frame = pd.DataFrame({body.key: [item.key for item in body.labels],
                          "label": [item.label for item in body.labels]})
    report = await blocking(monitors.add_monitor_labels, name, frame, key=body.key, label_column="label")
    return asdict(report)


@router.get("/alerts")
async def list_alerts(state: str | None = None, limit: int = 100) -> dict[str, Any]:
    """Alerts, newest first; ``?state=firing`` or ``resolved``."""
    if limit < 1:
        raise InvalidInput("limit must be at least 1", field="limit")
    found = await blocking(monitors.list_alerts, state or None, limit)
    return {"alerts": [asdict(a) for a in found]}


def _ack(alert_id: int, user: str | None) -> dict[str, Any]:
    monitors.ack_alert(alert_id, user)  # NotFound / Conflict name the alert
    return asdict(next(a for a in monitor_store().alerts(limit=100_000) if a.id == alert_id))


@router.post("/alerts/{alert_id}/ack", dependencies=[requires("maintain")])
async def ack(alert_id: int, body: AckBody | None = None) -> dict[str, Any]:
    """Acknowledge an alert (409 when it was acknowledged already); the alert."""
    return {"alert": await blocking(_ack, alert_id, body.user if body is not None else None)}
