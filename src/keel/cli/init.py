"""``keel init --ci github``: a GitHub Actions workflow running the project's tests and Keel's gates.

The workflow's gates are plain ``keel`` commands, each exiting non-zero with one line when it refuses: the data
validation gate (``keel data validate``), an optional pipeline run (``keel run``) and the promotion gate
(``keel models promote --version latest``).
"""

from __future__ import annotations

import shlex
from pathlib import Path

import typer

from keel.cli.output import console

__all__ = ["init", "render_github_workflow"]


def render_github_workflow(*, data: str, suite: str, model: str, eval_data: str, target: str,
                           require: list[str], pipeline: str | None, python: str = "3.11") -> str:
    """The workflow YAML text for the given gates."""
    requires = " ".join(f"--require {shlex.quote(r)}" for r in require)
    steps = [
        ("Install", "pip install --upgrade pip\n          if [ -f pyproject.toml ]; then pip install -e .; fi\n"
                    "          if [ -f requirements.txt ]; then pip install -r requirements.txt; fi\n"
                    "          pip install keel-mlops pytest"),
        ("Tests", "if [ -d tests ]; then pytest -q; fi"),
        ("Data validation gate", f"keel data validate {shlex.quote(data)} --suite {shlex.quote(suite)}"),
    ]
    if pipeline:
        steps.append(("Training pipeline", f"keel run {shlex.quote(pipeline)}"))
    steps.append(("Promotion gate", f"keel models promote {shlex.quote(model)} --version latest --data "
                                    f"{shlex.quote(eval_data)} --target {shlex.quote(target)} {requires} "
                                    "--must-beat champion".replace("  ", " ")))
    body = "\n".join(f"      - name: {name}\n        run: |\n          {cmd}" for name, cmd in steps)
    return f"""# Written by `keel init --ci github`. Each gate is a keel command that exits non-zero with one line when
# it refuses, which fails the job. KEEL_TRACKING_URI / KEEL_TOKEN point it at a shared `keel server` when set.
name: keel
on:
  push:
  pull_request:
jobs:
  gates:
    runs-on: ubuntu-latest
    env:
      KEEL_TRACKING_URI: ${{{{ secrets.KEEL_TRACKING_URI }}}}
      KEEL_TOKEN: ${{{{ secrets.KEEL_TOKEN }}}}
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-python@v5
        with:
          python-version: "{python}"
{body}
"""


def init(ci: str = typer.Option(..., "--ci", help="CI system to write a workflow for: github."),
         data: str = typer.Option("data/train.csv", "--data", help="Data the validation gate checks."),
         suite: str = typer.Option("suite.yaml", "--suite", help="The check suite (keel data profile writes one)."),
         model: str = typer.Option("model", "--model", help="Registered model the promotion gate evaluates."),
         eval_data: str = typer.Option("data/holdout.csv", "--eval-data", help="Evaluation data for the gate."),
         target: str = typer.Option("target", "--target", help="Label column of the evaluation data."),
         require: list[str] = typer.Option(["accuracy >= 0.9"], "--require", help="Promotion condition(s)."),
         pipeline: str = typer.Option(None, "--pipeline", help="FILE.py:PIPELINE to run before the gate."),
         force: bool = typer.Option(False, "--force", help="Overwrite an existing workflow.")) -> None:
    """Write .github/workflows/keel.yml running tests, the data validation gate and the promotion gate."""
    from keel.errors import AlreadyExists, InvalidInput

    if ci != "github":
        raise InvalidInput(f"--ci {ci!r} is not supported: use github", field="ci")
    path = Path(".github") / "workflows" / "keel.yml"
    if path.exists() and not force:
        raise AlreadyExists(f"{path} exists; pass --force to overwrite it", field="path")
    text = render_github_workflow(data=data, suite=suite, model=model, eval_data=eval_data, target=target,
                                  require=require, pipeline=pipeline)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.replace(path)
    console.print(f"wrote {path}: tests, data validation gate, "
                  f"{'pipeline run, ' if pipeline else ''}promotion gate")
