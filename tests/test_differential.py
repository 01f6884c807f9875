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
import re
import sqlite3
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rules_engine.backends.duckdb.store import insert_columns
from rules_engine.backends.sqlite.functions import register
from rules_engine.expr import Scope, parse_expression, typecheck
from rules_engine.expr.evaluate import Environment, as_type, evaluate
from rules_engine.expr.nodes import walk
from rules_engine.expr.sqlgen import SqlContext, compile_expression, quote
from rules_engine.sql.dialect import dialect_named
from rules_engine.times import epoch_seconds, read_date

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

ints = st.sampled_from(
    ["0", "1", "2", "7", "-3", "30", "90", "9007199254740993", "9223372036854775807", "2**62"]
).map(lambda v: str(2**62) if v == "2**62" else v)
reals = st.sampled_from(
    ["0.5", "1.25", "-2.5", "0.125", "1e3", "0.0", "1e300", "4503599627370497.0"]
)
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
        "date": st.sampled_from(["d", "date('2026-11-01')", "date('20261101')", "date(t)"]),
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
            sub("integer").map(lambda e: f"(-{e})"),
            st.tuples(sub("integer"), sub("integer")).map(lambda p: f"coalesce({p[0]}, {p[1]})"),
            st.tuples(sub("integer"), sub("integer")).map(lambda p: f"max({p[0]}, {p[1]})"),
            st.tuples(sub("boolean"), sub("integer"), sub("integer")).map(
                lambda p: f"({p[1]} if {p[0]} else {p[2]})"
            ),
        ],
        "real": [
            st.tuples(number, st.sampled_from("+-*/%"), sub("real")).map(" ".join).map(_paren),
            st.tuples(sub("integer"), sub("integer")).map(lambda p: f"({p[0]} / {p[1]})"),
            st.tuples(sub("real"), st.sampled_from(["0", "1", "2", "15"])).map(
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
            st.tuples(sub("date"), st.sampled_from(["==", "<"]), sub("date")).map(" ".join),
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
        "date": [sub("datetime").map(lambda e: f"date({e})")],
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


def spelled(moment: datetime, draw: Any) -> str:
    """One accepted ISO-8601 spelling of `moment` (aware, whole seconds), chosen by `draw`."""
    offset = moment.utcoffset()
    assert offset is not None
    minutes = int(offset.total_seconds()) // 60
    basic = draw(st.booleans())
    text = moment.strftime("%Y%m%d" if basic else "%Y-%m-%d")
    whole_day = (moment.hour, moment.minute, moment.second) == (0, 0, 0)
    if whole_day and minutes == 0 and draw(st.booleans()):
        return text  # a date alone is its UTC midnight
    text += draw(st.sampled_from(["T", "t", " "]))
    colons = not draw(st.booleans())
    text += moment.strftime("%H:%M" if colons else "%H%M")
    if moment.second or draw(st.booleans()):
        text += moment.strftime(":%S" if colons else "%S")
        if draw(st.booleans()):
            # decimals below .9995 (those round up to the next second: tested apart)
            decimals = st.from_regex(r"[0-9]{1,9}", fullmatch=True).filter(
                lambda d: d[:4].ljust(4, "0") < "9995"
            )
            text += draw(st.sampled_from([".", ","])) + draw(decimals)
    sign = "-" if minutes < 0 else "+"
    hours, rest = divmod(abs(minutes), 60)
    forms = [f"{sign}{hours:02d}:{rest:02d}", f"{sign}{hours:02d}{rest:02d}"]
    if rest == 0:
        forms.append(f"{sign}{hours:02d}")
    if minutes == 0:
        forms += ["Z", "z", ""]
    return text + draw(st.sampled_from(forms))


@st.composite
def instants_and_spellings(draw: Any) -> tuple[datetime, str]:
    """An instant and one of its spellings, in any offset from -23:59 to +23:59."""
    utc = draw(st.datetimes(datetime(1001, 1, 1), datetime(9998, 12, 31), timezones=st.just(UTC)))
    utc = utc.replace(microsecond=0)
    minutes = draw(st.one_of(st.sampled_from([0, 480, -300, 330, 840]), st.integers(-1439, 1439)))
    local = utc.astimezone(timezone(timedelta(minutes=minutes)))
    return utc, spelled(local, draw)


def spelled_instants() -> st.SearchStrategy[str]:
    return instants_and_spellings().map(lambda pair: pair[1])


NEAR_MISSES = [
    "2026-02-30T10:00:00Z",
    "2026-09-01T24:00:00Z",
    "2026-09-01T12:00:60Z",
    "2026-13-01",
    "2026-09-01T12:00:00+24:00",
    "2026-09-01T12:00:00+23:60",
    "2026-09-01T12:00:00+0",
    "2026-09-01T120000+08:00:00",
    "2026-09-01T12:00:00.5.5Z",
    " 2026-09-01T12:00:00Z",
    "2026-09-01T12:00:00Z ",
    "2026-09-01T12:00:00 +08:00",
    "2026-W36-2",
    "2026-244",
    "2026-09-01T12",
    "2026-0901",
    "0000-01-01",
    "0001-01-01T00:00:00+01:00",
    "now",
    "2460000.5",
    "12:00:00",
    "",
    "abc",
]


def not_instants() -> st.SearchStrategy[object]:
    """Values outside the accepted spellings: near misses, other text, numbers."""
    return st.one_of(
        st.sampled_from(NEAR_MISSES),
        st.text(max_size=12).filter(lambda t: not re.fullmatch(r"[0-9]{8}|[0-9-]{10}", t)),
        st.integers(-(10**12), 10**12),
        st.floats(allow_nan=False, allow_infinity=False),
    )


def rows() -> st.SearchStrategy[dict[str, Any]]:
    maybe = lambda s: st.one_of(st.none(), s)  # noqa: E731
    return st.fixed_dictionaries(
        {
            "n": maybe(
                st.one_of(
                    st.integers(-(2**31), 2**31),
                    st.integers(-(2**63), 2**63 - 1),
                    st.sampled_from([-(2**63), 2**63 - 1, 2**62, -(2**62)]),
                )
            ),
            "m": maybe(st.sampled_from([0, 1, -1, 30, 90, 91])),
            "x": maybe(st.floats(-1e6, 1e6, allow_nan=False).map(lambda v: round(v, 3))),
            "y": maybe(st.sampled_from([0.0, 0.5, -0.5, 2.675, 1e-3])),
            "t": maybe(st.sampled_from(["a", "上海", "", "A b", "gold", "Äb"])),
            "u": maybe(st.text(max_size=4)),
            "ok": maybe(st.sampled_from([0, 1])),
            "at": maybe(st.one_of(st.sampled_from(INSTANTS), spelled_instants())),
            "d": maybe(st.sampled_from(["2026-11-01", "2026-11-20", "2024-02-29", "20261101"])),
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
    ctx = SqlContext(names, AS_OF, SHANGHAI_OFFSET, dialect=dialect, calendar_zone="Asia/Shanghai")
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
# Beyond 64-bit integers SQLite switches to reals (or refuses abs()), DuckDB refuses and
# Python's integers go on: validate refuses such arithmetic where the rules write it and warns
# where the store's values can take it there (rules.overflow). Up to 64 bits they agree.
BEYOND_INT64 = (
    OverflowError,
    sqlite3.OperationalError,
    duckdb.OutOfRangeException,
    duckdb.ConversionException,
)


def beyond_64_bits(text: str, row: dict[str, Any]) -> bool:
    """Whether any piece of the expression is a whole number beyond 64 bits in Python."""
    node, _ = parse_expression(text)
    assert node is not None
    typed, _ = typecheck(node, Scope(columns=COLUMNS))
    assert typed is not None
    values = {name: as_type(row[name], kind) for name, kind in COLUMNS.items()}
    env = Environment(values, AS_OF, "Asia/Shanghai")
    for part in walk(typed):
        value = evaluate(part, env)
        if type(value) is int and not -(2**63) <= value < 2**63:
            return True
    return False


@functools.cache
def _duckdb() -> duckdb.DuckDBPyConnection:
    duck = duckdb.connect()
    duck.execute("SET TimeZone = 'UTC'")
    duck.execute(
        "CREATE TABLE row (n BIGINT, m BIGINT, x DOUBLE, y DOUBLE, t VARCHAR, u VARCHAR, "
        'ok BOOLEAN, "at" TIMESTAMP, d DATE)'  # as a DuckDB store holds them
    )
    return duck


def _store(row: dict[str, Any], engine: str = "sqlite") -> Connection:
    if engine == "duckdb":
        duck = _duckdb().cursor()  # one database for every example: opening one is slow
        duck.execute("SET TimeZone = 'UTC'")
        duck.execute("DELETE FROM row")
        # through the store's writer, which reads each time as the engine reads text
        insert_columns(duck, "row", list(COLUMNS), [(row[c],) for c in COLUMNS])
        return duck
    conn = register(sqlite3.connect(":memory:"))
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
    expected = python_value(text, row)
    try:
        got = sql_value(conn, text)
    except BEYOND_INT64:
        assert beyond_64_bits(text, row), (engine, text, row)
        return
    finally:
        conn.close()
    if beyond_64_bits(text, row):
        return
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
        "(0 + (1e300 % 0.5))",  # a quotient beyond 2^63: truncating it would saturate
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


# -- the accepted spellings of a time, in every engine ----------------------------------------


def _read(engine: str, value: object, zone: str = "Asia/Shanghai") -> tuple[Any, Any, Any]:
    """Epoch seconds, date and calendar date of `value` (a time) as the engine's SQL reads it."""
    dialect = dialect_named(engine)
    ctx = SqlContext({}, AS_OF, dialect=dialect, calendar_zone=zone)
    first = ctx.bind(value)
    text = f"CAST({first} AS VARCHAR)" if engine == "duckdb" else first
    epoch = dialect.epoch(text)
    sql = f"SELECT {epoch}, {dialect.date(text)}, {dialect.local_date(epoch, ctx)}"
    if engine == "duckdb":
        duck = _duckdb().cursor()
        try:
            return duck.execute(sql, [str(v) for v in ctx.params]).fetchone()  # type: ignore[return-value]
        finally:
            duck.close()
    conn = register(sqlite3.connect(":memory:"))
    try:
        return conn.execute(sql, ctx.params).fetchone()  # type: ignore[no-any-return]
    finally:
        conn.close()


@settings(max_examples=max(EXAMPLES // 3, 50), deadline=None)
@given(instants_and_spellings(), st.sampled_from(["Asia/Shanghai", "Europe/Berlin", "UTC"]))
def test_every_spelling_of_an_instant_reads_as_that_instant_in_python_sqlite_and_duckdb(
    pair: tuple[datetime, str], zone: str
) -> None:
    utc, text = pair
    expected = int(utc.timestamp())
    local = utc.astimezone(ZoneInfo(zone)).date().isoformat()
    day = read_date(text)
    assert epoch_seconds(text) == expected, text
    assert as_type(text, "datetime") == utc, text
    for engine in ENGINES:
        assert _read(engine, text, zone) == (
            expected,
            day.isoformat() if day else None,
            local,
        ), (engine, text)


@pytest.mark.parametrize(
    ("text", "second"),
    [
        ("2026-09-01T12:00:00.9994Z", 0),
        ("2026-09-01T12:00:00.99949999Z", 0),
        ("2026-09-01T12:00:00.9995Z", 1),
        ("2026-09-01T12:00:00,9996Z", 1),
        ("2026-09-01T12:00:59.9999+08:00", 60),
        ("20260901T120000.99951", 1),
    ],
)
def test_decimals_of_a_second_are_rounded_to_the_millisecond_in_every_engine(
    text: str, second: int
) -> None:
    """SQLite's date functions keep milliseconds, rounded; every engine reads as it does."""
    expected = int(datetime(2026, 9, 1, 12, tzinfo=UTC).timestamp()) + second
    if "+08:00" in text:
        expected -= 8 * 3600
    assert epoch_seconds(text) == expected
    assert [_read(engine, text)[0] for engine in ENGINES] == [expected, expected]


@settings(max_examples=max(EXAMPLES // 3, 50), deadline=None)
@given(not_instants())
def test_values_outside_the_spellings_are_missing_in_python_and_duckdb(value: object) -> None:
    """SQLite's own parser takes some of them (`24:00`, February 30th, numbers as Julian
    days); a store holding one is refused before deciding (tests/test_store_values.py)."""
    assert epoch_seconds(value) is None and read_date(value) is None, value
    if isinstance(value, str):  # DuckDB's times are text columns: a number cannot be there
        assert _read("duckdb", value)[:2] == (None, None), value


@settings(max_examples=max(EXAMPLES // 3, 50), deadline=None)
@given(st.datetimes(datetime(1971, 1, 1), datetime(2099, 12, 31), timezones=st.just(UTC)))
def test_date_of_a_time_is_its_date_in_a_calendar_zone_with_summer_time(moment: datetime) -> None:
    """Berlin's offset changes twice a year: SQLite reads the steady stretch around as-of by
    arithmetic and the rest through the zone, DuckDB through its own zones; both must agree
    with Python everywhere."""
    moment = moment.replace(microsecond=0)
    node, _ = parse_expression("date(at)")
    assert node is not None
    typed, _ = typecheck(node, Scope(columns=COLUMNS))
    assert typed is not None
    berlin = "Europe/Berlin"
    expected = evaluate(typed, Environment({"at": moment}, AS_OF, berlin))
    assert expected == moment.astimezone(ZoneInfo(berlin)).date()
    for engine in ENGINES:
        assert _read(engine, moment.strftime("%Y-%m-%dT%H:%M:%SZ"), berlin)[2] == (
            expected.isoformat()
        ), engine


@pytest.mark.parametrize("engine", ENGINES)
def test_whole_numbers_up_to_64_bits_and_large_reals_agree(engine: str) -> None:
    row = {c: None for c in COLUMNS} | {"n": -(2**63), "m": 1, "x": 1e300}
    conn = _store(row, engine)
    try:
        for text in [
            "9223372036854775806 + m",
            "n + m",
            "-(n + m)",
            "abs(n + m)",
            "n * m",
            "round(x)",
            "round(x, 15)",
            "round(4503599627370497.0, 2)",
            "round(-4503599627370497.0)",
            "round(9.5e18)",
            "days_ago(n)",
        ]:
            assert not beyond_64_bits(text, row), text
            got, expected = sql_value(conn, text), python_value(text, row)
            assert _same(got, expected), (engine, text, got, expected)
    finally:
        conn.close()


@pytest.mark.parametrize(
    "text",
    ["round(x, 16)", "round(x, -1)", "round(x, n)", "date('2026-02-30')", "date('11/11/2026')"],
)
def test_rules_the_evaluators_cannot_agree_on_are_refused_where_written(text: str) -> None:
    node, problems = parse_expression(text)
    assert node is not None, problems
    _, problems = typecheck(node, Scope(columns=COLUMNS))
    errors = [p for p in problems if p.is_error]
    assert errors and {p.code for p in errors} == {"expr-type"}, (text, problems)
    assert errors[0].span.col > 1, errors  # at the argument, not the call
