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
        f"{where}a sum or abs() of whole numbers goes beyond 64 bits (the store's whole numbers "
        f"go up to {MAX_INTEGER:,})"
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


def store_overflows(rules: RuleSet, db: str | Path) -> list[Problem]:
    """With `validate --db`: arithmetic on the customers' whole-number columns (and on the
    metrics computed from them row by row) that the store's values can take beyond 64 bits,
    a warning at the piece that can, with the values that can: SQLite would go on with an
    approximate real number there. Worked out from each column's least and greatest value."""
    expressions = [e for _, e in rule_expressions(rules)]
    used = {
        node.name
        for e in expressions
        for node in walk(e.node)
        if isinstance(node, Name) and node.kind == "column" and node.type == "integer"
    }
    arithmetic = any(
        isinstance(node, Binary | Unary) and node.type == "integer"
        for e in expressions
        for node in walk(e.node)
    )
    if not used or not arithmetic:
        return []
    columns = _ranges(db, sorted(used))
    metrics: dict[str, Interval] = {}
    for name in rules.metric_order:
        metric = rules.metrics[name]
        if not metric.is_aggregate and metric.type == "integer":
            found = _interval(metric.value.node, columns, metrics)
            if found is not None:
                metrics[name] = found
    problems = []
    for expression in expressions:
        for node, (low, high) in _beyond(expression.node, columns, metrics):
            problems.append(
                Problem(
                    node.span,
                    "store-overflow",
                    f"with the store's values `{to_text(node)}` can be {_near(low, high)}, "
                    "beyond the whole numbers the store holds (64 bits), where SQL goes on with "
                    "an approximate real number",
                    "look for absurdly large values in "
                    + ", ".join(f"`{c}` ({lo:,} to {hi:,})" for c, (lo, hi) in columns.items())
                    + ", or compute with real numbers (`1.0 * ...`)",
                    Severity.WARNING,
                )
            )
    return problems


def _near(low: int, high: int) -> str:
    return f"{high:,}" if high > MAX_INTEGER else f"{low:,}"


def _ranges(db: str | Path, names: list[str]) -> dict[str, Interval]:
    """Each column's least and greatest value among the customers (columns with none left out)."""
    from ..store import closing_any

    parts = ", ".join(f'min("{n}"), max("{n}")' for n in names)
    with closing_any(db) as conn:
        row = conn.execute(f'SELECT {parts} FROM "customers"').fetchone() or ()
    found = {}
    for i, name in enumerate(names):
        low, high = row[2 * i : 2 * i + 2] or (None, None)
        if isinstance(low, int) and isinstance(high, int):
            found[name] = (low, high)
    return found


def _beyond(
    node: Node, columns: dict[str, Interval], metrics: dict[str, Interval]
) -> Iterator[tuple[Node, Interval]]:
    inner = [found for child in children(node) for found in _beyond(child, columns, metrics)]
    if inner or isinstance(node, Literal | Name):
        yield from inner
        return
    interval = _interval(node, columns, metrics)
    if interval is not None and not (interval[0] >= MIN_INTEGER and interval[1] <= MAX_INTEGER):
        yield node, interval


def _interval(
    node: Node, columns: dict[str, Interval], metrics: dict[str, Interval]
) -> Interval | None:
    """The least and greatest value a whole-number expression takes on the store's values."""
    match node:
        case Literal(value=value) if isinstance(value, int) and not isinstance(value, bool):
            return value, value
        case Name(name=name, kind="column"):
            return columns.get(name)
        case Name(name=name, kind="metric"):
            return metrics.get(name)
        case Unary(op="-", operand=operand):
            inner = _interval(operand, columns, metrics)
            return None if inner is None else (-inner[1], -inner[0])
        case Binary(op=op, left=left, right=right) if op in ("+", "-", "*"):
            a, b = _interval(left, columns, metrics), _interval(right, columns, metrics)
            if a is None or b is None:
                return None
            if op == "+":
                return a[0] + b[0], a[1] + b[1]
            if op == "-":
                return a[0] - b[1], a[1] - b[0]
            products = [x * y for x in a for y in b]
            return min(products), max(products)
        case Call(func="abs", args=(argument,)):
            inner = _interval(argument, columns, metrics)
            if inner is None:
                return None
            ends = sorted(abs(x) for x in inner)
            return (0 if inner[0] <= 0 <= inner[1] else ends[0]), ends[1]
        case IfElse(body=body, orelse=orelse):
            a, b = _interval(body, columns, metrics), _interval(orelse, columns, metrics)
            return None if a is None or b is None else (min(a[0], b[0]), max(a[1], b[1]))
    return None
