"""SQL dialects: what differs between the engines the compiled rules run on.

The generator (`expr/sqlgen.py`) writes one SQL for every engine and asks its context's
dialect for each piece that engines spell differently, after sqlglot's `Dialect`: a base class
holds the shared SQL, each engine is a subclass in its backend's folder
(`backends/sqlite/dialect.py`, `backends/duckdb/dialect.py`) that overrides only what differs,
and tables map the language's functions (`FUNCTIONS`: name → builder) and types (`TYPES`: rule
type → engine type) to SQL.

What differs, and why it matters for agreeing with the Python reference:
- reading ISO-8601 text as an instant (`epoch`) and as a calendar date (`date`): each engine
  reads exactly the spellings `times` accepts, as the Python evaluator does, and a time's date
  in the calendar zone (`local_date`);
- casts: SQLite's REAL is a double, DuckDB's is a float (DOUBLE there); SQLite's
  `CAST(x AS INTEGER)` truncates toward zero, DuckDB's rounds (`truncate` is always toward zero);
- integer division: `/` on integers truncates in SQLite, is exact in DuckDB (`//` truncates);
- parameters: `?N` in SQLite, `$N` in DuckDB, where an integer is cast to BIGINT (DuckDB would
  type a small one as a 32-bit INTEGER, which overflows in arithmetic that SQLite computes);
- booleans: SQLite has none (1/0), DuckDB's AND/OR/CASE want real booleans;
- multi-argument min/max: SQLite's scalar min/max are NULL when an argument is, DuckDB's
  least/greatest skip NULLs;
- lower/upper: SQLite changes A-Z only, DuckDB every letter;
- intermediate tables: SQLite's columns need no type (and its subqueries a `LIMIT -1` to stay
  co-routines), DuckDB's need types; a table of distinct pairs is a `WITHOUT ROWID` table with
  a primary key in SQLite (duplicates ignored as they are inserted), a plain table filled by a
  `UNION` in DuckDB;
- layers: SQLite computes metrics in a table per depth, DuckDB in one table, nested queries
  for the rules that use others (`ONE_LAYER`);
- join order: SQLite keeps the tables of a `CROSS JOIN` in the order written (its temp tables
  have no statistics, so the engine chooses the order there), DuckDB has no `CROSS JOIN ... ON`
  and orders joins itself;
- the columns of a `VALUES` list are `column1, column2, ...` in SQLite, `col0, col1, ...` in
  DuckDB;
- the times and dates of the tables a shop loads: text in SQLite (read by `epoch`, `date`),
  TIMESTAMP and DATE in DuckDB (`stored_epoch`, `stored_date`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from ..expr.nodes import Call
    from ..expr.sqlgen import Sql, SqlContext

FunctionSql = Callable[[list["Sql"], "SqlContext", "Call"], str]

ASCII_UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
ASCII_LOWER = ASCII_UPPER.lower()


class Dialect:
    """The SQL every engine here shares; subclasses override what their engine spells otherwise."""

    name: ClassVar[str] = "generic"
    TYPES: ClassVar[Mapping[str, str]] = {
        "integer": "INTEGER",
        "real": "REAL",
        "text": "TEXT",
        "boolean": "INTEGER",
    }
    # Language functions whose SQL differs from the generator's own (`sqlgen.FUNCTIONS`).
    FUNCTIONS: ClassVar[Mapping[str, FunctionSql]] = {}
    # The key column of an intermediate table of values per customer.
    KEY_COLUMN: ClassVar[str] = "customer_id BIGINT PRIMARY KEY"
    # Appended to a subquery that must stay a co-routine (not be flattened into its reader).
    KEEP_SUBQUERY: ClassVar[str] = ""
    TRUE: ClassVar[str] = "TRUE"
    FALSE: ClassVar[str] = "FALSE"
    # A join whose tables are read in the order written, where the engine lets us choose.
    JOIN_IN_ORDER: ClassVar[str] = "JOIN"
    # Every metric and segment in one statement, those that use others in queries nested
    # around theirs, instead of a table per depth (`compile.assign_layers`).
    ONE_LAYER: ClassVar[bool] = False
    # first/last by `arg_min_null`/`arg_max_null` in the table's GROUP BY, not a helper table.
    PICKS_BY_ARG: ClassVar[bool] = False
    # The modes and distinct counts of one value over one table in one statement of their
    # own (`compile._ValuePicks`, with `most_frequent_of`): DuckDB's distinct aggregates with
    # a filter cost more in the table's GROUP BY than a pass over the pairs of customer and
    # value, and one such pass serves them all.
    VALUE_PICKS_TOGETHER: ClassVar[bool] = False

    def placeholder(self, number: int, value: Any) -> str:
        return f"?{number}"

    def parameter(self, value: Any) -> Any:
        """A literal's value as bound (booleans as 1/0 where the engine has no booleans)."""
        return int(value) if isinstance(value, bool) else value

    def column(self, name: str, kind: str) -> str:
        """A column of an intermediate table holding values of rule type `kind` in the
        engine's form (datetimes as epoch seconds, dates as `YYYY-MM-DD` text)."""
        stored = {"datetime": "integer", "date": "text"}.get(kind, kind)
        return f"{name} {self.TYPES[stored]}" if stored in self.TYPES else name

    def declared(self, name: str, kind: str) -> str:
        """A column of an intermediate table declared with the engine's type of `kind` (where
        `column` may leave it untyped)."""
        return f"{name} {self.TYPES[kind]}"

    def values_column(self, index: int) -> str:
        """The name of column `index` (from 0) of a `VALUES` list."""
        return f"column{index + 1}"

    def pair_table(self, name: str, columns: tuple[str, str]) -> str:
        """`CREATE` a temp table of distinct integer pairs (filled by `insert_distinct`)."""
        typed = ", ".join(self.declared(c, "integer") for c in columns)
        return f"CREATE TEMP TABLE {name} ({typed})"

    def insert_distinct(self, table: str, selects: list[str]) -> str:
        """Insert the rows of `selects` into a `pair_table`, each distinct row once."""
        return f"INSERT INTO {table} {' UNION '.join(selects)}"

    def cast(self, sql: str, kind: str) -> str:
        return f"CAST({sql} AS {self.TYPES[kind]})"

    def real_number(self, sql: str) -> str:
        """A number as a real, for arithmetic that must not stay integer."""
        return self.cast(sql, "real")

    def truncate(self, sql: str) -> str:
        """The integer part of a number, toward zero, as an integer."""
        return f"CAST({sql} AS INTEGER)"

    def int_div(self, dividend: str, divisor: str) -> str:
        """Integer division truncating toward zero."""
        return f"{dividend} / {divisor}"

    def epoch(self, text_sql: str) -> str:
        """Epoch seconds (an integer) of text in any spelling `times.read_instant` accepts,
        read as it reads it; NULL for NULL (a store column holding anything else is refused
        before deciding, `store_values`)."""
        raise NotImplementedError

    def date(self, text_sql: str) -> str:
        """A date spelling `times.read_date` accepts as `YYYY-MM-DD` text, NULL for anything
        else (exactly as `read_date`: `date()` of any text column goes through here)."""
        raise NotImplementedError

    def most_frequent(self, counted: str) -> str:
        """`(customer_id, v)`: each customer's most frequent `v` of `counted` (rows
        `customer_id, v, n`: n times v), ties to the smallest `v` (`mode`)."""
        return (
            "SELECT customer_id, v FROM (SELECT customer_id, v, row_number() OVER "
            f"(PARTITION BY customer_id ORDER BY n DESC, v ASC) AS r FROM ({counted})) WHERE r = 1"
        )

    def most_frequent_of(self, value: str, times: str) -> str:
        """The aggregate of rows (`value`, `times`: how often a customer has it) that is the
        most frequent value with `times` above 0, ties to the smallest (`VALUE_PICKS_TOGETHER`)."""
        raise NotImplementedError

    def stored_epoch(self, column_sql: str) -> str:
        """A `datetime` column of a table the shop loads, as epoch seconds: text read by
        `epoch` here; DuckDB stores hold such columns typed (`backends/duckdb/store.py`)."""
        return self.epoch(column_sql)

    def stored_not_dated_before(self, column_sql: str, day_sql: str) -> str:
        """`not_dated_before` for a `datetime` column `stored_epoch` reads."""
        from ..expr.sqlgen import not_dated_before

        return not_dated_before(column_sql, day_sql)

    def stored_date(self, column_sql: str) -> str:
        """A `date` column of the store as `YYYY-MM-DD` text. The store's values are checked
        before deciding (`store_values`), so an engine may read them more cheaply than any
        text (`date`) as long as it reads every accepted spelling alike."""
        return self.date(column_sql)

    def day_epoch(self, date_sql: str) -> str:
        """Epoch seconds of the UTC midnight of `YYYY-MM-DD` text this dialect's `date` gave."""
        return self.epoch(date_sql)

    def local_date(self, epoch_sql: str, ctx: SqlContext) -> str:
        """The date (`YYYY-MM-DD` text), in the calendar zone (`ctx.calendar_zone`), of an
        instant given as epoch seconds: `date(datetime)`."""
        raise NotImplementedError

    def function(self, name: str) -> FunctionSql | None:
        return self.FUNCTIONS.get(name)


# Significant digits a real computed by SQL is reported with (explain, `campaign metrics`):
# engines add reals in their own order (SQLite one by one, DuckDB in parallel), which changes
# the last digits of a sum and nothing the rules decide.
REAL_DIGITS = 12


def reported_real(value: Any) -> Any:
    """A real as SQL computed it, to `REAL_DIGITS` significant digits, as a float (SQLite
    hands a real metric that came out whole, such as an empty sum, as an integer); anything
    else as it is."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(f"{value:.{REAL_DIGITS}g}")
    return value


def dialect_named(name: str) -> Dialect:
    """The dialect of a backend by name (`sqlite`, `duckdb`)."""
    if name == "duckdb":
        from ..backends.duckdb.dialect import DUCKDB

        return DUCKDB
    from ..backends.sqlite.dialect import SQLITE

    return SQLITE
