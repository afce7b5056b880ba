"""``keel experiments list|create``."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer
from rich.table import Table

from keel.cli.output import console, format_ms

if TYPE_CHECKING:
    from keel.tracking.context import Backend

__all__ = ["app"]


def get_backend() -> Backend:
    """The SDK backend, imported on first use: loading the tracking SDK at import time slows every command."""
    from keel.tracking.context import get_backend as backend

    return backend()

app = typer.Typer(help="Experiments: named groups of runs.", no_args_is_help=True)


@app.command("list")
def list_experiments(view: str = typer.Option("ACTIVE_ONLY", help="ACTIVE_ONLY, DELETED_ONLY or ALL."),
                     filter: str = typer.Option("", "--filter", help="e.g. \"name LIKE 'iris%'\"")) -> None:
    """List experiments."""
    exps, _ = get_backend().tracking.search_experiments(view.upper(), 50_000, filter or None)
    table = Table(title="experiments")
    for column in ("id", "name", "stage", "created"):
        table.add_column(column)
    for exp in exps:
        table.add_row(exp.experiment_id, exp.name, exp.lifecycle_stage, format_ms(exp.creation_time))
    console.print(table)


@app.command("create")
def create_experiment(name: str, artifact_location: str = typer.Option(None, help="Artifact prefix.")) -> None:
    """Create an experiment and print its id."""
    exp_id = get_backend().tracking.create_experiment(name, artifact_location)
    typer.echo(exp_id)
