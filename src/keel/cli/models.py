"""``keel models list|show|versions|alias|promote|export-onnx|bundle|explain|card``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from keel.cli.output import console, format_ms
from keel.errors import InvalidInput

if TYPE_CHECKING:
    from keel.tracking.context import Backend

__all__ = ["app"]


def get_backend() -> Backend:
    """The SDK backend, imported on first use: loading the tracking SDK at import time slows every command."""
    from keel.tracking.context import get_backend as backend

    return backend()

app = typer.Typer(help="Registered models: versions, aliases, promotion.", no_args_is_help=True)


def split_ref(ref: str) -> tuple[str, str | None, int | None]:
    """``NAME``, ``NAME@ALIAS`` or ``NAME/VERSION`` → (name, alias, version)."""
    if "@" in ref:
        name, alias = ref.rsplit("@", 1)
        return name, alias, None
    if "/" in ref and ref.rsplit("/", 1)[1].isdigit():
        name, version = ref.rsplit("/", 1)
        return name, None, int(version)
    if not ref:
        raise InvalidInput("model: give NAME, NAME@ALIAS or NAME/VERSION", field="model")
    return ref, None, None


@app.command("list")
def list_models(filter: str = typer.Option("", "--filter", "-f", help="e.g. \"name LIKE 'iris%'\"."),
                max_results: int = typer.Option(100, "--max-results", "-n", min=1, max=10_000)) -> None:
    """List registered models with their aliases and latest version."""
    models, _ = get_backend().registry.search_registered_models(filter or None, max_results)
    table = Table(title=f"registered models ({len(models)})")
    for column in ("name", "latest", "aliases", "updated", "description"):
        table.add_column(column)
    for rm in models:
        latest = max((mv.version for mv in rm.latest_versions), default=None)
        aliases = ", ".join(f"{a}→v{v}" for a, v in sorted(rm.aliases.items()))
        table.add_row(rm.name, "" if latest is None else f"v{latest}", aliases, format_ms(rm.last_updated_timestamp),
                      rm.description or "")
    console.print(table)


@app.command("versions")
def list_versions(name: str, max_results: int = typer.Option(100, "--max-results", "-n", min=1, max=10_000)) -> None:
    """List the versions of a registered model, newest first."""
    registry = get_backend().registry
    registry.get_registered_model(name)  # NotFound with a clear message when missing
    escaped = name.replace("'", "''")
    versions, _ = registry.search_model_versions(f"name = '{escaped}'", max_results, ["version_number DESC"])
    table = Table(title=f"{name}: versions")
    for column in ("version", "aliases", "stage", "source", "run_id", "created"):
        table.add_column(column)
    for mv in versions:
        table.add_row(str(mv.version), ", ".join(mv.aliases), mv.current_stage, mv.source or "", mv.run_id or "",
                      format_ms(mv.creation_timestamp))
    console.print(table)


@app.command("show")
def show(ref: str = typer.Argument(..., help="NAME, NAME@ALIAS or NAME/VERSION.")) -> None:
    """Show a registered model, or one version of it."""
    registry = get_backend().registry
    name, alias, version = split_ref(ref)
    if alias is None and version is None:
        rm = registry.get_registered_model(name)
        table = Table(title=f"model {rm.name}", show_header=False)
        table.add_column("field", style="bold")
        table.add_column("value")
        table.add_row("description", rm.description or "")
        table.add_row("aliases", ", ".join(f"{a}→v{v}" for a, v in sorted(rm.aliases.items())))
        for key, value in sorted(rm.tags.items()):
            table.add_row(f"tags.{key}", value)
        console.print(table)
        return
    mv = registry.get_model_version_by_alias(name, alias) if alias else registry.get_model_version(name, version)
    table = Table(title=f"{mv.name} v{mv.version}", show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value")
    for field, value in (("aliases", ", ".join(mv.aliases)), ("stage", mv.current_stage), ("source", mv.source),
                         ("run_id", mv.run_id), ("status", mv.status), ("created", format_ms(mv.creation_timestamp)),
                         ("description", mv.description), ("signature", mv.signature)):
        table.add_row(field, str(value or ""))
    for key, value in sorted(mv.tags.items()):
        table.add_row(f"tags.{key}", value)
    console.print(table)


@app.command("alias")
def set_alias(ref: str = typer.Argument(..., help="NAME@ALIAS"),
              version: int = typer.Option(None, "--version", "-v", min=1, help="Version the alias points at."),
              delete: bool = typer.Option(False, "--delete", help="Remove the alias instead.")) -> None:
    """Point an alias at a version (or remove it with --delete)."""
    name, alias, _ = split_ref(ref)
    if alias is None:
        raise InvalidInput(f"alias: {ref!r} names no alias; write NAME@ALIAS", field="alias")
    registry = get_backend().registry
    if delete:
        registry.delete_registered_model_alias(name, alias)
        typer.echo(f"removed {name}@{alias}")
        return
    if version is None:
        raise InvalidInput("alias: give --version N (or --delete)", field="version")
    registry.set_registered_model_alias(name, alias, version)
    typer.echo(f"{name}@{alias} → v{version}")


def _model_uri(ref: str) -> str:
    name, alias, version = split_ref(ref)
    if alias is None and version is None:
        raise InvalidInput(f"model: {ref!r} names no version; write NAME@ALIAS or NAME/VERSION", field="model")
    return f"models:/{name}@{alias}" if alias else f"models:/{name}/{version}"


@app.command("promote")
def promote_version(
    name: str = typer.Argument(..., help="Registered model name."),
    version: str = typer.Option(..., "--version", "-v", help="Candidate version: a number, or latest."),
    alias: str = typer.Option("champion", "--alias", "-a", help="Alias to move when the gate passes."),
    data: str = typer.Option(..., "--data", "-d", help="Evaluation data: a CSV or Parquet file."),
    target: str = typer.Option(..., "--target", "-t", help="Column holding the true labels/values."),
    task: str = typer.Option("classification", help="classification or regression."),
    require: list[str] = typer.Option([], "--require", "-r", help="Condition, e.g. \"accuracy >= 0.9\"."),
    must_beat: str = typer.Option(None, "--must-beat", help="Alias whose holder the candidate must match or beat."),
) -> None:
    """Evaluate a version and move the alias only if every condition holds (exit 1 when refused: a CI gate)."""
    from keel.evaluation import promote

    number = _version_number(name, version)
    decision = promote(name, number, alias, data, target, task=task, require=require, must_beat=must_beat)
    console.print(decision.summary(), highlight=False)
    if not decision.promoted:
        raise typer.Exit(1)


def _version_number(name: str, version: str) -> int:
    """``3`` -> 3; ``latest`` -> the newest version of ``name`` (a CI gate promotes what the pipeline just trained)."""
    if version.isdigit() and int(version) >= 1:
        return int(version)
    if version != "latest":
        raise InvalidInput(f"--version {version!r} is not a version number or 'latest'", field="version")
    versions, _ = get_backend().registry.search_model_versions(f"name = '{name}'")
    if not versions:
        raise InvalidInput(f"model {name!r} has no versions to promote", field="version")
    return max(int(v.version) for v in versions)


@app.command("export-onnx")
def export_onnx_cmd(
    ref: str = typer.Argument(..., help="NAME@ALIAS or NAME/VERSION."),
    opset: int = typer.Option(None, "--opset", min=1, help="Target ONNX opset (default: the converter's)."),
    tolerance: float = typer.Option(1e-4, "--tolerance", min=0.0, help="Largest accepted native/ONNX difference."),
) -> None:
    """Convert a version to ONNX, check it predicts like the native model, and store it as a flavor."""
    from keel.registry.onnx_export import export_onnx

    result = export_onnx(_model_uri(ref), target_opset=opset, tolerance=tolerance)
    typer.echo(f"{result.name} v{result.version}: onnx flavor stored (opset {result.opset}, "
               f"max abs diff {result.max_abs_diff:.3g}) at {result.onnx_path}")


@app.command("bundle")
def bundle_cmd(
    ref: str = typer.Argument(..., help="NAME@ALIAS or NAME/VERSION."),
    output: Path = typer.Option(..., "--output", "-o", help="Folder to write the bundle into (new or empty)."),
    force: bool = typer.Option(False, "--force", help="Replace an earlier bundle in that folder."),
    keel_wheel: Path = typer.Option(None, "--keel-wheel", help="A keel_mlops wheel to ship instead of building one."),
) -> None:
    """Write a self-contained serving bundle: model files, pinned requirements, Keel's wheel and a Dockerfile."""
    from keel.registry.bundle import build_bundle

    with console.status(f"bundling {ref} (building Keel's wheel, pinning requirements)"):
        info = build_bundle(_model_uri(ref), output, force=force, keel_wheel=keel_wheel)
    typer.echo(info.summary())
    for note in info.warnings:
        console.print(f"[yellow]warning:[/yellow] {note}", highlight=False, soft_wrap=True)
    typer.echo(f"  docker: {info.docker_commands()}")
    typer.echo(f"  venv:   {info.venv_commands()}")


from keel.cli import models_explain  # noqa: E402 - its commands join this group

app.command("explain")(models_explain.explain_cmd)
app.command("card")(models_explain.card_cmd)
