"""Rows added, removed and changed by a key column between two versions of a table, streamed by DuckDB.

Each side is an Arrow dataset over the version's stored files (no copy, never all in memory): DuckDB joins them on
the key and counts, then fetches up to five example keys of each kind. The key must be present, non-null and
unique on both sides — otherwise "the row with this key" means nothing and the counts would mislead.
A row is *changed* when any column both versions have differs (``IS DISTINCT FROM``: nulls compare equal);
a column whose type changed compares as numbers when both types are numeric, else as text.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.dataset as pads

from keel.data.changes import RowChanges
from keel.errors import InvalidInput

__all__ = ["EXAMPLES", "diff_rows"]

EXAMPLES = 5


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def diff_rows(old: pads.Dataset, new: pads.Dataset, key: str, *, old_ref: str, new_ref: str) -> RowChanges:
    """Compare ``old`` and ``new`` row by row on column ``key``; InvalidInput naming the version if the key is
    missing, has nulls or repeats."""
    import duckdb

    for dataset, ref in ((old, old_ref), (new, new_ref)):
        if key not in dataset.schema.names:
            raise InvalidInput(f"key column {key!r} is not in {ref} (columns: {', '.join(dataset.schema.names)}); "
                               "give --key a column both versions have", field="key")
    con = duckdb.connect()
    try:
        con.register("old_rows", old)
        con.register("new_rows", new)
        for table, ref in (("old_rows", old_ref), ("new_rows", new_ref)):
            _check_key(con, table, key, ref)
        return _compare(con, old.schema, new.schema, key)
    except duckdb.Error as exc:
        raise InvalidInput(f"cannot compare {old_ref} and {new_ref} by {key!r}: {exc}", field="key") from exc
    finally:
        con.close()


def _check_key(con: Any, table: str, key: str, ref: str) -> None:
    k = _quote(key)
    nulls, repeats = con.execute(f"SELECT count(*) - count({k}), count({k}) - count(DISTINCT {k}) FROM {table}"
                                 ).fetchone()
    if nulls or repeats:
        problem = f"{nulls} null" if nulls else f"{repeats} repeated"
        raise InvalidInput(f"key column {key!r} has {problem} value(s) in {ref}; a key must be unique and non-null "
                           "— pick another column", field="key")


def _compare(con: Any, old: pa.Schema, new: pa.Schema, key: str) -> RowChanges:
    same_type = _comparable(old.field(key).type, new.field(key).type)
    ok, nk = (f"o.{_quote(key)}", f"n.{_quote(key)}") if same_type else \
        (f"CAST(o.{_quote(key)} AS VARCHAR)", f"CAST(n.{_quote(key)} AS VARCHAR)")
    joined = f"old_rows o FULL OUTER JOIN new_rows n ON {ok} = {nk}"
    changed = _changed(old, new, key)
    added, removed, n_changed = con.execute(
        f"SELECT count(*) FILTER (WHERE {ok} IS NULL), count(*) FILTER (WHERE {nk} IS NULL), "
        f"count(*) FILTER (WHERE {ok} IS NOT NULL AND {nk} IS NOT NULL AND ({changed})) FROM {joined}").fetchone()

    def examples(column: str, where: str) -> list[Any]:
        rows = con.execute(f"SELECT {column} FROM {joined} WHERE {where} ORDER BY 1 LIMIT {EXAMPLES}").fetchall()
        return [row[0] for row in rows]

    return RowChanges(key, int(added), int(removed), int(n_changed),
                      examples(nk, f"{ok} IS NULL") if added else [],
                      examples(ok, f"{nk} IS NULL") if removed else [],
                      examples(nk, f"{ok} IS NOT NULL AND {nk} IS NOT NULL AND ({changed})") if n_changed else [])


def _changed(old: pa.Schema, new: pa.Schema, key: str) -> str:
    """SQL that is true when any shared non-key column differs between ``o`` and ``n``."""
    tests = []
    for name in new.names:
        if name == key or name not in old.names:
            continue
        o, n = f"o.{_quote(name)}", f"n.{_quote(name)}"
        if not _comparable(old.field(name).type, new.field(name).type):
            o, n = f"CAST({o} AS VARCHAR)", f"CAST({n} AS VARCHAR)"
        tests.append(f"{o} IS DISTINCT FROM {n}")
    return " OR ".join(tests) or "false"


def _comparable(a: pa.DataType, b: pa.DataType) -> bool:
    """Same type, or both numbers (``1`` and ``1.0`` are equal); anything else is compared as text."""
    def numeric(t: pa.DataType) -> bool:
        return bool(pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t))

    return a == b or (numeric(a) and numeric(b))
