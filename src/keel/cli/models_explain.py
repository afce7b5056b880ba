"""``keel models explain`` (SHAP contributions, global importance) and ``keel models card`` (the model card)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.table import Table

from keel.cli.output import console
from keel.errors import InvalidInput

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["card_cmd", "explain_cmd"]


def explain_cmd(
    ref: str = typer.Argument(..., help="NAME@ALIAS or NAME/VERSION."),
    data: str = typer.Option(..., "--data", "-d", help="Rows to explain: a dataset version NAME@vN, or a CSV/Parquet "
                             "file."),
    background: str = typer.Option(None, "--background", "-b", help="Background rows (dataset version or file); "
                                   "default: none for tree models, else a sample of --data."),
    max_rows: int = typer.Option(None, "--max-rows", "-n", min=1, help="Explain a random sample of this many rows."),
    top: int = typer.Option(10, "--top", "-k", min=1, help="How many features to list."),
    output: Path = typer.Option(None, "--output", "-o", help="Write the per-row contributions (.csv or .parquet)."),
    time_budget: float = typer.Option(300.0, "--time-budget", min=1.0,
                                      help="Seconds the model-agnostic explainer may take before it stops."),
) -> None:
    """Explain a model version with SHAP: top features by mean |SHAP|, logged to a run and to the version."""
    from keel.cli.models import _model_uri
    from keel.evaluation.explain import explain

    if output is not None and output.suffix.lower() not in (".csv", ".parquet"):
        raise InvalidInput(f"--output {str(output)!r}: use a .csv or .parquet file name", field="output")
    uri = _model_uri(ref)
    frame = read_rows(data, "data")
    back = None if background is None else read_rows(background, "background")
    total = min(len(frame), max_rows or len(frame))
    with _progress(total) as advance:
        result = explain(uri, frame, back, max_rows=max_rows, time_budget_s=time_budget, on_rows=advance)
    _print_importance(ref, result.attrs, top)
    if output is not None:
        written = result.assign(base_value=result.attrs["base_values"])
        if output.suffix.lower() == ".csv":
            written.to_csv(output)
        else:
            written.to_parquet(output)
        typer.echo(f"per-row contributions of {len(result)} rows -> {output}")


def card_cmd(
    ref: str = typer.Argument(..., help="NAME/VERSION, NAME@VERSION (a number) or NAME@ALIAS."),
    output: Path = typer.Option(None, "--output", "-o", help="card.md or card.html (default: Markdown on stdout)."),
) -> None:
    """Write the model card of a version, generated from what Keel knows about it."""
    from keel.evaluation.model_card import render_model_card

    fmt = "md"
    if output is not None:
        suffix = output.suffix.lower()
        if suffix not in (".md", ".html", ".htm"):
            raise InvalidInput(f"--output {str(output)!r}: use a .md or .html file name", field="output")
        fmt = "md" if suffix == ".md" else "html"
    name, version = _name_version(ref)
    text = render_model_card(name, version, fmt)
    if output is None:
        typer.echo(text)
        return
    output.write_text(text, encoding="utf-8")
    typer.echo(f"model card of {name} version {version} -> {output}")


def read_rows(ref: str, field: str) -> pd.DataFrame:
    """A CSV/Parquet file, or else a dataset version ``NAME@vN`` (``NAME`` for the latest)."""
    if Path(ref).is_file():
        from keel.evaluation.evaluate import load_frame

        return load_frame(ref)
    import keel.data

    try:
        return keel.data.load(ref)
    except InvalidInput as exc:
        raise InvalidInput(f"--{field} {ref!r}: {exc.message}", field=field) from exc


def _name_version(ref: str) -> tuple[str, int]:
    from keel.cli.models import get_backend, split_ref

    name, alias, version = split_ref(ref)
    if alias is not None and alias.isdigit():
        return name, int(alias)
    if alias is not None:
        return name, int(get_backend().registry.get_model_version_by_alias(name, alias).version)
    if version is None:
        raise InvalidInput(f"model: {ref!r} names no version; write NAME/VERSION or NAME@ALIAS", field="model")
    return name, version


def _print_importance(ref: str, attrs: dict[str, Any], top: int) -> None:
    typer.echo(f"{ref}: top features by mean |SHAP| on the {attrs['output']} ({attrs['explainer']} explainer)")
    table = Table()
    table.add_column("feature")
    table.add_column("importance", justify="right")
    for feature, value in list(attrs["importance"].items())[:top]:
        table.add_row(str(feature), f"{value:.4g}")
    console.print(table)
    for note in attrs.get("notes", []):
        console.print(f"[yellow]note:[/yellow] {note}", highlight=False)
    if attrs.get("run_id"):
        typer.echo(f"logged to run {attrs['run_id']}")


@contextmanager
def _progress(total: int) -> Iterator[Callable[[int], None]]:
    """A Rich bar on stderr counting explained rows."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(TextColumn("explaining"), BarColumn(), MofNCompleteColumn(), TextColumn("rows"),
                   TimeElapsedColumn(), console=Console(stderr=True), transient=True)
    task = bar.add_task("explaining", total=total)
    with bar:
        yield lambda rows: bar.advance(task, rows)
