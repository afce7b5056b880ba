"""``keel serve MODEL_URI``: serve one model over Open Inference Protocol v2 and MLflow's ``/invocations``."""

from __future__ import annotations

import os

import typer

__all__ = ["serve"]


def serve(
    model_uri: str = typer.Argument(..., help="models:/NAME@ALIAS, models:/NAME/VERSION, runs:/ID/PATH or a folder."),
    host: str = typer.Option("127.0.0.1", help="Interface to bind."),
    port: int = typer.Option(8080, help="Port to listen on."),
    workers: int = typer.Option(1, min=1, help="Uvicorn worker processes (each loads the model)."),
) -> None:
    """Serve a model: /v2/models/NAME/infer, /invocations, /ping, /metrics."""
    import uvicorn

    from keel.serving.app import MODEL_URI_ENV

    os.environ[MODEL_URI_ENV] = model_uri  # read by the factory in every worker
    typer.echo(f"keel serve {model_uri} on http://{host}:{port}")
    uvicorn.run("keel.serving.app:create_serving_app_from_env", factory=True, host=host, port=port,
                workers=workers, log_level="warning", loop="auto", http="auto", access_log=False)
