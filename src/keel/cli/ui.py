"""``keel ui``: open the web UI in a browser — of the server already running there, or of one started for it."""

from __future__ import annotations

import subprocess
import sys
import time
import webbrowser

import typer

__all__ = ["ui"]


def _is_up(url: str) -> bool:
    import httpx

    try:
        return httpx.get(f"{url}/ui/login", timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False


def ui(
    host: str = typer.Option("127.0.0.1", help="Interface of the server."),
    port: int = typer.Option(5000, help="Port of the server."),
    page: str = typer.Option("/ui/", help="Page to open, e.g. /ui/models/NAME."),
    open_browser: bool = typer.Option(True, "--open/--no-open", help="Open a browser (else just print the URL)."),
) -> None:
    """Open the UI of `keel server` at HOST:PORT, starting `keel server` there first if nothing answers."""
    url = f"http://{host}:{port}"
    target = url + (page if page.startswith("/") else f"/{page}")
    server: subprocess.Popen[bytes] | None = None
    if not _is_up(url):
        typer.echo(f"starting keel server on {url} …")
        server = subprocess.Popen([sys.executable, "-m", "keel", "server", "--host", host, "--port", str(port)])
        deadline = time.monotonic() + 60
        while not _is_up(url):
            if server.poll() is not None or time.monotonic() > deadline:
                server.terminate()
                typer.echo(f"error: keel server did not come up on {url} (is the port taken?)", err=True)
                raise typer.Exit(2)
            time.sleep(0.2)
    typer.echo(f"Keel UI: {target}")
    if open_browser:
        webbrowser.open(target)
    if server is not None:
        typer.echo("press Ctrl-C to stop the server")
        try:
            server.wait()
        except KeyboardInterrupt:
            server.terminate()
            server.wait(10)
