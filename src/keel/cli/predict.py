"""``keel predict MODEL_URI --input PATH --output PATH``: batch scoring into a resumable Parquet directory."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from keel.cli.output import console

if TYPE_CHECKING:
    from keel.serving.batch import BatchProgress

__all__ = ["predict"]


def predict(
    model_uri: str = typer.Argument(..., help="models:/NAME@ALIAS, models:/NAME/VERSION, runs:/ID/PATH or a folder."),
    input: str = typer.Option(..., "--input", "-i", help="A CSV file, a Parquet file, a directory of Parquet files, "
                              "or a dataset version NAME@vN."),
    output: str = typer.Option(..., "--output", "-o", help="Directory for part-NNNNN.parquet files."),
    chunk_rows: int = typer.Option(100_000, "--chunk-rows", min=1, help="Rows scored per chunk (and per part)."),
    executor: str = typer.Option("local", "--executor", help="local, or ray (one task per chunk)."),
    ray_address: str = typer.Option(None, "--ray-address", help="Ray cluster address (default: a local Ray)."),
    column: list[str] = typer.Option([], "--column", "-c", help="Name of a prediction column (repeat for several)."),
    keep_inputs: bool = typer.Option(True, "--keep-inputs/--predictions-only",
                                     help="Write the input columns beside the predictions."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an output made by another model or input."),
) -> None:
    """Score a file with a model in chunks; rerun the same command to resume after an interruption."""
    from keel.serving.batch import batch_predict

    with _progress_bar() as update:
        result = batch_predict(model_uri, input, output, chunk_rows=chunk_rows, executor=executor,
                               ray_address=ray_address, columns=column or None, keep_inputs=keep_inputs,
                               overwrite=overwrite, progress=update)
    console.print(result.summary(), highlight=False, soft_wrap=True)


@contextmanager
def _progress_bar() -> Iterator[Callable[[BatchProgress], None]]:
    """A Rich bar on stderr counting rows (a pulsing bar while the total is unknown, as for CSV input)."""
    bar = Progress(TextColumn("scoring"), BarColumn(), MofNCompleteColumn(), TextColumn("rows"), TimeElapsedColumn(),
                   TimeRemainingColumn(), console=Console(stderr=True), transient=True)
    task = bar.add_task("scoring", total=None)

    def update(event: BatchProgress) -> None:
        bar.update(task, completed=event.rows_done, total=event.total_rows)

    with bar:
        yield update
