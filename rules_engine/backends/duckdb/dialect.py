"""DuckDB's spelling of what engines spell differently (see `sql/dialect.py`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from ...sql.dialect import ASCII_LOWER, ASCII_UPPER, Dialect, FunctionSql

if TYPE_CHECKING:
    from ...expr.nodes import Call
    from ...expr.sqlgen import Sql, SqlContext


def _null_if_any(function: str) -> FunctionSql:
    """least/greatest that are NULL when any argument is (as SQLite's min/max and Python's)."""

    def build(args: list[Sql], ctx: SqlContext, node: Call) -> str:
        from ...expr.sqlgen import temporal_args

        parts = temporal_args(args, ctx)
        nulls = " OR ".join(f"{p} IS NULL" for p in parts)
        return f"(CASE WHEN {nulls} THEN NULL ELSE {function}({', '.join(parts)}) END)"

    return build


def _ascii_case(source: str, target: str) -> FunctionSql:
    return lambda args, ctx, node: f"translate({args[0].text}, '{source}', '{target}')"


class DuckDBDialect(Dialect):
    """DuckDB, with the session time zone set to UTC (`backends.duckdb.store.connect`)."""

    name = "duckdb"
    TYPES: ClassVar[Mapping[str, str]] = {
        "integer": "BIGINT",
        "real": "DOUBLE",
        "text": "VARCHAR",
        "boolean": "BOOLEAN",
    }
    FUNCTIONS: ClassVar[Mapping[str, FunctionSql]] = {
        "min": _null_if_any("least"),
        "max": _null_if_any("greatest"),
        "lower": _ascii_case(ASCII_UPPER, ASCII_LOWER),
        "upper": _ascii_case(ASCII_LOWER, ASCII_UPPER),
    }

    KEY_COLUMN = "customer_id BIGINT"  # written once, joined by hash: no index to keep
    ONE_LAYER = True
    PICKS_BY_ARG = True
    VALUE_PICKS_TOGETHER = True

    def placeholder(self, number: int, value: Any) -> str:
        if isinstance(value, int) and not isinstance(value, bool):
            return f"CAST(${number} AS BIGINT)"
        return f"${number}"

    def parameter(self, value: Any) -> Any:
        return value

    def values_column(self, index: int) -> str:
        return f"col{index}"

    def truncate(self, sql: str) -> str:
        return f"CAST(trunc({sql}) AS BIGINT)"

    def int_div(self, dividend: str, divisor: str) -> str:
        return f"{dividend} // {divisor}"

    def epoch(self, text_sql: str) -> str:
        """The engine's own `...Z` spelling through `try_strptime`, which checks every field
        once `LIKE` has fixed where the separators are (it takes a one-digit field, and
        leading blanks, which `>= '0001'` refuses); every other accepted spelling taken apart
        by a regular expression and added up, so DuckDB reads exactly the spellings
        `times.read_instant` does (its casts would take `24:00`, and refuse `+0800`, the basic
        format or a lower-case `t`). `LIKE` costs half what `GLOB` does."""
        x = text_sql
        canonical = f"CAST(epoch(try_strptime({x}, '%Y-%m-%dT%H:%M:%SZ')) AS BIGINT)"
        return (
            f"(CASE WHEN {x} LIKE '{_CANONICAL}' AND {x} >= '0001' THEN {canonical} "
            f"ELSE {_spelled_epoch(x)} END)"
        )

    def most_frequent_of(self, value: str, times: str) -> str:
        return f"arg_min({value}, {{'n': -{times}, 'v': {value}}}) FILTER (WHERE {times} > 0)"

    def stored_epoch(self, column_sql: str) -> str:
        return f"CAST(epoch({column_sql}) AS BIGINT)"

    def stored_not_dated_before(self, column_sql: str, day_sql: str) -> str:
        return f"{column_sql} >= CAST({day_sql} AS TIMESTAMP)"

    def stored_date(self, column_sql: str) -> str:
        return f"strftime({column_sql}, '%Y-%m-%d')"

    def date(self, text_sql: str) -> str:
        x = text_sql
        dashed = f"regexp_replace({x}, '^([0-9]{{4}})-?([0-9]{{2}})-?([0-9]{{2}})$', '\\1-\\2-\\3')"
        return (
            f"(CASE WHEN regexp_full_match({x}, '{_DATE}') AND {x} >= '0001' "
            f"THEN strftime(TRY_CAST({dashed} AS DATE), '%Y-%m-%d') END)"
        )

    def day_epoch(self, date_sql: str) -> str:
        return f"(date_diff('day', DATE '1970-01-01', CAST({date_sql} AS DATE)) * 86400)"

    def local_date(self, epoch_sql: str, ctx: SqlContext) -> str:
        zone = ctx.bind(ctx.calendar_zone)
        return f"strftime(timezone({zone}, to_timestamp({epoch_sql})), '%Y-%m-%d')"


_CANONICAL = "____-__-__T__:__:__Z"
# The accepted spellings (`times`), field ranges included: the date with dashes or without,
# the time with colons or without, then an offset. Python's pattern ties the second dash to
# the first and the second colon to the first; RE2 has no back-references, so both forms are
# written out.
_DATE = "[0-9]{4}-[0-9]{2}-[0-9]{2}|[0-9]{8}"
_HOUR, _SIXTY = "([01][0-9]|2[0-3])", "[0-5][0-9]"
_TIME = f"{_HOUR}:{_SIXTY}(:{_SIXTY}([.,][0-9]+)?)?|{_HOUR}{_SIXTY}({_SIXTY}([.,][0-9]+)?)?"
_ZONE = f"[Zz]|[+-]{_HOUR}(:?{_SIXTY})?"
_INSTANT = f"({_DATE})([Tt ]({_TIME})({_ZONE})?)?"
# The same text taken apart, once it is known to be accepted.
_PARTS = (
    "^([0-9]{4})-?([0-9]{2})-?([0-9]{2})(?:[Tt ]([0-9]{2}):?([0-9]{2})"
    "(?::?([0-9]{2})(?:[.,]([0-9]+))?)?(?:[Zz]|([+-])([0-9]{2}):?([0-9]{2})?)?)?$"
)
_NAMES = "['y', 'mo', 'd', 'h', 'mi', 's', 'f', 'sign', 'oh', 'om']"
# Epoch seconds of 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z: Python's datetimes.
_FIRST, _LAST = -62135596800, 253402300799


def _spelled_epoch(x: str) -> str:
    """The text taken apart once (`regexp_extract` into a struct, bound by a lambda: DuckDB
    would otherwise run the expression once for every field it reads), then added up."""
    p = "p"

    def number(name: str) -> str:
        return f"coalesce(TRY_CAST({p}.{name} AS BIGINT), 0)"

    day = f"TRY_CAST({p}.y || '-' || {p}.mo || '-' || {p}.d AS DATE)"
    sign = f"(CASE {p}.sign WHEN '-' THEN -1 ELSE 1 END)"
    offset = f"{sign} * ({number('oh')} * 3600 + {number('om')} * 60)"
    # decimals rounded to the millisecond, then dropped, in SQLite's double steps (times)
    fraction = f"coalesce(TRY_CAST({p}.f AS DOUBLE) / CAST('1e' || length({p}.f) AS DOUBLE), 0.0)"
    millis = f"CAST(trunc((CAST({number('s')} AS DOUBLE) + {fraction}) * 1000.0 + 0.5) AS BIGINT)"
    seconds = (
        f"(date_diff('day', DATE '1970-01-01', {day}) * 86400 + {number('h')} * 3600 "
        f"+ {number('mi')} * 60 + {millis} // 1000 - {offset})"
    )
    within = f"CASE WHEN s BETWEEN {_FIRST} AND {_LAST} THEN s END"
    added = f"list_transform([{seconds}], lambda s: {within})[1]"
    parts = f"regexp_extract({x}, '{_PARTS}', {_NAMES})"
    return (
        f"(CASE WHEN regexp_full_match({x}, '{_INSTANT}') AND {x} >= '0001' "
        f"THEN list_transform([{parts}], lambda p: {added})[1] END)"
    )


DUCKDB = DuckDBDialect()
