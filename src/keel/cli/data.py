"""``keel data …``: ingest, version, inspect and validate datasets.

Each concern keeps its commands in its own module and registers them here.
"""

from __future__ import annotations

import typer

from keel.cli import data_diff, data_ingest, data_remotes, data_validate, data_versions

__all__ = ["app"]

app = typer.Typer(help="Datasets: ingest, version, diff, check out, validate.", no_args_is_help=True)

# Registrations, one line each: app.command("NAME")(module.function) or app.add_typer(...).
app.command("ingest")(data_ingest.ingest)
app.command("add")(data_versions.add)
app.command("versions")(data_versions.versions)
app.command("show")(data_versions.show)
app.command("checkout")(data_versions.checkout)
app.command("diff")(data_diff.diff)
app.command("validate")(data_validate.validate)
app.command("profile")(data_validate.profile)
app.command("push")(data_remotes.push)
app.command("pull")(data_remotes.pull)
