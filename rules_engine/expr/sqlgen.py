"""Typed expression tree → SQL for SQLite or DuckDB (`dialect`), every literal bound as a parameter.

The SQL evaluator of the contract: set-based, for whole stores. It must agree with the Python
reference evaluator (`expr.evaluate`) on every input; `tests/test_differential.py` checks that
with random expressions and rows. Conventions that make them agree:

What engines spell differently goes through the context's `Dialect` (`sql/dialect.py`; each
backend's own is in `backends/NAME/dialect.py`).

- a datetime is compared as epoch seconds (`Dialect.epoch` reads exactly the ISO-8601
  spellings `times` accepts, as the Python evaluator does); a date is its text `YYYY-MM-DD`
  (`Dialect.date`), or its midnight in the calendar timezone when compared with a datetime;
  `date()` of a datetime is its date in the calendar timezone (`Dialect.local_date`);
- `/` divides as reals and gives NULL for a zero divisor; `%` keeps the sign of the dividend;
- `round(x, n)` is `floor(|x| * 10^n + 0.5) / 10^n` with x's sign, computed the same way in
  Python, for n from 0 to 15 (written out: the type check refuses others); a value too large
  to have decimals at that scale stays as it is; `lower`/`upper` change ASCII letters only,
  as SQLite's do;
- whole-number arithmetic beyond 64 bits is refused where the rules write it, and warned
  about where the store's values can take it there (`rules.overflow`).

Identifiers come from the checked rule set and the store's own schema and are quoted; no text a
user wrote is ever formatted into SQL.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from ..backends.sqlite.dialect import SQLITE
from ..sql.dialect import Dialect
from ..times import MAX_DAYS_AGO
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


def quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def epoch_of(text_sql: str) -> str:
    """Epoch seconds of ISO-8601 text in SQLite (`Dialect.epoch` for any engine)."""
    return SQLITE.epoch(text_sql)


# ISO-8601 text that starts with a calendar date
DATED = "'[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]*'"


def not_dated_before(text_sql: str, day_sql: str) -> str:
    """False only for ISO-8601 text whose date is before `day_sql` (`YYYY-MM-DD` text): a
    plain text comparison that spares parsing most rows outside a recent window. Text
    dated two days before an instant is before it whatever the offset; anything else
    (another spelling, not text) is left to the exact test that must follow."""
    return f"NOT ({text_sql} < {day_sql} AND {text_sql} GLOB {DATED})"


def day_before(moment: datetime) -> str:
    """The `YYYY-MM-DD` date two days before an instant, for `not_dated_before`."""
    return (moment.astimezone(UTC) - timedelta(days=2)).date().isoformat()


CallHook = Callable[["Call", "SqlContext"], "str | None"]  # None: compile as a row function


@dataclass
class SqlContext:
    """How names read in SQL, the run's as-of, and the parameters collected while compiling.

    `ready` names already hold the engine's form of their type (a datetime as epoch seconds,
    a date as `YYYY-MM-DD`): computed metrics, not store columns. `calls` compiles functions
    that need more than one row (aggregates, `ntile`, `periods_below`); the compiler of the
    whole rule set decides what they read.
    """

    names: Mapping[str, str]  # rule name → SQL expression that reads it (already quoted)
    as_of: datetime
    calendar_offset_seconds: int = 0  # the calendar zone's UTC offset at as-of, for dates
    params: list[Any] = field(default_factory=list)
    ready: frozenset[str] = frozenset()
    calls: Mapping[str, CallHook] = field(default_factory=dict)
    dialect: Dialect = SQLITE
    calendar_zone: str = "UTC"  # the calendar's IANA zone: `date(datetime)` is the date there

    def bind(self, value: Any) -> str:
        """A numbered placeholder: a fragment may appear several times in the SQL (round,
        the remainder of reals), and each copy must read the same parameter."""
        self.params.append(value)
        return self.dialect.placeholder(len(self.params), value)


@dataclass(frozen=True)
class Sql:
    """A compiled fragment and the rule type it carries (datetimes are epoch seconds)."""

    text: str
    type: str | None


def compile_expression(node: Node, ctx: SqlContext) -> str:
    """SQL text for a type-checked expression; its parameters are appended to `ctx.params`."""
    return _compile(node, ctx).text


def _compile(node: Node, ctx: SqlContext) -> Sql:
    handler: Callable[[Any, SqlContext], Sql] = HANDLERS[type(node)]
    return handler(node, ctx)


def _epoch(sql: Sql, ctx: SqlContext) -> str:
    """Any temporal value as epoch seconds (a date at its midnight in the calendar zone)."""
    if sql.type == "date":
        return f"({ctx.dialect.day_epoch(sql.text)} - {ctx.calendar_offset_seconds})"
    return sql.text


def _literal(node: Literal, ctx: SqlContext) -> Sql:
    if node.value is None:
        return Sql("NULL", "null")
    return Sql(ctx.bind(ctx.dialect.parameter(node.value)), node.type)


def _list(node: ListLit, ctx: SqlContext) -> Sql:
    return Sql(", ".join(_literal(item, ctx).text for item in node.items), node.type)


def _name(node: Name, ctx: SqlContext) -> Sql:
    column = ctx.names[node.name]
    if node.name in ctx.ready:
        return Sql(column, node.type)
    if node.type == "datetime":
        return Sql(ctx.dialect.stored_epoch(column), "datetime")
    if node.type == "date":
        return Sql(ctx.dialect.stored_date(column), "date")
    return Sql(column, node.type)


def _unary(node: Unary, ctx: SqlContext) -> Sql:
    operand = _compile(node.operand, ctx)
    if node.op == "not":
        return Sql(f"(NOT {operand.text})", "boolean")
    return Sql(f"({node.op}{operand.text})", node.type)


def _binary(node: Binary, ctx: SqlContext) -> Sql:
    left, right = _compile(node.left, ctx).text, _compile(node.right, ctx).text
    dialect = ctx.dialect
    if node.op == "/":
        return Sql(f"({dialect.cast(left, 'real')} / NULLIF({right}, 0))", "real")
    if node.op == "%":
        if node.type == "integer":
            return Sql(f"({left} % NULLIF({right}, 0))", "integer")
        # SQLite's % works on integers; the remainder of reals, with the dividend's sign:
        # a quotient of 2^52 or more is a whole number already, and would not fit the integer
        # truncation (SQLite's saturates at 2^63): it is used as it is, as Python's int() does
        ratio = f"({dialect.cast(left, 'real')} / NULLIF({right}, 0))"
        whole = (
            f"(CASE WHEN abs({ratio}) < {EXACT} THEN {dialect.truncate(ratio)} ELSE {ratio} END)"
        )
        return Sql(f"({left} - {right} * {whole})", "real")
    return Sql(f"({left} {node.op} {right})", node.type)


def _boolop(node: BoolOp, ctx: SqlContext) -> Sql:
    joined = f" {node.op.upper()} ".join(_compile(v, ctx).text for v in node.values)
    return Sql(f"({joined})", "boolean")


_SQL_OPS = {"==": "=", "!=": "<>", "<": "<", "<=": "<=", ">": ">", ">=": ">="}


def _compare(node: Compare, ctx: SqlContext) -> Sql:
    operands = [_compile(o, ctx) for o in node.operands]
    pairs = []
    for op, left, right in zip(node.ops, operands, operands[1:], strict=False):
        a, b = left.text, right.text
        if {left.type, right.type} == {"date", "datetime"}:
            a, b = _epoch(left, ctx), _epoch(right, ctx)
        pairs.append(f"{a} {_SQL_OPS[op]} {b}")
    return Sql("(" + " AND ".join(pairs) + ")", "boolean")


def _in(node: In, ctx: SqlContext) -> Sql:
    needle = _compile(node.needle, ctx)
    items = _list(node.items, ctx)
    keyword = "NOT IN" if node.negated else "IN"
    return Sql(f"({needle.text} {keyword} ({items.text}))", "boolean")


def _is_none(node: IsNone, ctx: SqlContext) -> Sql:
    operand = _compile(node.operand, ctx)
    return Sql(f"({operand.text} IS {'NOT ' if node.negated else ''}NULL)", "boolean")


def _ifelse(node: IfElse, ctx: SqlContext) -> Sql:
    test, body, orelse = (_compile(n, ctx) for n in (node.test, node.body, node.orelse))
    if node.type == "datetime":
        body, orelse = Sql(_epoch(body, ctx), "datetime"), Sql(_epoch(orelse, ctx), "datetime")
    return Sql(f"(CASE WHEN {test.text} THEN {body.text} ELSE {orelse.text} END)", node.type)


def _call(node: Call, ctx: SqlContext) -> Sql:
    hook = ctx.calls.get(node.func)
    text = hook(node, ctx) if hook is not None else None
    if text is not None:
        return Sql(text, node.type)
    function = ctx.dialect.function(node.func) or FUNCTIONS.get(node.func)
    if function is None:
        raise NotImplementedError(f"`{node.func}()` needs the rule-set compiler (compile.py)")
    args = [_compile(arg, ctx) for arg in node.args]
    return Sql(function(args, ctx, node), node.type)


# -- row functions -------------------------------------------------------------------------


def _floor_div(seconds: str, unit: int, dialect: Dialect) -> str:
    """floor(seconds / unit) for integer seconds, negative ones included: the quotient toward
    zero, one less where a negative remainder shows it was rounded up. `seconds` is written
    twice (the SQL of a date difference is long, and a metric nests several)."""
    quotient = dialect.int_div(f"({seconds})", str(unit))
    return f"({quotient} - (CASE WHEN ({seconds}) % {unit} < 0 THEN 1 ELSE 0 END))"


def _since(unit: int) -> Callable[[list[Sql], SqlContext, Call], str]:
    def compile_since(args: list[Sql], ctx: SqlContext, node: Call) -> str:
        now = ctx.bind(int(ctx.as_of.timestamp()))
        return _floor_div(f"{now} - {_epoch(args[0], ctx)}", unit, ctx.dialect)

    return compile_since


def _days_ago(args: list[Sql], ctx: SqlContext, node: Call) -> str:
    """Missing beyond MAX_DAYS_AGO days either way, as in Python (evaluate._days_ago). A
    literal `n` (nearly always) is bounded here, not once per row the bound sits in."""
    n, first = args[0].text, node.args[0]
    now = ctx.bind(int(ctx.as_of.timestamp()))
    if isinstance(first, Literal) and isinstance(first.value, int | float):
        inside = math.isfinite(first.value) and abs(first.value) <= MAX_DAYS_AGO
        return f"({now} - {n} * 86400)" if inside else "NULL"
    # BETWEEN, not abs(): SQLite's abs() of the smallest integer is an error
    limit = ctx.bind(MAX_DAYS_AGO)
    return f"(CASE WHEN {n} BETWEEN -{limit} AND {limit} THEN {now} - {n} * 86400 END)"


# Doubles at or beyond 2^52 are whole numbers: rounding leaves them as they are (the scaled
# value would not fit the integer arithmetic), and a whole number must fit 64 bits.
EXACT = 4503599627370496.0
INT64 = 9223372036854775808.0


def _round(args: list[Sql], ctx: SqlContext, node: Call) -> str:
    x, dialect = args[0].text, ctx.dialect
    if len(args) == 1 and args[0].type == "real":
        # The arithmetic below with `x` written five times, not seven (it may be long, and
        # nested in other rounding): the bounds on |x| as a real (abs() of the smallest
        # integer, which SQLite may hold in a real column, is an error), the sign a factor.
        size = f"abs({dialect.real_number(x)})"
        magnitude = dialect.truncate(f"abs({x}) + 0.5")
        return (
            f"(CASE WHEN {size} <= {EXACT} "
            f"THEN {magnitude} * (CASE WHEN {x} < 0 THEN -1 ELSE 1 END) "
            f"WHEN {size} < {INT64} THEN {dialect.truncate(x)} END)"
        )
    if len(args) == 1:
        magnitude = dialect.truncate(f"abs({x}) + 0.5")
        return (
            f"(CASE WHEN {x} BETWEEN -{EXACT} AND {EXACT} "
            f"THEN (CASE WHEN {x} < 0 THEN -{magnitude} ELSE {magnitude} END) "
            f"WHEN {x} > -{INT64} AND {x} < {INT64} THEN {dialect.truncate(x)} END)"
        )
    scale = dialect.real_number(_power_of_ten(args[1].text))
    magnitude = dialect.truncate(f"abs({x}) * {scale} + 0.5")
    signed = f"(CASE WHEN {x} < 0 THEN -{magnitude} ELSE {magnitude} END)"
    return (
        f"(CASE WHEN {x} * {scale} BETWEEN -{EXACT} AND {EXACT} THEN {signed} / {scale} "
        f"WHEN {scale} IS NOT NULL THEN {dialect.real_number(x)} END)"
    )


def _power_of_ten(n: str) -> str:
    # 10^n for n in 0..15 without relying on SQLite's optional math functions
    cases = " ".join(f"WHEN {i} THEN {10**i}" for i in range(16))
    return f"(CASE {n} {cases} END)"


def _date(args: list[Sql], ctx: SqlContext, node: Call) -> str:
    """`date(text)`: a date spelling; `date(datetime)`: its date in the calendar timezone."""
    arg = args[0]
    if arg.type == "date":
        return arg.text
    if arg.type == "datetime":
        return ctx.dialect.local_date(arg.text, ctx)
    return ctx.dialect.date(arg.text)


def _text(function: str) -> Callable[[list[Sql], SqlContext, Call], str]:
    return lambda args, ctx, node: f"{function}({', '.join(a.text for a in args)})"


def temporal_args(args: list[Sql], ctx: SqlContext) -> list[str]:
    """Arguments of min/max: a date among datetimes compares as its midnight's epoch."""
    temporal = {a.type for a in args} == {"date", "datetime"}
    return [_epoch(a, ctx) if temporal else a.text for a in args]


def _extreme(function: str) -> Callable[[list[Sql], SqlContext, Call], str]:
    def compile_extreme(args: list[Sql], ctx: SqlContext, node: Call) -> str:
        # SQLite's multi-argument min/max are NULL when any argument is NULL, as in Python here
        return f"{function}({', '.join(temporal_args(args, ctx))})"

    return compile_extreme


FUNCTIONS: dict[str, Callable[[list[Sql], SqlContext, Call], str]] = {
    "days_since": _since(86400),
    "hours_since": _since(3600),
    "days_ago": _days_ago,
    "date": _date,
    "coalesce": _text("COALESCE"),
    "lower": _text("lower"),
    "upper": _text("upper"),
    "contains": lambda args, ctx, node: f"(instr({args[0].text}, {args[1].text}) > 0)",
    "startswith": lambda args, ctx, node: (
        f"(substr({args[0].text}, 1, length({args[1].text})) = {args[1].text})"
    ),
    "abs": _text("abs"),
    "round": _round,
    "min": _extreme("min"),
    "max": _extreme("max"),
}

HANDLERS: dict[type[Node], Callable[[Any, SqlContext], Sql]] = {
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
