"""Whole numbers beyond 64 bits, found where they can be: in the rules, or named in the data.

The store holds whole numbers in 64 bits (up to 9,223,372,036,854,775,807). What the rules
alone say is checked by `validate`: arithmetic on whole numbers written in the rules
(`9223372036854775807 + 1`, `4611686018427387904 * 2`) is worked out, and a result beyond 64
bits is a problem at its place (SQLite would carry on with an approximate real number, Python
with the exact one, and the two would disagree). What only the data can tell (a `sum()` of a
store column holding absurd values) fails when the store is read; `overflow_message` then
says which metrics add up whole numbers, for plan, run, explain, metrics, diff and test.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import Problem, Severity, Span
from ..expr.nodes import Binary, Call, IfElse, Literal, Name, Node, Unary, children, to_text, walk
from .model import Expression, RuleSet

MAX_INTEGER = 2**63 - 1
MIN_INTEGER = -(2**63)


def rule_expressions(rules: RuleSet) -> Iterator[tuple[str, Expression]]:
    """Every expression of the rule set, with the id of its rule."""
    for section in (rules.metrics, rules.segments, rules.channels, rules.offers):
        for rule_id, rule in section.items():
            for value in _field_values(rule):
                yield rule_id, value


def _field_values(rule: Any) -> Iterator[Expression]:
    if not dataclasses.is_dataclass(rule):
        return
    for item in dataclasses.fields(rule):
        value = getattr(rule, item.name)
        values = value.values() if isinstance(value, dict) else [value]
        for one in values:
            if isinstance(one, Expression):
                yield one
            elif dataclasses.is_dataclass(one) and not isinstance(one, type):
                yield from _field_values(one)


def integer_overflows(expressions: Iterable[Expression]) -> list[Problem]:
    """Every piece of arithmetic on whole numbers written in the rules whose result does not
    fit 64 bits, at the smallest such piece."""
    problems = []
    for expression in expressions:
        for node in _too_large(expression.node):
            problems.append(
                Problem(
                    node.span,
                    "integer-overflow",
                    f"`{to_text(node)}` is {_value(node):,}, beyond the whole numbers the store "
                    f"holds ({MIN_INTEGER:,} to {MAX_INTEGER:,})",
                    "use smaller numbers, or a decimal point (`1.0 * ...`) for real arithmetic",
                )
            )
    return problems


def _too_large(node: Node) -> Iterator[Node]:
    """The nodes whose value is beyond 64 bits while their operands' values are not."""
    inner = [found for child in children(node) for found in _too_large(child)]
    if inner or isinstance(node, Literal):  # a literal beyond 64 bits is refused apart
        yield from inner
        return
    value = _value(node)
    if value is not None and not MIN_INTEGER <= value <= MAX_INTEGER:
        yield node


def _value(node: Node) -> int | None:
    """The exact value of arithmetic on whole numbers written out (None: anything else)."""
    match node:
        case Literal(value=value) if isinstance(value, int) and not isinstance(value, bool):
            return value
        case Unary(op="-", operand=operand):
            inner = _value(operand)
            return None if inner is None else -inner
        case Binary(op=op, left=left, right=right) if op in ("+", "-", "*"):
            a, b = _value(left), _value(right)
            if a is None or b is None:
                return None
            return a + b if op == "+" else a - b if op == "-" else a * b
        case Call(func="abs", args=(argument,)):
            inner = _value(argument)
            return None if inner is None else abs(inner)
    return None


def whole_number_sums(rules: RuleSet) -> list[tuple[str, Span, str]]:
    """The metrics whose value adds up whole numbers or takes their `abs()`: the only
    computations that can go beyond 64 bits on the store's values (id, where, what)."""
    found = []
    for metric_id, metric in rules.metrics.items():
        value = metric.value
        node = value.node if isinstance(value, Expression) else None
        for call in _calls(node):
            argument = call.args[0] if call.args else None
            if argument is not None and argument.type == "integer":
                found.append((metric_id, metric.span, f"{call.func}({to_text(argument)})"))
                break
    return found


def _calls(node: Node | None) -> Iterator[Call]:
    if node is None:
        return
    if isinstance(node, Call) and node.func in ("sum", "abs"):
        yield node
    for child in children(node):
        yield from _calls(child)


def overflow_message(rules: RuleSet | None, where: str = "") -> str:
    """What to say when the store's values made a sum go beyond 64 bits."""
    base = (
        f"{where}a sum, abs() or arithmetic on whole numbers goes beyond 64 bits (the store's "
        f"whole numbers go up to {MAX_INTEGER:,})"
    )
    named = whole_number_sums(rules) if rules is not None else []
    if not named:
        return base + ": look for absurdly large numbers in the columns the metrics add up"
    listed = "; ".join(f"metric `{m}` ({span}) takes {what}" for m, span, what in named)
    return (
        f"{base}: {listed}; look for absurdly large values in the store columns these add up "
        "(or add them up as real numbers: `sum(1.0 * ...)`)"
    )


def beyond_64_bits(value: object) -> bool:
    """A whole number the store could not hold (Python computes it exactly; SQL does not)."""
    return (
        isinstance(value, int)
        and not isinstance(value, bool)
        and not MIN_INTEGER <= value <= MAX_INTEGER
    )


# -- with the store: the customers' whole numbers ----------------------------------------------

Interval = tuple[int, int]


@dataclass
class _Ranges:
    """The store's values an expression is worked out over: each whole-number column's least
    and greatest value (by table), and the most rows a customer has in each related table."""

    columns: dict[str, dict[str, Interval]]
    rows: dict[str, int]
    metrics: dict[str, Interval] = field(default_factory=dict)
    table: str = "customers"  # where the related names of the expression at hand are


def store_overflows(rules: RuleSet, db: str | Path) -> list[Problem]:
    """With a store (`validate --db`, and every command that plans): arithmetic on the store's
    whole numbers, and sums of them, that the store's values can take beyond 64 bits, a
    warning at the piece that can with the value it can reach (SQLite goes on with an
    approximate real number, or fails on a sum). Worked out from each column's least and
    greatest value and the most rows a customer has."""
    wanted = _wanted(rules)
    if not wanted:
        return []
    ranges = _Ranges(*_store_ranges(db, wanted))
    problems = []
    for rule_id, expression in rule_expressions(rules):
        metric = rules.metrics.get(rule_id)
        ranges.table = (metric.table if metric is not None else None) or "customers"
        for node, (low, high) in _beyond(expression.node, ranges):
            problems.append(_warning(node, low, high, ranges))
        if metric is not None and expression is metric.value and metric.type == "integer":
            found = _interval(metric.value.node, ranges)
            if found is not None:
                ranges.metrics[rule_id] = found
    return problems


def _warning(node: Node, low: int, high: int, ranges: _Ranges) -> Problem:
    names = {n.name for n in walk(node) if isinstance(n, Name)}
    seen = [
        f"`{c}` ({lo:,} to {hi:,})"
        for table in ranges.columns.values()
        for c, (lo, hi) in table.items()
        if c in names
    ]
    rows = [f"{n:,} {t} rows a customer" for t, n in ranges.rows.items() if t == ranges.table]
    return Problem(
        node.span,
        "store-overflow",
        f"with the store's values `{to_text(node)}` can be {_near(low, high)}, beyond the whole "
        "numbers the store holds (64 bits)",
        "look for absurdly large values in "
        + ", ".join(seen + rows or ["the columns it reads"])
        + ", or compute with real numbers (`1.0 * ...`)",
        Severity.WARNING,
    )


def _wanted(rules: RuleSet) -> dict[str, set[str]]:
    """The whole-number columns, by table, that arithmetic or a sum in the rules reads."""
    wanted: dict[str, set[str]] = {}
    for rule_id, expression in rule_expressions(rules):
        nodes = walk(expression.node)
        if not any(_computes(node) for node in nodes):
            continue
        metric = rules.metrics.get(rule_id)
        related = (metric.table if metric is not None else None) or "customers"
        for node in nodes:
            if isinstance(node, Name) and node.type == "integer":
                if node.kind == "column":
                    wanted.setdefault("customers", set()).add(node.name)
                elif node.kind == "related":
                    wanted.setdefault(related, set()).add(node.name)
    return wanted


def _computes(node: Node) -> bool:
    if isinstance(node, Binary | Unary):
        return node.type == "integer"
    return isinstance(node, Call) and node.func in ("sum", "abs") and node.type == "integer"


def _near(low: int, high: int) -> str:
    return f"{high:,}" if high > MAX_INTEGER else f"{low:,}"


def _store_ranges(
    db: str | Path, wanted: dict[str, set[str]]
) -> tuple[dict[str, dict[str, Interval]], dict[str, int]]:
    """Each wanted column's least and greatest value (columns with none left out), and the most
    rows a customer has in each related table."""
    from ..store import closing_any

    columns: dict[str, dict[str, Interval]] = {}
    rows: dict[str, int] = {}
    with closing_any(db) as conn:
        for table, names in sorted(wanted.items()):
            ordered = sorted(names)
            parts = ", ".join(f'min("{n}"), max("{n}")' for n in ordered)
            row = conn.execute(f'SELECT {parts} FROM "{table}"').fetchone() or ()
            columns[table] = {
                name: (low, high)
                for i, name in enumerate(ordered)
                for low, high in [row[2 * i : 2 * i + 2] or (None, None)]
                if isinstance(low, int) and isinstance(high, int)
            }
            if table != "customers":
                most = conn.execute(
                    f'SELECT max(n) FROM (SELECT count(*) AS n FROM "{table}" '
                    'GROUP BY "customer_id") AS per_customer'
                ).fetchone()
                rows[table] = int(most[0] or 0) if most else 0
    return columns, rows


def _beyond(node: Node, ranges: _Ranges) -> Iterator[tuple[Node, Interval]]:
    inner = [found for child in children(node) for found in _beyond(child, ranges)]
    if inner or isinstance(node, Literal | Name):
        yield from inner
        return
    interval = _interval(node, ranges)
    if interval is not None and not (interval[0] >= MIN_INTEGER and interval[1] <= MAX_INTEGER):
        yield node, interval


def _interval(node: Node, ranges: _Ranges) -> Interval | None:
    """The least and greatest value a whole-number expression takes on the store's values."""
    match node:
        case Literal(value=value) if isinstance(value, int) and not isinstance(value, bool):
            return value, value
        case Name(name=name, kind="column"):
            return ranges.columns.get("customers", {}).get(name)
        case Name(name=name, kind="related"):
            return ranges.columns.get(ranges.table, {}).get(name)
        case Name(name=name, kind="metric"):
            return ranges.metrics.get(name)
        case Unary(op="-", operand=operand):
            inner = _interval(operand, ranges)
            return None if inner is None else (-inner[1], -inner[0])
        case Binary(op=op, left=left, right=right) if op in ("+", "-", "*"):
            a, b = _interval(left, ranges), _interval(right, ranges)
            if a is None or b is None:
                return None
            if op == "+":
                return a[0] + b[0], a[1] + b[1]
            if op == "-":
                return a[0] - b[1], a[1] - b[0]
            products = [x * y for x in a for y in b]
            return min(products), max(products)
        case Call(func="abs", args=(argument,)):
            inner = _interval(argument, ranges)
            if inner is None:
                return None
            ends = sorted(abs(x) for x in inner)
            return (0 if inner[0] <= 0 <= inner[1] else ends[0]), ends[1]
        case Call(func="sum", args=(argument,)):
            inner, most = _interval(argument, ranges), ranges.rows.get(ranges.table)
            if inner is None or most is None:
                return None
            return min(0, most * inner[0]), max(0, most * inner[1])
        case IfElse(body=body, orelse=orelse):
            a, b = _interval(body, ranges), _interval(orelse, ranges)
            return None if a is None or b is None else (min(a[0], b[0]), max(a[1], b[1]))
    return None
