"""``keel data ingest SOURCE [--out PATH.parquet] [--name NAME]``: stream any source into one Parquet file with a
progress bar and, with ``--name``, snapshot it as the next version of a dataset. With ``--name`` alone the Parquet
file is written to a temporary folder under the Keel home and removed once snapshotted."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from keel.cli.output import console
from keel.errors import InvalidInput

if TYPE_CHECKING:
    from keel.data.entities import DatasetVersion
    from keel.data.sources import Source

__all__ = ["ingest"]


def ingest(
    source: str = typer.Argument(..., help="A path or fsspec URL (s3://, http://…), a SQLAlchemy URL, or an API URL."),
    out: Path | None = typer.Option(None, "--out", "-o",
                                    help="The Parquet file to write (optional with --name: then a temporary file)."),
    format: str = typer.Option(None, "--format", "-f",
                               help="csv, tsv, parquet, jsonl, sql or json-api (default: from the name)."),
    query: str = typer.Option(None, "--query", "-q", help="The SQL query, for a database source."),
    batch_rows: int = typer.Option(65_536, "--batch-rows", min=1, help="Rows read per batch."),
    records_path: str = typer.Option(None, "--records-path", help="json-api: dotted path to the records list."),
    next: str = typer.Option(None, "--next", help="json-api: dotted path to the next page's link."),
    page_param: str = typer.Option(None, "--page-param", help="json-api: query parameter numbering the pages."),
    name: str | None = typer.Option(None, "--name", "-n", help="Snapshot the data as this dataset's next version."),
) -> None:
    """Read SOURCE in batches into a Parquet file (--out) and/or a new dataset version (--name)."""
    from keel.data.sources import read

    if out is None and name is None:
        raise InvalidInput(f"ingest of {source!r}: give --out PATH.parquet to write a file, --name NAME to snapshot "
                           "a dataset version, or both", field="out")
    if name is not None:  # before the source is streamed, not after
        from keel.data.entities import check_dataset_name

        check_dataset_name(name)
    options: dict[str, Any] = {"query": query, "records_path": records_path, "next": next, "page_param": page_param}
    src = read(source, format=format, batch_rows=batch_rows, **{k: v for k, v in options.items() if v is not None})
    if out is not None:
        written, shape = _write(src, out)
        console.print(f"wrote {shape} to {written}", highlight=False, soft_wrap=True)
        if name is not None:
            from keel.data.versioning import add

            _print_version(add(written, name, message=f"ingested from {source}", origin=_origin(source)))
    elif name is not None:
        _ingest_to_dataset(src, source, name)


def _ingest_to_dataset(src: Source, source: str, name: str) -> None:
    """Stream into a Parquet file in a private temporary folder, snapshot it with ``source`` recorded as its
    origin, and remove the folder (with the pointer file that :func:`keel.data.versioning.add` wrote in it)."""
    from keel.config import get_settings
    from keel.data.versioning import add

    staging = get_settings().home / "cache" / "staging" / uuid.uuid4().hex
    staging.mkdir(parents=True)
    try:
        written, shape = _write(src, staging / f"{name}.parquet")
        version = add(written, name, message=f"ingested from {source}", origin=_origin(source))
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    console.print(f"ingested {shape} from {source}", highlight=False, soft_wrap=True)
    _print_version(version)


def _origin(source: str) -> str:
    """What the version records as its source: the URL as given, a local path made absolute."""
    from keel.data.staging import is_remote_source

    return source if is_remote_source(source) else str(Path(source).absolute())


def _write(src: Source, out: Path) -> tuple[Path, str]:
    """Stream ``src`` into the Parquet file ``out`` under a progress bar; the path written and "N rows × C columns"."""
    import pyarrow.parquet as pq

    from keel.data.sources import ingest as ingest_source

    with _progress_bar() as update:
        written = ingest_source(src, out, progress=update)
    meta = pq.read_metadata(written)
    return written, f"{meta.num_rows:,} rows × {meta.num_columns} columns"


def _print_version(version: DatasetVersion) -> None:
    console.print(f"dataset {version.ref} (id {version.id})", highlight=False)


@contextmanager
def _progress_bar() -> Iterator[Callable[[int, int | None], None]]:
    """A Rich bar on stderr counting rows (pulsing while the total is unknown, as for CSV or SQL).

    Off when stderr is not interactive (a pipe, a file, a test): a transient bar draws nothing there, but Rich's
    ``Progress.stop`` still prints a newline, which would put a blank line before any error printed after it.
    """
    err = Console(stderr=True)
    bar = Progress(TextColumn("ingesting"), BarColumn(), MofNCompleteColumn(), TextColumn("rows"),
                   TimeElapsedColumn(), console=err, transient=True, disable=not err.is_interactive)
    task = bar.add_task("ingesting", total=None)

    def update(done: int, total: int | None) -> None:
        bar.update(task, completed=done, total=total)

    with bar:
        yield update
