"""Stepping alert rules over new windows: hysteresis state in the store, an alert row per firing, delivery to the
rule's channels (recorded with the alert), resolution when the rule's metric recovers."""

from __future__ import annotations

import time
from collections.abc import Sequence

from keel.monitoring.alert_channels import deliver
from keel.monitoring.monitor_store import Alert, Result, SqlMonitorStore
from keel.monitoring.rules import parse_expression, step, window_value

__all__ = ["evaluate_rules"]


def evaluate_rules(store: SqlMonitorStore, monitor: str, windows: Sequence[tuple[int, Sequence[Result]]], *,
                   metrics: Sequence[str] | None = None) -> tuple[list[str], list[str]]:
    """Step every rule of ``monitor`` (only those on ``metrics`` when given) over ``windows`` in order; returns the
    names of the rules that fired and resolved."""
    fired: list[str] = []
    resolved: list[str] = []
    for rule in store.rules(monitor):
        condition = parse_expression(rule.expression)
        if metrics is not None and condition.metric not in metrics:
            continue
        state, streak = rule.state, rule.streak
        for window_end, results in windows:
            value = window_value(condition, results)
            state, streak, event = step(state, streak, None if value is None else condition.holds(value),
                                        rule.for_windows)
            if event == "fire":
                message = (f"{rule.name}: {condition} on monitor {monitor} (value {value:.4g}, "
                           f"{rule.for_windows} window(s) in a row)")
                alert = store.open_alert(Alert(0, rule.name, monitor, "firing", value, message, window_end,
                                               int(time.time() * 1000)))
                payload = {"alert_id": alert.id, "rule": rule.name, "monitor": monitor, "state": "firing",
                           "expression": rule.expression, "value": value, "window_end": window_end,
                           "message": message}
                deliveries = [deliver(channel, rule.name, payload) for channel in rule.channels]
                store.update_alert(alert.id, deliveries=deliveries)
                fired.append(rule.name)
            elif event == "resolve":
                for open_alert in store.alerts(state="firing", rule=rule.name):
                    store.update_alert(open_alert.id, state="resolved", resolved_at=int(time.time() * 1000))
                resolved.append(rule.name)
        store.set_rule_state(rule.name, state, streak)
    return fired, resolved
