"""Monitors, their per-window results, alert rules and alerts in the metadata store (SQLite or PostgreSQL)."""

from __future__ import annotations

import builtins
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from keel.errors import AlreadyExists, NotFound
from keel.store import Database
from keel.store.tables import alert_rules, alerts, monitor_results, monitors

__all__ = ["Alert", "AlertRule", "Monitor", "Result", "SqlMonitorStore"]

_M, _R, _AR, _A = monitors.c, monitor_results.c, alert_rules.c, alerts.c


@dataclass
class Monitor:
    """A deployment's prediction log compared, window by window, with a reference dataset version.

    ``config`` keys: ``features`` (columns to watch; default: the reference's columns the inputs carry),
    ``stattests`` / ``thresholds`` (per column overrides), ``target`` (the reference's label column, for prediction
    drift and performance), ``task`` (classification or regression), ``label_key`` (``request_id`` or an input
    column joining delayed labels)."""

    name: str
    deployment: str
    reference: str
    window_s: int
    config: dict[str, Any] = field(default_factory=dict)
    created_at: int = 0
    last_window_end: int | None = None


@dataclass(frozen=True)
class Result:
    """One metric of one window (``column`` set for per-column metrics); ``flagged`` when past its threshold."""

    window_start: int
    window_end: int
    metric: str
    column: str | None
    value: float | None
    threshold: float | None = None
    flagged: bool = False
    detail: dict[str, Any] | None = None


@dataclass
class AlertRule:
    """``expression`` (``metric op number``) on a monitor's windows, firing after ``for_windows`` consecutive
    breaches and resolving after as many clean windows; ``channels``: ``log``, ``webhook:URL``, ``trigger[:EVENT]``."""

    name: str
    monitor: str
    expression: str
    for_windows: int = 1
    channels: list[str] = field(default_factory=lambda: ["log"])
    state: str = "ok"
    streak: int = 0
    created_at: int = 0


@dataclass
class Alert:
    """One firing of a rule (``state`` firing → resolved), with the deliveries made to its channels."""

    id: int
    rule: str
    monitor: str
    state: str
    value: float | None
    message: str
    window_end: int
    fired_at: int
    resolved_at: int | None = None
    acked_by: str | None = None
    acked_at: int | None = None
    deliveries: list[dict[str, Any]] = field(default_factory=list)


class SqlMonitorStore:
    """Monitoring objects of one project over a :class:`~keel.store.Database`."""

    def __init__(self, db: Database, project: str = "default") -> None:
        self.db, self.project = db, project

    # -- monitors ------------------------------------------------------------------------------------------

    def create(self, monitor: Monitor) -> Monitor:
        """Store a new monitor; AlreadyExists if the name is taken."""
        monitor.created_at = monitor.created_at or _ms()
        try:
            with self.db.write() as conn:
                conn.execute(insert(monitors).values(
                    project=self.project, name=monitor.name, deployment=monitor.deployment,
                    reference=monitor.reference, window_s=monitor.window_s, config=json.dumps(monitor.config),
                    created_at=monitor.created_at, last_window_end=monitor.last_window_end))
        except IntegrityError as exc:
            raise AlreadyExists(f"monitor {monitor.name!r} exists; delete it first or pick another name",
                                field="name") from exc
        return monitor

    def get(self, name: str) -> Monitor:
        """One monitor; NotFound listing the known ones."""
        with self.db.read() as conn:
            row = conn.execute(select(monitors).where(_M.project == self.project, _M.name == name)).first()
        if row is None:
            known = ", ".join(m.name for m in self.list()) or "none"
            raise NotFound(f"monitor {name!r} does not exist (monitors: {known}); create it with `keel monitor "
                           "create`", field="name")
        return _monitor(row)

    def list(self) -> builtins.list[Monitor]:
        """Every monitor, by name."""
        with self.db.read() as conn:
            rows = conn.execute(select(monitors).where(_M.project == self.project).order_by(_M.name)).all()
        return [_monitor(r) for r in rows]

    def delete(self, name: str) -> None:
        """Remove a monitor, its results and its rules."""
        self.get(name)
        with self.db.write() as conn:
            conn.execute(delete(monitor_results).where(_R.project == self.project, _R.monitor == name))
            conn.execute(delete(alert_rules).where(_AR.project == self.project, _AR.monitor == name))
            conn.execute(delete(monitors).where(_M.project == self.project, _M.name == name))

    # -- results -------------------------------------------------------------------------------------------

    def save_window(self, monitor: str, results: Sequence[Result], *, advance_to: int | None = None,
                    replace_metrics: Sequence[str] = ()) -> None:
        """Store one window's results (replacing earlier rows of ``replace_metrics`` for the same windows) and move
        the monitor's ``last_window_end`` forward, in one transaction."""
        now = _ms()
        with self.db.write() as conn:
            for window_end in {r.window_end for r in results} if replace_metrics else ():
                conn.execute(delete(monitor_results).where(
                    _R.project == self.project, _R.monitor == monitor, _R.window_end == window_end,
                    _R.metric.in_(list(replace_metrics))))
            if results:
                conn.execute(insert(monitor_results), [
                    {"project": self.project, "monitor": monitor, "window_start": r.window_start,
                     "window_end": r.window_end, "metric": r.metric, "column": r.column, "value": r.value,
                     "threshold": r.threshold, "flagged": int(r.flagged),
                     "detail": json.dumps(r.detail, default=str) if r.detail else None, "created_at": now}
                    for r in results])
            if advance_to is not None:
                conn.execute(update(monitors).where(_M.project == self.project, _M.name == monitor)
                             .values(last_window_end=advance_to))

    def results(self, monitor: str, *, metric: str | None = None, since: int | None = None) -> builtins.list[Result]:
        """Stored results, oldest window first."""
        query = select(monitor_results).where(_R.project == self.project, _R.monitor == monitor)
        if metric is not None:
            query = query.where(_R.metric == metric)
        if since is not None:
            query = query.where(_R.window_end > since)
        with self.db.read() as conn:
            rows = conn.execute(query.order_by(_R.window_end, _R.id)).all()
        return [Result(r.window_start, r.window_end, r.metric, r.column, r.value, r.threshold, bool(r.flagged),
                       json.loads(r.detail) if r.detail else None) for r in rows]

    # -- alert rules and alerts ----------------------------------------------------------------------------

    def add_rule(self, rule: AlertRule) -> AlertRule:
        """Store a rule; AlreadyExists if the name is taken."""
        rule.created_at = rule.created_at or _ms()
        try:
            with self.db.write() as conn:
                conn.execute(insert(alert_rules).values(
                    project=self.project, name=rule.name, monitor=rule.monitor, expression=rule.expression,
                    for_windows=rule.for_windows, channels=json.dumps(rule.channels), state=rule.state,
                    streak=rule.streak, created_at=rule.created_at))
        except IntegrityError as exc:
            raise AlreadyExists(f"alert rule {rule.name!r} exists", field="name") from exc
        return rule

    def rules(self, monitor: str | None = None) -> builtins.list[AlertRule]:
        """Rules (of one monitor when given), by name."""
        query = select(alert_rules).where(_AR.project == self.project)
        if monitor is not None:
            query = query.where(_AR.monitor == monitor)
        with self.db.read() as conn:
            rows = conn.execute(query.order_by(_AR.name)).all()
        return [AlertRule(r.name, r.monitor, r.expression, r.for_windows, json.loads(r.channels), r.state, r.streak,
                          r.created_at) for r in rows]

    def remove_rule(self, name: str) -> None:
        """Delete a rule; NotFound if absent."""
        with self.db.write() as conn:
            if conn.execute(delete(alert_rules).where(_AR.project == self.project, _AR.name == name)).rowcount == 0:
                raise NotFound(f"alert rule {name!r} does not exist", field="name")

    def set_rule_state(self, name: str, state: str, streak: int) -> None:
        """Persist a rule's hysteresis state."""
        with self.db.write() as conn:
            conn.execute(update(alert_rules).where(_AR.project == self.project, _AR.name == name)
                         .values(state=state, streak=streak))

    def open_alert(self, alert: Alert) -> Alert:
        """Store a firing alert and return it with its id."""
        with self.db.write() as conn:
            result = conn.execute(insert(alerts).values(
                project=self.project, rule=alert.rule, monitor=alert.monitor, state=alert.state, value=alert.value,
                message=alert.message, window_end=alert.window_end, fired_at=alert.fired_at,
                deliveries=json.dumps(alert.deliveries)))
            alert.id = int(result.inserted_primary_key[0])  # type: ignore[index]
        return alert

    def update_alert(self, alert_id: int, **values: Any) -> None:
        """Change an alert's state, resolution, acknowledgement or deliveries."""
        if "deliveries" in values:
            values["deliveries"] = json.dumps(values["deliveries"])
        with self.db.write() as conn:
            if conn.execute(update(alerts).where(_A.project == self.project, _A.id == alert_id)
                            .values(**values)).rowcount == 0:
                raise NotFound(f"alert {alert_id} does not exist; list them with `keel alerts list`", field="id")

    def alerts(self, *, state: str | None = None, rule: str | None = None, limit: int = 100) -> builtins.list[Alert]:
        """Alerts, newest first."""
        query = select(alerts).where(_A.project == self.project)
        if state is not None:
            query = query.where(_A.state == state)
        if rule is not None:
            query = query.where(_A.rule == rule)
        with self.db.read() as conn:
            rows = conn.execute(query.order_by(_A.id.desc()).limit(limit)).all()
        return [Alert(r.id, r.rule, r.monitor, r.state, r.value, r.message, r.window_end, r.fired_at, r.resolved_at,
                      r.acked_by, r.acked_at, json.loads(r.deliveries)) for r in rows]


def _monitor(r: Any) -> Monitor:
    return Monitor(r.name, r.deployment, r.reference, r.window_s, json.loads(r.config or "{}"), r.created_at,
                   r.last_window_end)


def _ms() -> int:
    return int(time.time() * 1000)
