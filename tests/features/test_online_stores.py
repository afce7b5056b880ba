"""One suite over every online store backend: SQLite (always) and Redis (when KEEL_TEST_REDIS_URL is set)."""

from __future__ import annotations

import os
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from keel.errors import InvalidInput, Unavailable
from keel.features.online_store import OnlineRow, OnlineStore, encode_key, namespace, open_online_store

REDIS_ENV = "KEEL_TEST_REDIS_URL"
Factory = Callable[..., OnlineStore]


def _redis_url() -> str:
    url = os.environ.get(REDIS_ENV)
    if not url:
        pytest.skip(f"{REDIS_ENV} is not set (e.g. redis://127.0.0.1:6379/0)")
    pytest.importorskip("redis", reason="redis-py is not installed (pip install 'keel-mlops[redis]')")
    return url


def _drop_redis_projects(url: str, projects: list[str]) -> None:
    import redis

    client = redis.Redis.from_url(url)
    for project in projects:
        names = list(client.scan_iter(match=f"keel:{namespace(project, 'project')}:*", count=1000))
        if names:
            client.unlink(*names)
    client.close()


@pytest.fixture(params=["sqlite", "redis"])
def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Factory]:
    """Opens stores of one backend; project names are unique to the test (the same name gives another handle on
    the same project), and everything is closed and cleaned up after."""
    url = f"sqlite:///{tmp_path / 'nested' / 'online.db'}" if request.param == "sqlite" else _redis_url()
    base = f"t{uuid.uuid4().hex[:12]}"
    opened: list[OnlineStore] = []
    projects: list[str] = []

    def factory(project: str = "p") -> OnlineStore:
        projects.append(f"{base}-{project}")
        store = open_online_store(url, project=projects[-1])
        opened.append(store)
        return store

    yield factory
    for store in opened:
        store.close()
    if request.param == "redis":
        _drop_redis_projects(url, projects)


@pytest.fixture
def store(open_store: Factory) -> OnlineStore:
    return open_store()


def _row(key: str, ts: int, **values: object) -> OnlineRow:
    return OnlineRow(key, ts, dict(values))


def test_round_trip(store: OnlineStore) -> None:
    rows = [_row(encode_key([1]), 1_700_000_000_000_000, a=1.5, b=None, c="x", d=[1, 2], e=True),
            _row(encode_key([2]), -5, a=2.0, b=3, c="", d=[], e=False)]
    assert store.write("v", rows) == 2
    assert store.read("v", [rows[1].key, rows[0].key]) == [rows[1], rows[0]]


def test_missing_keys_are_none_in_order(store: OnlineStore) -> None:
    store.write("v", [_row("a", 1, x=1), _row("c", 1, x=3)])
    got = store.read("v", ["b", "c", "zz", "a", "c"])
    assert [r.values["x"] if r else None for r in got] == [None, 3, None, 1, 3]
    assert store.read("never_written", ["a", "b"]) == [None, None]
    assert store.read("v", []) == []


def test_older_row_never_overwrites_newer_and_equal_ts_wins(store: OnlineStore) -> None:
    store.write("v", [_row("k", 10, x="ten")])
    assert store.write("v", [_row("k", 9, x="nine")]) == 1
    assert store.read("v", ["k"]) == [_row("k", 10, x="ten")]
    store.write("v", [_row("k", 10, x="ten again")])
    assert store.read("v", ["k"]) == [_row("k", 10, x="ten again")]
    store.write("v", [_row("k", 11, x="eleven")])
    assert store.read("v", ["k"]) == [_row("k", 11, x="eleven")]


def test_rule_holds_within_one_batch(store: OnlineStore) -> None:
    store.write("v", [_row("k", 5, x="new"), _row("k", 3, x="old"), _row("j", 1, x="a"), _row("j", 2, x="b")])
    assert [r.values["x"] if r else None for r in store.read("v", ["k", "j"])] == ["new", "b"]


def test_many_keys_beyond_the_variable_limit(store: OnlineStore) -> None:
    keys = [encode_key([i, f"s{i}"]) for i in range(2500)]
    assert store.write("v", (_row(k, i, i=i) for i, k in enumerate(keys))) == 2500
    assert store.count("v") == 2500
    wanted = list(reversed(keys)) + ["missing"]
    got = store.read("v", wanted)
    assert [r.values["i"] if r else None for r in got] == list(range(2499, -1, -1)) + [None]


def test_views_are_isolated(store: OnlineStore) -> None:
    store.write("v1", [_row("k", 1, x=1)])
    store.write("v2", [_row("k", 1, x=2), _row("only2", 1, x=2)])
    assert store.read("v1", ["k", "only2"]) == [_row("k", 1, x=1), None]
    store.delete_view("v1")
    assert store.read("v1", ["k"]) == [None]
    assert store.read("v2", ["k"]) == [_row("k", 1, x=2)]
    assert store.count("v2") == 2


def test_projects_are_isolated(open_store: Factory) -> None:
    first, second = open_store("a"), open_store("b")
    first.write("v", [_row("k", 1, x="a")])
    assert second.read("v", ["k"]) == [None]
    assert second.count("v") == 0
    second.write("v", [_row("k", 1, x="b")])
    second.delete_view("v")
    assert first.read("v", ["k"]) == [_row("k", 1, x="a")]


def test_delete_view_count_and_keys(store: OnlineStore) -> None:
    store.delete_view("empty")  # a no-op on a view never written
    assert store.count("v") == 0 and store.keys("v") == []
    store.write("v", [_row(f"k{i}", 1, x=i) for i in range(5)])
    assert store.count("v") == 5
    assert sorted(store.keys("v")) == [f"k{i}" for i in range(5)]
    some = store.keys("v", limit=2)
    assert len(some) == 2 and set(some) <= {f"k{i}" for i in range(5)}
    assert store.keys("v", limit=0) == []
    store.delete_view("v")
    assert store.count("v") == 0 and store.keys("v") == []
    assert store.read("v", ["k0"]) == [None]


def test_write_is_atomic_when_a_row_is_bad(store: OnlineStore) -> None:
    with pytest.raises(InvalidInput) as err:
        store.write("v", [_row("good", 1, x=1), _row("bad", 1, x=object())])
    assert err.value.field == "values"
    assert store.count("v") == 0


def test_numpy_values_and_timestamps_are_normalised(store: OnlineStore) -> None:
    np = pytest.importorskip("numpy")
    store.write("v", [OnlineRow("k", np.int64(7), {"f": np.float32(0.5), "i": np.int64(3)})])
    (row,) = store.read("v", ["k"])
    assert row == _row("k", 7, f=0.5, i=3)
    assert type(row.ts) is int and type(row.values["i"]) is int


def test_odd_names_get_their_own_namespace(store: OnlineStore, open_store: Factory) -> None:
    store.write("v", [_row("k", 1, x="plain")])
    store.write("v*", [_row("k", 1, x="star")])
    store.write("v:k", [_row("x", 1, x="colon")])
    store.delete_view("v*")  # must not sweep "v" or "v:k" (a glob in a SCAN pattern would)
    assert store.read("v", ["k"]) == [_row("k", 1, x="plain")]
    assert store.read("v:k", ["x"]) == [_row("x", 1, x="colon")]
    assert store.count("v") == 1 and store.keys("v") == ["k"]
    spaced = open_store('my "team"/p:1')
    spaced.write("v", [_row("k", 1, x="spaced")])
    assert spaced.read("v", ["k"]) == [_row("k", 1, x="spaced")]
    assert store.read("v", ["k"]) == [_row("k", 1, x="plain")]
    with pytest.raises(InvalidInput) as err:
        store.read("", ["k"])
    assert err.value.field == "view"


def test_threads_read_and_write_concurrently(store: OnlineStore) -> None:
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for batch in range(10):
                rows = [_row(f"t{n}-{i}", batch, n=n, batch=batch) for i in range(20)]
                store.write("v", rows)
                got = store.read("v", [r.key for r in rows])
                assert all(r is not None and r.values["batch"] >= batch for r in got)
                store.write("shared", [_row("s", batch, n=n)])
                assert store.read("shared", ["s"])[0] is not None
        except BaseException as exc:  # noqa: BLE001 - re-raised in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert store.count("v") == 6 * 20
    assert all(r is not None and r.values["batch"] == 9 for r in store.read("v", store.keys("v")))


def test_encode_key_keeps_types_distinct() -> None:
    encoded = {encode_key([1]), encode_key(["1"]), encode_key([1.0]), encode_key([True])}
    assert len(encoded) == 4
    assert encode_key(["a", 1]) != encode_key(["a", "1"])
    assert encode_key(["a,b"]) != encode_key(["a", "b"])
    assert encode_key([None]) != encode_key(["null"])


def test_encode_key_normalises_numpy_scalars() -> None:
    np = pytest.importorskip("numpy")
    assert encode_key([np.int64(42), np.str_("x")]) == encode_key([42, "x"])
    assert encode_key([np.int32(-1)]) == encode_key([-1])
    assert encode_key([np.float64(1.0)]) == encode_key([1.0]) != encode_key([1])
    assert encode_key([np.bool_(True)]) == encode_key([True])


def test_encode_key_rejects_nan_and_unsupported_types() -> None:
    with pytest.raises(InvalidInput):
        encode_key([float("nan")])
    with pytest.raises(InvalidInput) as err:
        encode_key([object()])
    assert err.value.field == "entity_key"


@pytest.mark.parametrize("url", ["postgresql://x/y", "memory://", "/tmp/online.db", "sqlite:///:memory:"])
def test_bad_url_names_the_setting_and_the_accepted_forms(url: str) -> None:
    with pytest.raises(InvalidInput) as err:
        open_online_store(url)
    assert err.value.field == "online_store"
    assert "sqlite:///ABS/PATH" in err.value.message


def test_redis_missing_tells_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "redis", None)  # makes `import redis` raise ImportError
    with pytest.raises(InvalidInput) as err:
        open_online_store("redis://127.0.0.1:6379/0")
    assert err.value.field == "online_store"
    assert "pip install 'keel-mlops[redis]'" in err.value.message


def test_two_handles_on_one_project_see_each_other(open_store: Factory) -> None:
    store, other = open_store("same"), open_store("same")
    store.write("v", [_row("k", 1, x=1)])
    assert other.read("v", ["k"]) == [_row("k", 1, x=1)]
    other.delete_view("v")
    assert store.read("v", ["k"]) == [None] and store.count("v") == 0 and store.keys("v") == []
    store.write("v", [_row("k", 2, x=2)])
    assert other.read("v", ["k"]) == [_row("k", 2, x=2)]


def test_redis_down_is_unavailable_and_hides_the_password() -> None:
    pytest.importorskip("redis", reason="redis-py is not installed (pip install 'keel-mlops[redis]')")
    store = open_online_store("redis://user:s3cret@127.0.0.1:1/0")  # nothing listens on port 1
    with pytest.raises(Unavailable) as err:
        store.read("v", ["k"])
    assert "127.0.0.1:1" in err.value.message and "s3cret" not in err.value.message
    store.close()
