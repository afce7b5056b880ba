"""``keel data …``: ingest, version, inspect and validate datasets.

Each concern keeps its commands in its own module and registers them here.
"""

from __future__ import annotations

import typer

__all__ = ["app"]

app = typer.Typer(help="Datasets: ingest, version, diff, check out, validate.", no_args_is_help=True)

# Registrations, one line each: app.command("NAME")(module.function) or app.add_typer(...).
