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
from typing import Any

from ..errors import Problem, Span
from ..expr.nodes import Binary, Call, Literal, Node, Unary, children, to_text
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
