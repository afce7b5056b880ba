"""The search_runs grammar: filter strings and order_by clauses parsed into a small AST.

This is MLflow's grammar, hand-parsed (a tokenizer plus recursive descent) so the module stays pure::

    filter  := clause (AND clause)*
    clause  := ident op value
    ident   := prefix "." key | attribute          (a bare word is an attribute, e.g. ``status``)
    prefix  := metric(s) | param(s) | parameter(s) | tag(s) | attribute(s) | attr | run | dataset(s)
    key     := word chars and . / : - | `backticked` | "double quoted"
    op      := = | != | > | >= | < | <= | LIKE | ILIKE | IN | NOT IN | IS NULL | IS NOT NULL
    value   := 'string' | "string" | number | ( 'string', ... )

Strings escape their own quote by doubling it (``'it''s'``). LIKE and ILIKE patterns use ``%`` and ``_`` as
wildcards and ``\\`` as the escape character. ``order_by`` entries are ``ident [ASC|DESC]``.

Every malformed input raises :class:`~keel.errors.InvalidInput` naming the offending token, its position and
the fix. :func:`format_filter` and :func:`format_order_by` render an AST back to text that parses to the same
AST.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Literal

from keel.errors import InvalidInput

__all__ = [
    "ATTRIBUTE_KEYS",
    "DATASET_KEYS",
    "NUMERIC_ATTRIBUTES",
    "STRING_ATTRIBUTES",
    "Comparison",
    "Kind",
    "OrderKey",
    "format_filter",
    "format_order_by",
    "parse_filter",
    "parse_order_by",
]

Kind = Literal["metric", "param", "tag", "attribute", "dataset"]
Value = float | str | tuple[str, ...] | None


@dataclass(frozen=True)
class Comparison:
    """One ``ident op value`` clause.

    ``op`` is one of ``= != > >= < <= LIKE ILIKE IN NOT IN IS NULL IS NOT NULL``. ``value`` is a number for
    metrics and numeric attributes, a string for the rest, a tuple of strings for IN / NOT IN and None for the
    IS [NOT] NULL tests. Attribute keys are canonical (``created`` becomes ``start_time``).
    """

    kind: Kind
    key: str
    op: str
    value: Value


@dataclass(frozen=True)
class OrderKey:
    """One order_by entry; attribute keys are canonical as in :class:`Comparison`."""

    kind: Kind
    key: str
    ascending: bool = True


_PREFIXES: dict[str, Kind] = {
    "metric": "metric", "metrics": "metric",
    "param": "param", "params": "param", "parameter": "param", "parameters": "param",
    "tag": "tag", "tags": "tag",
    "attribute": "attribute", "attributes": "attribute", "attr": "attribute", "run": "attribute",
    "dataset": "dataset", "datasets": "dataset",
}  # fmt: skip
_RENDER_PREFIX: dict[Kind, str] = {
    "metric": "metrics", "param": "params", "tag": "tags", "attribute": "attributes", "dataset": "datasets",
}  # fmt: skip

STRING_ATTRIBUTES = frozenset({"run_id", "run_name", "status", "user_id", "artifact_uri", "lifecycle_stage"})
NUMERIC_ATTRIBUTES = frozenset({"start_time", "end_time"})
ATTRIBUTE_KEYS = STRING_ATTRIBUTES | NUMERIC_ATTRIBUTES
_ATTRIBUTE_ALIASES = {"created": "start_time", "run name": "run_name"}
DATASET_KEYS = frozenset({"name", "digest", "context"})

_NUMERIC_OPS = ("=", "!=", ">", ">=", "<", "<=")
_STRING_OPS = ("=", "!=", "LIKE", "ILIKE")
_OPS_BY_KIND: dict[str, tuple[str, ...]] = {
    "metric": _NUMERIC_OPS,
    "param": (*_STRING_OPS, "IS NULL", "IS NOT NULL"),
    "tag": (*_STRING_OPS, "IS NULL", "IS NOT NULL"),
    "dataset": (*_STRING_OPS, "IN", "NOT IN"),
    "numeric attribute": _NUMERIC_OPS,
    "string attribute": _STRING_OPS,
    "run_id": (*_STRING_OPS, "IN", "NOT IN"),
}
_KEYWORDS = frozenset({"and", "or", "not", "in", "is", "null", "like", "ilike"})

_TOKEN = re.compile(
    r"""(?P<ws>\s+)
    | (?P<number>[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)
    | (?P<word>[A-Za-z_]\w*)
    | (?P<op>!=|>=|<=|=|>|<)
    | (?P<punct>[(),])
    | (?P<quote>['"])
    """,
    re.VERBOSE,
)
_BARE_KEY = re.compile(r"[\w./:\-]+")


@dataclass(frozen=True)
class _Token:
    kind: Literal["word", "ident", "number", "string", "op", "punct", "end"]
    text: str  # the source text
    pos: int
    value: str = ""  # string contents, or the key of an ident
    prefix: str = ""  # the prefix of an ident


def _fail(field: str, source: str, pos: int, problem: str, fix: str) -> InvalidInput:
    near = source[pos : pos + 24] or "<end>"
    return InvalidInput(f"Invalid {field} {source!r}: {problem} at position {pos} (near {near!r}). {fix}",
                        field=field)


def _read_quoted(source: str, start: int, quote: str, field: str, doubling: bool = True) -> tuple[str, int]:
    """Read a quoted run starting at ``start`` (the opening quote); return its contents and the end offset."""
    out: list[str] = []
    i = start + 1
    while True:
        j = source.find(quote, i)
        if j < 0:
            raise _fail(field, source, start, f"unterminated {quote} quote",
                        f"Close the quote; write a literal {quote} inside as {quote}{quote}.")
        out.append(source[i:j])
        if doubling and source.startswith(quote * 2, j):
            out.append(quote)
            i = j + 2
            continue
        return "".join(out), j + 1


def _read_ident(source: str, start: int, word: str, field: str) -> tuple[_Token, int]:
    """Having read ``word`` at ``start``, read an optional ``.key`` after it."""
    i = start + len(word)
    if not source.startswith(".", i):
        return _Token("word", word, start), i
    i += 1
    if i < len(source) and source[i] in "`\"":
        key, end = _read_quoted(source, i, source[i], field, doubling=source[i] == '"')
    else:
        match = _BARE_KEY.match(source, i)
        if match is None:
            raise _fail(field, source, i, f"missing key after {word + '.'!r}",
                        f"Write a key such as {word}.acc, or quote odd keys with backticks: {word}.`my key`.")
        key, end = match.group(), match.end()
    return _Token("ident", source[start:end], start, key, word), end


def _tokenize(source: str, field: str) -> list[_Token]:
    tokens: list[_Token] = []
    i = 0
    while i < len(source):
        match = _TOKEN.match(source, i)
        if match is None:
            raise _fail(field, source, i, f"unexpected character {source[i]!r}",
                        "Identifiers look like metrics.acc; quote string values with ' or \".")
        kind = match.lastgroup
        if kind == "ws":
            i = match.end()
        elif kind == "word":
            token, i = _read_ident(source, i, match.group(), field)
            tokens.append(token)
        elif kind == "quote":
            value, end = _read_quoted(source, i, match.group(), field)
            tokens.append(_Token("string", source[i:end], i, value))
            i = end
        else:
            tokens.append(_Token(kind, match.group(), i))  # type: ignore[arg-type]
            i = match.end()
    tokens.append(_Token("end", "", len(source)))
    return tokens


class _Parser:
    """Recursive descent over the token list of one filter string or order_by entry."""

    def __init__(self, source: str, field: str) -> None:
        self.source = source
        self.field = field
        self.tokens = _tokenize(source, field)
        self.i = 0

    def peek(self) -> _Token:
        return self.tokens[self.i]

    def next(self) -> _Token:
        token = self.tokens[self.i]
        self.i += 1
        return token

    def is_word(self, *words: str) -> bool:
        token = self.peek()
        return token.kind == "word" and token.text.lower() in words

    def fail(self, token: _Token, problem: str, fix: str) -> InvalidInput:
        return _fail(self.field, self.source, token.pos, problem, fix)

    def parse_filter(self) -> list[Comparison]:
        clauses = [self.clause()]
        while self.peek().kind != "end":
            if self.is_word("and"):
                self.next()
                clauses.append(self.clause())
            elif self.is_word("or"):
                raise self.fail(self.peek(), "OR is not supported",
                                "Clauses can only be joined with AND; run one search per alternative.")
            else:
                raise self.fail(self.peek(), f"unexpected {self.peek().text!r} after a complete clause",
                                "Join clauses with AND, e.g. metrics.acc > 0.9 AND params.lr = '0.1'.")
        return clauses

    def clause(self) -> Comparison:
        kind, key = self.identifier()
        op_token = self.peek()
        op = self.operator()
        value = self.value(op)
        return _check_clause(self, op_token, kind, key, op, value)

    def identifier(self) -> tuple[Kind, str]:
        token = self.next()
        if token.kind == "ident":
            kind = _PREFIXES.get(token.prefix.lower())
            if kind is None:
                raise self.fail(token, f"unknown prefix {token.prefix!r}",
                                "Use metrics., params., tags., attributes. or datasets. before the key.")
            return kind, _canonical_key(self, token, kind, token.value)
        if token.kind == "word" and token.text.lower() not in _KEYWORDS:
            return "attribute", _canonical_key(self, token, "attribute", token.text)
        if token.kind == "end" or token.text.lower() == "and":
            raise self.fail(token, "empty clause", "Remove the dangling AND or add a clause there.")
        if token.text == "(":
            raise self.fail(token, "parentheses are not supported here",
                            "Parentheses only enclose IN lists; join plain clauses with AND.")
        raise self.fail(token, f"expected an identifier, got {token.text!r}",
                        "Start each clause with an identifier such as metrics.acc or params.lr.")

    def operator(self) -> str:
        token = self.next()
        if token.kind == "op":
            return token.text
        word = token.text.lower() if token.kind == "word" else ""
        if word in ("like", "ilike", "in"):
            return word.upper()
        if word == "not" and self.is_word("in"):
            self.next()
            return "NOT IN"
        if word == "is":
            negated = self.is_word("not")
            if negated:
                self.next()
            if not self.is_word("null"):
                raise self.fail(self.peek(), "IS must be followed by NULL or NOT NULL",
                                "Write params.x IS NULL or params.x IS NOT NULL.")
            self.next()
            return "IS NOT NULL" if negated else "IS NULL"
        raise self.fail(token, f"expected a comparison operator, got {token.text or 'the end'!r}",
                        "Use one of = != > >= < <= LIKE ILIKE IN, NOT IN, IS NULL, IS NOT NULL.")

    def value(self, op: str) -> Value:
        if op in ("IS NULL", "IS NOT NULL"):
            return None
        if op in ("IN", "NOT IN"):
            return self.string_list(op)
        token = self.next()
        if token.kind == "string":
            return token.value
        if token.kind == "number":
            return _number(self, token)
        raise self.fail(token, f"expected a value after {op}, got {token.text or 'the end'!r}",
                        "Quote strings ('FINISHED') and write numbers bare (0.5).")

    def string_list(self, op: str) -> tuple[str, ...]:
        fix = f"Write a parenthesized list of quoted strings, e.g. {op} ('a', 'b')."
        if self.next().text != "(":
            raise self.fail(self.tokens[self.i - 1], f"{op} needs a parenthesized list", fix)
        items: list[str] = []
        while True:
            token = self.next()
            if token.kind != "string":
                raise self.fail(token, f"expected a quoted string in the {op} list, got {token.text!r}", fix)
            items.append(token.value)
            sep = self.next()
            if sep.text == ")":
                return tuple(items)
            if sep.text != ",":
                raise self.fail(sep, f"expected , or ) in the {op} list, got {sep.text or 'the end'!r}", fix)

    def parse_order(self) -> OrderKey:
        kind, key = self.identifier()
        if kind == "dataset":
            raise self.fail(self.tokens[0], "cannot order by datasets",
                            "Order by metrics., params., tags. or attributes. keys.")
        ascending = True
        if self.is_word("asc", "desc"):
            ascending = self.next().text.lower() == "asc"
        if self.peek().kind != "end":
            raise self.fail(self.peek(), f"unexpected {self.peek().text!r}",
                            "Write an identifier and optionally ASC or DESC, e.g. 'metrics.acc DESC'.")
        return OrderKey(kind, key, ascending)


def _number(parser: _Parser, token: _Token) -> float:
    try:
        value = int(token.text)
        if abs(value) < 2**63:
            return value
    except ValueError:
        pass
    number = float(token.text)
    if math.isinf(number):
        raise parser.fail(token, f"number {token.text} is out of range", "Use a finite number.")
    return number


def _canonical_key(parser: _Parser, token: _Token, kind: Kind, key: str) -> str:
    if not key:
        raise parser.fail(token, "empty key", "Name the key, e.g. metrics.acc.")
    if kind == "attribute":
        canonical = _ATTRIBUTE_ALIASES.get(key.lower(), key.lower())
        if canonical not in ATTRIBUTE_KEYS:
            valid = ", ".join(sorted(ATTRIBUTE_KEYS | {"created"}))
            raise parser.fail(token, f"unknown attribute {key!r}",
                              f"Valid attributes: {valid}; prefix other keys with metrics., params. or tags.")
        return canonical
    if kind == "dataset" and key not in DATASET_KEYS:
        raise parser.fail(token, f"unknown dataset field {key!r}",
                          f"Valid dataset fields: {', '.join(sorted(DATASET_KEYS))}.")
    return key


def _op_group(kind: Kind, key: str) -> str:
    if kind != "attribute":
        return kind
    if key == "run_id":
        return "run_id"
    return "numeric attribute" if key in NUMERIC_ATTRIBUTES else "string attribute"


def _check_clause(parser: _Parser, op_token: _Token, kind: Kind, key: str, op: str,
                  value: Value) -> Comparison:
    group = _op_group(kind, key)
    allowed = _OPS_BY_KIND[group]
    if op not in allowed:
        raise parser.fail(op_token, f"operator {op} is not valid for {group} {key!r}",
                          f"Use one of: {', '.join(allowed)}.")
    numeric = group in ("metric", "numeric attribute")
    value_token = parser.tokens[parser.i - 1]
    if numeric and not isinstance(value, int | float):
        raise parser.fail(value_token, f"{group} {key!r} must be compared with a number",
                          "Write the number without quotes, e.g. 0.5.")
    if not numeric and isinstance(value, int | float):
        raise parser.fail(value_token, f"{group} {key!r} must be compared with a quoted string",
                          f"Quote the value, e.g. '{value_token.text}'.")
    if op in ("LIKE", "ILIKE") and isinstance(value, str) and _ends_with_lone_escape(value):
        raise parser.fail(value_token, "the pattern ends with a lone backslash escape",
                          "Write \\\\ for a literal backslash.")
    return Comparison(kind, key, op, value)


def _ends_with_lone_escape(pattern: str) -> bool:
    trailing = len(pattern) - len(pattern.rstrip("\\"))
    return trailing % 2 == 1


def parse_filter(filter_string: str | None) -> list[Comparison]:
    """Parse a search_runs ``filter`` string; None or blank means no filter."""
    if filter_string is None or not filter_string.strip():
        return []
    return _Parser(filter_string, "filter").parse_filter()


def parse_order_by(order_by: list[str] | None) -> list[OrderKey]:
    """Parse ``order_by`` entries such as ``"metrics.acc DESC"``; the default direction is ASC."""
    keys: list[OrderKey] = []
    entries = [order_by] if isinstance(order_by, str) else order_by or []  # a lone string is one entry
    for entry in entries:
        if not isinstance(entry, str) or not entry.strip():
            raise InvalidInput(f"Invalid order_by entry {entry!r}: expected a string like "
                               "'metrics.acc DESC'.", field="order_by")
        keys.append(_Parser(entry, "order_by").parse_order())
    return keys


def _render_key(kind: Kind, key: str) -> str:
    if _BARE_KEY.fullmatch(key):
        return f"{_RENDER_PREFIX[kind]}.{key}"
    if "`" not in key:
        return f"{_RENDER_PREFIX[kind]}.`{key}`"
    return f"{_RENDER_PREFIX[kind]}.\"{key.replace(chr(34), chr(34) * 2)}\""


def _render_value(value: Value) -> str:
    if value is None:
        return ""
    if isinstance(value, tuple):
        return "(" + ", ".join(_render_value(item) for item in value) + ")"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return repr(value)


def format_filter(clauses: list[Comparison]) -> str:
    """Render clauses as a filter string that :func:`parse_filter` turns back into the same clauses."""
    parts = [f"{_render_key(c.kind, c.key)} {c.op} {_render_value(c.value)}".rstrip() for c in clauses]
    return " AND ".join(parts)


def format_order_by(keys: list[OrderKey]) -> list[str]:
    """Render order keys as order_by entries that :func:`parse_order_by` turns back into the same keys."""
    return [f"{_render_key(k.kind, k.key)} {'ASC' if k.ascending else 'DESC'}" for k in keys]
