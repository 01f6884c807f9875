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
        return f"CAST(floor(epoch(TRY_CAST({text_sql} AS TIMESTAMPTZ))) AS BIGINT)"

    def date(self, text_sql: str) -> str:
        return f"strftime(TRY_CAST({text_sql} AS TIMESTAMPTZ), '%Y-%m-%d')"


DUCKDB = DuckDBDialect()
