"""The ``keel`` command line: one Typer sub-app per command group."""

from keel.cli.main import app, main

__all__ = ["app", "main"]
