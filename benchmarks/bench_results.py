"""``benchmarks/RESULTS.md`` is made of sections, one per benchmark script, each rewritten by its own run."""

from __future__ import annotations

import re
from pathlib import Path

__all__ = ["RESULTS", "write_section"]

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
_HEADER = "# Benchmark results\n\nWritten by `make bench`; each section is replaced by its own benchmark's run.\n"


def write_section(name: str, lines: list[str], path: Path = RESULTS) -> None:
    """Replace (or append) the section ``name`` of the results file, leaving the other sections alone."""
    text = path.read_text() if path.exists() else _HEADER
    block = f"<!-- begin {name} -->\n" + "\n".join(lines).rstrip() + f"\n<!-- end {name} -->\n"
    pattern = re.compile(rf"<!-- begin {re.escape(name)} -->.*?<!-- end {re.escape(name)} -->\n?", re.DOTALL)
    text = pattern.sub(lambda _m: block, text) if pattern.search(text) else text.rstrip() + "\n\n" + block
    path.write_text(text)
