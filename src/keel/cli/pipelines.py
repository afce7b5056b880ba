"""``keel run FILE:PIPELINE`` and ``keel pipelines runs|show|logs``."""

from __future__ import annotations

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from keel.cli.output import console, format_ms

__all__ = ["app", "run"]

app = typer.Typer(help="Pipeline runs: list, inspect, read step logs.", no_args_is_help=True)


def run(ref: str = typer.Argument(..., help="FILE.py:PIPELINE (FILE.py alone if it defines one pipeline)."),
        param: list[str] = typer.Option(None, "--param", "-p", help="KEY=VALUE, repeatable."),
        executor: str = typer.Option("local", "--executor", help="local or ray."),
        address: str = typer.Option(None, "--address", help="Ray cluster address (default: a local Ray)."),
        max_parallel: int = typer.Option(None, "--max-parallel", min=1, help="Steps at once (default: CPU count)."),
        no_cache: bool = typer.Option(False, "--no-cache", help="Run every step, ignoring cached outputs."),
        resume: str = typer.Option(None, "--resume", help="Continue a failed run (its parameters, its finished "
                                   "steps).")) -> None:
    """Run a pipeline; unchanged steps are skipped (cached). Exit 1 when a step fails."""
    from keel.pipelines.params import load_pipeline, parse_cli_params
    from keel.pipelines.runner import run_pipeline
    from keel.pipelines.runs_sql import StepRun

    pipeline = load_pipeline(ref)
    params = parse_cli_params(param or [])
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, transient=True) as bar:
        task = bar.add_task(pipeline.name, total=None)

        def step_done(record: StepRun) -> None:
            bar.update(task, advance=1, description=f"{pipeline.name}: {record.node} {record.status.lower()}")

        result = run_pipeline(pipeline, params, executor=executor, max_parallel=max_parallel, address=address,
                              no_cache=no_cache, resume=resume, ref=ref, on_step=step_done)
    counts: dict[str, int] = {}
    for s in result.steps:
        counts[s.status] = counts.get(s.status, 0) + 1
    summary = ", ".join(f"{n} {status.lower()}" for status, n in sorted(counts.items()))
    color = "green" if result.status == "SUCCEEDED" else "red"
    console.print(f"[{color}]{result.pipeline} {result.status.lower()}[/] run {result.id}: {summary} in "
                  f"{(result.ended_at or 0) - result.started_at} ms")
    if result.status == "SUCCEEDED" and result.result is not None:
        import json

        text = json.dumps(result.result, default=str)
        if len(text) <= 500:
            console.print(f"result: {text}", highlight=False)
    if result.status != "SUCCEEDED":
        console.print(f"[red]{result.error}[/red]\nResume with: keel run {ref} --resume {result.id[:12]}")
        raise typer.Exit(1)


@app.command("runs")
def runs(pipeline: str = typer.Option(None, "--pipeline", help="Only this pipeline."),
         limit: int = typer.Option(20, "--limit", min=1)) -> None:
    """Pipeline runs, newest first."""
    from keel.pipelines.runner import pipeline_store

    table = Table(title="pipeline runs")
    for column in ("run", "pipeline", "status", "started", "ms", "trigger", "params"):
        table.add_column(column)
    for r in pipeline_store().list(pipeline, limit):
        table.add_row(r.id[:12], r.pipeline, r.status, format_ms(r.started_at),
                      "" if r.ended_at is None else str(r.ended_at - r.started_at), r.trigger or "", str(r.params))
    console.print(table)


@app.command("show")
def show(run_id: str = typer.Argument(..., help="A pipeline run id (or unique prefix).")) -> None:
    """One run's steps: status, cache hit, attempts, duration, error."""
    from keel.pipelines.runner import pipeline_store

    r = pipeline_store().get(run_id)
    table = Table(title=f"{r.pipeline} run {r.id} — {r.status}")
    for column in ("step", "status", "cached", "attempts", "ms", "tracking run", "error"):
        table.add_column(column)
    for s in r.steps:
        table.add_row(s.node, s.status, "yes" if s.cache_hit else "", str(s.attempts),
                      "" if s.duration_ms is None else str(s.duration_ms), s.tracking_run_id or "", s.error or "")
    console.print(table)


@app.command("logs")
def logs(run_id: str = typer.Argument(..., help="A pipeline run id (or unique prefix)."),
         step: str = typer.Argument(None, help="One step (default: every step that printed).")) -> None:
    """What steps printed (stdout and stderr)."""
    from keel.artifacts import BlobStore
    from keel.errors import NotFound
    from keel.pipelines.runner import pipeline_store
    from keel.tracking.context import get_backend

    r = pipeline_store().get(run_id)
    chosen = [s for s in r.steps if step is None or s.node == step]
    if step is not None and not chosen:
        raise NotFound(f"run {r.id[:12]} has no step {step!r}; it has {', '.join(s.node for s in r.steps)}",
                       field="step")
    blobs = BlobStore(get_backend().settings.resolved_artifact_root)
    for s in chosen:
        if s.log_digest:
            console.rule(s.node)
            console.print(blobs.get_bytes(s.log_digest).decode(errors="replace"), markup=False, highlight=False)
        elif step is not None:
            console.print(f"step {s.node} printed nothing")
