"""SQL connector against the machine's PostgreSQL (and a SQLite file): streamed batches, types, errors."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import create_engine, text

import keel.data
from keel.errors import InvalidInput, Unavailable
from keel_testing import free_port

ROWS = 10_000


@pytest.fixture
def pg_table(postgres_url: str) -> str:
    engine = create_engine(postgres_url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE events (id integer PRIMARY KEY, kind text, value double precision, "
                          "at timestamp)"))
        conn.execute(text("INSERT INTO events SELECT g, 'k' || (g % 3), g * 0.25, "
                          "timestamp '2024-01-01' + g * interval '1 minute' FROM generate_series(1, :n) g"),
                     {"n": ROWS})
    engine.dispose()
    return postgres_url


def test_postgres_query_streams_in_several_batches(pg_table: str) -> None:
    source = keel.data.read(pg_table, query="SELECT id, kind, value, at FROM events ORDER BY id", batch_rows=3_000)
    batches = list(source.batches())
    assert [b.num_rows for b in batches] == [3_000, 3_000, 3_000, 1_000]
    table = source.to_arrow()
    assert table.column("id").to_pylist() == list(range(1, ROWS + 1))
    assert table.schema.field("value").type == pa.float64()
    assert table.column("at")[0].as_py() == dt.datetime(2024, 1, 1, 0, 1)
    assert source.schema.names == ["id", "kind", "value", "at"]


def test_sql_prefix_params_and_ingest(pg_table: str, tmp_path: Path) -> None:
    out = keel.data.ingest(f"sql:{pg_table}", tmp_path / "k0.parquet", batch_rows=1_000,
                           query="SELECT id, kind FROM events WHERE kind = :kind ORDER BY id", params={"kind": "k0"})
    table = pq.read_table(out)
    assert table.num_rows == ROWS // 3 and set(table.column("kind").to_pylist()) == {"k0"}


def test_empty_result_keeps_its_columns(pg_table: str) -> None:
    table = keel.data.read(pg_table, query="SELECT id, kind FROM events WHERE id < 0").to_arrow()
    assert table.column_names == ["id", "kind"] and table.num_rows == 0


def test_explicit_schema_fixes_types(pg_table: str) -> None:
    schema = pa.schema([("id", pa.int32()), ("note", pa.string())])
    source = keel.data.read(pg_table, query="SELECT id, NULL AS note FROM events ORDER BY id LIMIT 5", schema=schema)
    assert source.to_arrow().schema == schema


def test_bad_sql_is_invalid_input_naming_the_query(pg_table: str) -> None:
    with pytest.raises(InvalidInput, match="no_such_table") as info:
        keel.data.read(pg_table, query="SELECT * FROM no_such_table").to_arrow()
    assert info.value.field == "query"
    with pytest.raises(InvalidInput, match="syntax error"):
        keel.data.read(pg_table, query="SELEC 1").to_arrow()


def test_sqlite_file_and_its_bad_query(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'local.db'}"
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (a integer, b text)"))
        conn.execute(text("INSERT INTO t VALUES (1, 'x'), (2, 'y'), (3, NULL)"))
    engine.dispose()
    assert keel.data.read(url, query="SELECT * FROM t", batch_rows=2).to_pandas()["a"].tolist() == [1, 2, 3]
    with pytest.raises(InvalidInput, match="missing"):
        keel.data.read(url, query="SELECT * FROM missing").to_arrow()


def test_unreachable_database_and_bad_urls() -> None:
    with pytest.raises(Unavailable, match="cannot connect") as info:
        keel.data.read(f"postgresql+psycopg://u:secret@127.0.0.1:{free_port()}/db", query="SELECT 1").to_arrow()
    assert "secret" not in info.value.message
    with pytest.raises(InvalidInput, match="query=") as missing:
        keel.data.read("postgresql+psycopg://127.0.0.1/db")
    assert missing.value.field == "query"
    with pytest.raises(InvalidInput, match="no dialect"):
        keel.data.read("sql:nosuchdb://host/db", query="SELECT 1").to_arrow()
    with pytest.raises(InvalidInput, match="not a SQLAlchemy URL"):
        keel.data.read("sql:::not a url", query="SELECT 1")
