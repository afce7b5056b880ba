"""Validation suites as YAML: load with line-accurate errors, dump for ``keel data profile``."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import ValidationError

from keel.data.validation import Distribution, Suite
from keel.errors import InvalidInput, NotFound

__all__ = ["dump_suite", "load_suite", "load_suite_file"]

_Path = tuple[str | int, ...]


def load_suite(text: str, source: str = "suite") -> Suite:
    """Parse a YAML suite; a syntax error or a bad field raises InvalidInput naming the line and the field."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else "?"
        raise InvalidInput(f"{source} line {line}: YAML syntax error: {exc.problem}; fix the YAML",
                           field="suite") from exc
    finally:
        loader.dispose()
    if node is None or not isinstance(data, dict):
        raise InvalidInput(f"{source} line 1: a suite is a mapping with a 'checks' list, e.g. "
                           "'checks: [{check: not_null, column: id}]'", field="checks")
    lines: dict[_Path, int] = {}
    _index_lines(node, (), lines)
    try:
        return Suite.model_validate(data)
    except ValidationError as exc:
        raise _located(exc, lines, source) from exc


def load_suite_file(path: str | Path) -> Suite:
    """Load a suite file; relative distribution references resolve against the file's folder."""
    path = Path(path)
    if not path.is_file():
        raise NotFound(f"suite file {path} does not exist; pass --suite PATH to a YAML suite", field="suite")
    suite = load_suite(path.read_text(encoding="utf-8"), source=str(path))
    for check in suite.checks:
        if isinstance(check, Distribution) and isinstance(check.reference, str):
            candidate = path.parent / check.reference
            if not Path(check.reference).is_absolute() and candidate.exists():
                check.reference = str(candidate)
    return suite


def dump_suite(suite: Suite) -> str:
    """The suite as YAML, listing only fields that differ from their defaults (plus each check's kind)."""
    checks = []
    for check in suite.checks:
        if isinstance(check, Distribution) and not isinstance(check.reference, str):
            raise InvalidInput(f"{check.label}: only a path or dataset ref can be written to YAML, not a "
                               f"{type(check.reference).__name__}", field="reference")
        checks.append({"check": check.check, **check.model_dump(mode="json", exclude_defaults=True)})
    return yaml.safe_dump({"name": suite.name, "checks": checks}, sort_keys=False, allow_unicode=True)


def _index_lines(node: yaml.Node, path: _Path, lines: dict[_Path, int]) -> None:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            child = (*path, key.value)
            _index_lines(value, child, lines)
            lines[child] = key.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _index_lines(item, (*path, i), lines)


def _located(exc: ValidationError, lines: dict[_Path, int], source: str) -> InvalidInput:
    """The first validation error as '<source> line N: checks[2].min: <problem>'."""
    error = exc.errors()[0]
    path: _Path = ()
    for part in error["loc"]:
        if (*path, part) in lines:  # skips the union tag pydantic inserts after a list index
            path = (*path, part)
    if error["type"] == "union_tag_invalid" and (*path, "check") in lines:
        path = (*path, "check")
    if error["type"] in ("missing", "union_tag_not_found"):
        missing = str(error["loc"][-1]) if error["type"] == "missing" else "check"
        field = _format(path) + f".{missing}" if path else missing
    else:
        field = _format(path) or "suite"
    more = len(exc.errors()) - 1
    suffix = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
    message = error["msg"].removeprefix("Value error, ")
    return InvalidInput(f"{source} line {lines.get(path, 1)}: {field}: {message}{suffix}", field=field)


def _format(path: _Path) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text
