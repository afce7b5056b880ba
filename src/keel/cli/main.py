"""Root of the CLI; maps Keel errors to exit code 2 and one readable line."""

from __future__ import annotations

import sys

import typer
from rich.console import Console

from keel.cli import (
    audit,
    data,
    data_remotes,
    deploy,
    experiments,
    features,
    init,
    lineage,
    models,
    monitor,
    pipelines,
    predict,
    projects,
    runs,
    schedules,
    serve,
    server,
    ui,
    users,
)
from keel.errors import KeelError

__all__ = ["app", "main"]

app = typer.Typer(name="keel", help="Keel: the ML lifecycle in one package.", no_args_is_help=True,
                  pretty_exceptions_enable=False, add_completion=False)
app.add_typer(experiments.app, name="experiments")
app.add_typer(runs.app, name="runs")
app.add_typer(models.app, name="models")
app.add_typer(deploy.app, name="deploy")
app.add_typer(data.app, name="data")
app.add_typer(data_remotes.app, name="remote")
app.add_typer(features.app, name="features")
app.add_typer(pipelines.app, name="pipelines")
app.add_typer(monitor.app, name="monitor")
app.add_typer(monitor.alerts_app, name="alerts")
app.command("run")(pipelines.run)
app.command("server")(server.serve)
app.command("serve")(serve.serve)
app.command("predict")(predict.predict)
app.command("lineage")(lineage.lineage)
app.add_typer(audit.app, name="audit")
app.add_typer(schedules.schedule_app, name="schedule")
app.add_typer(schedules.trigger_app, name="trigger")
app.command("scheduler")(schedules.scheduler)
app.command("init")(init.init)
app.command("ui")(ui.ui)
app.add_typer(users.users_app, name="users")
app.add_typer(users.tokens_app, name="tokens")
app.add_typer(projects.projects_app, name="projects")
app.add_typer(projects.members_app, name="members")
models.app.command("approve")(projects.approve)
models.app.command("requests")(projects.requests)

err_console = Console(stderr=True)


@app.command("version")
def version() -> None:
    """Print Keel's version."""
    from keel import __version__  # package metadata: read only when asked

    typer.echo(f"keel {__version__}")


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``keel`` console script."""
    try:
        code = app(args=argv, standalone_mode=False)  # a typer.Exit comes back as its exit code
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
