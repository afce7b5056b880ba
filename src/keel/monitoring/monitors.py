"""The monitoring SDK: create monitors and alert rules, add delayed labels, run and watch, list and acknowledge alerts.

::

    from keel.monitoring import monitors as m
    m.create_monitor("cancer-drift", "cancer-prod", "breast-cancer-data@v1", window="1h", target="target",
                     task="classification")
    m.add_alert_rule("drifting", "cancer-drift", "share_drifted_features > 0.3", for_windows=2,
                     channels=["webhook:https://hooks.example/keel", "trigger"])
    m.run_monitor("cancer-drift")
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from keel.config import current_user
from keel.errors import Conflict, InvalidInput
from keel.monitoring.alert_channels import check_channel
from keel.monitoring.labels import LabelReport, add_labels
from keel.monitoring.monitor_run import check_features, monitor_store, recompute_performance, run_monitor
from keel.monitoring.monitor_store import Alert, AlertRule, Monitor
from keel.monitoring.performance import TASKS
from keel.monitoring.rules import parse_expression

__all__ = ["ack_alert", "add_alert_rule", "add_monitor_labels", "create_monitor", "list_alerts", "parse_window",
           "run_monitor", "watch"]

_WINDOW = re.compile(r"^\s*(\d+)\s*([smhd])\s*$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_window(text: str | int) -> int:
    """``"1h"`` / ``"30m"`` / ``"15s"`` / ``"1d"`` (or seconds) as seconds; InvalidInput naming ``window``."""
    if isinstance(text, int):
        seconds = text
    else:
        match = _WINDOW.match(text)
        if match is None:
            raise InvalidInput(f"window {text!r} is not like 30s, 15m, 1h or 1d", field="window")
        seconds = int(match.group(1)) * _UNIT_S[match.group(2)]
    if seconds < 1:
        raise InvalidInput("window must be at least one second", field="window")
    return seconds


def create_monitor(name: str, deployment: str, reference: str, *, window: str | int = "1h",
                   features: Sequence[str] | None = None, stattests: dict[str, str] | None = None,
                   thresholds: dict[str, float] | None = None, target: str | None = None, task: str | None = None,
                   label_key: str = "request_id", min_rows: int = 30) -> Monitor:
    """A monitor comparing ``deployment``'s logged inputs (and outputs) with the dataset version ``reference``."""
    import keel.data

    if task is not None and task not in TASKS:
        raise InvalidInput(f"task {task!r} is not classification or regression", field="task")
    version = keel.data.get_version(reference)
    check_features(keel.data.load(version), features, target)
    config: dict[str, Any] = {"features": list(features or []), "stattests": dict(stattests or {}),
                              "thresholds": dict(thresholds or {}), "target": target, "task": task,
                              "label_key": label_key, "min_rows": min_rows}
    return monitor_store().create(Monitor(name, deployment, version.ref, parse_window(window), config))


def add_alert_rule(name: str, monitor: str, expression: str, *, for_windows: int = 1,
                   channels: Sequence[str] = ("log",)) -> AlertRule:
    """A rule on ``monitor``'s windows; fires after ``for_windows`` consecutive breaches."""
    parse_expression(expression)
    if for_windows < 1:
        raise InvalidInput("for_windows must be at least 1", field="for_windows")
    store = monitor_store()
    store.get(monitor)
    return store.add_rule(AlertRule(name, monitor, expression, for_windows, [check_channel(c) for c in channels]))


def add_monitor_labels(deployment: str, source: pd.DataFrame | str | Path, *, key: str = "request_id",
                       label_column: str = "label") -> LabelReport:
    """Store delayed labels and recompute the performance of the deployment's monitors' finished windows."""
    report = add_labels(deployment, source, key=key, label_column=label_column)
    for monitor in monitor_store().list():
        if monitor.deployment == deployment:
            recompute_performance(monitor)
    return report


def list_alerts(state: str | None = None, limit: int = 100) -> list[Alert]:
    """Alerts, newest first (``state``: firing or resolved)."""
    if state not in (None, "firing", "resolved"):
        raise InvalidInput("state must be firing or resolved", field="state")
    return monitor_store().alerts(state=state, limit=limit)


def ack_alert(alert_id: int, user: str | None = None) -> None:
    """Acknowledge an alert (who and when are recorded)."""
    store = monitor_store()
    found = [a for a in store.alerts(limit=100_000) if a.id == alert_id]
    if found and found[0].acked_at is not None:
        raise Conflict(f"alert {alert_id} was acknowledged by {found[0].acked_by} already", field="id")
    store.update_alert(alert_id, acked_by=user or current_user(), acked_at=int(time.time() * 1000))


def watch(names: Sequence[str] | None = None, *, interval_s: float | None = None, iterations: int | None = None,
          sleep: Any = time.sleep) -> int:
    """Run the monitors (all by default) every ``interval_s`` (default: the shortest window); returns the windows
    processed. ``iterations`` bounds the loop (tests, ``--once``)."""
    store = monitor_store()
    chosen = [store.get(n) for n in names] if names else store.list()
    if not chosen:
        raise InvalidInput("no monitors to watch; create one with `keel monitor create`", field="name")
    every = interval_s or min(m.window_s for m in chosen)
    done, loops = 0, 0
    while iterations is None or loops < iterations:
        for monitor in chosen:
            done += len(run_monitor(monitor.name))
        loops += 1
        if iterations is None or loops < iterations:
            sleep(every)
    return done
