"""``keel server``: run the tracking server (Keel API + MLflow-compatible API)."""

from __future__ import annotations

import os
from pathlib import Path

import typer

__all__ = ["serve"]


def serve(
    host: str = typer.Option("127.0.0.1", help="Interface to bind."),
    port: int = typer.Option(5000, help="Port to listen on."),
    workers: int = typer.Option(1, min=1, help="Uvicorn worker processes."),
    home: Path | None = typer.Option(None, help="Keel home (default ./.keel or KEEL_HOME)."),
    db_url: str | None = typer.Option(None, help="Metadata database URL (default SQLite under home)."),
    artifact_root: str | None = typer.Option(None, help="Artifact root: a folder or any fsspec URL."),
    log_level: str = typer.Option("warning", help="Uvicorn log level."),
    auth: bool = typer.Option(False, "--auth", help="Require API tokens (see `keel users` / `keel tokens`)."),
) -> None:
    """Serve Keel's REST API, the MLflow-compatible tracking API and the artifact proxy."""
    import uvicorn

    from keel.config import get_settings, reset_settings
    from keel.store import open_database

    for name, value in (("KEEL_HOME", home), ("KEEL_DB_URL", db_url), ("KEEL_ARTIFACT_ROOT", artifact_root)):
        if value is not None:
            os.environ[name] = str(value)
    if auth:
        os.environ["KEEL_AUTH"] = "1"
    os.environ.pop("KEEL_TRACKING_URI", None)
    reset_settings()
    settings = get_settings()
    db = open_database(settings.resolved_db_url)  # migrate once, before workers start
    if settings.auth:
        from keel.governance.users import list_users

        if not list_users(db):
            typer.echo("auth is on but there are no users yet: `keel users create NAME` (the first is an admin), "
                       "then `keel tokens create --user NAME`", err=True)
    from keel.redact import redact_text

    typer.echo(f"keel server on http://{host}:{port}  (db {redact_text(settings.resolved_db_url)}, "
               f"artifacts {settings.resolved_artifact_root}, auth {'on' if settings.auth else 'off'})")
    uvicorn.run("keel.server.app:create_app", factory=True, host=host, port=port, workers=workers,
                log_level=log_level, loop="auto", http="auto", access_log=False)
