"""``keel data ingest SOURCE --out PATH.parquet [--name NAME]``: stream any source into one Parquet file with a
progress bar and, with ``--name``, snapshot it as the next version of a dataset."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from keel.cli.output import console

__all__ = ["ingest"]


def ingest(
    source: str = typer.Argument(..., help="A path or fsspec URL (s3://, http://…), a SQLAlchemy URL, or an API URL."),
    out: Path = typer.Option(..., "--out", "-o", help="The Parquet file to write."),
    format: str = typer.Option(None, "--format", "-f",
                               help="csv, tsv, parquet, jsonl, sql or json-api (default: from the name)."),
    query: str = typer.Option(None, "--query", "-q", help="The SQL query, for a database source."),
    batch_rows: int = typer.Option(65_536, "--batch-rows", min=1, help="Rows read per batch."),
    records_path: str = typer.Option(None, "--records-path", help="json-api: dotted path to the records list."),
    next: str = typer.Option(None, "--next", help="json-api: dotted path to the next page's link."),
    page_param: str = typer.Option(None, "--page-param", help="json-api: query parameter numbering the pages."),
    name: str = typer.Option(None, "--name", "-n", help="Also snapshot the file as the next version of this dataset."),
) -> None:
    """Read SOURCE in batches and write it to a Parquet file."""
    from keel.data.sources import ingest as ingest_source
    from keel.data.sources import read

    options: dict[str, Any] = {"query": query, "records_path": records_path, "next": next, "page_param": page_param}
    src = read(source, format=format, batch_rows=batch_rows, **{k: v for k, v in options.items() if v is not None})
    with _progress_bar() as update:
        written = ingest_source(src, out, progress=update)
    import pyarrow.parquet as pq

    meta = pq.read_metadata(written)
    console.print(f"wrote {meta.num_rows:,} rows × {meta.num_columns} columns to {written}", highlight=False,
                  soft_wrap=True)
    if name is not None:
        from keel.data.versioning import add

        version = add(written, name, message=f"ingested from {source}")
        console.print(f"dataset {version.ref} (id {version.id})", highlight=False)


@contextmanager
def _progress_bar() -> Iterator[Callable[[int, int | None], None]]:
    """A Rich bar on stderr counting rows (pulsing while the total is unknown, as for CSV or SQL)."""
    bar = Progress(TextColumn("ingesting"), BarColumn(), MofNCompleteColumn(), TextColumn("rows"),
                   TimeElapsedColumn(), console=Console(stderr=True), transient=True)
    task = bar.add_task("ingesting", total=None)

    def update(done: int, total: int | None) -> None:
        bar.update(task, completed=done, total=total)

    with bar:
        yield update
