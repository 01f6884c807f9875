"""Values the schema's patterns admit but no calendar or engine can hold, found before use.

The JSON Schema checks shapes: `2026-02-30` looks like a date, `99999999d` like a duration and
`99999999999999999999` like a whole number. This pass checks what they mean: the date exists,
the duration and the number fit the engine (durations up to 100 years, whole numbers in 64
bits, as SQLite stores them), and a `store:` section adds columns instead of retyping the
canonical ones. A rule with such a value is left out of the later checks, as a rule with a
schema error is, so nothing downstream ever sees an impossible value.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, datetime

from ..errors import PROBLEM_CODES, Problem
from ..store import TABLES, StoreSchema
from ..times import FIRST_YEAR, LAST_YEAR
from .load import Document, JsonPath

CODES = PROBLEM_CODES["limits"]

MAX_DAYS = 36_500  # 100 years: longer than any cooldown, cap or exit a campaign means
MAX_INTEGER = 2**63 - 1  # SQLite's integers

_DAYS_PER = {"m": 1 / 1440, "h": 1 / 24, "d": 1, "w": 7}
_DURATION = re.compile(r"^([1-9][0-9]*)([mhdw])$")
_DURATION_KEYS = frozenset({"cooldown", "per", "min_gap", "sync_within", "approved_before"})
_DATE_KEYS = frozenset({"from", "until", "at", "as_of"})
_STARTS_WITH_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}")


def check_values(doc: Document) -> list[Problem]:
    """Every impossible date, oversized duration or number, and retyped store column."""
    problems: list[Problem] = []
    data = doc.data if isinstance(doc.data, dict) else {}
    # rule tests check their own times (`test-as-of`), and may run far in the future
    rules = {section: body for section, body in data.items() if section != "tests"}
    for path, value in _values(rules, ()):
        found = _problem(path, value)
        if found is not None:
            code, message, hint = found
            problems.append(Problem(doc.span(path), code, message, hint))
    problems += _retyped(doc)
    problems += _line_breaks(doc)
    return problems


_NAMED = ("metrics", "segments", "channels", "offers", "tests", "store")


def _line_breaks(doc: Document) -> list[Problem]:
    """Ids ending in a line break: the schema's id pattern lets one through (its `$` matches
    before a final newline), and the id would never match the same name written plainly."""
    data = doc.data if isinstance(doc.data, dict) else {}
    found = []
    for section in _NAMED:
        body = data.get(section)
        keys: list[JsonPath] = [(section, k) for k in body] if isinstance(body, dict) else []
        if section == "store" and isinstance(body, dict):
            keys += [
                (section, t, c) for t, cols in body.items() if isinstance(cols, dict) for c in cols
            ]
        for path in keys:
            if isinstance(path[-1], str) and path[-1] != path[-1].rstrip("\r\n"):
                found.append(
                    Problem(
                        doc.key_span(path),
                        "id-line-break",
                        f"`{path[-1].rstrip()}` ends in a line break, which an id cannot hold",
                        "remove the `\\n` from the quoted key",
                    )
                )
    return found


def _values(data: object, path: JsonPath) -> Iterator[tuple[JsonPath, object]]:
    if isinstance(data, dict):
        for key, value in data.items():
            yield from _values(value, (*path, key))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            yield from _values(value, (*path, i))
    else:
        yield path, data


def _problem(path: JsonPath, value: object) -> tuple[str, str, str] | None:
    key = path[-1] if path else None
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and abs(value) > MAX_INTEGER:
        return (
            "value-too-large",
            f"{value} is beyond the largest whole number the store holds ({MAX_INTEGER:,})",
            "check the number of digits",
        )
    if key == "exit_days" and isinstance(value, int) and value > MAX_DAYS:
        return _too_long(f"exit_days: {value}")
    if not isinstance(value, str):
        return None
    if key in _DURATION_KEYS:
        match = _DURATION.match(value)
        if match and int(match.group(1)) * _DAYS_PER[match.group(2)] > MAX_DAYS:
            return _too_long(value)
    if key in _DATE_KEYS and _STARTS_WITH_DATE.match(value):
        return _date_problem(value)
    return None


def _too_long(what: str) -> tuple[str, str, str]:
    return (
        "value-too-large",
        f"`{what}` is longer than the engine plans for (at most {MAX_DAYS:,} days, 100 years)",
        "use a shorter duration; omit `exit_days` for an exit that lasts for good",
    )


def _date_problem(text: str) -> tuple[str, str, str] | None:
    try:
        day = date.fromisoformat(text[:10])
    except ValueError:
        return (
            "impossible-date",
            f"`{text[:10]}` is not a date on the calendar",
            "check the month's number of days (30 in November, 28 or 29 in February)",
        )
    if len(text) > 10:
        try:
            datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return (
                "impossible-date",
                f"`{text}` is not a time on the clock",
                "hours run 00-23, minutes 00-59, offsets up to ±23:59",
            )
    if not FIRST_YEAR <= day.year <= LAST_YEAR:
        return (
            "value-too-large",
            f"`{text}` is outside the years the engine plans for ({FIRST_YEAR}-{LAST_YEAR})",
            "check the year",
        )
    return None


def _retyped(doc: Document) -> list[Problem]:
    store = doc.data.get("store") if isinstance(doc.data, dict) else None
    problems: list[Problem] = []
    for table, columns in (store or {}).items() if isinstance(store, dict) else ():
        canonical = TABLES[table].column_types if table in TABLES else {}
        for column, kind in (columns or {}).items() if isinstance(columns, dict) else ():
            if column in canonical and kind != canonical[column]:
                problems.append(
                    Problem(
                        doc.span(("store", table, column)),
                        "store-retype",
                        f"`{table}.{column}` is a canonical column of type "
                        f"{canonical[column]}; a `store:` section cannot make it {kind}",
                        f"remove `{column}` here (its type is known), or declare a new column",
                    )
                )
    return problems


def check_declared(doc: Document, schema: StoreSchema) -> list[Problem]:
    """With a real store (`--db`): every table and column the `store:` section declares is
    there, or plan would fail reading it."""
    if schema.store is None or not isinstance(doc.data, dict):
        return []
    declared = doc.data.get("store")
    problems: list[Problem] = []
    for table, columns in declared.items() if isinstance(declared, dict) else ():
        if table not in schema.tables:
            problems.append(
                Problem(
                    doc.key_span(("store", table)),
                    "store-missing",
                    f"the store {schema.store} has no `{table}` table",
                    "create it in the store, or give the store that has it with --db",
                )
            )
            continue
        for column in columns if isinstance(columns, dict) else ():
            if column not in schema.tables[table]:
                problems.append(
                    Problem(
                        doc.key_span(("store", table, column)),
                        "store-missing",
                        f"the store {schema.store} has no column `{table}.{column}`",
                        f"add the column to the store's {table} table, or remove it here",
                    )
                )
    return problems
