"""``keel data diff A B [--key COL]``: what changed between two dataset versions, as Rich tables."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import typer
from rich.markup import escape
from rich.table import Table

from keel.cli.output import console

if TYPE_CHECKING:
    from keel.data.changes import FileChanges, RowChanges, SchemaChanges, StatDelta

__all__ = ["diff"]

_MAX_FILES = 20  # file names listed per kind of change; the counts are always whole


def diff(old: str = typer.Argument(..., help="The older version: NAME@vN, NAME@ID or NAME."),
         new: str = typer.Argument(..., help="The newer version."),
         key: str | None = typer.Option(None, "--key", "-k", help="Compare rows by this unique column."),
         as_json: bool = typer.Option(False, "--json", help="Print the diff as JSON.")) -> None:
    """Show files, schema, row count and column statistics that changed, and rows by key with --key."""
    from keel.data.diff_run import diff as diff_versions  # pyarrow and pandas: loaded only when diffing

    result = diff_versions(old, new, key)
    if as_json:
        typer.echo(json.dumps(result.to_dict(), indent=2, default=str))
        return
    console.print(f"[bold]{escape(result.old)} → {escape(result.new)}[/bold]"
                  + (" [green]identical[/green]" if result.identical else ""))
    console.print(_files_table(result.files))
    if result.old_rows is not None or result.new_rows is not None:
        change = _signed(result.old_rows, result.new_rows)
        console.print(f"rows: {_n(result.old_rows)} → {_n(result.new_rows)} ({change})")
    if result.schema is not None:
        console.print(_schema_table(result.schema))
        console.print(_stats_table(result.stats))
    if result.rows is not None:
        console.print(_rows_table(result.rows))


def _n(value: int | None) -> str:
    return "?" if value is None else str(value)


def _signed(old: int | None, new: int | None) -> str:
    return "?" if old is None or new is None else f"{new - old:+d}"


def _files_table(files: FileChanges) -> Table:
    table = Table(title="files")
    for column in ("change", "count", "paths"):
        table.add_column(column)
    for change, paths in (("added", files.added), ("removed", files.removed), ("changed", files.changed)):
        shown = ", ".join(paths[:_MAX_FILES]) + (f", … {len(paths) - _MAX_FILES} more" if len(paths) > _MAX_FILES
                                                  else "")
        table.add_row(change, str(len(paths)), escape(shown))
    return table


def _schema_table(schema: SchemaChanges) -> Table:
    table = Table(title="schema changes")
    for column in ("column", "change", "old type", "new type"):
        table.add_column(column)
    for name, type_ in schema.added:
        table.add_row(escape(name), "[green]added[/green]", "", type_)
    for name, type_ in schema.removed:
        table.add_row(escape(name), "[red]removed[/red]", type_, "")
    for name, before, after in schema.type_changed:
        table.add_row(escape(name), "[yellow]type changed[/yellow]", before, after)
    if not table.rows:
        table.add_row("[dim]none[/dim]", "", "", "")
    return table


def _stats_table(stats: list[StatDelta]) -> Table:
    table = Table(title="column statistics that changed")
    for column in ("column", "stat", "old", "new", "delta"):
        table.add_column(column, justify="right" if column == "delta" else "left")
    for d in stats:
        delta = "" if d.delta is None else f"{d.delta:+.4g}"
        table.add_row(escape(d.column), d.stat, _value(d.old), _value(d.new), delta)
    if not stats:
        table.add_row("[dim]none[/dim]", "", "", "", "")
    return table


def _value(value: Any) -> str:
    if value is None:
        return ""
    return f"{value:.6g}" if isinstance(value, float) else escape(str(value))


def _rows_table(rows: RowChanges) -> Table:
    table = Table(title=f"rows by key {escape(rows.key)}")
    for column in ("change", "count", "example keys"):
        table.add_column(column)
    for change, count, examples in (("added", rows.added, rows.added_examples),
                                    ("removed", rows.removed, rows.removed_examples),
                                    ("changed", rows.changed, rows.changed_examples)):
        table.add_row(change, str(count), escape(", ".join(str(k) for k in examples)))
    return table
