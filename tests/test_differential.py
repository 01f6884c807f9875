"""SQL and Python evaluators agree on every well-typed expression and every row.

The project's proof that its compiler is right: hypothesis writes random expressions of each
type over a small customer table and random rows (missing values, boundary numbers, Chinese
text, every ISO-8601 spelling of an instant), evaluates each with the SQL compiler in SQLite and
in DuckDB (each through its dialect) and with the Python reference evaluator, the oracle, and
compares. The generators are reusable
(`expressions(kind)`, `rows()`). `make test-long` runs many more examples.
"""

from __future__ import annotations

import functools
import math
import os
import sqlite3
from datetime import UTC, date, datetime
from typing import Any

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rules_engine.expr import Scope, parse_expression, typecheck
from rules_engine.expr.evaluate import Environment, as_type, evaluate
from rules_engine.expr.sqlgen import SqlContext, compile_expression, quote
from rules_engine.sql.dialect import dialect_named

AS_OF = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
SHANGHAI_OFFSET = 8 * 3600
COLUMNS = {
    "n": "integer",
    "m": "integer",
    "x": "real",
    "y": "real",
    "t": "text",
    "u": "text",
    "ok": "boolean",
    "at": "datetime",
    "d": "date",
}
EXAMPLES = int(os.environ.get("DIFFERENTIAL_EXAMPLES", "300"))

# -- expression generators, by result type ----------------------------------------------------

ints = st.sampled_from(["0", "1", "2", "7", "-3", "30", "90", "9007199254740993"])
reals = st.sampled_from(["0.5", "1.25", "-2.5", "0.125", "1e3", "0.0"])
texts = st.sampled_from(["'a'", "'上海'", "''", "'A b'", "'gold'"])


@functools.cache
def expressions(kind: str, depth: int = 2) -> st.SearchStrategy[str]:
    """Text of a random well-typed expression of `kind` (strategies built once, then reused)."""
    leaves = {
        "integer": st.one_of(ints, st.sampled_from(["n", "m"])),
        "real": st.one_of(reals, st.sampled_from(["x", "y"])),
        "text": st.one_of(texts, st.sampled_from(["t", "u"])),
        "boolean": st.sampled_from(["ok", "True", "False", "n is None", "t is not None"]),
        "datetime": st.sampled_from(
            ["at", "days_ago(30)", "days_ago(n)", "days_ago(365000)", "days_ago(-365001)"]
        ),
        "date": st.sampled_from(["d", "date('2026-11-01')"]),
    }[kind]
    if depth == 0:
        return leaves
    sub = lambda k: expressions(k, depth - 1)  # noqa: E731
    number = st.one_of(sub("integer"), sub("real"))
    branches: dict[str, list[st.SearchStrategy[str]]] = {
        "integer": [
            st.tuples(sub("integer"), st.sampled_from("+-*%"), sub("integer"))
            .map(" ".join)
            .map(_paren),
            sub("datetime").map(lambda e: f"days_since({e})"),
            sub("datetime").map(lambda e: f"hours_since({e})"),
            sub("date").map(lambda e: f"days_since({e})"),
            sub("real").map(lambda e: f"round({e})"),
            sub("integer").map(lambda e: f"abs({e})"),
            st.tuples(sub("integer"), sub("integer")).map(lambda p: f"coalesce({p[0]}, {p[1]})"),
            st.tuples(sub("integer"), sub("integer")).map(lambda p: f"max({p[0]}, {p[1]})"),
            st.tuples(sub("boolean"), sub("integer"), sub("integer")).map(
                lambda p: f"({p[1]} if {p[0]} else {p[2]})"
            ),
        ],
        "real": [
            st.tuples(number, st.sampled_from("+-*/%"), sub("real")).map(" ".join).map(_paren),
            st.tuples(sub("integer"), sub("integer")).map(lambda p: f"({p[0]} / {p[1]})"),
            st.tuples(sub("real"), st.sampled_from(["0", "1", "2"])).map(
                lambda p: f"round({p[0]}, {p[1]})"
            ),
            st.tuples(sub("real"), sub("real")).map(lambda p: f"min({p[0]}, {p[1]})"),
        ],
        "text": [
            sub("text").map(lambda e: f"lower({e})"),
            sub("text").map(lambda e: f"upper({e})"),
            st.tuples(sub("text"), sub("text")).map(lambda p: f"coalesce({p[0]}, {p[1]})"),
        ],
        "boolean": [
            st.tuples(number, st.sampled_from(["<", "<=", "==", "!=", ">", ">="]), number).map(
                " ".join
            ),
            st.tuples(sub("text"), st.sampled_from(["<", "==", "!="]), sub("text")).map(" ".join),
            st.tuples(sub("datetime"), st.sampled_from(["<", ">="]), sub("datetime")).map(" ".join),
            st.tuples(sub("date"), st.sampled_from(["<", ">="]), sub("datetime")).map(" ".join),
            st.tuples(ints, sub("integer"), ints).map(lambda p: f"{p[0]} < {p[1]} <= {p[2]}"),
            st.tuples(sub("boolean"), st.sampled_from(["and", "or"]), sub("boolean"))
            .map(" ".join)
            .map(_paren),
            sub("boolean").map(lambda e: f"not ({e})"),
            sub("integer").map(lambda e: f"{e} in (1, 2, None)"),
            sub("text").map(lambda e: f"{e} not in ('a', '上海')"),
            st.tuples(sub("text"), texts).map(lambda p: f"contains({p[0]}, {p[1]})"),
            st.tuples(sub("text"), texts).map(lambda p: f"startswith({p[0]}, {p[1]})"),
        ],
        "datetime": [sub("integer").map(lambda e: f"days_ago({e} % 400)")],
        "date": [],
    }
    return st.one_of(leaves, *branches[kind]) if branches[kind] else leaves


def _paren(text: str) -> str:
    return f"({text})"


INSTANTS = [
    "2026-09-01T12:00:00Z",
    "2026-09-01T12:00:00+00:00",
    "2026-09-01 12:00:00",
    "2026-09-01T20:00:00+08:00",
    "2026-11-19T18:00:00Z",
    "2026-11-20T01:59:59Z",
    "2026-11-20T02:00:00Z",
    "2025-02-28T23:59:59-05:00",
]


def rows() -> st.SearchStrategy[dict[str, Any]]:
    maybe = lambda s: st.one_of(st.none(), s)  # noqa: E731
    return st.fixed_dictionaries(
        {
            "n": maybe(st.integers(-(2**31), 2**31)),
            "m": maybe(st.sampled_from([0, 1, -1, 30, 90, 91])),
            "x": maybe(st.floats(-1e6, 1e6, allow_nan=False).map(lambda v: round(v, 3))),
            "y": maybe(st.sampled_from([0.0, 0.5, -0.5, 2.675, 1e-3])),
            "t": maybe(st.sampled_from(["a", "上海", "", "A b", "gold", "Äb"])),
            "u": maybe(st.text(max_size=4)),
            "ok": maybe(st.sampled_from([0, 1])),
            "at": maybe(st.sampled_from(INSTANTS)),
            "d": maybe(st.sampled_from(["2026-11-01", "2026-11-20", "2024-02-29"])),
        }
    )


# -- the two evaluators ------------------------------------------------------------------------


def python_value(text: str, row: dict[str, Any]) -> Any:
    node, problems = parse_expression(text)
    assert node is not None, (text, problems)
    typed, problems = typecheck(node, Scope(columns=COLUMNS))
    assert typed is not None and not [p for p in problems if p.is_error], (text, problems)
    values = {name: as_type(row[name], kind) for name, kind in COLUMNS.items()}
    result = evaluate(typed, Environment(values, AS_OF, "Asia/Shanghai"))
    return _normal(result)


def sql_value(conn: Connection, text: str) -> Any:
    node, _ = parse_expression(text)
    assert node is not None
    typed, _ = typecheck(node, Scope(columns=COLUMNS))
    assert typed is not None
    dialect = dialect_named("sqlite" if isinstance(conn, sqlite3.Connection) else "duckdb")
    names = {name: f"c.{quote(name)}" for name in COLUMNS}
    ctx = SqlContext(names, AS_OF, SHANGHAI_OFFSET, dialect=dialect)
    sql = compile_expression(typed, ctx)
    (result,) = conn.execute(f"SELECT {sql} FROM row AS c", ctx.params).fetchone()
    if typed.type == "date" and isinstance(result, str):
        return date.fromisoformat(result)
    return int(result) if isinstance(result, bool) else result


def _normal(value: Any) -> Any:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, datetime):
        return value.timestamp()
    return value


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        if a is None or b is None:
            return a is b
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-6)
    return (bool(a == b) and type(a) is type(b)) or (a is None and b is None)


Connection = sqlite3.Connection | duckdb.DuckDBPyConnection
ENGINES = ["sqlite", "duckdb"]
# Beyond 64-bit integers SQLite switches to reals and DuckDB refuses; Python's integers go on.
# Neither is a rule-set concern.
BEYOND_INT64 = (OverflowError, duckdb.OutOfRangeException, duckdb.ConversionException)


@functools.cache
def _duckdb() -> duckdb.DuckDBPyConnection:
    duck = duckdb.connect()
    duck.execute("SET TimeZone = 'UTC'")
    duck.execute(
        "CREATE TABLE row (n BIGINT, m BIGINT, x DOUBLE, y DOUBLE, t VARCHAR, u VARCHAR, "
        'ok BOOLEAN, "at" VARCHAR, d VARCHAR)'
    )
    return duck


def _store(row: dict[str, Any], engine: str = "sqlite") -> Connection:
    if engine == "duckdb":
        duck = _duckdb().cursor()  # one database for every example: opening one is slow
        duck.execute("SET TimeZone = 'UTC'")
        duck.execute("DELETE FROM row")
        values = [row[c] for c in COLUMNS]
        duck.execute("INSERT INTO row VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", values)
        return duck
    conn = sqlite3.connect(":memory:")
    conn.execute(
        "CREATE TABLE row (n INTEGER, m INTEGER, x REAL, y REAL, t TEXT, u TEXT, ok INTEGER, "
        "at TEXT, d TEXT)"
    )
    conn.execute("INSERT INTO row VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", [row[c] for c in COLUMNS])
    return conn


@pytest.mark.parametrize("engine", ENGINES)
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.one_of(*(expressions(kind) for kind in ("integer", "real", "text", "boolean"))),
    rows(),
)
def test_sql_and_python_agree(engine: str, text: str, row: dict[str, Any]) -> None:
    conn = _store(row, engine)
    try:
        expected, got = python_value(text, row), sql_value(conn, text)
    except BEYOND_INT64:
        return
    finally:
        conn.close()
    assert _same(got, expected), f"{engine}: {text!r} on {row}: SQL {got!r}, Python {expected!r}"


@pytest.mark.parametrize("engine", ENGINES)
def test_known_agreements(engine: str) -> None:
    row = {
        "n": None,
        "m": 30,
        "x": 2.5,
        "y": -0.5,
        "t": "上海",
        "u": None,
        "ok": 1,
        "at": "2026-09-01 12:00:00",
        "d": "2026-11-01",
    }
    conn = _store(row, engine)
    for text in [
        "days_since(at)",
        "round(x)",
        "round(y)",
        "-7 % 3",
        "7 / 2",
        "n + 1",
        "ok and n > 1",
        "not ok or n > 1",
        "m in (1, None)",
        "lower(t)",
        "d < at",
        "days_since(d)",
        "30 < m <= 90",
        "contains(t, '海')",
        # disagreements the property test once found, kept as regressions:
        "round((0.5 % 0.125)) in (1, 2, None)",
        "(coalesce(9007199254740993, 0) % 2)",
        "(9007199254740993 % 1.25)",
        "-5.5 % 2",
        # where DuckDB differs from SQLite (its dialect's reason to exist):
        "7 / 2",
        "round(2.5) + round(-2.5)",
        "round(x, 2)",
        "days_since(at) + hours_since(at)",
        "min(m, n)",
        "max(m, 2)",
        "upper('äb') == 'äB'",
        "lower('ÄB')",
        "2147483647 * 30",
        "-7 % 3 + (0 - 7) % 3",
        "ok and True",
        "date('2026-11-01') < at",
    ]:
        assert _same(sql_value(conn, text), python_value(text, row)), text
    conn.close()
