"""Values in the store against their types, before anything is decided on them.

SQLite keeps whatever it is given: an integer in `orders.ordered_at`, `'12,50'` or `'abc'` in
`amount`, `2026-02-30` in a time. Read as a time or a number such a value is garbage (SQLite's
own parser moves February 30th to March, `'abc'` sums as 0), so every column the rules or the
engine read is checked against its rule type first, in one scan per table, and a column that
breaks it is a problem naming the table, the column, how many rows and an example row with
its value. A DuckDB store's columns are typed and cannot hold anything else: its times and
dates were read as they were written (`backends/duckdb/store.py`), so nothing is scanned;
a time or date column still kept as text (a store made before times were typed) is a
problem of its own, solved by `campaign init-store`.

The spellings a time or a date may take are those of `times`. The test of a time costs a
little per row (a `GLOB` and two characters compared) for the engine's own spelling, and
goes to `times.read_instant` itself (`campaign_epoch`) only for text in another spelling.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import store
from .errors import Problem, Span
from .expr.nodes import Name, Node, walk
from .expr.sqlgen import quote
from .rules.model import Expression, RuleSet
from .storeformat import is_duckdb

CODE = "store-value-type"

_WHAT = {
    "integer": "whole numbers",
    "real": "finite numbers",
    "text": "text",
    "boolean": "0 or 1",
    "datetime": "times in an accepted ISO-8601 spelling",
    "date": "dates (YYYY-MM-DD or YYYYMMDD)",
}
# The engine's own spelling of a time, and the two others most stores use.
_CANONICAL = "????-??-??T??:??:??Z"
_COMMON = ("????-??-?? ??:??:??", "????-??-??T??:??:??[+-]??:??")


def _fields_ok(x: str) -> str:
    """For text of one of those shapes: every field in range. SQLite's parser checks the
    digits, the month, minutes, seconds and an offset up to 14 hours; it takes 24:00 and moves
    February 30th to March, so the hour is compared and a day past the 28th must come back
    unchanged from `date(.., '+0 days')`; year 0 is not on the calendar. (`IS`, not `=`: a
    NULL inside NOT would hide the row.)"""
    day = f"substr({x}, 1, 10)"
    return (
        f"{x} >= '1' AND substr({x}, 12, 2) < '24' "
        f"AND (substr({x}, 9, 2) < '29' OR date({day}, '+0 days') IS {day}) "
        f"AND unixepoch({x}) IS NOT NULL"
    )


def _sqlite_time_bad(x: str) -> str:
    """The engine's spelling costs a GLOB, two comparisons and `unixepoch` per row; the other
    common ones a little more; only text in any other spelling is read by Python. (Written
    as one condition: in a CASE value SQLite would evaluate every part of it.)"""
    common = " OR ".join(f"{x} GLOB '{shape}'" for shape in _COMMON)
    return (
        f"({x} IS NOT NULL AND NOT ({x} GLOB '{_CANONICAL}' AND {_fields_ok(x)}) "
        f"AND NOT (({common}) AND {_fields_ok(x)}) AND campaign_epoch({x}) IS NULL)"
    )


def sqlite_bad(column: str, kind: str) -> str:
    """SQLite: true where a value is present and not of `kind`."""
    x = column
    # Comparisons, not typeof(): SQLite orders every number before any text and text before
    # any blob, so text in a number column is greater than the largest number.
    if kind == "integer":
        return f"({x} > 9223372036854775807 OR {x} <> CAST({x} AS INTEGER))"
    if kind == "real":
        return f"({x} > 1.7976931348623157e308 OR {x} < -1.7976931348623157e308)"
    if kind == "boolean":
        return f"({x} NOT IN (0, 1))"
    if kind == "datetime":
        return _sqlite_time_bad(x)
    if kind == "date":
        return (
            f"({x} IS NOT NULL AND NOT ({x} >= '1' AND date({x}, '+0 days') IS {x}) "
            f"AND campaign_date({x}) IS NULL)"
        )
    return f"typeof({x}) NOT IN ('text', 'null')"


def columns_read(rules: RuleSet) -> dict[str, set[str]]:
    """The store columns that plan, run, explain and metrics read, by table."""
    read: dict[str, set[str]] = {
        "customers": {"timezone"},
        "contacts": {"channel", "offer_id", "sent_at"},
    }
    for metric in rules.metrics.values():
        if metric.table is not None:
            read.setdefault(metric.table, set())
        for expression in (metric.value, metric.where):
            _note(read, expression, metric.table)
    for segment in rules.segments.values():
        _note(read, segment.where, None)
    for channel in rules.channels.values():
        if channel.address:
            read["customers"].add(channel.address)
        for expression in (channel.consent, channel.entry, channel.exit):
            _note(read, expression, None)
        if channel.lifecycle is not None:
            read["channel_stats"] = set(store.TABLES["channel_stats"].column_types)
    for offer in rules.offers.values():
        for expression in (offer.audience, offer.exclude, offer.rank):
            _note(read, expression, None)
    return read


def _note(read: dict[str, set[str]], expression: Expression | None, table: str | None) -> None:
    if expression is None or expression.node is None:
        return
    node: Node = expression.node
    for part in walk(node):
        if isinstance(part, Name) and part.kind == "column":
            read["customers"].add(part.name)
        elif isinstance(part, Name) and part.kind == "related" and table is not None:
            read[table].add(part.name)


@dataclass(frozen=True)
class BadColumn:
    """A column read whose values break its type: how many rows, and the first of them."""

    table: str
    column: str
    kind: str
    rows: int
    example_id: object
    example: object
    id_name: str

    def message(self) -> str:
        more = f" and {self.rows - 1:,} more" if self.rows > 1 else ""
        return (
            f"{self.table}.{self.column} holds {self.example!r} ({self.id_name} "
            f"{self.example_id}){more}: {self.rows:,} value(s) that are not {_WHAT[self.kind]}"
        )


Execute = Callable[[str], Sequence[Any]]  # one SQL statement → its first row


def bad_columns(path: str | Path, rules: RuleSet) -> list[BadColumn]:
    """Every column read whose values break its type, in table and column order, in a SQLite
    store (a DuckDB store's typed columns hold nothing else)."""
    with store.closing_read_only(path) as conn:
        declared = {
            table: {
                row[1]: (row[2] or "").upper()
                for row in conn.execute("SELECT * FROM pragma_table_info(?)", (table,))
            }
            for table in columns_read(rules)
        }
        return _bad_columns(
            lambda sql: conn.execute(sql).fetchone() or (),
            rules,
            {t: set(cols) for t, cols in declared.items()},
            sqlite_bad,
            with_rowid=True,
            text_affinity={
                t: {c for c, d in cols.items() if _text_affinity(d)} for t, cols in declared.items()
            },
        )


def _text_affinity(declared: str) -> bool:
    """SQLite turns whatever a TEXT column is given into text (a blob aside)."""
    return "INT" not in declared and any(word in declared for word in ("CHAR", "CLOB", "TEXT"))


def _bad_columns(
    execute: Execute,
    rules: RuleSet,
    present: dict[str, set[str]],
    test_of: Callable[[str, str], str | None],
    *,
    with_rowid: bool = False,
    text_affinity: dict[str, set[str]] | None = None,
) -> list[BadColumn]:
    found: list[BadColumn] = []
    for table, columns in sorted(columns_read(rules).items()):
        types = rules.schema.columns(table)
        have = present.get(table, set())
        tests = []
        for column in sorted(columns):
            if column not in types or column not in have:
                continue
            kind = types[column]
            if kind == "text" and column in (text_affinity or {}).get(table, set()):
                continue
            test = test_of(quote(column), kind)
            if test is not None:
                tests.append((column, kind, test))
        if not tests:
            continue
        key = '"id"' if "id" in have else ("rowid" if with_rowid else None)
        found += _scan(execute, table, tests, key)
    return found


def _scan(
    execute: Execute,
    table: str,
    tests: Sequence[tuple[str, str, str]],
    key: str | None,
) -> list[BadColumn]:
    """One pass counts every column's bad values; a column with any gets one more look for
    its first bad row."""
    counts = ", ".join(f"count(*) FILTER (WHERE {test})" for _, _, test in tests)
    row = execute(f"SELECT {counts} FROM {quote(table)}")
    found = []
    for (column, kind, test), rows in zip(tests, row, strict=True):
        if not rows:
            continue
        order = f" ORDER BY {key}" if key else ""
        example = execute(
            f"SELECT {key or 'NULL'}, {quote(column)} FROM {quote(table)} "
            f"WHERE {test}{order} LIMIT 1"
        )
        id_name = "row" if key in (None, "rowid") else "id"
        found.append(BadColumn(table, column, kind, rows, example[0], example[1], id_name))
    return found


def problems(path: str | Path, rules: RuleSet) -> list[Problem]:
    """The store's badly typed columns as problems of the store file (for `check`); a SQLite
    store found clean before, unchanged since (`checked_stores`), is not scanned again."""
    if is_duckdb(path):
        return _text_times(path, rules)
    from . import checked_stores as checked

    key = checked.key_of(path, {t: sorted(c) for t, c in columns_read(rules).items()})
    if key is not None and checked.was_clean(key):
        return []
    found = [
        Problem(
            Span(str(path)),
            CODE,
            bad.message(),
            "correct the data, or declare the column's real type in the rules' `store:` "
            "section; nothing is decided on values read as something else",
        )
        for bad in bad_columns(path, rules)
    ]
    if key is not None and not found:
        checked.remember_clean(key)
    return found


def _text_times(path: str | Path, rules: RuleSet) -> list[Problem]:
    """Times and dates the rules read that a DuckDB store keeps as text (made before they
    were typed): the engine reads them typed, so they are converted first."""
    from .backends.duckdb.store import closing, text_times

    read = columns_read(rules)
    wanted = {t: {c: k for c, k in rules.schema.columns(t).items() if c in read[t]} for t in read}
    with closing(path, wait=store.LOCK_WAIT.get()) as duck:  # a run may hold it a moment
        found = text_times(duck, wanted)
    return [
        Problem(
            Span(str(path)),
            CODE,
            f"{column} keeps its times as text; this engine reads a DuckDB store's times and "
            "dates typed (TIMESTAMP, DATE)",
            f"convert them once with `campaign init-store {path}` (values are kept; a value "
            "in no accepted spelling is named and nothing changes)",
        )
        for column in found
    ]
