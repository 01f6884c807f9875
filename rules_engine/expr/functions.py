"""The function catalogue: one table that type checking, docs and both evaluators read.

Each entry says which argument types a function takes, what it returns, and where it may be
used: anywhere (row), only as the aggregate of a metric with `from:`, only in derived metrics
(`ntile`, which ranks the whole population), or only in channel lifecycle gates.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum

NUMERIC = frozenset({"integer", "real"})
TEMPORAL = frozenset({"date", "datetime"})
FAMILIES: dict[str, frozenset[str]] = {
    "numeric": NUMERIC,
    "temporal": TEMPORAL,
    "text": frozenset({"text"}),
    "boolean": frozenset({"boolean"}),
    "integer": frozenset({"integer"}),
    "text/date/datetime": frozenset({"text", "date", "datetime"}),
    "any": frozenset({"integer", "real", "text", "boolean", "date", "datetime"}),
}


class Where(StrEnum):
    ROW = "row"
    AGGREGATE = "aggregate"
    DERIVED = "derived"
    LIFECYCLE = "lifecycle"


Returns = Callable[[Sequence[str]], str]


@dataclass(frozen=True)
class Function:
    name: str
    params: tuple[str, ...]  # a family name per argument (see FAMILIES)
    returns: Returns
    where: Where
    doc: str
    optional: int = 0  # how many trailing params may be left out
    variadic: bool = False  # the last param repeats (at least once more)

    def accepts(self, count: int) -> bool:
        least = len(self.params) - self.optional
        if self.variadic:
            return count >= least
        return least <= count <= len(self.params)

    @property
    def signature(self) -> str:
        names = list(self.params)
        if self.variadic:
            names.append("...")
        return f"{self.name}({', '.join(names)})"


def fixed(result: str) -> Returns:
    return lambda _args: result


def same_as_first(args: Sequence[str]) -> str:
    return args[0] if args else "null"


def widest(args: Sequence[str]) -> str:
    """integer and real mix to real; null gives way to anything."""
    known = [a for a in args if a != "null"]
    if not known:
        return "null"
    if "real" in known and set(known) <= NUMERIC:
        return "real"
    if "datetime" in known and set(known) <= TEMPORAL:
        return "datetime"
    return known[0]


def _round(args: Sequence[str]) -> str:
    return "integer" if len(args) == 1 else "real"


CATALOGUE: tuple[Function, ...] = (
    Function(
        "days_since",
        ("temporal",),
        fixed("integer"),
        Where.ROW,
        "Whole days from a date or time to the run's as-of (floor).",
    ),
    Function(
        "hours_since",
        ("temporal",),
        fixed("integer"),
        Where.ROW,
        "Whole hours from a date or time to the run's as-of (floor).",
    ),
    Function(
        "days_ago", ("numeric",), fixed("datetime"), Where.ROW, "The as-of instant minus n days."
    ),
    Function(
        "date",
        ("text/date/datetime",),
        fixed("date"),
        Where.ROW,
        'A date from text such as "2026-11-11" (or 20261111; other text is missing), or the '
        "date of a time in the calendar timezone.",
    ),
    Function(
        "coalesce",
        ("any", "any"),
        widest,
        Where.ROW,
        "The first argument that is not missing.",
        variadic=True,
    ),
    Function("lower", ("text",), fixed("text"), Where.ROW, "Text with A-Z in lower case."),
    Function("upper", ("text",), fixed("text"), Where.ROW, "Text with a-z in upper case."),
    Function(
        "contains",
        ("text", "text"),
        fixed("boolean"),
        Where.ROW,
        "True where the text contains the other text.",
    ),
    Function(
        "startswith",
        ("text", "text"),
        fixed("boolean"),
        Where.ROW,
        "True where the text starts with the other text.",
    ),
    Function("abs", ("numeric",), same_as_first, Where.ROW, "The absolute value."),
    Function(
        "round",
        ("numeric", "integer"),
        _round,
        Where.ROW,
        "Rounded half away from zero, to n decimals (an integer without n; n is written out, "
        "a whole number from 0 to 15); on the number as stored, so 1.005 (stored as "
        "1.00499...) rounds to 1.0.",
        optional=1,
    ),
    Function(
        "min",
        ("any", "any"),
        widest,
        Where.ROW,
        "The smallest of two or more values (missing if any is missing).",
        variadic=True,
    ),
    Function(
        "max",
        ("any", "any"),
        widest,
        Where.ROW,
        "The largest of two or more values (missing if any is missing).",
        variadic=True,
    ),
    Function(
        "ntile",
        ("integer", "numeric"),
        fixed("integer"),
        Where.DERIVED,
        "The value's group, 1 (lowest) to n (highest), ranking every customer; "
        "ties broken by customer id; missing values get no group.",
    ),
    Function("count", (), fixed("integer"), Where.AGGREGATE, "The number of matching rows."),
    Function(
        "count_distinct",
        ("any",),
        fixed("integer"),
        Where.AGGREGATE,
        "The number of different values among the matching rows.",
    ),
    Function(
        "sum", ("numeric",), same_as_first, Where.AGGREGATE, "The sum over the matching rows."
    ),
    Function(
        "avg", ("numeric",), fixed("real"), Where.AGGREGATE, "The average over the matching rows."
    ),
    Function(
        "min",
        ("any",),
        same_as_first,
        Where.AGGREGATE,
        "The smallest value among the matching rows.",
    ),
    Function(
        "max",
        ("any",),
        same_as_first,
        Where.AGGREGATE,
        "The largest value among the matching rows.",
    ),
    Function(
        "first",
        ("any", "any"),
        same_as_first,
        Where.AGGREGATE,
        "The value on the row with the smallest `by` (ties: the lowest row id).",
    ),
    Function(
        "last",
        ("any", "any"),
        same_as_first,
        Where.AGGREGATE,
        "The value on the row with the largest `by` (ties: the highest row id).",
    ),
    Function(
        "mode",
        ("any",),
        same_as_first,
        Where.AGGREGATE,
        "The most frequent value (ties: the smallest value).",
    ),
    Function(
        "periods_below",
        ("numeric",),
        fixed("integer"),
        Where.LIFECYCLE,
        "How many of the latest periods in a row had an ROI under the threshold "
        "(evaluated per period, so `target_roi` is that period's target).",
    ),
)

FUNCTIONS: dict[str, list[Function]] = {}
for _function in CATALOGUE:
    FUNCTIONS.setdefault(_function.name, []).append(_function)


def lookup(name: str, count: int) -> Function | None:
    """The overload of `name` that takes `count` arguments (min/max: 1 is the aggregate)."""
    for function in FUNCTIONS.get(name, ()):
        if function.accepts(count):
            return function
    return None
