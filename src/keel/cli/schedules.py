"""``keel schedule add|list|remove``, ``keel scheduler`` and ``keel trigger EVENT`` / ``keel trigger add|list|remove``.

::

    keel schedule add nightly --pipeline train.py:train --cron "0 3 * * *" -p lr=0.1
    keel trigger add retrain --on dataset:churn --pipeline train.py:train -p data='$ref'
    keel trigger ci:build --payload '{"sha": "abc123"}'
    keel scheduler                     # long-running; a second one waits as a standby
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.logging import RichHandler
from rich.table import Table
from typer.core import TyperGroup

from keel.cli.output import console, format_ms
from keel.errors import InvalidInput, NotFound

if TYPE_CHECKING:
    from keel.pipelines.scheduler import TickResult
    from keel.pipelines.schedules_sql import SqlScheduleStore

__all__ = ["schedule_app", "scheduler", "trigger_app"]

_PARAM = "KEY=VALUE passed to the pipeline, repeatable."
_PIPELINE = "FILE.py:PIPELINE (stored with the file's absolute path, so the scheduler may run anywhere)."


class _EventGroup(TyperGroup):
    """``keel trigger EVENT`` is ``keel trigger fire EVENT`` unless EVENT is one of the subcommands."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:  # ctx: typer's vendored click Context
        if args and not args[0].startswith("-") and args[0] not in self.commands:
            args = ["fire", *args]
        return super().parse_args(ctx, args)


schedule_app = typer.Typer(help="Cron schedules of pipelines, fired by `keel scheduler`.", no_args_is_help=True)
trigger_app = typer.Typer(cls=_EventGroup, no_args_is_help=True,
                          help="Emit an event (`keel trigger EVENT`), or manage the triggers that run a pipeline on "
                          "an event (dataset:NAME on each new version, alert:RULE, or any name CI sends).")


def _store() -> SqlScheduleStore:
    from keel.pipelines.triggers import schedule_store

    return schedule_store()


def _pipeline_ref(ref: str, params: dict[str, str]) -> str:
    """``ref`` with an absolute file path, after checking it loads and takes ``params``."""
    from keel.pipelines.params import load_pipeline

    file_part, sep, name = ref.partition(":")
    if not Path(file_part).is_file():
        raise NotFound(f"pipeline file {file_part!r} does not exist; give --pipeline FILE.py:PIPELINE",
                       field="pipeline")
    absolute = f"{Path(file_part).resolve()}{sep}{name}"
    accepted = load_pipeline(absolute).signature.parameters
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        raise InvalidInput(f"pipeline {ref!r} has no parameter {unknown[0]!r}; it takes "
                           f"{', '.join(accepted) or 'none'}", field=unknown[0])
    return absolute


def _params(items: list[str] | None) -> dict[str, str]:
    from keel.pipelines.params import parse_cli_params

    return parse_cli_params(items or [])


def _show_params(params: dict[str, Any]) -> str:
    return " ".join(f"{k}={v}" for k, v in params.items())


# -- keel schedule ---------------------------------------------------------------------------------------------------
@schedule_app.command("add")
def schedule_add(name: str = typer.Argument(..., help="Schedule name."),
                 pipeline: str = typer.Option(..., "--pipeline", help=_PIPELINE),
                 cron: str = typer.Option(..., "--cron", help="MIN HOUR DAY MONTH WEEKDAY in UTC, e.g. '0 3 * * *'; "
                                          "prefix CRON_TZ=Area/City for a time zone."),
                 param: list[str] = typer.Option(None, "--param", "-p", help=_PARAM)) -> None:
    """Run a pipeline at the times of a cron expression (first fire: the next time after now)."""
    from keel.pipelines.schedules import Schedule, check_cron, check_name, next_fire

    check_name(name)
    check_cron(cron)
    params = _params(param)
    s = _store().add_schedule(Schedule(name, _pipeline_ref(pipeline, params), cron, params))
    upcoming = format_ms(next_fire(s.cron, s.created_at))
    console.print(f"schedule {s.name} added: {s.pipeline_ref} at '{s.cron}', next {upcoming} (local time)",
                  highlight=False, soft_wrap=True)


@schedule_app.command("list")
def schedule_list() -> None:
    """Schedules with their last and next fire times."""
    from keel.pipelines.schedules import next_fire

    table = Table(title="schedules")
    for column in ("name", "pipeline", "cron", "params", "enabled", "last fire", "next fire"):
        table.add_column(column)
    for s in _store().list_schedules():
        table.add_row(s.name, s.pipeline_ref, s.cron, _show_params(s.params), "yes" if s.enabled else "no",
                      format_ms(s.last_fire_at), format_ms(next_fire(s.cron, s.last_fire_at or s.created_at)))
    console.print(table)


@schedule_app.command("remove")
def schedule_remove(name: str = typer.Argument(..., help="Schedule name.")) -> None:
    """Delete a schedule (runs it started stay)."""
    _store().remove_schedule(name)
    console.print(f"schedule {name} removed", highlight=False)


# -- keel scheduler --------------------------------------------------------------------------------------------------
def _report(result: TickResult) -> None:
    for m in result.missed:
        count = f"{m.count}{'+' if m.more else ''}"
        console.print(f"[yellow]schedule {m.schedule} missed {count} fire time(s) while no scheduler ran (last "
                      f"missed {format_ms(m.times[-1])}); not re-run[/yellow]", highlight=False)
    for f in result.fired:
        color = "green" if f.status == "SUCCEEDED" else "red"
        console.print(f"[{color}]{f.source}: {f.pipeline_ref} {f.status.lower()}[/] run {f.run_id or '-'}"
                      f"{': ' + f.error if f.error else ''}", highlight=False, soft_wrap=True)


def scheduler(poll_s: float = typer.Option(10.0, "--poll-s", min=0.01, help="Seconds between passes."),
              lease_s: float = typer.Option(60.0, "--lease-s", help="Lease length: a standby takes over this long "
                                            "after the holder dies. Must exceed --poll-s."),
              once: bool = typer.Option(False, "--once", help="One pass, then exit (for cron or CI)."),
              holder: str = typer.Option(None, "--holder", help="Name in the lease (default: host:pid:random).")
              ) -> None:
    """Fire due schedules and answer trigger events until stopped (Ctrl-C / SIGTERM finish the running pipeline)."""
    from keel.pipelines.scheduler import Scheduler

    handler = RichHandler(console=console, show_path=False, markup=False)
    logging.getLogger("keel.scheduler").addHandler(handler)
    logging.getLogger("keel.scheduler").setLevel(logging.INFO)
    try:
        s = Scheduler(holder=holder, poll_s=poll_s, lease_s=lease_s)
        if once:
            result = s.tick()
            s.store.release_lease(s.holder)
            _report(result)
            console.print(f"one pass: {len(result.fired)} pipeline(s) run, {len(result.events)} event(s) handled"
                          if result.leader else "another scheduler holds the lease; nothing done", highlight=False)
            return
        console.print(f"scheduler {s.holder}: polling every {poll_s:g} s, lease {lease_s:g} s", highlight=False)
        s.run_forever(on_tick=_report)
        console.print("scheduler stopped", highlight=False)
    finally:
        logging.getLogger("keel.scheduler").removeHandler(handler)


# -- keel trigger ----------------------------------------------------------------------------------------------------
@trigger_app.command("fire")
def trigger_fire(event: str = typer.Argument(..., help="Event name, e.g. ci:build or dataset:churn."),
                 payload: str = typer.Option(None, "--payload", help="A JSON object; triggers read its keys as "
                                             "$KEY in their parameters.")) -> None:
    """Emit an event; `keel scheduler` runs every trigger listening for it (`keel trigger EVENT` is short for this)."""
    from keel.pipelines.triggers import emit

    body: Any = None
    if payload is not None:
        try:
            body = json.loads(payload)
        except json.JSONDecodeError as exc:
            raise InvalidInput(f"--payload is not JSON ({exc.msg} at column {exc.colno}); give an object like "
                               "'{\"sha\": \"abc\"}'", field="payload") from None
        if not isinstance(body, dict):
            raise InvalidInput("--payload must be a JSON object like '{\"sha\": \"abc\"}'", field="payload")
    event_id = emit(event, body)
    console.print(f"event {event} #{event_id} recorded; `keel scheduler` runs its triggers", highlight=False)


@trigger_app.command("add")
def trigger_add(name: str = typer.Argument(..., help="Trigger name."),
                on: str = typer.Option(..., "--on", help="Event name or glob: dataset:NAME, alert:RULE, ci:*, ..."),
                pipeline: str = typer.Option(..., "--pipeline", help=_PIPELINE),
                param: list[str] = typer.Option(None, "--param", "-p", help=_PARAM + " $KEY takes the event "
                                                "payload's KEY (dataset events carry ref and id).")) -> None:
    """Run a pipeline on every event matching --on (emitted after the trigger is added)."""
    from keel.pipelines.schedules import Trigger, check_event, check_name

    check_name(name, "trigger")
    check_event(on, pattern=True)
    params = _params(param)
    t = _store().add_trigger(Trigger(name, on, _pipeline_ref(pipeline, params), params))
    console.print(f"trigger {t.name} added: {t.pipeline_ref} on {t.event}", highlight=False, soft_wrap=True)


@trigger_app.command("list")
def trigger_list() -> None:
    """Triggers, and the most recent events."""
    store = _store()
    table = Table(title="triggers")
    for column in ("name", "on", "pipeline", "params", "created"):
        table.add_column(column)
    for t in store.list_triggers():
        table.add_row(t.name, t.event, t.pipeline_ref, _show_params(t.params), format_ms(t.created_at))
    console.print(table)
    events = Table(title="recent events")
    for column in ("id", "event", "payload", "emitted", "claimed by", "processed"):
        events.add_column(column)
    for e in store.list_events(limit=10):
        events.add_row(str(e.id), e.event, json.dumps(e.payload), format_ms(e.created_at), e.claimed_by or "",
                       format_ms(e.processed_at))
    console.print(events)


@trigger_app.command("remove")
def trigger_remove(name: str = typer.Argument(..., help="Trigger name.")) -> None:
    """Delete a trigger."""
    _store().remove_trigger(name)
    console.print(f"trigger {name} removed", highlight=False)
