"""``keel data add|versions|show|checkout``: dataset versions on the local store."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TaskID, TextColumn, TransferSpeedColumn
from rich.table import Table

from keel.cli.output import console, format_ms

if TYPE_CHECKING:
    from keel.data.entities import DatasetVersion
    from keel.data.snapshot import Progress as ProgressCallback

__all__ = ["add", "checkout", "show", "versions"]


@contextmanager
def _progress() -> Iterator[ProgressCallback]:
    """A Rich bar per stage ("hashing", "storing", "writing"), driven by a progress callback.

    The bar starts on the first update, so a re-add of unchanged data (no stage runs) never draws one.
    """
    tasks: dict[str, TaskID] = {}
    bars: list[Progress] = []

    def update(stage: str, done: int, total: int) -> None:
        if not bars:
            bars.append(Progress(TextColumn("{task.description:>8}"), BarColumn(), DownloadColumn(),
                                 TransferSpeedColumn(), console=console, transient=True))
            bars[0].start()
        if stage not in tasks:
            tasks[stage] = bars[0].add_task(stage, total=total)
        bars[0].update(tasks[stage], completed=done)

    try:
        yield update
    finally:
        if bars:
            bars[0].stop()


def add(path: str = typer.Argument(..., help="A file or directory, an fsspec URL (s3://, https://…), or with --query "
                                         "a SQLAlchemy URL."),
        name: str = typer.Option(..., "--name", "-n", help="Dataset name."),
        message: str = typer.Option("", "--message", "-m", help="What changed in this version."),
        query: str = typer.Option(None, "--query", "-q", help="Snapshot this query's result (a database source).")
        ) -> None:
    """Snapshot PATH as the next version of dataset NAME (unchanged data keeps its version)."""
    from keel.data import versioning

    with _progress() as progress:
        version = versioning.add(path, name, message, progress=progress, query=query)
    console.print(f"[green]{version.ref}[/green] id {version.id}: {version.file_count} file(s), "
                  f"{version.size_bytes} bytes" + (f", {version.row_count} rows" if version.row_count is not None
                                                    else ""))


def versions(name: str = typer.Argument(..., help="Dataset name.")) -> None:
    """List the versions of a dataset, newest first."""
    from keel.data import versioning

    table = Table(title=f"dataset {name}: versions")
    for column in ("version", "id", "created", "author", "files", "bytes", "rows", "message"):
        table.add_column(column)
    for v in versioning.versions(name):
        table.add_row(f"v{v.number}", v.id, format_ms(v.created_at), v.author, str(v.file_count), str(v.size_bytes),
                      "" if v.row_count is None else str(v.row_count), v.message)
    console.print(table)


def show(ref: str = typer.Argument(..., help="NAME@vN, NAME@ID or NAME (latest).")) -> None:
    """Show one dataset version: provenance, and schema with column statistics for tables."""
    from keel.data import versioning

    version = versioning.get_version(ref)
    table = Table(title=f"dataset {version.ref}", show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value")
    for field in ("id", "parent_id", "message", "author", "kind", "path", "source", "manifest_digest",
                  "file_count", "size_bytes", "row_count"):
        value = getattr(version, field)
        table.add_row(field, "" if value is None else str(value))
    table.add_row("created", format_ms(version.created_at))
    console.print(table)
    if version.stats:
        console.print(_stats_table(version))


def _stats_table(version: DatasetVersion) -> Table:
    keys = ("type", "null_count", "min", "max", "mean", "distinct_estimate")
    table = Table(title="columns")
    table.add_column("column")
    for key in keys:
        table.add_column(key)
    for column, stats in (version.stats or {}).items():
        table.add_row(column, *("" if stats.get(k) is None else str(stats[k]) for k in keys))
    return table


def checkout(ref: str = typer.Argument(..., help="NAME@vN, NAME@ID, NAME, or a NAME.keel.yaml pointer file."),
             out: Path | None = typer.Option(None, "--out", "-o",
                                             help="Output directory (a pointer restores beside itself).")) -> None:
    """Write a version's files, each verified against its hash."""
    from keel.data import versioning

    with _progress() as progress:
        written = versioning.checkout(ref, out, progress=progress)
    console.print(f"[green]checked out[/green] {ref} to {written}")
