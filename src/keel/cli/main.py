"""Root of the CLI; maps Keel errors to exit code 2 and one readable line."""

from __future__ import annotations

import sys
from functools import cache
from importlib import import_module
from typing import Any

import typer
from rich.console import Console

from keel.errors import KeelError

app: typer.Typer  # the whole CLI, built on first use (see __getattr__ below)

__all__ = ["app", "build_app", "main"]

# name -> (module, attribute), in the order of `keel --help`: a command group (a Typer sub-app) or a single command.
# A command line naming one of them builds the root with that entry alone, importing one module instead of all of
# them (~40 ms of start-up).
_ENTRIES = {
    "experiments": ("experiments", "app"), "runs": ("runs", "app"), "models": ("models", "app"),
    "deploy": ("deploy", "app"), "data": ("data", "app"), "remote": ("data_remotes", "app"),
    "features": ("features", "app"), "pipelines": ("pipelines", "app"), "monitor": ("monitor", "app"),
    "alerts": ("monitor", "alerts_app"), "run": ("pipelines", "run"), "server": ("server", "serve"),
    "serve": ("serve", "serve"), "predict": ("predict", "predict"), "lineage": ("lineage", "lineage"),
    "audit": ("audit", "app"), "schedule": ("schedules", "schedule_app"), "trigger": ("schedules", "trigger_app"),
    "scheduler": ("schedules", "scheduler"), "init": ("init", "init"), "ui": ("ui", "ui"),
    "users": ("users", "users_app"), "tokens": ("users", "tokens_app"), "projects": ("projects", "projects_app"),
    "members": ("projects", "members_app"),
}


def _load(entry: tuple[str, str]) -> Any:
    return getattr(import_module(f"keel.cli.{entry[0]}"), entry[1])


@cache
def build_app(only: str | None = None) -> typer.Typer:
    """The root Typer app: every command, or with ``only`` that group or command alone (plus ``version``)."""
    root = typer.Typer(name="keel", help="Keel: the ML lifecycle in one package.", no_args_is_help=True,
                       pretty_exceptions_enable=False, add_completion=False)
    for name, entry in _ENTRIES.items():
        if only not in (None, name):
            continue
        loaded = _load(entry)
        if isinstance(loaded, typer.Typer):
            root.add_typer(loaded, name=name)
        else:
            root.command(name)(loaded)
    if only in (None, "models"):
        _model_approvals()
    root.command("version")(version)
    return root


def _model_approvals() -> None:
    """``keel models approve|requests`` live with the projects' approval workflow; attached once."""
    models, projects = import_module("keel.cli.models"), import_module("keel.cli.projects")
    if not any(c.name == "approve" for c in models.app.registered_commands):
        models.app.command("approve")(projects.approve)
        models.app.command("requests")(projects.requests)


err_console = Console(stderr=True)


def version() -> None:
    """Print Keel's version."""
    from keel import __version__  # package metadata: read only when asked

    typer.echo(f"keel {__version__}")


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``keel`` console script."""
    args = sys.argv[1:] if argv is None else argv
    only = args[0] if args and args[0] in _ENTRIES else None
    try:
        code = build_app(only)(args=args, standalone_mode=False)  # a typer.Exit comes back as its exit code
        if isinstance(code, int) and code:
            sys.exit(code)
    except KeelError as exc:
        err_console.print(f"[red]error:[/red] {exc.message}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except (typer.Abort, KeyboardInterrupt):
        err_console.print("[red]aborted[/red]")
        sys.exit(130)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.TyperException as exc:  # usage errors: bad option values, missing arguments
        show = getattr(exc, "show", None)
        if callable(show):
            show()
        else:
            err_console.print(f"[red]error:[/red] {exc}", highlight=False)
        sys.exit(2)


def __getattr__(name: str) -> typer.Typer:
    if name == "app":  # the whole CLI, for tools that want the Typer object (built on first use)
        return build_app()
    raise AttributeError(f"module 'keel.cli.main' has no attribute {name!r}")
