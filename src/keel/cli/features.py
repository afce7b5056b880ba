"""``keel features apply|list|show|materialize|skew``: the feature store from the command line."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from keel.cli.output import console, format_ms

__all__ = ["app"]

app = typer.Typer(help="Feature store: definitions, materialization to the online store, skew checks.",
                  no_args_is_help=True)

_COLORS = {"+": "green", "~": "yellow", "-": "red"}


@app.command("apply")
def apply(path: Path = typer.Argument(Path("features.py"), help="A Python file defining Entity / FeatureView / "
                                      "OnDemandFeatureView objects at top level."),
          dry_run: bool = typer.Option(False, "--dry-run", help="Show the diff only."),
          partial: bool = typer.Option(False, "--partial", help="Do not remove definitions the file lacks."),
          force: bool = typer.Option(False, "--force", help="Apply even if registered models use removed or "
                                     "retyped features.")) -> None:
    """Register the file's definitions (a new version of each changed one), showing the diff first."""
    from keel.features.registry import apply as apply_definitions
    from keel.features.registry import load_definitions

    definitions = load_definitions(path)
    result = apply_definitions(definitions, partial=partial, dry_run=True, force=force, base_dir=path.parent)
    if result.plan.empty:
        console.print("No changes: the registry matches the file.")
        return
    for line in result.plan.lines():
        console.print(f"[{_COLORS[line[0]]}]{line}[/]")
    if dry_run:
        console.print("Dry run: nothing applied.")
        return
    done = apply_definitions(definitions, partial=partial, force=force, base_dir=path.parent)
    console.print(f"Applied {len(done.records)} change(s).")


@app.command("list")
def list_(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List applied entities, feature views and on-demand views."""
    from keel.features.catalog import list_views

    rows = list_views()
    if as_json:
        console.print_json(json.dumps(rows))
        return
    table = Table(title="feature store")
    for column in ("kind", "name", "version", "keys / features", "applied", "by"):
        table.add_column(column)
    for row in rows:
        table.add_row(row["kind"], row["name"], f"v{row['version']}", row["summary"], format_ms(row["applied_at"]),
                      row["author"])
    console.print(table)


@app.command("show")
def show(name: str = typer.Argument(..., help="A feature view, on-demand view or entity.")) -> None:
    """Show one definition: spec, version history, materializations."""
    from keel.features.catalog import describe_view

    console.print_json(json.dumps(describe_view(name), default=str))


@app.command("materialize")
def materialize(views: list[str] = typer.Argument(None, help="Views to materialize (default: all)."),
                start: str = typer.Option(None, "--start", help="Only source rows after this time (ISO)."),
                end: str = typer.Option(None, "--end", help="Only source rows up to this time (ISO; default now)."),
                incremental: bool = typer.Option(False, "--incremental", help="Only rows newer than the last run's.")
                ) -> None:
    """Write the latest feature values per entity into the online store."""
    from keel.features.materialization import materialize as run

    tasks: dict[str, TaskID] = {}
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, transient=True) as bar:
        def update(view: str, done: int, total: int) -> None:
            if view not in tasks:
                tasks[view] = bar.add_task(view, total=total)
            bar.update(tasks[view], completed=done)

        results = run(views or None, start=start, end=end, incremental=incremental, progress=update)
    for r in results:
        console.print(f"[green]{r.view}[/green]: {r.rows} entities written")


@app.command("skew")
def skew(view: str = typer.Argument(..., help="Feature view."),
         sample: int = typer.Option(100, "--sample", min=1, help="How many stored keys to compare."),
         seed: int = typer.Option(None, "--seed", help="Random seed for the sample."),
         as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Compare online values with the offline truth for sampled keys; exit 1 on any mismatch."""
    from keel.features.skew_check import skew as check

    report = check(view, sample, seed=seed)
    if as_json:
        console.print_json(json.dumps(report.to_dict(), default=str))
    else:
        console.print(f"{view}: {report.matched}/{report.sampled} sampled keys match the offline truth")
        for m in report.mismatches[:20]:
            console.print(f"  [red]{m.key} {m.feature}[/red]: online {m.online!r}, offline {m.offline!r}")
    if not report.ok:
        raise typer.Exit(1)
