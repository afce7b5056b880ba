"""The ``keel`` command line: one Typer sub-app per command group."""

from typing import Any

import typer

from keel.cli.main import build_app, main

app: typer.Typer  # the whole CLI as one Typer object, built on first use (see __getattr__ below)

__all__ = ["app", "build_app", "main"]


def __getattr__(name: str) -> Any:
    if name == "app":  # the whole CLI as one Typer object, built on first use
        return build_app()
    raise AttributeError(f"module 'keel.cli' has no attribute {name!r}")
