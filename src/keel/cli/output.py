"""Rich tables for the CLI."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:  # importing keel.tracking would load the whole tracking SDK into every command
    from keel.tracking.entities import Run

__all__ = ["console", "format_ms", "runs_table"]

console = Console() if Console().is_terminal else Console(width=200)


def format_ms(ms: int | None) -> str:
    """Epoch milliseconds as local time."""
    if not ms:
        return ""
    return dt.datetime.fromtimestamp(ms / 1000).strftime("%Y-%m-%d %H:%M:%S")


def runs_table(runs: Sequence[Run], title: str = "runs", max_columns: int = 4) -> Table:
    """A table of runs with the most common metrics and params as columns."""
    metric_keys = sorted({k for r in runs for k in r.metrics})[:max_columns]
    param_keys = sorted({k for r in runs for k in r.params})[:max_columns]
    table = Table(title=title)
    for name in ("run_id", "name", "status", "started"):
        table.add_column(name, no_wrap=True)
    for key in metric_keys:
        table.add_column(key, justify="right", style="cyan")
    for key in param_keys:
        table.add_column(key, style="magenta")
    for run in runs:
        i = run.info
        cells = [i.run_id, i.run_name or "", i.status, format_ms(i.start_time)]
        cells += [f"{run.metrics[k].value:.4g}" if k in run.metrics else "" for k in metric_keys]
        cells += [run.params.get(k, "") for k in param_keys]
        table.add_row(*cells)
    return table
