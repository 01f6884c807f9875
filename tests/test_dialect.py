"""The dialects: each engine's overrides are there because the engine differs, shown on it."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from typing import Any

import duckdb
import pytest

from rules_engine.backends.duckdb.dialect import DUCKDB, DuckDBDialect
from rules_engine.backends.sqlite.dialect import SQLITE, SQLiteDialect
from rules_engine.backends.sqlite.functions import register
from rules_engine.sql.dialect import Dialect, dialect_named


def on_duckdb(sql: str, params: list[Any] | None = None) -> Any:
    with closing(duckdb.connect()) as duck:
        duck.execute("SET TimeZone = 'UTC'")
        return duck.execute(f"SELECT {sql}", params or []).fetchone()[0]  # type: ignore[index]


def on_sqlite(sql: str, params: list[Any] | None = None) -> Any:
    with closing(register(sqlite3.connect(":memory:"))) as conn:
        return conn.execute(f"SELECT {sql}", params or []).fetchone()[0]


def test_dialects_by_name() -> None:
    assert dialect_named("sqlite") is SQLITE and dialect_named("duckdb") is DUCKDB
    assert isinstance(SQLITE, SQLiteDialect) and isinstance(DUCKDB, DuckDBDialect)


def test_each_dialect_overrides_only_what_its_engine_spells_otherwise() -> None:
    def overridden(cls: type[Dialect]) -> set[str]:
        return {name for name, value in vars(cls).items() if name in vars(Dialect)} - {
            "__doc__",
            "__module__",
            "__annotations__",
            "name",
        }

    assert overridden(SQLiteDialect) == {
        "KEY_COLUMN",
        "KEEP_SUBQUERY",
        "TRUE",
        "FALSE",
        "JOIN_IN_ORDER",
        "column",
        "epoch",
        "date",
        "stored_date",
        "day_epoch",
        "local_date",
        "real_number",
        "pair_table",
        "insert_distinct",
    }
    assert overridden(DuckDBDialect) == {
        "KEY_COLUMN",
        "ONE_LAYER",
        "PICKS_BY_ARG",
        "VALUE_PICKS_TOGETHER",
        "TYPES",
        "FUNCTIONS",
        "placeholder",
        "parameter",
        "most_frequent_of",
        "stored_epoch",
        "stored_not_dated_before",
        "stored_date",
        "truncate",
        "int_div",
        "epoch",
        "date",
        "values_column",
        "day_epoch",
        "local_date",
    }


@pytest.mark.parametrize(
    ("generic", "fixed", "value"),
    [
        # CAST(x AS INTEGER) rounds in DuckDB; the language truncates toward zero
        (Dialect().truncate("-2.5"), DUCKDB.truncate("-2.5"), -2),
        # integer / integer is exact in DuckDB; floor division of seconds needs truncation
        (Dialect().int_div("-7", "2"), DUCKDB.int_div("-7", "2"), -3),
        # REAL is a 4-byte float in DuckDB
        (Dialect().cast("0.1", "real") + " * 3", DUCKDB.cast("0.1", "real") + " * 3", 0.1 * 3),
    ],
)
def test_duckdb_needs_its_overrides(generic: str, fixed: str, value: Any) -> None:
    assert on_sqlite(generic) == value
    assert on_duckdb(generic) != value
    assert on_duckdb(fixed) == value


def test_duckdb_binds_integers_as_64_bit() -> None:
    # a small integer parameter is a 32-bit INTEGER in DuckDB, and 32-bit arithmetic overflows
    with pytest.raises(duckdb.OutOfRangeException):
        on_duckdb("$1 * $2", [2_000_000_000, 30])
    product = f"{DUCKDB.placeholder(1, 2_000_000_000)} * {DUCKDB.placeholder(2, 30)}"
    assert on_duckdb(product, [2_000_000_000, 30]) == 60_000_000_000
    assert DUCKDB.placeholder(1, "text") == "$1" and DUCKDB.parameter(True) is True
    assert SQLITE.placeholder(1, 5) == "?1" and SQLITE.parameter(True) == 1


@pytest.mark.parametrize(
    ("text", "epoch", "day"),
    [
        # a date is a date spelling only: a time's date depends on the zone (`date(datetime)`)
        ("2026-09-01T12:00:00Z", 1788264000, None),
        ("2026-09-01 12:00:00", 1788264000, None),
        ("2026-09-01T02:00:00+08:00", 1788199200, None),
        ("2026-09-01T12:00:00.75Z", 1788264000, None),
        ("2024-02-29", 1709164800, "2024-02-29"),
        ("20240229", 1709164800, "2024-02-29"),
        # spellings neither engine's own parser reads
        ("2026-09-01T10:00:00+0800", 1788228000, None),
        ("2026-09-01t10:00:00+08", 1788228000, None),
        ("20260901T100000,5Z", 1788256800, None),
        ("not a time", None, None),
        ("2026-02-30", None, None),
    ],
)
def test_both_engines_read_iso_text_alike(text: str, epoch: int | None, day: str | None) -> None:
    assert on_duckdb(DUCKDB.epoch("$1"), [text]) == epoch
    assert on_duckdb(DUCKDB.date("$1"), [text]) == day
    assert on_sqlite(SQLITE.date("?1"), [text]) == day
    if text != "2026-02-30":  # SQLite's own parser moves it to March: refused in a store
        assert on_sqlite(SQLITE.epoch("?1"), [text]) == epoch


def test_sqlite_reads_the_engine_spelling_without_python() -> None:
    """The common spellings never leave SQLite (a Python call per row would cost a plan its
    speed): with a `campaign_epoch` that fails when called they still read."""
    with closing(sqlite3.connect(":memory:")) as bare:
        for text in ("2026-09-01T12:00:00Z", "2026-09-01 12:00:00", "2026-09-01T20:00:00+08:00"):
            sql = f"SELECT {SQLITE.epoch('?1')}, {SQLITE.date('?2')}"
            bare.create_function("campaign_epoch", 1, _never)
            bare.create_function("campaign_date", 1, _never)
            assert bare.execute(sql, [text, "2026-09-01"]).fetchone() == (1788264000, "2026-09-01")


def _never(value: object) -> None:
    raise AssertionError(f"read in Python: {value!r}")
