"""``keel data validate|profile``: the validation gate and a starting suite inferred from data."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from keel.cli.output import console

if TYPE_CHECKING:
    from keel.data.validation_report import ValidationResult

__all__ = ["profile", "validate"]

_DATA_HELP = "A Parquet/CSV/TSV/JSON-lines path, a dataset ref NAME@VERSION, or its NAME.keel.yaml pointer."

_STYLES = {"pass": "green", "warn": "yellow", "fail": "red"}


def validate(data: str = typer.Argument(..., help=_DATA_HELP),
             suite: Path = typer.Option(..., "--suite", "-s", help="The YAML suite to check against."),
             json_out: Path | None = typer.Option(None, "--json", help="Write the JSON report here."),
             html_out: Path | None = typer.Option(None, "--html", help="Write the HTML report here.")) -> None:
    """Check data against a suite; exit 1 if a check at severity error fails (warn checks only report)."""
    from keel.data.entities import is_pointer
    from keel.data.suite_yaml import load_suite_file
    from keel.data.validate_run import validate as validate_data

    result = validate_data(data, load_suite_file(suite))
    if is_pointer(data) or ("@" in data and not Path(data).exists()):  # a dataset version: keep the report with it
        from keel.data.versioning import record_validation

        digest = record_validation(result.source, result.to_json(), result.success)
        console.print(f"report stored with {result.source} (validation {digest[:12]})", highlight=False)
    if json_out is not None:
        result.write_json(json_out)
    if html_out is not None:
        result.write_html(html_out)
    console.print(_table(result))
    failed = sum(c.status == "fail" for c in result.checks)
    warned = sum(c.status == "warn" for c in result.checks)
    verdict = "[green]passed[/green]" if result.success else "[red]FAILED[/red]"
    console.print(f"{verdict}: {len(result.checks)} checks on {result.row_count:,} rows, {failed} failed, "
                  f"{warned} warnings ({result.seconds:.2f} s)")
    if not result.success:
        raise typer.Exit(1)


def profile(data: str = typer.Argument(..., help=_DATA_HELP),
            out: Path = typer.Option(..., "--out", "-o", help="Where to write the inferred suite (YAML)."),
            max_set_size: int = typer.Option(20, "--max-set-size", min=1,
                                             help="Strings with at most this many distinct values get an in_set.")
            ) -> None:
    """Infer a starting suite (columns, dtypes, not-null, ranges, value sets, row count) and write it as YAML."""
    from keel.data.suite_yaml import dump_suite
    from keel.data.validate_run import profile as profile_data

    suite = profile_data(data, max_set_size=max_set_size)
    out.write_text(dump_suite(suite), encoding="utf-8")
    console.print(f"wrote {len(suite.checks)} checks to {out}; edit it, then run "
                  f"`keel data validate {data} --suite {out}`", highlight=False)


def _table(result: ValidationResult) -> Table:
    table = Table(title=f"{result.source} against {result.suite}")
    for column in ("#", "status", "check", "severity", "observed", "failing rows"):
        table.add_column(column)
    for check in result.checks:
        observed = json.dumps(check.observed, default=str)
        if check.message:
            observed += f" ({check.message})"
        table.add_row(str(check.index), f"[{_STYLES[check.status]}]{check.status}[/]", check.name, check.severity,
                      observed, "" if check.failing_rows is None else f"{check.failing_rows:,}")
    return table
