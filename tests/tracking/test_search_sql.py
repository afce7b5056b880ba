"""The run-search SQL compiler, checked against a brute-force Python oracle on SQLite (and PostgreSQL if set).

Set ``KEEL_TEST_POSTGRES_URL`` (e.g. ``postgresql+psycopg://postgres@127.0.0.1:5432/keel_search_test``) to run
every database test on PostgreSQL too; the tests work in a throwaway schema there and drop it afterwards.
"""

from __future__ import annotations

import base64
import json
import os
import re
import statistics
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, create_engine, delete, event, insert, inspect, text
from sqlalchemy.pool import StaticPool

from keel.errors import InvalidInput
from keel.store.tables import experiments, latest_metrics, metadata, params, run_inputs, runs, tags
from keel.tracking.search import Comparison, OrderKey, format_filter, parse_filter, parse_order_by
from keel.tracking.search_sql import build_search_query, decode_page_token, encode_page_token

C = Comparison
PG_URL = os.environ.get("KEEL_TEST_POSTGRES_URL")


# --- engines ---------------------------------------------------------------------------------------------

def _sqlite_engine() -> Engine:
    engine = create_engine("sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA case_sensitive_like=ON")
        cur.close()

    return engine


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def engine(request: pytest.FixtureRequest) -> Iterator[Engine]:
    if request.param == "sqlite":
        eng = _sqlite_engine()
        metadata.create_all(eng)
        yield eng
        eng.dispose()
        return
    if not PG_URL:
        pytest.skip("KEEL_TEST_POSTGRES_URL is not set; PostgreSQL search tests skipped")
    schema = f"keel_search_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    eng = create_engine(PG_URL, connect_args={"options": f"-csearch_path={schema}"})
    try:
        metadata.create_all(eng)
        yield eng
    finally:
        eng.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


# --- a tiny in-memory model of the data, and the oracle ----------------------------------------------------

@dataclass
class FakeRun:
    run_id: str
    experiment_id: int = 1
    name: str | None = None
    user_id: str | None = None
    status: str = "FINISHED"
    start_time: int = 0
    end_time: int | None = None
    artifact_uri: str | None = None
    lifecycle_stage: str = "active"
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str | None] = field(default_factory=dict)
    metrics: dict[str, float | None] = field(default_factory=dict)  # None is a NaN, stored as NULL
    inputs: dict[tuple[str, str], str | None] = field(default_factory=dict)  # (name, digest) -> context

    def attribute(self, key: str) -> Any:
        return self.name if key == "run_name" else getattr(self, key)

    def keyed(self, kind: str) -> dict[str, Any]:
        by_kind: dict[str, dict[str, Any]] = {"param": self.params, "tag": self.tags, "metric": self.metrics}
        return by_kind[kind]


def load(engine: Engine, fakes: Sequence[FakeRun]) -> None:
    with engine.begin() as conn:
        for table in (run_inputs, latest_metrics, tags, params, runs, experiments):
            conn.execute(delete(table))
        conn.execute(insert(experiments), [
            {"experiment_id": i, "name": f"exp{i}", "creation_time": 0, "last_update_time": 0}
            for i in (1, 2, 3)
        ])
        if not fakes:
            return
        conn.execute(insert(runs), [
            {"run_id": r.run_id, "experiment_id": r.experiment_id, "name": r.name, "user_id": r.user_id,
             "status": r.status, "start_time": r.start_time, "end_time": r.end_time,
             "artifact_uri": r.artifact_uri, "lifecycle_stage": r.lifecycle_stage} for r in fakes
        ])
        rows: dict[Any, list[dict[str, Any]]] = {params: [], tags: [], latest_metrics: [], run_inputs: []}
        for r in fakes:
            rows[params] += [{"run_id": r.run_id, "key": k, "value": v} for k, v in r.params.items()]
            rows[tags] += [{"run_id": r.run_id, "key": k, "value": v} for k, v in r.tags.items()]
            rows[latest_metrics] += [{"run_id": r.run_id, "key": k, "value": v, "timestamp": 0, "step": 0}
                                     for k, v in r.metrics.items()]
            rows[run_inputs] += [{"run_id": r.run_id, "name": n, "digest": d, "context": c}
                                 for (n, d), c in r.inputs.items()]
        for table, table_rows in rows.items():
            if table_rows:
                conn.execute(insert(table), table_rows)


def search(engine: Engine, experiment_ids: Sequence[int] = (1,), filter_string: str | None = None,
           order_by: list[str] | None = None, view: str = "ACTIVE_ONLY", max_results: int = 1000,
           offset: int = 0) -> list[str]:
    query = build_search_query(experiment_ids, parse_filter(filter_string), parse_order_by(order_by), view,
                               max_results, offset)
    with engine.connect() as conn:
        return [row.run_id for row in conn.execute(query)]


def like(value: str, pattern: str) -> bool:
    """SQL LIKE with % and _ wildcards and backslash as the escape character."""
    regex = re.sub(r"\\(.)|(%)|(_)|(.)",
                   lambda m: re.escape(m[1]) if m[1] is not None else ".*" if m[2] else "." if m[3] else
                   re.escape(m[4]), pattern, flags=re.DOTALL)
    return re.fullmatch(regex, value, flags=re.DOTALL) is not None


def compare(value: Any, op: str, target: Any) -> bool:
    if value is None:
        return False
    ops = {
        "=": lambda: value == target, "!=": lambda: value != target, ">": lambda: value > target,
        ">=": lambda: value >= target, "<": lambda: value < target, "<=": lambda: value <= target,
        "LIKE": lambda: like(value, target), "ILIKE": lambda: like(value.lower(), target.lower()),
        "IN": lambda: value in target, "NOT IN": lambda: value not in target,
    }
    return bool(ops[op]())


def matches(run: FakeRun, clause: Comparison) -> bool:
    if clause.kind == "attribute":
        return compare(run.attribute(clause.key), clause.op, clause.value)
    if clause.kind == "dataset":
        fields = [{"name": n, "digest": d, "context": c} for (n, d), c in run.inputs.items()]
        return any(compare(f[clause.key], clause.op, clause.value) for f in fields)
    values: dict[str, Any] = run.keyed(clause.kind)
    if clause.op == "IS NULL":
        return clause.key not in values
    if clause.op == "IS NOT NULL":
        return clause.key in values
    return clause.key in values and compare(values[clause.key], clause.op, clause.value)


def order_value(run: FakeRun, key: OrderKey) -> Any:
    if key.kind == "attribute":
        return run.attribute(key.key)
    values: dict[str, Any] = run.keyed(key.kind)
    return values.get(key.key)


def oracle(fakes: Sequence[FakeRun], experiment_ids: Sequence[int], filters: list[Comparison],
           order: list[OrderKey], view: str = "ACTIVE_ONLY", max_results: int = 1000,
           offset: int = 0) -> list[str]:
    stages = {"ACTIVE_ONLY": {"active"}, "DELETED_ONLY": {"deleted"}, "ALL": {"active", "deleted"}}[view]
    found = [r for r in fakes if r.experiment_id in experiment_ids and r.lifecycle_stage in stages
             and all(matches(r, c) for c in filters)]
    found.sort(key=lambda r: r.run_id)
    found.sort(key=lambda r: r.start_time, reverse=True)
    for key in reversed(order):  # stable sorts, least significant first; missing values last either way
        present = [r for r in found if order_value(r, key) is not None]
        missing = [r for r in found if order_value(r, key) is None]
        found = sorted(present, key=lambda r: order_value(r, key), reverse=not key.ascending) + missing
    return [r.run_id for r in found[offset:offset + max_results]]


# --- a fixed data set --------------------------------------------------------------------------------------

FIXED = [
    FakeRun("r1", name="alpha", user_id="ann", start_time=100, end_time=150, artifact_uri="s3://b/r1",
            params={"lr": "0.1", "opt": "Adam"}, tags={"team": "Vision", "mlflow.source.name": "train.py"},
            metrics={"acc": 0.9, "loss": 0.2}, inputs={("mnist", "d1"): "training"}),
    FakeRun("r2", name="Alpha-2", user_id="bob", start_time=200, status="FAILED",
            params={"lr": "0.01", "opt": "adam"}, tags={"team": "vision", "note": None},
            metrics={"acc": 0.5, "loss": None}, inputs={("mnist", "d2"): "eval", ("cifar", "d3"): None}),
    FakeRun("r3", name="beta", user_id="ann", start_time=300, end_time=400,
            params={"lr": "0.1"}, tags={"team": "nlp"}, metrics={"acc": 0.7}),
    FakeRun("r4", name=None, start_time=400, params={"lr": "1e-3", "path": "a_b%c\\d"},
            metrics={"loss": 1.5}),
    FakeRun("r5", name="gamma", start_time=500, lifecycle_stage="deleted", metrics={"acc": 0.99}),
    FakeRun("r6", experiment_id=2, name="delta", start_time=600, metrics={"acc": 0.1}, params={"lr": "0.1"}),
    FakeRun("r7", name="eps", start_time=300, status="RUNNING", metrics={"acc": 0.7, "`odd` key": -2.0},
            tags={"a b": "x'y"}),
]


@pytest.fixture
def fixed(engine: Engine) -> Engine:
    load(engine, FIXED)
    return engine


FILTERS = [
    "", "metrics.acc > 0.6", "metrics.acc >= 0.7", "metrics.acc = 0.7", "metrics.acc != 0.7",
    "metrics.acc < 0.6", "metrics.acc <= 0.5", "metrics.loss > 0", "metrics.loss != 0",
    "metrics.\"`odd` key\" < 0",
    "metrics.acc > 0.6 AND metrics.loss < 1", "params.lr = '0.1'", "params.lr != '0.1'",
    "params.opt LIKE 'A%'", "params.opt ILIKE 'A%'", "params.opt LIKE '%dam'", "params.opt LIKE 'ada_'",
    "params.path LIKE 'a\\_b\\%c\\\\d'", "params.path LIKE 'a\\_b%'", "params.opt IS NULL",
    "params.opt IS NOT NULL",
    "tags.team = 'vision'", "tags.team ILIKE 'VISION'", "tags.team LIKE 'V%'", "tags.note IS NOT NULL",
    "tags.note != 'x'", "tags.mlflow.source.name = 'train.py'", "tags.`a b` = 'x''y'", "tags.team IS NULL",
    "attributes.status = 'FINISHED'", "status != 'FINISHED'", "run_name LIKE 'alpha%'",
    "run_name ILIKE 'alpha%'",
    "attributes.run_name != 'alpha'", "user_id = 'ann'", "artifact_uri LIKE 's3://%'",
    "attributes.start_time >= 200", "created < 300", "end_time > 100", "run_id IN ('r1', 'r3', 'zz')",
    "run_id NOT IN ('r1')", "lifecycle_stage = 'deleted'", "datasets.name = 'mnist'",
    "datasets.name != 'mnist'", "datasets.digest IN ('d3', 'd9')", "datasets.context = 'eval'",
    "datasets.context ILIKE 'TRAIN%'", "datasets.name NOT IN ('mnist')",
    "params.lr = '0.1' AND metrics.acc > 0.8 AND tags.team LIKE '%ision'",
    "params.lr = '0.1' AND params.lr != '0.01'", "params.opt IS NULL AND params.lr IS NOT NULL",
]
ORDERS = [
    [], ["metrics.acc DESC"], ["metrics.acc"], ["metrics.loss ASC"], ["metrics.loss DESC"], ["params.lr"],
    ["params.opt DESC"], ["tags.team", "metrics.acc DESC"], ["tags.note DESC"], ["attributes.start_time ASC"],
    ["start_time DESC"], ["run_name"], ["run_name DESC"], ["end_time"], ["end_time DESC"],
    ["status", "run_id DESC"], ["user_id DESC"], ["created"], ["artifact_uri"],
]


@pytest.mark.parametrize("filter_string", FILTERS)
def test_filters_match_oracle(fixed: Engine, filter_string: str) -> None:
    expected = oracle(FIXED, [1], parse_filter(filter_string), [])
    assert search(fixed, [1], filter_string) == expected


@pytest.mark.parametrize("order_by", ORDERS)
@pytest.mark.parametrize("view", ["ACTIVE_ONLY", "DELETED_ONLY", "ALL"])
def test_orders_match_oracle(fixed: Engine, order_by: list[str], view: str) -> None:
    expected = oracle(FIXED, [1, 2], [], parse_order_by(order_by), view)
    assert search(fixed, [1, 2], None, order_by, view) == expected


def test_examples_by_hand(fixed: Engine) -> None:
    assert search(fixed, [1]) == ["r4", "r3", "r7", "r2", "r1"]  # start_time DESC, then run_id
    assert search(fixed, [1], "params.opt LIKE 'A%'") == ["r1"]  # LIKE is case-sensitive
    assert search(fixed, [1], "params.opt ILIKE 'A%'") == ["r2", "r1"]
    assert search(fixed, [1], "metrics.loss != 0") == ["r4", "r1"]  # NaN (NULL) matches nothing
    assert search(fixed, [1], "params.lr != '0.1'") == ["r4", "r2"]  # runs without the param never match !=
    assert search(fixed, [1], None, ["metrics.acc DESC"]) == ["r1", "r3", "r7", "r2", "r4"]  # missing last
    assert search(fixed, [1], None, ["metrics.acc ASC"]) == ["r2", "r3", "r7", "r1", "r4"]
    assert search(fixed, [1], None, ["metrics.loss"]) == ["r1", "r4", "r3", "r7", "r2"]
    assert search(fixed, [1, 2], "metrics.acc > 0", view="ALL") == ["r6", "r5", "r3", "r7", "r2", "r1"]
    assert search(fixed, [1], view="DELETED_ONLY") == ["r5"]
    assert search(fixed, [3]) == []
    assert search(fixed, []) == []


def test_paging(fixed: Engine) -> None:
    everything = search(fixed, [1, 2], view="ALL")
    pages = [search(fixed, [1, 2], view="ALL", max_results=2, offset=o) for o in range(0, 8, 2)]
    assert [run for page in pages for run in page] == everything
    assert search(fixed, [1, 2], view="ALL", offset=100) == []


def test_filter_and_order_on_one_metric_share_an_inner_join() -> None:
    query = build_search_query([1], parse_filter("metrics.acc > 0.5 AND metrics.acc < 0.9"),
                               parse_order_by(["metrics.acc DESC"]))
    sql = str(query.compile(_sqlite_engine()))
    assert sql.count("JOIN latest_metrics") == 1
    assert "LEFT OUTER" not in sql
    assert "NULLS LAST" not in sql  # an inner join on a filtered value has no NULLs to place


def test_ordering_only_uses_an_outer_join() -> None:
    query = build_search_query([1], [], parse_order_by(["metrics.acc DESC", "params.lr", "tags.t"]))
    sql = str(query.compile(_sqlite_engine()))
    assert sql.count("LEFT OUTER JOIN") == 3
    assert sql.count("NULLS LAST") == 3


def test_metric_filter_and_order_use_the_key_value_index() -> None:
    eng = _sqlite_engine()
    metadata.create_all(eng)
    load(eng, [FakeRun(f"r{i:05d}", start_time=i, metrics={"acc": (i % 997) / 997, "loss": 1.0})
               for i in range(3000)])
    query = build_search_query([1], parse_filter("metrics.acc > 0.5"), parse_order_by(["metrics.acc DESC"]),
                               max_results=100)
    compiled = query.compile(eng)
    args = tuple(compiled.params[name] for name in compiled.positiontup or [])
    with eng.connect() as conn:
        plan = " | ".join(row[-1] for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}", args))
    assert "ix_latest_metrics_key_value (key=? AND value>?)" in plan, plan


@pytest.mark.slow
def test_metric_filter_and_order_over_100k_runs_is_fast() -> None:
    eng = _sqlite_engine()
    metadata.create_all(eng)
    n = 100_000
    with eng.begin() as conn:
        conn.execute(insert(experiments), [{"experiment_id": 1, "name": "e", "creation_time": 0,
                                            "last_update_time": 0}])
        conn.execute(insert(runs), [{"run_id": f"{i:032x}", "experiment_id": 1, "status": "FINISHED",
                                     "start_time": i} for i in range(n)])
        conn.execute(insert(latest_metrics), [{"run_id": f"{i:032x}", "key": "acc",
                                               "value": (i * 7919 % n) / n, "timestamp": 0, "step": 0}
                                              for i in range(n)])
    query = build_search_query([1], parse_filter("metrics.acc > 0.5"), parse_order_by(["metrics.acc DESC"]),
                               max_results=100)
    timings = []
    with eng.connect() as conn:
        for _ in range(11):
            started = time.perf_counter()
            rows = conn.execute(query).all()
            timings.append(time.perf_counter() - started)
    assert len(rows) == 100
    assert statistics.median(timings) < 0.05


def test_values_and_keys_are_bound_parameters(engine: Engine) -> None:
    load(engine, FIXED)
    evil = "x'; DROP TABLE runs; --"
    filters = parse_filter(f"params.lr = '{evil.replace(chr(39), chr(39) * 2)}' AND tags.`{evil}` LIKE '%'"
                           f" AND run_id IN ('{evil.replace(chr(39), chr(39) * 2)}')")
    query = build_search_query([1], filters, [OrderKey("metric", evil, False)])
    compiled = query.compile(engine)
    assert "DROP" not in str(compiled)
    assert evil in compiled.params.values()
    with engine.connect() as conn:
        assert conn.execute(query).all() == []
    assert inspect(engine).has_table("runs")
    assert search(engine, [1], "params.lr = '0.1'") == ["r3", "r1"]


@pytest.mark.parametrize("view", ["active_only", "ALL", "Deleted_Only"])
def test_run_view_type_is_case_insensitive(view: str) -> None:
    build_search_query([1], [], [], view)


@pytest.mark.parametrize(
    ("kwargs", "field_name"),
    [
        ({"run_view_type": "SOME"}, "run_view_type"),
        ({"max_results": 0}, "max_results"),
        ({"max_results": -5}, "max_results"),
        ({"max_results": True}, "max_results"),
        ({"offset": -1}, "page_token"),
    ],
)
def test_bad_arguments(kwargs: dict[str, Any], field_name: str) -> None:
    with pytest.raises(InvalidInput) as info:
        build_search_query([1], [], [], **kwargs)
    assert info.value.field == field_name
    assert field_name in info.value.message or "offset" in info.value.message


def test_page_tokens_round_trip() -> None:
    for offset in (0, 1, 1000, 10**9):
        assert decode_page_token(encode_page_token(offset)) == offset
    assert decode_page_token(None) == 0
    assert decode_page_token("") == 0
    assert json.loads(base64.b64decode(encode_page_token(7))) == {"offset": 7}


@pytest.mark.parametrize(
    "token",
    ["not base64!", base64.b64encode(b"not json").decode(), base64.b64encode(b"[1]").decode(),
     base64.b64encode(b'{"offset": -3}').decode(), base64.b64encode(b'{"offset": "7"}').decode(),
     base64.b64encode(b'{"offset": true}').decode(), base64.b64encode(b"\xff\xfe").decode(), "e30="],
)
def test_bad_page_tokens(token: str) -> None:
    with pytest.raises(InvalidInput) as info:
        decode_page_token(token)
    assert info.value.field == "page_token"
    assert "page_token" in info.value.message


# --- property: random data and random searches agree with the oracle ---------------------------------------

LIKE_ALPHABET = "aAb%_\\'"
like_text = st.text(alphabet=LIKE_ALPHABET, max_size=3)
like_pattern = like_text.filter(lambda s: (len(s) - len(s.rstrip("\\"))) % 2 == 0)
sort_text = st.text(alphabet="ab01", max_size=3)  # sorts the same under every collation
metric_value = st.one_of(st.none(), st.sampled_from([-1.5, 0.0, 0.5, 1.0, 2.0]))


@st.composite
def fake_runs(draw: st.DrawFn, strings: st.SearchStrategy[str]) -> list[FakeRun]:
    count = draw(st.integers(0, 8))
    opt = st.one_of(st.none(), strings)
    found = []
    for i in range(count):
        found.append(FakeRun(
            run_id=f"r{i}", experiment_id=draw(st.sampled_from([1, 2])), name=draw(opt), user_id=draw(opt),
            status=draw(st.sampled_from(["FINISHED", "FAILED", "RUNNING"])),
            start_time=draw(st.integers(0, 3)),
            end_time=draw(st.one_of(st.none(), st.integers(0, 3))), artifact_uri=draw(opt),
            lifecycle_stage=draw(st.sampled_from(["active", "active", "deleted"])),
            params=draw(st.dictionaries(st.sampled_from(["p", "q"]), strings)),
            tags=draw(st.dictionaries(st.sampled_from(["t", "u"]), opt)),
            metrics=draw(st.dictionaries(st.sampled_from(["m", "n"]), metric_value)),
            inputs=draw(st.dictionaries(st.tuples(st.sampled_from(["d", "e"]), st.sampled_from(["1", "2"])),
                                        opt)),
        ))
    return found


@st.composite
def random_clause(draw: st.DrawFn) -> Comparison:
    kind = draw(st.sampled_from(["metric", "param", "tag", "attribute", "dataset"]))
    string_ops = ["=", "!=", "LIKE", "ILIKE"]
    if kind == "metric":
        op = draw(st.sampled_from(["=", "!=", ">", ">=", "<", "<="]))
        number = draw(st.sampled_from([-1.5, 0, 0.5, 1, 1.7]))
        return C("metric", draw(st.sampled_from(["m", "n"])), op, number)
    if kind == "attribute":
        key = draw(st.sampled_from(["run_id", "run_name", "status", "user_id", "artifact_uri",
                                    "lifecycle_stage", "start_time", "end_time"]))
        if key in ("start_time", "end_time"):
            return C("attribute", key, draw(st.sampled_from(["=", "!=", ">", "<="])), draw(st.integers(0, 3)))
        ops = [*string_ops, "IN", "NOT IN"] if key == "run_id" else string_ops
        kind_key: tuple[Any, str] = ("attribute", key)
    elif kind == "dataset":
        ops = [*string_ops, "IN", "NOT IN"]
        kind_key = ("dataset", draw(st.sampled_from(["name", "digest", "context"])))
    else:
        ops = [*string_ops, "IS NULL", "IS NOT NULL"]
        kind_key = (kind, draw(st.sampled_from(["p", "q"] if kind == "param" else ["t", "u"])))
    op = draw(st.sampled_from(ops))
    pool = st.sampled_from(["r0", "r1", "r3", "d", "1", "FAILED", "active", "a", "A"]) | like_text
    if op in ("IS NULL", "IS NOT NULL"):
        value: Any = None
    elif op in ("IN", "NOT IN"):
        value = tuple(draw(st.lists(pool, min_size=1, max_size=3)))
    else:
        value = draw(like_pattern if "LIKE" in op else pool)
    return C(kind_key[0], kind_key[1], op, value)


order_keys = st.lists(st.one_of(
    st.builds(OrderKey, st.sampled_from(["metric"]), st.sampled_from(["m", "n"]), st.booleans()),
    st.builds(OrderKey, st.sampled_from(["param"]), st.sampled_from(["p", "q"]), st.booleans()),
    st.builds(OrderKey, st.sampled_from(["tag"]), st.sampled_from(["t", "u"]), st.booleans()),
    st.builds(OrderKey, st.sampled_from(["attribute"]),
              st.sampled_from(["start_time", "end_time", "run_name", "status", "run_id", "user_id"]),
              st.booleans()),
), max_size=3)
PROPERTY = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


@PROPERTY
@given(fakes=fake_runs(like_text), filters=st.lists(random_clause(), max_size=2),
       experiment_ids=st.sampled_from([[1], [2], [1, 2], []]),
       view=st.sampled_from(["ACTIVE_ONLY", "DELETED_ONLY", "ALL"]))
def test_random_filters_match_oracle(engine: Engine, fakes: list[FakeRun], filters: list[Comparison],
                                     experiment_ids: list[int], view: str) -> None:
    load(engine, fakes)
    assert parse_filter(format_filter(filters)) == filters
    query = build_search_query(experiment_ids, filters, [], view)
    with engine.connect() as conn:
        got = {row.run_id for row in conn.execute(query)}
    assert got == set(oracle(fakes, experiment_ids, filters, [], view))


@PROPERTY
@given(fakes=fake_runs(sort_text), order=order_keys, max_results=st.integers(1, 10), offset=st.integers(0, 4),
       filters=st.lists(random_clause(), max_size=1))
def test_random_orders_match_oracle(engine: Engine, fakes: list[FakeRun], order: list[OrderKey],
                                    max_results: int, offset: int, filters: list[Comparison]) -> None:
    load(engine, fakes)
    query = build_search_query([1, 2], filters, order, "ALL", max_results, offset)
    with engine.connect() as conn:
        got = [row.run_id for row in conn.execute(query)]
    assert got == oracle(fakes, [1, 2], filters, order, "ALL", max_results, offset)
