"""Types and names, checked before anything runs.

Every node gets a type (integer, real, text, boolean, date, datetime, or null for the literal
None) and every name is resolved against what the rule can see: the customer's columns,
metrics, segments, and in `from:` rules the related table's columns. A mistake is reported at
the offending part of the expression, with a "did you mean" where a close name exists. One
pass collects every problem; a node whose type cannot be known gets `None` and its parents
stay quiet about it, so one mistake gives one message.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, TypeVar
from typing import Literal as TypingLiteral

from ..errors import PROBLEM_CODES, Problem, Severity, did_you_mean
from ..times import read_date
from .functions import FAMILIES, FUNCTIONS, NUMERIC, TEMPORAL, Function, Where, lookup, widest
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
    walk,
)

_N = TypeVar("_N", bound=Node)

CODES = PROBLEM_CODES["expressions"]


class Context(StrEnum):
    ROW_FILTER = "where"
    AGGREGATE = "aggregate"
    DERIVED = "derived"
    CONDITION = "condition"
    LIFECYCLE = "lifecycle"


LIFECYCLE_NAMES: dict[str, str] = {
    "roi": "real",
    "portfolio_roi": "real",
    "target_roi": "real",
    "spend": "real",
    "revenue": "real",
    "conversions": "integer",
}


@dataclass(frozen=True)
class Scope:
    """What an expression can see, and what it must produce."""

    columns: Mapping[str, str]
    metrics: Mapping[str, str] = field(default_factory=dict)
    segments: Collection[str] = ()
    related: Mapping[str, str] | None = None
    related_table: str | None = None
    context: Context = Context.CONDITION
    expect: (
        TypingLiteral["integer", "real", "text", "boolean", "date", "datetime", "numeric"] | None
    ) = None


def _with(node: _N, **changes: Any) -> _N:
    """A copy with some fields changed; `dataclasses.replace` is several times slower, and the
    checker makes one copy per node."""
    copy = object.__new__(type(node))
    copy.__dict__.update(node.__dict__)
    copy.__dict__.update(changes)  # a fresh object, so writing past `frozen` is safe here
    return copy


def _family(kind: str | None) -> str | None:
    if kind in NUMERIC:
        return "numeric"
    if kind in TEMPORAL:
        return "temporal"
    return kind


def _words(node: Node) -> str:
    if isinstance(node, Name):
        return f"{node.type} `{node.name}`"
    if isinstance(node, Literal):
        return (
            f"{node.type} {node.value!r}"
            if isinstance(node.value, str)
            else f"{node.type} {node.value}"
        )
    return f"a {node.type} value"


MAX_ROUND_DIGITS = 15  # 10^15 is the last power of ten a double holds with room for decimals


class _Checker:
    def __init__(self, scope: Scope) -> None:
        self.scope = scope
        self.problems: list[Problem] = []
        self.in_aggregate = False

    def error(self, node: Node, code: str, message: str, hint: str | None = None) -> None:
        self.problems.append(Problem(node.span, code, message, hint))

    def check(self, node: Node) -> Node:
        handler: Callable[[_Checker, Any], Node] = HANDLERS[type(node)]
        return handler(self, node)

    # -- leaves --------------------------------------------------------------------------

    def literal(self, node: Literal) -> Node:
        value = node.value
        kind = (
            "null"
            if value is None
            else "boolean"
            if isinstance(value, bool)
            else (
                "integer"
                if isinstance(value, int)
                else "real"
                if isinstance(value, float)
                else "text"
            )
        )
        return _with(node, type=kind)

    def list_literal(self, node: ListLit) -> Node:
        items = tuple(_with(item, type=self.literal(item).type) for item in node.items)
        return _with(node, items=items, type=widest([i.type or "null" for i in items]))

    def name(self, node: Name) -> Node:
        kind, type_ = self.resolve(node.name)
        if kind is None:
            self.unknown(node)
            return node
        if kind in ("metric", "segment") and self.scope.context in (
            Context.ROW_FILTER,
            Context.AGGREGATE,
        ):
            self.error(
                node,
                "expr-context",
                f"`{node.name}` is a {kind}: a `from:` rule sees only columns",
                "compute it in a derived metric (one without `from:`)",
            )
            return node
        if kind == "related" and self.scope.context is Context.AGGREGATE and not self.in_aggregate:
            self.error(
                node,
                "expr-context",
                f"`{node.name}` is a column of {self.scope.related_table}: use it inside an "
                "aggregate such as sum() or max()",
            )
            return node
        if kind == "column" and self.scope.context is Context.AGGREGATE and not self.in_aggregate:
            self.error(
                node,
                "expr-context",
                f"customer column `{node.name}` outside an aggregate in a `from:` value",
                "use it in a derived metric instead",
            )
            return node
        return _with(node, kind=kind, type=type_)

    def resolve(self, name: str) -> tuple[str | None, str | None]:
        scope = self.scope
        if scope.context is Context.LIFECYCLE:
            found = LIFECYCLE_NAMES.get(name)
            return ("lifecycle", found) if found else (None, None)
        if scope.related is not None and name in scope.related:
            return "related", scope.related[name]
        if name in scope.columns:
            return "column", scope.columns[name]
        if name in scope.metrics:
            return "metric", scope.metrics[name]
        if name in scope.segments:
            return "segment", "boolean"
        return None, None

    def unknown(self, node: Name) -> None:
        scope = self.scope
        if scope.context is Context.LIFECYCLE:
            known: list[str] = list(LIFECYCLE_NAMES)
        else:
            known = [*scope.columns, *scope.metrics, *scope.segments, *(scope.related or {})]
        where = {Context.LIFECYCLE: " in a lifecycle gate"}.get(scope.context, "")
        self.error(
            node,
            "expr-unknown-name",
            f"unknown name `{node.name}`{where}",
            did_you_mean(node.name, known),
        )

    # -- operators -----------------------------------------------------------------------

    def unary(self, node: Unary) -> Node:
        operand = self.check(node.operand)
        kind = operand.type
        if node.op == "not":
            self.need(operand, "boolean", "`not`")
            return _with(node, operand=operand, type="boolean")
        if kind is not None and kind != "null" and kind not in NUMERIC:
            self.error(operand, "expr-type", f"`{node.op}` needs a number, got {_words(operand)}")
            return _with(node, operand=operand)
        return _with(node, operand=operand, type=kind)

    def binary(self, node: Binary) -> Node:
        left, right = self.check(node.left), self.check(node.right)
        built = _with(node, left=left, right=right)
        if left.type is None or right.type is None:
            return built
        for side in (left, right):
            if side.type != "null" and side.type not in NUMERIC:
                self.error(side, "expr-type", f"`{node.op}` needs numbers, got {_words(side)}")
                return built
        if node.op == "/":
            return _with(built, type="real")
        return _with(
            built,
            type=widest([left.type, right.type]),
        )

    def boolop(self, node: BoolOp) -> Node:
        values = tuple(self.check(v) for v in node.values)
        for value in values:
            self.need(value, "boolean", f"`{node.op}`")
        return _with(node, values=values, type="boolean")

    def compare(self, node: Compare) -> Node:
        operands = tuple(self.check(o) for o in node.operands)
        for op, left, right in zip(node.ops, operands, operands[1:], strict=False):
            self.comparable(op, left, right)
        return _with(node, operands=operands, type="boolean")

    def comparable(self, op: str, left: Node, right: Node) -> None:
        if left.type is None or right.type is None:
            return
        if "null" in (left.type, right.type):
            self.problems.append(
                Problem(
                    (right if right.type == "null" else left).span,
                    "expr-compare-none",
                    f"`{op} None` is never true: a missing value compares as unknown",
                    "use `is None` or `is not None`",
                    Severity.WARNING,
                )
            )
            return
        lf, rf = _family(left.type), _family(right.type)
        if lf != rf:
            self.error(right, "expr-type", f"cannot compare {_words(left)} with {_words(right)}")
        elif lf == "boolean" and op not in ("==", "!="):
            self.error(right, "expr-type", f"`{op}` does not order true/false values")

    def membership(self, node: In) -> Node:
        needle = self.check(node.needle)
        items = self.list_literal(node.items)
        assert isinstance(items, ListLit)
        if needle.type not in (None, "null"):
            for item in items.items:
                if item.type != "null" and _family(item.type) != _family(needle.type):
                    self.error(
                        item, "expr-type", f"cannot compare {_words(needle)} with {_words(item)}"
                    )
                    break
        return _with(node, needle=needle, items=items, type="boolean")

    def is_none(self, node: IsNone) -> Node:
        return _with(node, operand=self.check(node.operand), type="boolean")

    def ifelse(self, node: IfElse) -> Node:
        test, body, orelse = self.check(node.test), self.check(node.body), self.check(node.orelse)
        self.need(test, "boolean", "the condition of `if ... else`")
        built = _with(node, test=test, body=body, orelse=orelse)
        if body.type is None or orelse.type is None:
            return built
        if "null" not in (body.type, orelse.type) and _family(body.type) != _family(orelse.type):
            self.error(
                orelse,
                "expr-type",
                f"both branches must be of one kind: {_words(body)} and {_words(orelse)}",
            )
            return built
        return _with(built, type=widest([body.type, orelse.type]))

    def need(self, node: Node, kind: str, what: str) -> None:
        if node.type is not None and node.type not in (kind, "null"):
            self.error(node, "expr-type", f"{what} needs true/false, got {_words(node)}")

    # -- calls ---------------------------------------------------------------------------

    def call(self, node: Call) -> Node:
        function = lookup(node.func, len(node.args))
        if function is None:
            return self.bad_call(node)
        if not self.allowed(node, function):
            return node
        aggregate = function.where is Where.AGGREGATE
        outer, self.in_aggregate = self.in_aggregate, self.in_aggregate or aggregate
        try:
            args = tuple(self.check(a) for a in node.args)
        finally:
            self.in_aggregate = outer
        built = _with(node, args=args)
        types = [a.type for a in args]
        if any(t is None for t in types):
            return built
        if not self.arguments(node, function, args):
            return built
        if not self.literal_arguments(node, args):
            return built
        if node.func == "ntile" and not (
            isinstance(args[0], Literal) and isinstance(args[0].value, int) and args[0].value >= 2
        ):
            self.error(
                args[0], "expr-type", "ntile's first argument is a whole number ≥ 2, as written"
            )
            return built
        return _with(built, type=function.returns([t or "null" for t in types]))

    def literal_arguments(self, node: Call, args: tuple[Node, ...]) -> bool:
        """Arguments the evaluators agree on only when written out, checked where written:
        round's digits (SQL has no power of ten beyond them), and date() of literal text."""
        if node.func == "round" and len(args) == 2:
            digits = args[1]
            if not (
                isinstance(digits, Literal)
                and type(digits.value) is int
                and 0 <= digits.value <= MAX_ROUND_DIGITS
            ):
                self.error(
                    digits,
                    "expr-type",
                    "round's digits are a whole number from 0 to 15, written out",
                    "write e.g. round(x, 2)",
                )
                return False
        written = args[0] if node.func == "date" else None
        if isinstance(written, Literal) and written.type == "text" and not read_date(written.value):
            self.error(
                written,
                "expr-type",
                f"{written.value!r} is not a date",
                "write it as YYYY-MM-DD, e.g. date('2026-11-11')",
            )
            return False
        return True

    def bad_call(self, node: Call) -> Node:
        overloads = FUNCTIONS.get(node.func)
        if overloads is None:
            self.error(
                node,
                "expr-unknown-function",
                f"unknown function `{node.func}()`",
                did_you_mean(
                    node.func, FUNCTIONS, form="`{}()`", otherwise="see docs/expressions.md"
                ),
            )
        else:
            forms = " or ".join(f.signature for f in overloads)
            self.error(
                node,
                "expr-arity",
                f"`{node.func}()` takes {forms}, given {len(node.args)} argument(s)",
            )
        return node

    def allowed(self, node: Call, function: Function) -> bool:
        context = self.scope.context
        rules = {
            Where.AGGREGATE: (
                context is Context.AGGREGATE and not self.in_aggregate,
                f"`{node.func}()` is an aggregate: only allowed in a metric `value` with `from:`"
                if not self.in_aggregate
                else f"aggregates do not nest: `{node.func}()` inside another aggregate",
            ),
            Where.DERIVED: (
                context is Context.DERIVED,
                f"`{node.func}()` ranks all customers: only allowed in a metric without `from:`",
            ),
            Where.LIFECYCLE: (
                context is Context.LIFECYCLE,
                f"`{node.func}()` is only allowed in channel lifecycle gates",
            ),
        }
        ok, message = rules.get(function.where, (True, ""))
        if not ok:
            self.error(node, "expr-context", message)
        return ok

    def arguments(self, node: Call, function: Function, args: tuple[Node, ...]) -> bool:
        params = list(function.params)
        while len(params) < len(args):
            params.append(params[-1])
        families = set()
        for param, arg in zip(params, args, strict=False):
            if arg.type == "null":
                continue
            if arg.type not in FAMILIES[param]:
                self.error(
                    arg, "expr-type", f"`{node.func}()` needs {param} here, got {_words(arg)}"
                )
                return False
            families.add(_family(arg.type))
        if function.name in ("coalesce", "min", "max") and len(families) > 1:
            self.error(node, "expr-type", f"`{node.func}()` needs values of one kind")
            return False
        return True


HANDLERS: dict[type[Node], Callable[[_Checker, Any], Node]] = {
    Literal: _Checker.literal,
    ListLit: _Checker.list_literal,
    Name: _Checker.name,
    Unary: _Checker.unary,
    Binary: _Checker.binary,
    BoolOp: _Checker.boolop,
    Compare: _Checker.compare,
    In: _Checker.membership,
    IsNone: _Checker.is_none,
    IfElse: _Checker.ifelse,
    Call: _Checker.call,
}


def typecheck(node: Node, scope: Scope) -> tuple[Node | None, list[Problem]]:
    """A typed copy of the tree and every problem found; the result's `type` may be None."""
    checker = _Checker(scope)
    typed = checker.check(node)
    expect = scope.expect
    kind = typed.type
    if kind is not None and kind != "null" and not any(p.is_error for p in checker.problems):
        if expect == "boolean" and kind != "boolean":
            checker.error(
                typed,
                "expr-not-boolean",
                f"a condition must be true or false, this is {_words(typed)}",
                "compare it: e.g. `x > 0`",
            )
        elif expect == "numeric" and kind not in NUMERIC:
            checker.error(typed, "expr-not-numeric", f"this must be a number, got {_words(typed)}")
    return typed, checker.problems


def names_in_scope(names: Iterable[str], scope: Scope) -> tuple[tuple[str | None, str | None], ...]:
    """What each name is in the scope (its kind and type). With the scope's context and expected
    type, this is all of the scope that a check without problems reads: two expressions of one
    text whose names are the same things get the same typed tree, apart from positions."""
    checker = _Checker(scope)
    return tuple(checker.resolve(name) for name in names)


def referenced_names(node: Node) -> set[str]:
    """The names an expression uses (for dependency order and cycles)."""
    return {n.name for n in walk(node) if isinstance(n, Name)}
