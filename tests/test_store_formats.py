"""Stores in both formats: recognised by content, created, filled with the demo shop, and
copied either way without changing a row (a time is the instant it names: a DuckDB store
keeps it typed)."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import duckdb
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rules_engine import demo, store, storeformat, times
from rules_engine.cli import main
from rules_engine.errors import StoreError

CUSTOMERS = 400


def rows(path: Path, table: str) -> list[tuple[Any, ...]]:
    """Every row of a table in either format, in key order, values as SQLite holds them and
    each time or date as the instant or day it names: a DuckDB store keeps them typed, and a
    copy back to SQLite spells them the engine's way."""
    spec = store.TABLES.get(table)
    order = ", ".join(f'"{c}"' for c in spec.pk) if spec else "rowid"
    query = f'SELECT * FROM "{table}" ORDER BY {order}'
    if storeformat.detect(path) == "duckdb":
        with closing(duckdb.connect(str(path), read_only=True)) as duck:
            cursor = duck.execute(query)
            found, names = cursor.fetchall(), [d[0] for d in cursor.description]
    else:
        with closing(sqlite3.connect(path)) as conn:
            cursor = conn.execute(query)
            found, names = cursor.fetchall(), [d[0] for d in cursor.description]
    kinds = [spec.column_types.get(n) if spec else None for n in names]
    return [tuple(named(v, k) for v, k in zip(row, kinds, strict=True)) for row in found]


def named(value: Any, kind: str | None) -> Any:
    """What a stored value names: an instant in the engine's spelling, a `YYYY-MM-DD` day."""
    value = store.as_stored(value)
    if kind == "datetime" and (instant := times.read_instant(value)) is not None:
        return times.utc_text(instant)
    if kind == "date" and (day := times.read_date(value)) is not None:
        return day.isoformat()
    return value


def everything(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    return {name: rows(path, name) for name in store.row_counts(path)}


def invoke(*args: str) -> Any:
    return CliRunner().invoke(main, list(args))


@pytest.fixture(scope="module")
def shops(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("formats")
    sqlite_path, duck_path = folder / "shop.db", folder / "shop.duckdb"
    demo.build_demo_store(sqlite_path, customers=CUSTOMERS, seed=3, progress=False)
    demo.build_demo_store(duck_path, customers=CUSTOMERS, seed=3, progress=False)
    return sqlite_path, duck_path


def test_format_is_read_from_the_content_not_the_name(tmp_path: Path) -> None:
    disguised = tmp_path / "really-duckdb.db"
    duckdb.connect(str(disguised)).close()
    plain = tmp_path / "really-sqlite.duckdb"
    sqlite3.connect(plain).execute("CREATE TABLE t (x)").connection.close()
    empty = tmp_path / "empty.duckdb"
    empty.touch()
    assert storeformat.detect(disguised) == "duckdb"
    assert storeformat.detect(plain) == "sqlite"
    assert storeformat.detect(empty) == "sqlite"


def test_a_file_of_neither_format_is_refused_with_exit_2(tmp_path: Path) -> None:
    junk = tmp_path / "notes.db"
    junk.write_text("not a database at all, just some words\n" * 20)
    with pytest.raises(StoreError, match=r"not a SQLite database \(nor a DuckDB one\)"):
        storeformat.detect(junk)
    result = invoke("summary", "--db", str(junk))
    assert result.exit_code == 2
    assert "not a SQLite database (nor a DuckDB one)" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("name", "flag", "expected"),
    [
        ("a.duckdb", None, "duckdb"),
        ("a.db", None, "sqlite"),
        ("a.db", "duckdb", "duckdb"),
        ("a.duckdb", "sqlite", "sqlite"),
    ],
)
def test_init_store_format_by_name_or_flag(
    tmp_path: Path, name: str, flag: str | None, expected: str
) -> None:
    path = tmp_path / name
    result = invoke("init-store", str(path), *(["--format", flag] if flag else []))
    assert result.exit_code == 0, result.output
    assert storeformat.detect(path) == expected
    schema = store.read_schema(path)
    for spec in store.CANONICAL_TABLES:
        assert schema.tables[spec.name] == spec.column_types
    again = invoke("init-store", str(path))
    assert again.exit_code == 0 and "nothing changed" in again.output


def test_init_store_adds_missing_columns_to_a_duckdb_store_and_keeps_rows(tmp_path: Path) -> None:
    path = tmp_path / "old.duckdb"
    with closing(duckdb.connect(str(path))) as duck:
        duck.execute("CREATE TABLE customers (id BIGINT, email VARCHAR, vip VARCHAR)")
        duck.execute("INSERT INTO customers VALUES (7, 'a@example.cn', 'yes')")
    created = store.init_store(path)
    assert "column customers.timezone" in created and "table orders" in created
    assert rows(path, "customers")[0][:3] == (7, "a@example.cn", "yes")
    assert store.read_schema(path).tables["customers"]["vip"] == "text"


def test_init_store_will_not_change_an_existing_stores_format(tmp_path: Path) -> None:
    path = tmp_path / "shop.db"
    store.init_store(path)
    result = invoke("init-store", str(path), "--format", "duckdb")
    assert result.exit_code == 2
    assert "is a sqlite store" in result.output and "store copy" in result.output


def test_demo_data_gives_the_same_rows_in_both_formats(shops: tuple[Path, Path]) -> None:
    sqlite_path, duck_path = shops
    assert storeformat.detect(duck_path) == "duckdb"
    ours, theirs = everything(sqlite_path), everything(duck_path)
    assert ours == theirs
    assert len(ours["customers"]) == CUSTOMERS and ours["orders"]


def test_demo_data_format_flag(tmp_path: Path) -> None:
    path = tmp_path / "shop.store"
    result = invoke("demo-data", str(path), "--customers", "50", "--format", "duckdb", "--quiet")
    assert result.exit_code == 0, result.output
    assert storeformat.detect(path) == "duckdb"
    assert len(rows(path, "customers")) == 50
    assert not list(tmp_path.glob("*building*"))


def test_copy_both_ways_changes_no_row(shops: tuple[Path, Path], tmp_path: Path) -> None:
    sqlite_path, _ = shops
    there, back = tmp_path / "there.duckdb", tmp_path / "back.db"
    first = invoke("store", "copy", str(sqlite_path), str(there), "--quiet")
    assert first.exit_code == 0, first.output
    second = invoke("store", "copy", str(there), str(back), "--quiet")
    assert second.exit_code == 0, second.output
    assert storeformat.detect(there) == "duckdb" and storeformat.detect(back) == "sqlite"
    original = everything(sqlite_path)
    assert everything(there) == original
    assert everything(back) == original


def test_copy_keeps_declared_tables_and_columns_with_their_types(tmp_path: Path) -> None:
    source = tmp_path / "shop.db"
    store.init_store(source)
    with closing(sqlite3.connect(source)) as conn, conn:
        conn.execute("ALTER TABLE customers ADD COLUMN vip BOOLEAN")
        conn.execute("CREATE TABLE loyalty (customer_id INTEGER, points REAL, since DATETIME)")
        conn.execute("INSERT INTO customers (id, vip) VALUES (1, 1), (2, 0)")
        conn.execute("INSERT INTO loyalty VALUES (1, 12.5, '2026-09-01T12:00:00Z')")
    copied = tmp_path / "shop.duckdb"
    assert invoke("store", "copy", str(source), str(copied)).exit_code == 0
    schema = store.read_schema(copied)
    assert schema.tables["customers"]["vip"] == "boolean"
    assert schema.tables["loyalty"] == {
        "customer_id": "integer",
        "points": "real",
        "since": "datetime",
    }
    back = tmp_path / "back.db"
    assert invoke("store", "copy", str(copied), str(back)).exit_code == 0
    assert store.read_schema(back).tables["loyalty"] == schema.tables["loyalty"]
    (loyal,) = rows(back, "loyalty")
    assert loyal[:2] == (1, 12.5)
    assert store.read_schema(back).tables["customers"]["vip"] == "boolean"
    assert [r[-1] for r in rows(back, "customers")] == [1, 0]
    from rules_engine.times import parse_instant

    assert parse_instant(loyal[2]) == parse_instant("2026-09-01T12:00:00Z")


def test_copy_refuses_an_existing_destination_unless_replace(
    shops: tuple[Path, Path], tmp_path: Path
) -> None:
    sqlite_path, _ = shops
    destination = tmp_path / "taken.duckdb"
    destination.write_bytes(b"keep me")
    result = invoke("store", "copy", str(sqlite_path), str(destination))
    assert result.exit_code == 1
    assert "already exists" in result.output and "--replace" in result.output
    assert destination.read_bytes() == b"keep me"
    replaced = invoke("store", "copy", str(sqlite_path), str(destination), "--replace", "--quiet")
    assert replaced.exit_code == 0, replaced.output
    assert len(rows(destination, "customers")) == CUSTOMERS


@pytest.mark.parametrize("case", ["missing", "not-a-store", "same-file"])
def test_copy_errors(tmp_path: Path, case: str) -> None:
    source = tmp_path / "src.db"
    if case == "not-a-store":
        with closing(sqlite3.connect(source)) as conn:
            conn.execute("CREATE TABLE notes (x)")
    elif case == "same-file":
        store.init_store(source)
    destination = source if case == "same-file" else tmp_path / "dst.duckdb"
    args = ["store", "copy", str(source), str(destination)]
    result = invoke(*args, *(["--replace"] if case == "same-file" else []))
    expected = {"missing": (2, "no such store"), "not-a-store": (2, "not a campaign store")}
    code, words = expected.get(case, (1, "is the source store"))
    assert result.exit_code == code, result.output
    assert words in result.output and "Traceback" not in result.output
    assert case == "same-file" or not (tmp_path / "dst.duckdb").exists()


def test_copy_refuses_a_value_the_destination_type_cannot_hold(tmp_path: Path) -> None:
    source = tmp_path / "odd.db"
    store.init_store(source)
    with closing(sqlite3.connect(source)) as conn, conn:
        conn.execute("INSERT INTO orders (id, customer_id, amount) VALUES (1, 1, 'lots')")
    destination = tmp_path / "odd.duckdb"
    result = invoke("store", "copy", str(source), str(destination))
    assert result.exit_code == 2
    assert "orders: a row cannot be copied" in result.output
    assert not destination.exists() and not list(tmp_path.glob("*.copying*"))


def test_validate_and_summary_read_a_duckdb_store(shops: tuple[Path, Path]) -> None:

    as_of = "2026-11-20T10:00:00+08:00"
    for path in shops:
        result = invoke("validate", "rules", "--db", str(path), "--as-of", as_of)
        assert result.exit_code == 0, result.output
    summaries = [invoke("summary", "--db", str(p)).output.splitlines()[1:] for p in shops]
    assert sorted(summaries[0]) == sorted(summaries[1])


@contextmanager
def held(path: Path, seconds: float) -> Iterator[None]:
    """Another process holding the DuckDB store at `path` open read-write for `seconds` (from
    when the block starts), then closing it; ended by the block's end at the latest."""
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('held', flush=True);"
            " time.sleep(float(sys.argv[2])); c.close()",
            str(path),
            str(seconds),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        yield
    finally:
        holder.kill()
        holder.wait()
        if holder.stdout is not None:
            holder.stdout.close()


def test_a_duckdb_store_held_by_another_process_is_waited_for_then_refused(
    tmp_path: Path,
) -> None:
    path = tmp_path / "busy.duckdb"
    store.init_store(path)
    from rules_engine.backends.duckdb.store import connect

    with held(path, 30):
        notices: list[str] = []
        with pytest.raises(StoreError, match=r"another process holds the store.*waited 0.3 s"):
            connect(path, wait=0.3, notice=notices.append)
        assert notices and "waiting up to 0.3 s" in notices[0]
    connect(path, wait=5).close()


TEXTS = st.one_of(st.none(), st.text(max_size=6))
INSTANTS = st.sampled_from(
    [None, "2026-09-01T12:00:00Z", "2026-09-01 12:00:00", "2025-02-28T23:59:59-05:00", "2024-02-29"]
)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(
            st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1)),
            st.one_of(st.none(), st.floats(allow_nan=False, allow_infinity=False)),
            TEXTS,
            INSTANTS,
            st.one_of(st.none(), st.sampled_from([0, 1])),
        ),
        max_size=8,
    )
)
def test_any_rows_survive_a_copy_there_and_back(
    tmp_path_factory: pytest.TempPathFactory, values: list[tuple[Any, ...]]
) -> None:
    folder = tmp_path_factory.mktemp("roundtrip")
    source = folder / "shop.db"
    store.init_store(source)
    with closing(sqlite3.connect(source)) as conn, conn:
        conn.executemany(
            "INSERT INTO orders (id, customer_id, amount, category, ordered_at) "
            "VALUES (?, ?, ?, ?, ?)",
            [(i, n, x, t, at) for i, (n, x, t, at, _) in enumerate(values)],
        )
        conn.executemany(
            "INSERT INTO customers (id, email_opt_in) VALUES (?, ?)",
            [(i, ok) for i, (*_, ok) in enumerate(values)],
        )
    there, back = folder / "there.duckdb", folder / "back.db"
    from rules_engine.storecopy import copy_store

    copy_store(source, there)
    copy_store(there, back)
    for table in ("orders", "customers"):
        assert rows(there, table) == rows(source, table)
        assert rows(back, table) == rows(source, table)
