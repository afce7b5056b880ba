"""The outcome of a validation: per-check results, the gate verdict, JSON and a self-contained HTML report."""

from __future__ import annotations

import datetime as dt
import html
import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

__all__ = ["CheckResult", "ValidationResult"]

_COLOURS = {"pass": "#1a7f37", "warn": "#9a6700", "fail": "#cf222e"}
_STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem;color:#1f2328}
table{border-collapse:collapse;width:100%}th,td{border:1px solid #d0d7de;padding:.4rem .6rem;vertical-align:top;
text-align:left}th{background:#f6f8fa}.status{color:#fff;font-weight:600;border-radius:4px;padding:.1rem .5rem}
.pass{background:#1a7f37}.warn{background:#9a6700}.fail{background:#cf222e}code,pre{font-size:.85em}
pre{margin:0;white-space:pre-wrap}summary{cursor:pointer}
"""


class CheckResult(BaseModel):
    """One check's outcome: what was observed, how many rows failed, and a few of them."""

    index: int
    name: str
    check: str
    column: str | None = None
    severity: Literal["error", "warn"]
    passed: bool
    observed: Any = None
    failing_rows: int | None = Field(default=None, description="None for schema and dataset-level checks.")
    examples: list[dict[str, Any]] = Field(default_factory=list)
    message: str | None = None

    @property
    def status(self) -> Literal["pass", "warn", "fail"]:
        """``pass``, or ``warn``/``fail`` for a failed check by its severity."""
        if self.passed:
            return "pass"
        return "warn" if self.severity == "warn" else "fail"


class ValidationResult(BaseModel):
    """Every check's result; ``success`` is False when any check at severity ``error`` failed."""

    suite: str
    source: str
    row_count: int
    success: bool
    checks: list[CheckResult]
    queries: int = Field(description="DuckDB statements that read the data: the aggregates (1 over CSV/JSON; "
                                     "statistics then a scan over columnar data), the details of failing checks, "
                                     "examples, distributions.")
    seconds: float
    created_at: dt.datetime = Field(default_factory=lambda: dt.datetime.now(dt.UTC))

    @property
    def failed(self) -> list[CheckResult]:
        """Failed checks of either severity."""
        return [c for c in self.checks if not c.passed]

    def to_json(self) -> str:
        """The result as indented JSON."""
        return json.dumps(self.model_dump(mode="json"), indent=2)

    def write_json(self, path: str | Path) -> None:
        """Write :meth:`to_json` to ``path``."""
        Path(path).write_text(self.to_json(), encoding="utf-8")

    def write_html(self, path: str | Path) -> None:
        """Write :meth:`to_html` to ``path``."""
        Path(path).write_text(self.to_html(), encoding="utf-8")

    def to_html(self) -> str:
        """A self-contained HTML page: a summary line and one table row per check, coloured by status."""
        counts = {s: sum(c.status == s for c in self.checks) for s in ("pass", "warn", "fail")}
        verdict = "passed" if self.success else "FAILED"
        rows = "\n".join(_row(c) for c in self.checks)
        title = html.escape(f"Validation of {self.source} against {self.suite}")
        return (
            f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title><style>{_STYLE}</style>"
            f"</head><body><h1>{title}</h1><p><span class='status {'pass' if self.success else 'fail'}'>"
            f"{verdict}</span> {self.row_count:,} rows · {counts['pass']} passed · {counts['warn']} warnings · "
            f"{counts['fail']} failed · {self.seconds:.3f} s · {html.escape(self.created_at.isoformat())}</p>"
            "<table><thead><tr><th>#</th><th>status</th><th>check</th><th>severity</th><th>observed</th>"
            f"<th>failing rows</th><th>examples</th></tr></thead><tbody>\n{rows}\n</tbody></table></body></html>"
        )


def _row(check: CheckResult) -> str:
    observed = html.escape(json.dumps(check.observed, default=str))
    if check.message:
        observed += f"<br><small>{html.escape(check.message)}</small>"
    failing = "" if check.failing_rows is None else f"{check.failing_rows:,}"
    examples = ""
    if check.examples:
        body = html.escape("\n".join(json.dumps(e, default=str) for e in check.examples))
        examples = f"<details><summary>{len(check.examples)} rows</summary><pre>{body}</pre></details>"
    return (f"<tr><td>{check.index}</td><td><span class='status {check.status}' style='background:"
            f"{_COLOURS[check.status]}'>{check.status}</span></td><td><code>{html.escape(check.name)}</code></td>"
            f"<td>{check.severity}</td><td>{observed}</td><td>{failing}</td><td>{examples}</td></tr>")
