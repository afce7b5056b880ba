"""``keel monitor create|list|run|watch|report|delete``, ``keel monitor labels add`` and
``keel alerts list|ack|add-rule|rules|remove-rule``."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from keel.cli.output import console, format_ms

__all__ = ["alerts_app", "app"]

app = typer.Typer(help="Monitors: drift, data quality and performance of a deployment's predictions.",
                  no_args_is_help=True)
labels_app = typer.Typer(help="Delayed ground truth for a deployment's predictions.", no_args_is_help=True)
alerts_app = typer.Typer(help="Alert rules on monitors, and the alerts they raised.", no_args_is_help=True)
app.add_typer(labels_app, name="labels")


@app.command("create")
def create(name: str = typer.Argument(..., help="Monitor name."),
           deployment: str = typer.Option(..., "--deployment", "-d", help="Deployment whose predictions to watch."),
           reference: str = typer.Option(..., "--reference", "-r", help="Reference dataset version NAME@vN."),
           window: str = typer.Option("1h", "--window", "-w", help="Window length: 30s, 15m, 1h, 1d."),
           feature: list[str] = typer.Option(None, "--features", "-f", help="Feature to watch (repeatable; default: "
                                             "every reference column the inputs carry)."),
           target: str = typer.Option(None, "--target", help="The reference's label column (prediction drift)."),
           task: str = typer.Option(None, "--task", help="classification or regression (performance metrics)."),
           label_key: str = typer.Option("request_id", "--label-key", help="How labels join predictions: "
                                         "request_id or an input column."),
           stattest: list[str] = typer.Option(None, "--stattest", help="COLUMN=TEST override (ks, psi, "
                                              "wasserstein, jensenshannon, chisquare, z).")) -> None:
    """Create a monitor comparing a deployment's logged inputs with a reference dataset version."""
    from keel.monitoring.monitors import create_monitor

    overrides = dict(_pair(item, "--stattest") for item in stattest or [])
    monitor = create_monitor(name, deployment, reference, window=window, features=feature or None,
                             stattests=overrides, target=target, task=task, label_key=label_key)
    console.print(f"monitor [green]{monitor.name}[/green]: {monitor.deployment} vs {monitor.reference}, "
                  f"windows of {monitor.window_s} s")


@app.command("list")
def list_() -> None:
    """Every monitor."""
    from keel.monitoring.monitor_run import monitor_store

    table = Table(title="monitors")
    for column in ("name", "deployment", "reference", "window s", "last window end"):
        table.add_column(column)
    for m in monitor_store().list():
        table.add_row(m.name, m.deployment, m.reference, str(m.window_s), format_ms(m.last_window_end))
    console.print(table)


@app.command("run")
def run(names: list[str] = typer.Argument(None, help="Monitors to run (default: all)."),
        as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """One pass: process every complete window since each monitor's last run."""
    from keel.monitoring.monitor_run import monitor_store, run_monitor

    chosen = names or [m.name for m in monitor_store().list()]
    summary = {name: [w.__dict__ for w in run_monitor(name)] for name in chosen}
    if as_json:
        console.print_json(json.dumps(summary))
        return
    for name, windows in summary.items():
        console.print(f"[bold]{name}[/bold]: {len(windows)} window(s)")
        for w in windows:
            share = "-" if w["share_drifted"] is None else f"{w['share_drifted']:.0%}"
            line = f"  {format_ms(w['start'])}  rows {w['rows']}  drifted {share} {', '.join(w['drifted'])}"
            if w["fired"]:
                line += f"  [red]fired {', '.join(w['fired'])}[/red]"
            if w["resolved"]:
                line += f"  [green]resolved {', '.join(w['resolved'])}[/green]"
            console.print(line)


@app.command("watch")
def watch(names: list[str] = typer.Argument(None, help="Monitors to watch (default: all)."),
          interval: float = typer.Option(None, "--interval", help="Seconds between passes (default: the shortest "
                                         "window)."),
          once: bool = typer.Option(False, "--once", help="One pass, then exit.")) -> None:
    """Run monitors continuously (or schedule `keel monitor run` through `keel schedule`)."""
    from keel.monitoring.monitors import watch as loop

    processed = loop(names or None, interval_s=interval, iterations=1 if once else None)
    console.print(f"{processed} window(s) processed")


@app.command("report")
def report(name: str = typer.Argument(..., help="Monitor."),
           output: Path = typer.Option(..., "--output", "-o", help="HTML file to write.")) -> None:
    """Write a self-contained HTML report: histograms, drift over time, performance."""
    from keel.monitoring.report import write_report

    write_report(name, output)
    console.print(f"report for {name} written to {output}")


@app.command("delete")
def delete(name: str = typer.Argument(..., help="Monitor.")) -> None:
    """Delete a monitor with its results and rules."""
    from keel.monitoring.monitor_run import monitor_store

    monitor_store().delete(name)
    console.print(f"monitor {name} deleted")


@labels_app.command("add")
def labels_add(source: str = typer.Argument(..., help="CSV/Parquet file or dataset NAME@vN with the labels."),
               deployment: str = typer.Option(..., "--deployment", "-d", help="Deployment the labels belong to."),
               key: str = typer.Option("request_id", "--key", help="Column joining labels to predictions."),
               label_column: str = typer.Option("label", "--label-column", help="Column holding the labels.")) -> None:
    """Add delayed labels; performance of finished windows is recomputed."""
    from keel.monitoring.monitors import add_monitor_labels

    r = add_monitor_labels(deployment, source, key=key, label_column=label_column)
    console.print(f"{r.received} label(s): {r.matched} matched logged predictions, {r.unknown} unknown"
                  + (f" (e.g. {', '.join(r.unknown_examples)})" if r.unknown else ""))


@alerts_app.command("add-rule")
def add_rule(name: str = typer.Argument(..., help="Rule name."),
             monitor: str = typer.Option(..., "--monitor", "-m", help="Monitor the rule watches."),
             when: str = typer.Option(..., "--when", help="METRIC OP NUMBER, e.g. 'share_drifted_features > 0.3'."),
             for_windows: int = typer.Option(1, "--for", min=1, help="Consecutive windows before firing."),
             channel: list[str] = typer.Option(None, "--channel", "-c", help="log, webhook:URL or trigger[:EVENT] "
                                               "(repeatable; default log).")) -> None:
    """Add an alert rule to a monitor."""
    from keel.monitoring.monitors import add_alert_rule

    rule = add_alert_rule(name, monitor, when, for_windows=for_windows, channels=channel or ["log"])
    console.print(f"rule {rule.name}: {rule.expression} for {rule.for_windows} window(s) -> "
                  f"{', '.join(rule.channels)}")


@alerts_app.command("rules")
def rules() -> None:
    """Every alert rule and its state."""
    from keel.monitoring.monitor_run import monitor_store

    table = Table(title="alert rules")
    for column in ("rule", "monitor", "expression", "for", "channels", "state"):
        table.add_column(column)
    for r in monitor_store().rules():
        table.add_row(r.name, r.monitor, r.expression, str(r.for_windows), ", ".join(r.channels), r.state)
    console.print(table)


@alerts_app.command("remove-rule")
def remove_rule(name: str = typer.Argument(..., help="Rule name.")) -> None:
    """Delete an alert rule."""
    from keel.monitoring.monitor_run import monitor_store

    monitor_store().remove_rule(name)
    console.print(f"rule {name} removed")


@alerts_app.command("list")
def list_alerts(state: str = typer.Option(None, "--state", help="firing or resolved."),
                as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Alerts, newest first."""
    from keel.monitoring.monitors import list_alerts as alerts

    found = alerts(state)
    if as_json:
        console.print_json(json.dumps([a.__dict__ for a in found]))
        return
    table = Table(title="alerts")
    for column in ("id", "rule", "state", "value", "fired", "acked by", "message"):
        table.add_column(column)
    for a in found:
        table.add_row(str(a.id), a.rule, a.state, "" if a.value is None else f"{a.value:.4g}", format_ms(a.fired_at),
                      a.acked_by or "", a.message)
    console.print(table)


@alerts_app.command("ack")
def ack(alert_id: int = typer.Argument(..., help="Alert id."),
        user: str = typer.Option(None, "--user", help="Who acknowledges (default: the current user).")) -> None:
    """Acknowledge an alert."""
    from keel.monitoring.monitors import ack_alert

    ack_alert(alert_id, user)
    console.print(f"alert {alert_id} acknowledged")


def _pair(item: str, option: str) -> tuple[str, str]:
    from keel.errors import InvalidInput

    key, sep, value = item.partition("=")
    if not sep or not key or not value:
        raise InvalidInput(f"{option} {item!r} is not COLUMN=VALUE", field=option.lstrip("-"))
    return key, value
