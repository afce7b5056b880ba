"""``keel remote add|list|remove`` and ``keel data push|pull``: dataset versions to and from remotes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TaskID, TextColumn, TransferSpeedColumn
from rich.table import Table

from keel.cli.output import console, format_ms
from keel.errors import InvalidInput

if TYPE_CHECKING:
    from keel.data.snapshot import Progress as ProgressCallback
    from keel.data.transfer import TransferResult

__all__ = ["app", "pull", "push"]

app = typer.Typer(help="Remotes: named places (a directory, s3://bucket/prefix) to push datasets to.",
                  no_args_is_help=True)


def _options(pairs: list[str]) -> dict[str, Any]:
    """``KEY=VALUE`` pairs as fsspec storage options; a VALUE that parses as JSON (true, 3, {...}) is used as such."""
    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise InvalidInput(f"option {pair!r}: write it as KEY=VALUE, e.g. endpoint_url=http://host:9000",
                               field="option")
        try:
            options[key] = json.loads(value)
        except ValueError:
            options[key] = value
    return options


@app.command("add")
def add(name: str = typer.Argument(..., help="Remote name, e.g. origin."),
        url: str = typer.Argument(..., help="A directory or an fsspec URL such as s3://bucket/prefix."),
        option: list[str] = typer.Option([], "--option", "-o",
                                         help="fsspec storage option KEY=VALUE (repeatable).")) -> None:
    """Register a remote for `keel data push|pull` (credentials come from the environment)."""
    from keel.data import remotes

    remote = remotes.add_remote(name, url, _options(option))
    console.print(f"[green]remote {remote.name}[/green] → {remote.url}")


@app.command("list")
def list_remotes() -> None:
    """List the project's remotes."""
    from keel.data import remotes

    table = Table(title="remotes")
    for column in ("name", "url", "options", "added"):
        table.add_column(column)
    for r in remotes.list_remotes():
        table.add_row(r.name, r.url, json.dumps(r.options) if r.options else "", format_ms(r.created_at))
    console.print(table)


@app.command("remove")
def remove(name: str = typer.Argument(..., help="Remote name.")) -> None:
    """Forget a remote (the objects already pushed stay on it)."""
    from keel.data import remotes

    remotes.remove_remote(name)
    console.print(f"removed remote {name}")


@contextmanager
def _progress(label: str) -> Iterator[ProgressCallback]:
    """One Rich bar in bytes, driven by the transfer's progress callback."""
    with Progress(TextColumn(f"{label:>8}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                  console=console, transient=True) as bar:
        task: list[TaskID] = []

        def update(_stage: str, done: int, total: int) -> None:
            if not task:
                task.append(bar.add_task(label, total=total))
            bar.update(task[0], completed=done)

        yield update


def push(ref: str = typer.Argument(..., help="NAME@vN, NAME@ID, or NAME for every version."),
         remote: str = typer.Option("origin", "--remote", "-r", help="Remote name.")) -> None:
    """Upload the objects of dataset version(s) that the remote lacks, then the version records."""
    from keel.data import transfer

    with _progress("pushing") as progress:
        result = transfer.push(ref, remote, progress=progress)
    _report("pushed", "to", remote, result)


def pull(ref: str = typer.Argument(..., help="NAME@vN, NAME@ID, or NAME for every version."),
         remote: str = typer.Option("origin", "--remote", "-r", help="Remote name.")) -> None:
    """Download dataset version(s) from a remote, verifying every object, and recreate them here."""
    from keel.data import transfer

    with _progress("pulling") as progress:
        result = transfer.pull(ref, remote, progress=progress)
    _report("pulled", "from", remote, result)


def _report(verb: str, preposition: str, remote: str, result: TransferResult) -> None:
    refs = ", ".join(result.versions) or "no new version"
    console.print(f"[green]{verb}[/green] {refs} {preposition} {remote}: {result.objects} object(s), "
                  f"{result.bytes} bytes")
