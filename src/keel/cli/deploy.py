"""``keel deploy create|update|show|list|rollback|delete``: named route tables sending traffic to model versions.

A canary is a sequence of updates::

    keel deploy create fraud --route fraud/1
    keel deploy update fraud --canary fraud/2=10     # 90/10
    keel deploy update fraud --canary fraud/2=50     # 50/50
    keel deploy update fraud --canary fraud/2=100    # fraud/1 dropped
    keel deploy rollback fraud                       # back to 50/50
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer
from rich.table import Table

from keel.cli.output import console, format_ms
from keel.errors import InvalidInput

if TYPE_CHECKING:
    from keel.serving.deployment import Deployment, Route

__all__ = ["app"]

app = typer.Typer(help="Deployments: weighted routes to model versions (A/B, canary), shadows, rollback.",
                  no_args_is_help=True)

_ROUTE = "NAME/VERSION[=WEIGHT] or NAME@ALIAS[=WEIGHT] (weights are relative, default 1); repeat for more routes."
_SHADOW = "NAME/VERSION or NAME@ALIAS that gets a copy of each request (answer logged, never returned); repeatable."
_STICKY = "Request header or field hashed so one user always sees one variant (default: weighted random)."


def _store() -> Any:
    from keel.tracking.context import get_backend  # loads the tracking SDK: only for deploy commands

    return get_backend().deployments


def _parse(specs: list[str]) -> tuple[Route, ...]:
    from keel.serving.deployment import parse_route

    return tuple(parse_route(spec) for spec in specs)


def _traffic(d: Deployment) -> str:
    return ", ".join(f"{r.target} {r.weight:.4g}%" for r in d.routes)


def _headline(d: Deployment) -> str:
    return f"deployment {d.name} revision {d.revision} ({d.action} by {d.updated_by or '?'}): {_traffic(d)}"


def _details(d: Deployment) -> None:
    console.print(_headline(d), highlight=False, soft_wrap=True)
    table = Table()
    for column in ("target", "traffic", "kind", "model uri"):
        table.add_column(column)
    for r in d.routes:
        table.add_row(r.target, f"{r.weight:.4g}%", "route", r.model_uri)
    for s in d.shadows:
        table.add_row(s.target, "copy", "shadow", s.model_uri)
    console.print(table, highlight=False)
    batching = f"max {d.max_batch_size}, wait {d.max_wait_ms:g} ms" if d.max_batch_size > 1 else "off"
    console.print(f"sticky key: {d.sticky_key or '-- (weighted random)'}   batching: {batching}   "
                  f"created: {format_ms(d.created_at)}   updated: {format_ms(d.updated_at)}", highlight=False)
    if d.description:
        console.print(f"description: {d.description}", highlight=False)


@app.command("create")
def create(
    name: str = typer.Argument(..., help="Deployment name."),
    route: list[str] = typer.Option([], "--route", "-r", help=_ROUTE),
    shadow: list[str] = typer.Option([], "--shadow", "-s", help=_SHADOW),
    sticky_key: str = typer.Option(None, "--sticky-key", help=_STICKY),
    max_batch_size: int = typer.Option(1, "--max-batch-size", help="Adaptive micro-batching: largest batch (1 = off)."),
    max_wait_ms: float = typer.Option(2.0, "--max-wait-ms", help="Longest wait to fill a batch, in milliseconds."),
    description: str = typer.Option("", "--description", "-d"),
) -> None:
    """Create a deployment: e.g. --route fraud/3=90 --route fraud@challenger=10."""
    from keel.serving.deployment import Deployment

    d = Deployment(name, _parse(route), _parse(shadow), sticky_key, max_batch_size, max_wait_ms, description)
    _details(_store().create_deployment(d))


def _canary_routes(name: str, spec: str) -> tuple[Route, ...]:
    from keel.serving.deployment import parse_route, shift_traffic

    target, sep, percent = spec.rpartition("=")
    try:
        share = float(percent)
    except ValueError:
        share = -1.0
    if not sep or not 0 <= share <= 100:
        raise InvalidInput(f"canary: {spec!r} is not TARGET=PERCENT with PERCENT from 0 to 100, e.g. fraud/2=10",
                           field="canary")
    return shift_traffic(_store().get_deployment(name).routes, parse_route(target), share)


@app.command("update")
def update(
    name: str = typer.Argument(..., help="Deployment name."),
    route: list[str] = typer.Option([], "--route", "-r", help=f"Replaces the route table. {_ROUTE}"),
    canary: str = typer.Option(None, "--canary", "-c", help="TARGET=PERCENT: TARGET gets PERCENT of traffic, the "
                               "other routes share the rest as before (100 drops them; 0 drops TARGET)."),
    shadow: list[str] = typer.Option([], "--shadow", "-s", help=f"Replaces the shadows. {_SHADOW}"),
    no_shadows: bool = typer.Option(False, "--no-shadows", help="Remove every shadow."),
    sticky_key: str = typer.Option(None, "--sticky-key", help=_STICKY),
    no_sticky_key: bool = typer.Option(False, "--no-sticky-key", help="Back to weighted random routing."),
    max_batch_size: int = typer.Option(None, "--max-batch-size", help="Largest batch (1 = off)."),
    max_wait_ms: float = typer.Option(None, "--max-wait-ms", help="Longest wait to fill a batch, in ms."),
    description: str = typer.Option(None, "--description", "-d"),
) -> None:
    """Write the next revision; options not given keep their value."""
    from keel.serving.deployment import UNSET

    clashes = {"--route and --canary": bool(route and canary), "--shadow and --no-shadows": bool(shadow and no_shadows),
               "--sticky-key and --no-sticky-key": sticky_key is not None and no_sticky_key}
    for flags, clash in clashes.items():
        if clash:
            raise InvalidInput(f"update: give one of {flags}, not both", field="update")
    routes = _canary_routes(name, canary) if canary else _parse(route) or None
    shadows = () if no_shadows else _parse(shadow) or None
    sticky = None if no_sticky_key else sticky_key if sticky_key is not None else UNSET
    d = _store().update_deployment(name, routes=routes, shadows=shadows, sticky_key=sticky,
                                   max_batch_size=max_batch_size, max_wait_ms=max_wait_ms, description=description)
    _details(d)


@app.command("show")
def show(
    name: str = typer.Argument(..., help="Deployment name."),
    history: bool = typer.Option(False, "--history", help="Every revision, newest first."),
    revision: int = typer.Option(None, "--revision", help="One past revision."),
) -> None:
    """Show a deployment's routes and shadows, or its history."""
    if not history:
        _details(_store().get_deployment(name, revision))
        return
    revisions = _store().deployment_history(name)
    table = Table(title=f"deployment {name}: {len(revisions)} revisions")
    for column in ("rev", "action", "by", "at", "traffic", "shadows", "sticky key", "batch"):
        table.add_column(column)
    for d in revisions:
        table.add_row(str(d.revision), d.action, d.updated_by, format_ms(d.updated_at), _traffic(d),
                      ", ".join(s.target for s in d.shadows), d.sticky_key or "", str(d.max_batch_size))
    console.print(table, highlight=False)


@app.command("list")
def list_deployments() -> None:
    """List deployments with their current revision and traffic split."""
    found = _store().list_deployments()
    table = Table(title=f"deployments ({len(found)})")
    for column in ("name", "rev", "traffic", "shadows", "sticky key", "updated", "by"):
        table.add_column(column)
    for d in found:
        table.add_row(d.name, str(d.revision), _traffic(d), ", ".join(s.target for s in d.shadows),
                      d.sticky_key or "", format_ms(d.updated_at), d.updated_by)
    console.print(table, highlight=False)


@app.command("rollback")
def rollback(
    name: str = typer.Argument(..., help="Deployment name."),
    to_revision: int = typer.Option(None, "--to-revision", help="Revision to restore (default: the previous one)."),
) -> None:
    """Restore the previous route table (or --to-revision's) as a new revision."""
    _details(_store().rollback_deployment(name, to_revision))


@app.command("delete")
def delete(
    name: str = typer.Argument(..., help="Deployment name."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
) -> None:
    """Delete a deployment (servers following it stop finding it; its history stays in lineage)."""
    if not yes:
        typer.confirm(f"delete deployment {name}?", abort=True)
    _store().delete_deployment(name)
    typer.echo(f"deleted deployment {name}")
