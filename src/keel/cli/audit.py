"""``keel audit list|export``: who changed what, and when."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import typer
from rich.markup import escape
from rich.table import Table

from keel.cli.output import console, format_ms

if TYPE_CHECKING:
    from keel.governance.audit import AuditQuery

__all__ = ["app"]

app = typer.Typer(help="Audit log: every change to the metadata store (append-only).", no_args_is_help=True)

_OBJECT = typer.Option(None, "--object", help="A kind (runs, model_versions…), an id or part of one, or KIND:ID.")
_USER = typer.Option(None, "--user", "-u", help="Only changes made by this user.")
_SINCE = typer.Option(None, "--since", help="From this time: a duration back (30m, 2h, 7d), ISO time, or epoch ms.")
_UNTIL = typer.Option(None, "--until", help="Up to this time (same forms as --since).")
_ACTION = typer.Option(None, "--action", help="insert, update or delete.")


def _query(obj: str | None, user: str | None, since: str | None, until: str | None, action: str | None,
           limit: int = 100) -> AuditQuery:
    from keel.governance.audit import AuditQuery, parse_time

    return AuditQuery(object=obj, user=user, action=action, since=parse_time(since, field="--since"),
                      until=parse_time(until, field="--until"), limit=limit)


@app.command("list")
def list_entries(obj: str = _OBJECT, user: str = _USER, since: str = _SINCE, until: str = _UNTIL,
                 action: str = _ACTION,
                 limit: int = typer.Option(100, "--limit", "-n", min=1, max=10_000, help="At most this many."),
                 as_json: bool = typer.Option(False, "--json", help="Print entries as a JSON array.")) -> None:
    """List audit entries, oldest first."""
    from keel.governance.audit import audit_entries

    entries = audit_entries(_query(obj, user, since, until, action, limit))
    if as_json:
        typer.echo(json.dumps([e.to_dict() for e in entries], indent=2))
        return
    table = Table(title=f"audit ({len(entries)})")
    for name in ("id", "time", "user", "action", "object", "rows", "request"):
        table.add_column(name, no_wrap=name != "object")
    for e in entries:
        table.add_row(str(e.id), format_ms(e.at), escape(e.user), e.action,
                      escape(f"{e.object_kind}:{e.object_id or ''}"), str(e.row_count), escape(e.request_id or ""))
    console.print(table)


@app.command("export")
def export(output: str = typer.Option(..., "--output", "-o", help="The JSON lines file to write."),
           obj: str = _OBJECT, user: str = _USER, since: str = _SINCE, until: str = _UNTIL,
           action: str = _ACTION) -> None:
    """Write every matching entry to a JSON lines file (one object per line)."""
    from keel.governance.audit import export_audit

    count = export_audit(output, _query(obj, user, since, until, action))
    console.print(f"wrote {count} audit entries to {escape(output)}")
