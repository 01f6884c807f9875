"""SQLite's spelling of what engines spell differently (see `sql/dialect.py`)."""

from __future__ import annotations

import functools
import sqlite3
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from ...sql.dialect import Dialect

if TYPE_CHECKING:
    from ...expr.sqlgen import SqlContext


def _unixepoch(text_sql: str) -> str:
    """`unixepoch()` (SQLite 3.38+) parses exactly as `strftime('%s', ...)` does, at about 40%
    of the cost on a scan of the orders table."""
    if sqlite3.sqlite_version_info >= (3, 38):
        return f"unixepoch({text_sql})"
    return f"CAST(strftime('%s', {text_sql}) AS INTEGER)"


class SQLiteDialect(Dialect):
    name = "sqlite"

    def epoch(self, text_sql: str) -> str:
        """SQLite's own parser reads every accepted spelling it knows (the engine's `...Z`,
        `+08:00`, a space for `T`, no offset) exactly as `times.read_instant` does; where it
        finds nothing (the basic format, `+0800`, `+08`, `t`, a decimal comma, offsets beyond
        14 hours) `campaign_epoch` reads the text in Python. So canonical text costs one
        `unixepoch()`, as before. Text SQLite reads but the accepted set does not have (`24:00`,
        February 30th, a number) is refused before anything is decided (`store_values`)."""
        x = text_sql
        return f"coalesce({_unixepoch(x)}, CASE WHEN {x} IS NOT NULL THEN campaign_epoch({x}) END)"

    def date(self, text_sql: str) -> str:
        """A `YYYY-MM-DD` that exists is itself (SQLite's `date(x, '+0 days')` moves February
        30th to March and reads times and numbers too, so it must give `x` back); anything
        else, `YYYYMMDD` included, is read by `campaign_date`, the Python reading."""
        x = text_sql
        return (
            f"(CASE WHEN {x} >= '1' AND date({x}, '+0 days') = {x} THEN {x} "
            f"WHEN {x} IS NOT NULL THEN campaign_date({x}) END)"
        )

    def stored_date(self, column_sql: str) -> str:
        """`date(x)` as before for `YYYY-MM-DD`, `campaign_date` for `YYYYMMDD` (SQLite
        finds nothing in it). Exact for the values a checked store holds: `date(x)` also
        reads times and gives February 30th back as it is, which the check refuses."""
        x = column_sql
        return f"coalesce(date({x}), CASE WHEN {x} IS NOT NULL THEN campaign_date({x}) END)"

    def day_epoch(self, date_sql: str) -> str:
        return _unixepoch(date_sql)

    def local_date(self, epoch_sql: str, ctx: SqlContext) -> str:
        """Inside the stretch around as-of where the calendar zone keeps one UTC offset, plain
        arithmetic; outside it (another side of a summer-time change) `campaign_local_date`."""
        if ctx.calendar_zone == "UTC":
            return f"date({epoch_sql}, 'unixepoch')"
        lo, hi, offset = steady_offset(ctx.calendar_zone, ctx.as_of)
        zone = ctx.bind(ctx.calendar_zone)
        e = epoch_sql
        return (
            f"(CASE WHEN {e} >= {lo} AND {e} < {hi} THEN date({e} + {offset}, 'unixepoch') "
            f"WHEN {e} IS NOT NULL THEN campaign_local_date({e}, {zone}) END)"
        )

    KEY_COLUMN = "customer_id INTEGER PRIMARY KEY"
    KEEP_SUBQUERY = " LIMIT -1"
    TRUE = "1"
    FALSE = "0"
    JOIN_IN_ORDER = "CROSS JOIN"

    def pair_table(self, name: str, columns: tuple[str, str]) -> str:
        typed = ", ".join(self.declared(c, "integer") for c in columns)
        return (
            f"CREATE TEMP TABLE {name} ({typed}, PRIMARY KEY ({', '.join(columns)})) WITHOUT ROWID"
        )

    def insert_distinct(self, table: str, selects: list[str]) -> str:
        return f"INSERT OR IGNORE INTO {table} {' UNION ALL '.join(selects)}"

    def column(self, name: str, kind: str) -> str:
        return name  # SQLite keeps each value's own type

    def real_number(self, sql: str) -> str:
        return f"(1.0 * {sql})"


_SEARCH_DAYS = 366 * 60  # how far from as-of the steady stretch is looked for, either way


@functools.lru_cache(maxsize=64)
def steady_offset(zone_name: str, as_of: datetime) -> tuple[int, int, int]:
    """[lo, hi) in epoch seconds around as-of where the zone keeps as-of's UTC offset (looked
    for up to 60 years either way), and that offset in seconds."""
    zone = ZoneInfo(zone_name)
    now = int(as_of.timestamp())

    def offset(epoch: int) -> int:
        value = datetime.fromtimestamp(epoch, UTC).astimezone(zone).utcoffset()
        return int(value.total_seconds()) if value else 0

    here = offset(now)

    def edge(step: int) -> int:
        """The last second with offset `here`, going a day (`step`) at a time either way."""
        inside = now
        for _ in range(_SEARCH_DAYS):
            outside = inside + step
            if offset(outside) != here:
                while abs(outside - inside) > 1:
                    middle = (inside + outside) // 2
                    if offset(middle) == here:
                        inside = middle
                    else:
                        outside = middle
                return inside
            inside = outside
        return inside

    return edge(-86400), edge(86400) + 1, here


SQLITE = SQLiteDialect()
