"""``keel serve MODEL_URI`` or ``keel serve --deployment D``: Open Inference Protocol v2 and ``/invocations``."""

from __future__ import annotations

import os

import typer

from keel.errors import InvalidInput

__all__ = ["serve"]


def serve(
    model_uri: str = typer.Argument(None, help="models:/NAME@ALIAS, models:/NAME/VERSION, runs:/ID/PATH or a folder."),
    deployment: str = typer.Option(None, "--deployment", "-d", help="Serve a stored deployment (keel deploy)."),
    name: str = typer.Option(None, help="Name the model answers to (default: from the URI or the deployment)."),
    host: str = typer.Option("127.0.0.1", help="Interface to bind."),
    port: int = typer.Option(8080, help="Port to listen on."),
    workers: int = typer.Option(1, min=1, help="Uvicorn worker processes (each loads the model)."),
    max_batch_size: int = typer.Option(None, min=1, help="Stack concurrent requests into predict calls of up to N "
                                       "rows; 1 turns batching off (default: 64, or the deployment's setting)."),
    max_wait_ms: float = typer.Option(None, min=0, help="Longest a request waits for a batch to fill; a batch "
                                      "leaves sooner when requests stop coming for a quarter of it, and a lone "
                                      "client never waits (default: 2)."),
    poll_interval: float = typer.Option(10.0, min=0, help="Seconds between checks for a moved alias or a new "
                                        "deployment revision (0: never)."),
    log_predictions: bool = typer.Option(True, help="Append every prediction to the prediction log."),
    auth: bool = typer.Option(False, "--auth", help="Require API tokens (see `keel users` / `keel tokens`)."),
) -> None:
    """Serve a model or a deployment: /v2/models/NAME/infer, /invocations, /ping, /metrics."""
    import uvicorn

    from keel.serving.app import SERVE_OPTIONS_ENV, ServeOptions

    if (model_uri is None) == (deployment is None):
        raise InvalidInput("give a MODEL_URI or --deployment NAME (one of the two)", field="model_uri")
    options = ServeOptions(model_uri, deployment, name, max_batch_size, max_wait_ms, poll_interval, log_predictions)
    options.batch()  # bad knobs fail here, with exit code 2, not inside a worker
    os.environ[SERVE_OPTIONS_ENV] = options.to_env()  # read by the factory in every worker
    if auth:
        os.environ["KEEL_AUTH"] = "1"
        from keel.config import reset_settings

        reset_settings()
    typer.echo(f"keel serve {model_uri or 'deployment ' + deployment} on http://{host}:{port}")
    uvicorn.run("keel.serving.app:create_serving_app_from_env", factory=True, host=host, port=port,
                workers=workers, log_level="warning", loop="auto", http="auto", access_log=False,
                proxy_headers=False, server_header=False)
