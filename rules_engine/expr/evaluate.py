"""The Python reference evaluator: the contract's semantics, one customer at a time.

Used by `explain` and rule tests, and as the reference the SQL compiler is tested against, so
it follows SQL, not Python: a missing value (None) makes comparisons and arithmetic unknown,
`and`/`or`/`not` use three-valued logic, `/` divides exactly and gives a missing value for a
zero divisor, `%` keeps the sign of the dividend, `round` rounds half away from zero, and time
functions are relative to the run's as-of, never the wall clock.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from ..times import MAX_DAYS_AGO, read_date, read_instant
from .nodes import (
    Binary,
    BoolOp,
    Call,
    Compare,
    IfElse,
    In,
    IsNone,
    ListLit,
    Literal,
    Name,
    Node,
    Unary,
)

Value = Any
Row = Mapping[str, Value]


@dataclass(frozen=True)
class Environment:
    """What names mean for one customer (or one related row), and the run's clock."""

    values: Mapping[str, Value]
    as_of: datetime
    timezone: str = "UTC"  # the calendar's: a date compared with a time is its local midnight
    rows: Sequence[Row] = ()  # the related rows an aggregate runs over (already filtered)
    periods: Sequence[Mapping[str, Value]] = field(default_factory=tuple)  # lifecycle, newest first
    # `ntile` ranks the whole population, so its value comes from whoever evaluates all
    # customers (reference.py); None: not available here
    ntile: Callable[[Call], Value] | None = None

    def with_values(self, values: Mapping[str, Value]) -> Environment:
        return Environment(
            {**self.values, **values},
            self.as_of,
            self.timezone,
            self.rows,
            self.periods,
            self.ntile,
        )


def evaluate(node: Node, env: Environment) -> Value:
    """The value of a type-checked expression; None for a missing value or unknown truth."""
    handler: Callable[[Any, Environment], Value] = HANDLERS[type(node)]
    return handler(node, env)


# -- values of the store's types ---------------------------------------------------------


# What SQLite hands back for a value of each rule type; anything else in the column is
# another type's value, which the reference evaluator reads as missing.
_STORED_AS: dict[str, type | tuple[type, ...]] = {
    "integer": (int, float),
    "real": (int, float),
    "text": str,
    "boolean": (int, float),
    "date": str,
    "datetime": str,
}


def as_type(value: Value, kind: str | None) -> Value:
    """A stored value as the rule type says: ISO text to datetimes and dates, 0/1 to booleans."""
    if value is None or kind is None:
        return value
    if kind == "datetime":
        return value if isinstance(value, datetime) else read_instant(value)
    if kind == "date":
        return value if isinstance(value, date) else read_date(value)
    if not isinstance(value, _STORED_AS.get(kind, object)):
        return None  # a value of another type in the column (text in `amount`): missing
    if kind == "boolean" and not isinstance(value, bool):
        return bool(value) if isinstance(value, int | float) else None
    if kind == "real" and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def _instant(value: Value, env: Environment) -> Value:
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime.combine(value, time(0), ZoneInfo(env.timezone))
    return value


def _comparable(left: Value, right: Value, env: Environment) -> tuple[Value, Value]:
    if isinstance(left, date) != isinstance(right, date) or isinstance(
        left, datetime
    ) != isinstance(right, datetime):
        return _instant(left, env), _instant(right, env)
    return left, right


# -- handlers, one per node class ------------------------------------------------------------


def _literal(node: Literal, env: Environment) -> Value:
    return node.value


def _list(node: ListLit, env: Environment) -> Value:
    return [item.value for item in node.items]


def _name(node: Name, env: Environment) -> Value:
    return env.values.get(node.name)


def _unary(node: Unary, env: Environment) -> Value:
    value = evaluate(node.operand, env)
    if value is None:
        return None
    if node.op == "not":
        return not value
    return -value if node.op == "-" else value


def _binary(node: Binary, env: Environment) -> Value:
    left, right = evaluate(node.left, env), evaluate(node.right, env)
    if left is None or right is None:
        return None
    if node.op == "+":
        return left + right
    if node.op == "-":
        return left - right
    if node.op == "*":
        return left * right
    if right == 0:
        return None
    if node.op == "/":
        return left / right
    if isinstance(left, int) and isinstance(right, int):
        remainder = abs(left) % abs(right)  # exact, with the sign of the dividend, as SQL
        return remainder if left >= 0 else -remainder
    # reals: a - b * trunc(a / b) in double arithmetic, exactly the SQL the compiler writes
    return left - right * int(float(left) / right)


def _boolop(node: BoolOp, env: Environment) -> Value:
    decisive = node.op == "or"  # True decides `or`, False decides `and`
    unknown = False
    for child in node.values:
        value = evaluate(child, env)
        if value is None:
            unknown = True
        elif bool(value) is decisive:
            return decisive
    return None if unknown else not decisive


_ORDER: dict[str, Callable[[Value, Value], bool]] = {
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
}


def _compare(node: Compare, env: Environment) -> Value:
    values = [evaluate(operand, env) for operand in node.operands]
    unknown = False
    for op, left, right in zip(node.ops, values, values[1:], strict=False):
        if left is None or right is None:
            unknown = True
            continue
        left, right = _comparable(left, right, env)
        if not _ORDER[op](left, right):
            return False
    return None if unknown else True


def _in(node: In, env: Environment) -> Value:
    needle = evaluate(node.needle, env)
    if needle is None:
        return None
    items = [item.value for item in node.items.items]
    if needle in [i for i in items if i is not None]:
        found: bool | None = True
    else:
        found = None if any(i is None for i in items) else False
    if found is None:
        return None
    return not found if node.negated else found


def _is_none(node: IsNone, env: Environment) -> Value:
    missing = evaluate(node.operand, env) is None
    return not missing if node.negated else missing


def _ifelse(node: IfElse, env: Environment) -> Value:
    return evaluate(node.body, env) if evaluate(node.test, env) else evaluate(node.orelse, env)


def _call(node: Call, env: Environment) -> Value:
    if node.func in AGGREGATES and len(node.args) == AGGREGATE_ARITY.get(node.func, 1):
        return AGGREGATES[node.func](node, env)
    if node.func == "periods_below":
        return _periods_below(node, env)
    if node.func == "ntile":
        return env.ntile(node) if env.ntile is not None else None
    args = [evaluate(arg, env) for arg in node.args]
    return ROW_FUNCTIONS[node.func](args, env)


# -- row functions -------------------------------------------------------------------------


def _days_since(args: list[Value], env: Environment) -> Value:
    return (
        None
        if args[0] is None
        else math.floor((env.as_of - _instant(args[0], env)) / timedelta(days=1))
    )


def _hours_since(args: list[Value], env: Environment) -> Value:
    return (
        None
        if args[0] is None
        else math.floor((env.as_of - _instant(args[0], env)) / timedelta(hours=1))
    )


def _days_ago(args: list[Value], env: Environment) -> Value:
    """As-of minus n days; missing beyond MAX_DAYS_AGO either way (SQL says the same), so
    that a huge n never leaves the calendar."""
    n = args[0]
    if n is None or math.isnan(n) or abs(n) > MAX_DAYS_AGO:
        return None
    return env.as_of - timedelta(days=n)


def _date(args: list[Value], env: Environment) -> Value:
    """A date spelling as a date; a time as its date in the calendar timezone."""
    value = args[0]
    if isinstance(value, datetime):
        try:
            return value.astimezone(ZoneInfo(env.timezone)).date()
        except OverflowError:  # a time in the first or last hours of the calendar
            return None
    if isinstance(value, date):
        return value
    return read_date(value)


EXACT = 2.0**52  # doubles from here on are whole numbers (see sqlgen._round)


def _round(args: list[Value], env: Environment) -> Value:
    """Half away from zero on the scaled binary value: the same arithmetic the SQL does."""
    if any(a is None for a in args):
        return None
    x = args[0]
    if len(args) == 1:
        if -EXACT <= x <= EXACT:
            magnitude = int(abs(x) + 0.5)
            return -magnitude if x < 0 else magnitude
        return int(x) if -(2.0**63) < x < 2.0**63 else None
    if not (isinstance(args[1], int) and 0 <= args[1] <= 15):
        return None
    scale = 1.0 * 10 ** args[1]
    if not -EXACT <= x * scale <= EXACT:
        return x * 1.0
    scaled = int(abs(x) * scale + 0.5)
    return (-scaled if x < 0 else scaled) / scale


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_ASCII_UPPER = str.maketrans("abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ")


def _strict(function: Callable[..., Value]) -> Callable[[list[Value], Environment], Value]:
    """Missing if any argument is missing, as SQL functions are."""
    return lambda args, env: None if any(a is None for a in args) else function(*args)


def _extreme(
    pick: Callable[[Iterable[Value]], Value],
) -> Callable[[list[Value], Environment], Value]:
    def apply(args: list[Value], env: Environment) -> Value:
        if any(a is None for a in args):
            return None
        if any(isinstance(a, date) for a in args):
            args = [_instant(a, env) for a in args]
        return pick(args)

    return apply


ROW_FUNCTIONS: dict[str, Callable[[list[Value], Environment], Value]] = {
    "days_since": _days_since,
    "hours_since": _hours_since,
    "days_ago": _days_ago,
    "date": _date,
    "coalesce": lambda args, env: next((a for a in args if a is not None), None),
    "lower": _strict(lambda s: s.translate(_ASCII_LOWER)),  # ASCII only, as SQLite's lower()
    "upper": _strict(lambda s: s.translate(_ASCII_UPPER)),
    "contains": _strict(lambda s, sub: sub in s),
    "startswith": _strict(lambda s, prefix: s.startswith(prefix)),
    "abs": _strict(abs),
    "round": _round,
    "min": _extreme(min),
    "max": _extreme(max),
}


# -- aggregates over the related rows ----------------------------------------------------------


def _column(node: Call, env: Environment, index: int = 0) -> list[Value]:
    return [evaluate(node.args[index], env.with_values(row)) for row in env.rows]


def _present(values: Iterable[Value]) -> list[Value]:
    return [v for v in values if v is not None]


def _sum(node: Call, env: Environment) -> Value:
    values = _present(_column(node, env))
    return sum(values) if values else None


def _avg(node: Call, env: Environment) -> Value:
    values = _present(_column(node, env))
    return sum(values) / len(values) if values else None


def _ordered(node: Call, env: Environment) -> list[tuple[Value, int, Value]]:
    """(by, row position, value) for rows whose `by` is present, for first() and last()."""
    values, keys = _column(node, env, 0), _column(node, env, 1)
    return sorted(
        (
            (_instant(k, env), i, v)
            for i, (k, v) in enumerate(zip(keys, values, strict=True))
            if k is not None
        ),
        key=lambda t: (t[0], t[1]),
    )


def _mode(node: Call, env: Environment) -> Value:
    counts = Counter(_present(_column(node, env)))
    if not counts:
        return None
    best = max(counts.values())
    return min(v for v, c in counts.items() if c == best)


AGGREGATES: dict[str, Callable[[Call, Environment], Value]] = {
    "count": lambda node, env: len(env.rows),
    "count_distinct": lambda node, env: len(set(_present(_column(node, env)))),
    "sum": _sum,
    "avg": _avg,
    "min": lambda node, env: min(_present(_column(node, env)), default=None),
    "max": lambda node, env: max(_present(_column(node, env)), default=None),
    "first": lambda node, env: (_ordered(node, env) or [(None, 0, None)])[0][2],
    "last": lambda node, env: (_ordered(node, env) or [(None, 0, None)])[-1][2],
    "mode": _mode,
}
AGGREGATE_ARITY = {"count": 0, "first": 2, "last": 2}


def _periods_below(node: Call, env: Environment) -> Value:
    """Consecutive latest periods whose ROI is under the threshold, evaluated per period."""
    count = 0
    for period in env.periods:
        threshold = evaluate(node.args[0], env.with_values(period))
        roi = period.get("roi")
        if roi is None or threshold is None or not roi < threshold:
            break
        count += 1
    return count


HANDLERS: dict[type[Node], Callable[[Any, Environment], Value]] = {
    Literal: _literal,
    ListLit: _list,
    Name: _name,
    Unary: _unary,
    Binary: _binary,
    BoolOp: _boolop,
    Compare: _compare,
    In: _in,
    IsNone: _is_none,
    IfElse: _ifelse,
    Call: _call,
}
