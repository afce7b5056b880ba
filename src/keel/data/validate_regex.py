"""Regex checks over local Parquet files through polars, when it is installed (``keel-mlops[polars]``).

DuckDB matches a regex with RE2 one value at a time, at ~90 ns for a short string; polars (Rust's regex crate) reads
and matches the same columns in about half the time. So when a validation matches enough values (:data:`MIN_MATCHES`)
in local Parquet files and polars is importable, the failing-row counts of regex checks on plain-encoded string
columns, and the lengths of those columns, are computed by polars in a thread beside DuckDB's scan of the other
checks. The example rows of a failing check still come from DuckDB; dictionary-encoded columns stay there too (DuckDB
matches each distinct value once).

Only patterns that mean the same to both engines go to polars: :func:`rust_pattern` rewrites RE2's ASCII classes
(``\\d``, ``\\w``, ``\\s``, Unicode-aware in Rust) as explicit sets and returns None for any construct whose meaning
could differ (flags, word boundaries, Unicode classes, class set operations, a ``{`` that is not a repetition...);
those checks stay in DuckDB, as does everything if polars fails to read the files.
"""

from __future__ import annotations

import importlib.util
import os
import re
import sys
import threading
from typing import Any

__all__ = ["MIN_MATCHES", "ColumnFacts", "available", "plain_name", "rust_pattern"]

# rows x regex checks handed over; below this, starting polars (~0.1 s to import) costs more than its faster
# matching saves (measured on 2 cores: 1M rows x 2 checks 0.19 s with polars, 0.16 s without; 3M x 2: 0.31, 0.40 s)
MIN_MATCHES = 4_000_000

# RE2's Perl classes are ASCII-only; Rust's are Unicode-aware unless spelled out
_PERL = {"d": "0-9", "w": "0-9A-Za-z_", "s": r"\t\n\f\r "}
_SAME_ESCAPES = set("tnrfv")
_POSIX = {"alnum", "alpha", "ascii", "blank", "cntrl", "digit", "graph", "lower", "print", "punct", "space", "upper",
          "word", "xdigit"}
_HEX = re.compile(r"x(?:[0-9A-Fa-f]{2}|\{[0-9A-Fa-f]{1,6}\})")
_REPEAT = re.compile(r"\{(0|[1-9]\d{0,3})(?:,((?:0|[1-9]\d{0,3})?))?\}")  # RE2: no leading zeros
_NOTHING_TO_REPEAT = ("(", "(?:", "|", "^", "$", "\\A", "\\z")
_GROUP_NAME = re.compile(r"\(\?P<[A-Za-z_][A-Za-z0-9_]*>")


_forked_after_polars = False  # polars' thread pool does not survive fork(): a child must leave it alone


def _after_fork_in_child() -> None:
    global _forked_after_polars
    _forked_after_polars = _forked_after_polars or "polars" in sys.modules


os.register_at_fork(after_in_child=_after_fork_in_child)


def available() -> bool:
    """Whether polars is installed (without importing it) and safe to use here: not in a process forked after
    polars was loaded (pipeline steps and tuning trials run in forked workers), where its threads would be gone."""
    return not _forked_after_polars and importlib.util.find_spec("polars") is not None


def plain_name(column: str) -> bool:
    """Whether polars' ``pl.col(column)`` names just that column (``*`` and ``^…$`` select by pattern)."""
    return column != "*" and not (column.startswith("^") and column.endswith("$"))


def rust_pattern(pattern: str) -> str | None:
    """``pattern`` (RE2 syntax, as DuckDB reads it) spelled so that Rust's regex crate matches exactly the same
    strings, or None if it uses a construct this translation does not vouch for."""
    out: list[str] = []
    i = 0
    repeated = "none"  # after an atom: "none"; after a quantifier: "once"; after a lazy one's '?': "lazy"
    while i < len(pattern):
        char = pattern[i]
        quantifier = char in "*+?" or (char == "{" and _repeat(pattern, i) is not None)
        if quantifier:  # RE2 refuses a quantifier with nothing to repeat, or two in a row (but for laziness)
            if not out or out[-1] in _NOTHING_TO_REPEAT or repeated == "lazy" or (repeated == "once" and char != "?"):
                return None
            repeated = "lazy" if repeated == "once" else "once"
        else:
            repeated = "none"
        if char == "\\":
            piece, i = _escape(pattern, i + 1, in_class=False)
        elif char == "[":
            piece, i = _char_class(pattern, i + 1)
        elif char == "(":
            piece, i = _group(pattern, i)
        elif char == "{":
            found = _repeat(pattern, i)
            piece, i = (found[0], found.end()) if found else (None, i)
        else:
            piece, i = char, i + 1
        if piece is None:
            return None
        out.append(piece)
    return "".join(out)


def _repeat(pattern: str, i: int) -> re.Match[str] | None:
    """A counted repetition at ``i`` within RE2's limit of 1000 (beyond it RE2 refuses the pattern)."""
    found = _REPEAT.match(pattern, i)
    if found is None:
        return None
    low, high = int(found[1]), found[2]
    if low > 1000 or (high not in (None, "") and not low <= int(high) <= 1000):
        return None
    return found


def _escape(pattern: str, i: int, *, in_class: bool) -> tuple[str | None, int]:
    """The escape after a backslash at ``i - 1``; returns its Rust spelling and the index after it."""
    if i >= len(pattern):
        return None, i
    char = pattern[i]
    if char.lower() in _PERL:
        members = _PERL[char.lower()]
        if char.islower():
            return (members if in_class else f"[{members}]"), i + 1
        return (None if in_class else f"[^{members}]"), i + 1
    if char in _SAME_ESCAPES or (char in "Az" and not in_class):
        return "\\" + char, i + 1
    hexed = _HEX.match(pattern, i)
    if hexed:
        return "\\" + hexed[0], hexed.end()
    if char.isascii() and not char.isalnum() and char.isprintable():  # escaped punctuation: a literal
        return f"\\x{{{ord(char):X}}}", i + 1
    return None, i  # \b \B \p \P \Q \C, back-references, octal: not vouched for


def _char_class(pattern: str, i: int) -> tuple[str | None, int]:
    """A bracket class whose ``[`` is at ``i - 1``."""
    out = ["["]
    if pattern.startswith("^", i):
        out.append("^")
        i += 1
    if pattern.startswith("]", i):  # a leading ']' is a literal in RE2; not vouched for
        return None, i
    while i < len(pattern):
        char = pattern[i]
        if char == "]":
            return "".join(out) + "]", i + 1
        if char == "\\":
            piece, after = _escape(pattern, i + 1, in_class=True)
            perl = pattern[i + 1:i + 2].lower() in _PERL
            if piece is None or (perl and (out[-1] == "-" or pattern.startswith("-", after))):  # a range of a set?
                return None, i
            out.append(piece)
            i = after
            continue
        if char == "[":
            named = re.match(r"\[:\^?([a-z]+):\]", pattern[i:])
            if named is None or named[1] not in _POSIX:
                return None, i  # a nested class: a set operation in Rust
            out.append(named[0])
            i += named.end()
            continue
        if char in "&-~" and pattern.startswith(char * 2, i):  # Rust's intersection, difference, symmetric difference
            return None, i
        out.append(char)
        i += 1
    return None, i


def _group(pattern: str, i: int) -> tuple[str | None, int]:
    """An opening parenthesis at ``i``: capturing, non-capturing or named; flags and look-around are refused, and
    so are empty groups (DuckDB's optimizer rewrites ``a(?:)`` as a suffix test, which RE2 would not mean)."""
    named = _GROUP_NAME.match(pattern, i)
    if pattern.startswith("(?:", i):
        piece, after = "(?:", i + 3
    elif named:
        piece, after = "(?:", named.end()
    elif pattern.startswith("(?", i):
        return None, i
    else:
        piece, after = "(", i + 1
    return (None, i) if pattern.startswith(")", after) else (piece, after)


class ColumnFacts:
    """Aggregates over Parquet ``files`` computed by polars in a background thread, each stored under the key DuckDB
    would store it under. ``specs`` maps a key to ``("regex", column, rust_pattern)`` (rows that do not match),
    ``("min_length"|"max_length", column)`` or ``("length_outside", column, min, max)`` (rows whose length in
    characters, as DuckDB's ``length`` counts them, lies outside; None for an open side).

    :meth:`result` waits and returns the values, or None if polars could not compute them (a file it cannot read, a
    schema that differs between files, a pattern the crate refuses); then DuckDB computes them."""

    def __init__(self, files: list[str], specs: dict[str, tuple[Any, ...]]) -> None:
        self.files, self.specs = files, specs
        self._values: dict[str, int | None] | None = None
        self._thread = threading.Thread(target=self._run, name="keel-column-facts", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            import polars as pl

            exprs = [_expression(pl, spec).alias(f"f{n}") for n, spec in enumerate(self.specs.values())]
            row = pl.scan_parquet(self.files).select(exprs).collect(engine="streaming").row(0)
            self._values = {key: None if row[n] is None else int(row[n]) for n, key in enumerate(self.specs)}
        except Exception:  # noqa: BLE001 - any failure hands the aggregates back to DuckDB
            self._values = None

    def result(self) -> dict[str, int | None] | None:
        """The values by key once polars is done, or None if it failed."""
        self._thread.join()
        return self._values


def _expression(pl: Any, spec: tuple[Any, ...]) -> Any:
    kind, column = spec[0], pl.col(spec[1]).cast(pl.String)  # (a column stored as an Arrow dictionary is categorical)
    if kind == "regex":
        return (~column.str.contains(spec[2], strict=True)).sum()
    length = column.str.len_chars()
    if kind == "min_length":
        return length.min()
    if kind == "max_length":
        return length.max()
    low, high = spec[2], spec[3]
    outside = pl.lit(False)
    if low is not None:
        outside = outside | (length < low)
    if high is not None:
        outside = outside | (length > high)
    return outside.sum()
