"""Every customer's metrics and segments computed in DuckDB agree with SQLite's.

The values program of the example rules (aggregates over orders, events and contacts, first/
last/mode picks, ntile ranks, layered metrics and segments) is compiled through each engine's
dialect and run on the same demo store in both formats; and on random whole stores (those of
test_compile, with its corner-case metrics) DuckDB's values agree with the Python reference.
Integers, text, dates and segment membership must be equal; reals equal to 1e-9 relative: a
sum of reals depends on the order the engine adds them in (SQLite adds them one by one, DuckDB
in parallel), not on the rules.
"""

from __future__ import annotations

import math
import re
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings

from rules_engine.backends.duckdb.store import connect, create_table_sql, insert_columns
from rules_engine.backends.sqlite.functions import register
from rules_engine.reference.oracle import engine_form, evaluate_values, read_customers
from rules_engine.rules.check import check, load_rules
from rules_engine.rules.model import RuleSet
from rules_engine.sql.compile import compile_values
from rules_engine.sql.dialect import dialect_named
from rules_engine.store import CANONICAL_TABLES, init_store
from rules_engine.storecopy import copy_store
from rules_engine.times import parse_instant
from tests.test_compile import AS_OF as COMPILE_AS_OF
from tests.test_compile import EDGES, EXAMPLES, check_channels_and_audiences, fill, stores

AS_OF = parse_instant("2026-11-20T10:00:00+08:00")
ROOT = Path(__file__).parents[1]


@pytest.fixture(scope="module")
def both(small_demo: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    duck = tmp_path_factory.mktemp("values") / "demo.duckdb"
    copy_store(small_demo, duck)
    return small_demo, duck


def values(path: Path, engine: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    rules = check([ROOT / "rules"], db=path, as_of=AS_OF).rules
    program = compile_values(rules, AS_OF, dialect=dialect_named(engine))
    conn: Any = connect(path) if engine == "duckdb" else register(sqlite3.connect(path))
    with closing(conn):
        for statement in program.statements:
            conn.execute(statement.sql, list(statement.params))
        cursor = conn.execute("SELECT * FROM customer_values ORDER BY customer_id")
        names = [d[0] for d in cursor.description]
        return names, cursor.fetchall()


def same(ours: Any, theirs: Any) -> bool:
    if isinstance(theirs, bool):
        theirs = int(theirs)
    if ours is None or theirs is None:
        return ours is theirs
    if isinstance(ours, float) or isinstance(theirs, float):
        return math.isclose(ours, theirs, rel_tol=1e-9, abs_tol=1e-9)
    return bool(ours == theirs) and type(ours) is type(theirs)


def test_duckdb_values_agree_with_sqlite_for_every_customer(both: tuple[Path, Path]) -> None:
    sqlite_names, sqlite_rows = values(both[0], "sqlite")
    duck_names, duck_rows = values(both[1], "duckdb")
    assert duck_names == sqlite_names
    assert len(duck_rows) == len(sqlite_rows) == 2_000
    differing = [
        (row[0], name, ours, theirs)
        for row, other in zip(sqlite_rows, duck_rows, strict=True)
        for name, ours, theirs in zip(sqlite_names, row, other, strict=True)
        if not same(ours, theirs)
    ]
    assert differing == []
    # DuckDB holds segment membership as real booleans, SQLite as 1/0
    assert any(isinstance(v, bool) for row in duck_rows for v in row)


def test_the_sqlite_program_is_the_same_with_or_without_naming_its_dialect(
    both: tuple[Path, Path],
) -> None:
    rules = check([ROOT / "rules"], db=both[0], as_of=AS_OF).rules
    plain = compile_values(rules, AS_OF)
    named = compile_values(rules, AS_OF, dialect=dialect_named("sqlite"))
    assert [s.sql for s in plain.statements] == [s.sql for s in named.statements]
    duck = compile_values(rules, AS_OF, dialect=dialect_named("duckdb"))
    # no SQLite placeholder (`?1`); a `?` in a regular expression is DuckDB's own
    assert all(
        "LIMIT -1" not in s.sql and not re.search(r"\?[0-9]", s.sql) for s in duck.statements
    )


# -- random whole stores: DuckDB against the Python reference ----------------------------------


@pytest.fixture(scope="module")
def edge_rules(tmp_path_factory: pytest.TempPathFactory) -> RuleSet:
    folder = tmp_path_factory.mktemp("edges")
    (folder / "edges.yaml").write_text(EDGES)
    return load_rules([ROOT / "rules", folder], as_of=COMPILE_AS_OF)


@pytest.fixture(scope="module")
def empty_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("store") / "empty.db"
    init_store(path)
    return path


def duckdb_fill(content: dict[str, list[dict[str, Any]]]) -> duckdb.DuckDBPyConnection:
    duck = duckdb.connect()
    duck.execute("SET TimeZone = 'UTC'")
    for spec in CANONICAL_TABLES:
        duck.execute(create_table_sql(spec))
    for table, rows in content.items():
        for row in rows:  # through the store's writer, which reads times as the engine does
            insert_columns(duck, table, list(row), [(value,) for value in row.values()])
    return duck


@settings(
    max_examples=max(EXAMPLES // 4, 10), deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(content=stores())
def test_duckdb_and_python_agree_on_whole_stores(
    empty_store: Path, edge_rules: RuleSet, content: dict[str, list[dict[str, Any]]]
) -> None:
    """The values program in DuckDB, every metric and segment of every customer, then each
    customer's channel states and audiences (and the planner's arrays of them), against the
    Python reference (the oracle), on the random stores of test_compile."""
    conn = fill(empty_store, content)
    try:
        python = evaluate_values(edge_rules, read_customers(conn, edge_rules), COMPILE_AS_OF)
    finally:
        conn.close()
    duck = duckdb_fill(content)
    try:
        program = compile_values(edge_rules, COMPILE_AS_OF, dialect=dialect_named("duckdb"))
        for statement in program.statements:
            duck.execute(statement.sql, list(statement.params))
        cursor = duck.execute("SELECT * FROM customer_values ORDER BY customer_id")
        for row in cursor.fetchall():
            values = python[row[0]]
            for column, got in zip(program.columns, row[1:], strict=True):
                expected = engine_form(values[column.name], column.type)
                assert same(expected, got), (
                    f"{column.kind} {column.name} of customer {row[0]}: "
                    f"DuckDB {got!r}, Python {expected!r}"
                )
        check_channels_and_audiences(duck, edge_rules, python)
    finally:
        duck.close()
