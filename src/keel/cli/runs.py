"""``keel runs list|show|compare|delete``."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer
from rich.table import Table

from keel.cli.output import console, format_ms, runs_table
from keel.errors import NotFound

if TYPE_CHECKING:
    from keel.tracking.context import Backend

__all__ = ["app"]


def get_backend() -> Backend:
    """The SDK backend, imported on first use: loading the tracking SDK at import time slows every command."""
    from keel.tracking.context import get_backend as backend

    return backend()

app = typer.Typer(help="Runs: params, metrics, tags and artifacts of one training.", no_args_is_help=True)


@app.command("list")
def list_runs(
    experiment: str = typer.Option(None, "--experiment", "-e", help="Experiment name (default: all)."),
    filter: str = typer.Option("", "--filter", "-f", help="MLflow filter, e.g. \"metrics.acc > 0.9\"."),
    order_by: list[str] = typer.Option([], "--order-by", "-o", help="e.g. \"metrics.acc DESC\"."),
    max_results: int = typer.Option(50, "--max-results", "-n", min=1, max=50_000),
) -> None:
    """List runs, newest first unless ordered otherwise."""
    repo = get_backend().tracking
    if experiment:
        exp = repo.get_experiment_by_name(experiment)
        if exp is None:
            raise NotFound(f"experiment {experiment!r} does not exist (see `keel experiments list`)")
        ids = [exp.experiment_id]
    else:
        ids = [e.experiment_id for e in repo.search_experiments(max_results=50_000)[0]]
    found, _ = repo.search_runs(ids, filter or None, "ACTIVE_ONLY", max_results, order_by)
    console.print(runs_table(found, title=f"runs ({len(found)})"))


@app.command("show")
def show_run(run_id: str) -> None:
    """Show a run's attributes, params, metrics and tags."""
    run = get_backend().tracking.get_run(run_id)
    i = run.info
    table = Table(title=f"run {i.run_id}", show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value")
    for field, value in (("name", i.run_name), ("experiment", i.experiment_id), ("status", i.status),
                         ("started", format_ms(i.start_time)), ("ended", format_ms(i.end_time)),
                         ("artifacts", i.artifact_uri), ("stage", i.lifecycle_stage)):
        table.add_row(field, str(value or ""))
    for key, metric in sorted(run.metrics.items()):
        table.add_row(f"metrics.{key}", f"{metric.value:.6g} (step {metric.step})")
    for key, value in sorted(run.params.items()):
        table.add_row(f"params.{key}", value)
    for key, value in sorted(run.tags.items()):
        table.add_row(f"tags.{key}", value)
    for ds in run.inputs:
        table.add_row("input", f"{ds.name}@{ds.digest} ({ds.context or ''})")
    console.print(table)


@app.command("compare")
def compare_runs(run_ids: list[str]) -> None:
    """Params and metrics of several runs side by side; differing rows are highlighted."""
    repo = get_backend().tracking
    runs = [repo.get_run(r) for r in run_ids]
    table = Table(title="compare")
    table.add_column("key", style="bold")
    for run in runs:
        table.add_column(run.info.run_name or run.info.run_id[:8])
    keys = sorted({f"params.{k}" for r in runs for k in r.params} | {f"metrics.{k}" for r in runs for k in r.metrics})
    for key in keys:
        kind, name = key.split(".", 1)
        cells = [(r.params.get(name, "") if kind == "params" else
                  (f"{r.metrics[name].value:.6g}" if name in r.metrics else "")) for r in runs]
        style = "yellow" if len(set(cells)) > 1 else None
        table.add_row(key, *cells, style=style)
    console.print(table)


@app.command("delete")
def delete_runs(run_ids: list[str]) -> None:
    """Soft-delete runs (restorable)."""
    repo = get_backend().tracking
    for run_id in run_ids:
        repo.delete_run(run_id)
        typer.echo(f"deleted {run_id}")
