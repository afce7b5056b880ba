"""The search_runs grammar: filter strings and order_by entries parsed into the AST; errors for bad input."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keel.errors import InvalidInput
from keel.tracking.search import (
    ATTRIBUTE_KEYS,
    DATASET_KEYS,
    NUMERIC_ATTRIBUTES,
    Comparison,
    OrderKey,
    format_filter,
    format_order_by,
    parse_filter,
    parse_order_by,
)

C = Comparison


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("metrics.acc > 0.9", [C("metric", "acc", ">", 0.9)]),
        ("metric.acc>=1", [C("metric", "acc", ">=", 1)]),
        ("metrics.loss <= -1.5e-3", [C("metric", "loss", "<=", -0.0015)]),
        ("metrics.loss != +2E3", [C("metric", "loss", "!=", 2000.0)]),
        ("metrics.x < .5", [C("metric", "x", "<", 0.5)]),
        ("metrics.`my metric` = 3", [C("metric", "my metric", "=", 3)]),
        ('metrics."val loss" = 3', [C("metric", "val loss", "=", 3)]),
        ("METRICS.Acc > 1", [C("metric", "Acc", ">", 1)]),
        ("params.lr = '0.1'", [C("param", "lr", "=", "0.1")]),
        ('param.lr != "0.1"', [C("param", "lr", "!=", "0.1")]),
        ("parameters.a LIKE 'x%'", [C("param", "a", "LIKE", "x%")]),
        ("parameter.a ilike '%X'", [C("param", "a", "ILIKE", "%X")]),
        ("params.a IS NULL", [C("param", "a", "IS NULL", None)]),
        ("params.a is not null", [C("param", "a", "IS NOT NULL", None)]),
        ("tags.mlflow.source.name = 'train.py'", [C("tag", "mlflow.source.name", "=", "train.py")]),
        ("tag.a/b:c-d = 'v'", [C("tag", "a/b:c-d", "=", "v")]),
        ("tags.`odd key's` = 'it''s'", [C("tag", "odd key's", "=", "it's")]),
        ('tags."say ""hi""" = "a ""b"""', [C("tag", 'say "hi"', "=", 'a "b"')]),
        ("attributes.status = 'FINISHED'", [C("attribute", "status", "=", "FINISHED")]),
        ("attribute.run_name LIKE 'r%'", [C("attribute", "run_name", "LIKE", "r%")]),
        ("attr.user_id = 'me'", [C("attribute", "user_id", "=", "me")]),
        ("run.artifact_uri != 'x'", [C("attribute", "artifact_uri", "!=", "x")]),
        ("status = 'RUNNING'", [C("attribute", "status", "=", "RUNNING")]),
        ("created > 5", [C("attribute", "start_time", ">", 5)]),
        ("attributes.`run name` = 'x'", [C("attribute", "run_name", "=", "x")]),
        ("attributes.end_time <= 10", [C("attribute", "end_time", "<=", 10)]),
        ("lifecycle_stage = 'deleted'", [C("attribute", "lifecycle_stage", "=", "deleted")]),
        ("attributes.run_id IN ('a', 'b')", [C("attribute", "run_id", "IN", ("a", "b"))]),
        ("run_id not in ('a')", [C("attribute", "run_id", "NOT IN", ("a",))]),
        ("datasets.name IN ('d1','d2')", [C("dataset", "name", "IN", ("d1", "d2"))]),
        ("dataset.digest = 'abc'", [C("dataset", "digest", "=", "abc")]),
        ("datasets.context NOT IN ('train')", [C("dataset", "context", "NOT IN", ("train",))]),
        (
            "metrics.a > 1 AND params.b = 'x' and tags.c LIKE '%'",
            [C("metric", "a", ">", 1), C("param", "b", "=", "x"), C("tag", "c", "LIKE", "%")],
        ),
        ("  metrics.a   >   1  ", [C("metric", "a", ">", 1)]),
        ("params.p LIKE 'a\\%'", [C("param", "p", "LIKE", "a\\%")]),
        ("", []),
        ("   ", []),
        (None, []),
    ],
)
def test_parse_filter(text: str | None, expected: list[Comparison]) -> None:
    assert parse_filter(text) == expected


def test_huge_integers_become_floats() -> None:
    (clause,) = parse_filter("metrics.a > 100000000000000000000")
    assert isinstance(clause.value, float)
    assert clause.value == 1e20


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("metrics.a > 1 OR metrics.b > 1", "OR is not supported"),
        ("metrics.a = 'x'", "must be compared with a number"),
        ("attributes.start_time = '5'", "must be compared with a number"),
        ("params.a = 1", "must be compared with a quoted string"),
        ("tags.a != 2.5", "must be compared with a quoted string"),
        ("status = 1", "must be compared with a quoted string"),
        ("metrics.a LIKE 1", "operator LIKE is not valid for metric"),
        ("metrics.a IS NULL", "operator IS NULL is not valid for metric"),
        ("params.a > '1'", "operator > is not valid for param"),
        ("status IN ('a')", "operator IN is not valid"),
        ("params.a IN ('a')", "operator IN is not valid for param"),
        ("params.a = 'x", "unterminated ' quote"),
        ('params.a = "x', 'unterminated " quote'),
        ("metrics.`a > 1", "unterminated ` quote"),
        ("metrics.a > 1 AND", "empty clause"),
        ("AND metrics.a > 1", "empty clause"),
        ("metrics.a > 1 AND AND metrics.b > 1", "empty clause"),
        ("metrics.a > 1 metrics.b > 2", "unexpected 'metrics.b'"),
        ("metrics.a > 1 foo", "unexpected 'foo'"),
        ("metrics.a > 1)", "unexpected ')'"),
        ("attributes.foo = 'x'", "unknown attribute 'foo'"),
        ("foo = 'x'", "unknown attribute 'foo'"),
        ("datasets.size = 'x'", "unknown dataset field 'size'"),
        ("stuff.a = 'x'", "unknown prefix 'stuff'"),
        ("metrics. > 1", "missing key after 'metrics.'"),
        ("metrics.`` > 1", "empty key"),
        ("metrics.a", "expected a comparison operator"),
        ("metrics.a == 1", "expected a value after ="),
        ("metrics.a <> 1", "expected a value after <"),
        ("metrics.a >", "expected a value after >"),
        ("metrics.a > 1e999", "out of range"),
        ("params.a is nothing", "IS must be followed by NULL"),
        ("params.a NOT LIKE 'x'", "expected a comparison operator"),
        ("(metrics.a > 1)", "parentheses are not supported"),
        ("run_id IN 'a'", "IN needs a parenthesized list"),
        ("run_id IN ()", "expected a quoted string in the IN list"),
        ("run_id IN ('a' 'b')", "expected , or ) in the IN list"),
        ("run_id IN ('a', 1)", "expected a quoted string in the IN list"),
        ("run_id IN ('a',", "expected a quoted string in the IN list"),
        ("params.a LIKE 'x\\'", "lone backslash"),
        ("metrics.a > 1 ; DROP TABLE runs", "unexpected character ';'"),
        ("`a` = 1", "unexpected character '`'"),
    ],
)
def test_parse_filter_rejects(text: str, fragment: str) -> None:
    with pytest.raises(InvalidInput) as info:
        parse_filter(text)
    assert fragment in info.value.message
    assert info.value.field == "filter"
    assert "position" in info.value.message or "entry" in info.value.message


def test_error_names_the_position_and_the_token() -> None:
    with pytest.raises(InvalidInput, match=r"at position 14 \(near 'OR metrics\.b > 1'\)"):
        parse_filter("metrics.a > 1 OR metrics.b > 1")


def test_unknown_attribute_lists_valid_ones() -> None:
    with pytest.raises(InvalidInput) as info:
        parse_filter("attributes.colour = 'red'")
    for key in sorted(ATTRIBUTE_KEYS):
        assert key in info.value.message


@pytest.mark.parametrize(
    ("entries", "expected"),
    [
        (["metrics.acc DESC"], [OrderKey("metric", "acc", False)]),
        (["params.lr"], [OrderKey("param", "lr", True)]),
        (["attributes.start_time ASC"], [OrderKey("attribute", "start_time", True)]),
        (["metrics.`a b` desc"], [OrderKey("metric", "a b", False)]),
        (
            ["tags.mlflow.runName asc", "created"],
            [OrderKey("tag", "mlflow.runName"), OrderKey("attribute", "start_time")],
        ),
        (
            ["run_name DESC", "attr.status"],
            [OrderKey("attribute", "run_name", False), OrderKey("attribute", "status")],
        ),
        ([], []),
        (None, []),
    ],
)
def test_parse_order_by(entries: list[str] | None, expected: list[OrderKey]) -> None:
    assert parse_order_by(entries) == expected


@pytest.mark.parametrize(
    ("entries", "fragment"),
    [
        (["metrics.acc sideways"], "unexpected 'sideways'"),
        (["metrics.acc DESC ASC"], "unexpected 'ASC'"),
        (["attributes.colour"], "unknown attribute 'colour'"),
        (["datasets.name"], "cannot order by datasets"),
        ([""], "expected a string like"),
        (["  "], "expected a string like"),
        (["metrics.`a"], "unterminated ` quote"),
        (["DESC"], "unknown attribute"),
        (["ASC"], "unknown attribute"),
    ],
)
def test_parse_order_by_rejects(entries: list[str], fragment: str) -> None:
    with pytest.raises(InvalidInput) as info:
        parse_order_by(entries)
    assert fragment in info.value.message
    assert info.value.field == "order_by"


# --- round trip: render a random AST to text with random surface syntax, parse it back ---------------------

_PREFIX_SPELLINGS = {
    "metric": ["metrics", "metric", "METRICS"],
    "param": ["params", "param", "parameters", "parameter", "Params"],
    "tag": ["tags", "tag", "TAGS"],
    "attribute": ["attributes", "attribute", "attr", "run"],
    "dataset": ["datasets", "dataset"],
}
_BARE = re.compile(r"[\w./:\-]+")

keys = st.text(min_size=1, max_size=12)
strings = st.text(max_size=10)
patterns = strings.filter(lambda s: (len(s) - len(s.rstrip("\\"))) % 2 == 0)
numbers = st.one_of(
    st.integers(min_value=-(2**63) + 1, max_value=2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
)
_STRING_OPS = ["=", "!=", "LIKE", "ILIKE"]
_NUMERIC_OPS = ["=", "!=", ">", ">=", "<", "<="]


@st.composite
def string_clause(draw: st.DrawFn, kind: str, key: str, ops: list[str]) -> Comparison:
    op = draw(st.sampled_from(ops))
    if op in ("IS NULL", "IS NOT NULL"):
        return C(kind, key, op, None)  # type: ignore[arg-type]
    if op in ("IN", "NOT IN"):
        return C(kind, key, op, tuple(draw(st.lists(strings, min_size=1, max_size=3))))  # type: ignore[arg-type]
    return C(kind, key, op, draw(patterns if "LIKE" in op else strings))  # type: ignore[arg-type]


@st.composite
def clauses(draw: st.DrawFn) -> Comparison:
    kind = draw(st.sampled_from(["metric", "param", "tag", "attribute", "dataset"]))
    if kind == "metric":
        return C("metric", draw(keys), draw(st.sampled_from(_NUMERIC_OPS)), draw(numbers))
    if kind in ("param", "tag"):
        return draw(string_clause(kind, draw(keys), [*_STRING_OPS, "IS NULL", "IS NOT NULL"]))
    if kind == "dataset":
        key = draw(st.sampled_from(sorted(DATASET_KEYS)))
        return draw(string_clause("dataset", key, [*_STRING_OPS, "IN", "NOT IN"]))
    key = draw(st.sampled_from(sorted(ATTRIBUTE_KEYS)))
    if key in NUMERIC_ATTRIBUTES:
        return C("attribute", key, draw(st.sampled_from(_NUMERIC_OPS)), draw(numbers))
    ops = [*_STRING_OPS, "IN", "NOT IN"] if key == "run_id" else _STRING_OPS
    return draw(string_clause("attribute", key, ops))


def _space(draw: st.DrawFn) -> str:
    return draw(st.sampled_from(["", " ", "  ", "\t", "\n "]))


def _quote(draw: st.DrawFn, value: str) -> str:
    q = draw(st.sampled_from(["'", '"']))
    return q + value.replace(q, q + q) + q


def _ident(draw: st.DrawFn, kind: str, key: str) -> str:
    if kind == "attribute":
        spelled = draw(st.sampled_from([key, "created"])) if key == "start_time" else key
        if draw(st.booleans()):
            return spelled
        return f"{draw(st.sampled_from(_PREFIX_SPELLINGS[kind]))}.{spelled}"
    prefix = draw(st.sampled_from(_PREFIX_SPELLINGS[kind]))
    styles = ["double"] + (["bare"] if _BARE.fullmatch(key) else [])
    styles += [] if "`" in key else ["backtick"]
    style = draw(st.sampled_from(styles))
    if style == "bare":
        return f"{prefix}.{key}"
    if style == "backtick":
        return f"{prefix}.`{key}`"
    return f'{prefix}."{key.replace(chr(34), chr(34) * 2)}"'


def _op(draw: st.DrawFn, op: str) -> str:
    spelled = " ".join(op.split())
    return draw(st.sampled_from([spelled, spelled.lower(), spelled.title()]))


@st.composite
def rendered(draw: st.DrawFn, clause: Comparison) -> str:
    ident = _ident(draw, clause.kind, clause.key)
    op = _op(draw, clause.op)
    wordy = op[0].isalpha()
    left = " " + _space(draw) if wordy else _space(draw)
    text = ident + left + op
    if clause.value is None:
        return text
    if isinstance(clause.value, tuple):
        items = ("," + _space(draw)).join(_quote(draw, item) for item in clause.value)
        return f"{text} ({items})"
    value = _quote(draw, clause.value) if isinstance(clause.value, str) else repr(clause.value)
    return text + (" " if wordy else "") + _space(draw) + value


@settings(max_examples=400)
@given(st.data(), st.lists(clauses(), min_size=1, max_size=4))
def test_round_trip_random_syntax(data: st.DataObject, ast: list[Comparison]) -> None:
    parts = [data.draw(rendered(clause)) for clause in ast]
    joiner = data.draw(st.sampled_from([" AND ", " and ", "  And\n"]))
    assert parse_filter(joiner.join(parts)) == ast


@settings(max_examples=300)
@given(st.lists(clauses(), min_size=1, max_size=4))
def test_format_filter_round_trip(ast: list[Comparison]) -> None:
    assert parse_filter(format_filter(ast)) == ast


@settings(max_examples=200)
@given(st.lists(st.builds(OrderKey, st.sampled_from(["metric", "param", "tag"]), keys, st.booleans()),
                max_size=4))
def test_format_order_by_round_trip(order: list[OrderKey]) -> None:
    assert parse_order_by(format_order_by(order)) == order


@settings(max_examples=300)
@given(st.text(max_size=40))
def test_arbitrary_text_parses_or_raises_invalid_input(text: str) -> None:
    try:
        parse_filter(text)
    except InvalidInput as exc:
        assert exc.field == "filter"


def test_a_lone_order_by_string_is_one_entry() -> None:
    assert parse_order_by("metrics.acc DESC") == [OrderKey("metric", "acc", False)]  # type: ignore[arg-type]
