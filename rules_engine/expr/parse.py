"""Expression text → our tree, through simpleeval's parser and an allow-list of Python syntax.

simpleeval parses (Python's `ast`), but its evaluator has Python semantics (`and` returns an
operand, `None > 5` raises), not the three-valued logic of SQL the contract asks for; so we
only take the syntax tree and walk it with our own table of allowed constructs. Anything not in
the table is a Problem naming the construct. Positions are converted from `ast`'s UTF-8 byte
columns to characters, so `city == "上海" and x > 5` points at `x`, not four columns later.
"""

from __future__ import annotations

import ast
import math
import typing
import unicodedata
import warnings
from collections.abc import Callable
from typing import Any

from simpleeval import InvalidExpression, MultipleExpressions, SimpleEval

from ..errors import Problem, Span
from .nodes import (
    NODE_CLASSES,
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

Locate = Callable[[int, int], Span]
MAX_LENGTH = 10_000
MAX_DEPTH = 100
MAX_INTEGER = 2**63 - 1  # SQLite's integers

_BINARY = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Mod: "%"}
_COMPARE = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!="}
_UNARY = {ast.USub: "-", ast.UAdd: "+", ast.Not: "not"}

# What a marketer wrote, in words, for constructs the language leaves out on purpose.
UNSUPPORTED: dict[type[ast.AST], tuple[str, str | None]] = {
    ast.Attribute: ("attribute access (`a.b`) is not supported", "use a column or metric name"),
    ast.Subscript: ("subscripts (`a[0]`) are not supported", None),
    ast.Lambda: ("`lambda` is not supported", None),
    ast.ListComp: ("comprehensions are not supported", None),
    ast.SetComp: ("comprehensions are not supported", None),
    ast.DictComp: ("comprehensions are not supported", None),
    ast.GeneratorExp: ("comprehensions are not supported", None),
    ast.JoinedStr: ("f-strings are not supported", "write a plain string"),
    ast.NamedExpr: ("`:=` is not supported", None),
    ast.Starred: ("`*` unpacking is not supported", None),
    ast.Dict: ("dictionaries are not supported", None),
    ast.Set: ("sets are not supported", "use a list after `in`: x in (1, 2)"),
    ast.Await: ("`await` is not supported", None),
    ast.Yield: ("`yield` is not supported", None),
    ast.YieldFrom: ("`yield` is not supported", None),
    ast.Tuple: ("a list is only allowed after `in`", "write x in (1, 2)"),
    ast.List: ("a list is only allowed after `in`", "write x in (1, 2)"),
    ast.Slice: ("slices are not supported", None),
}


class _Unsupported(Exception):
    def __init__(
        self,
        node: ast.AST | None,
        message: str,
        hint: str | None = None,
        code: str = "expr-unsupported",
    ) -> None:
        super().__init__(message)
        self.node, self.message, self.hint, self.code = node, message, hint, code


class _Builder:
    """Builds our tree from `ast`; one method per allowed AST class (see BUILDERS)."""

    def __init__(
        self, source: str, lead: int, locate: Locate, origin: tuple[str, int, int] | None
    ) -> None:
        self.locate = locate
        self.origin = origin
        self.lead = lead
        # `ast` counts UTF-8 bytes; map each byte offset to its character offset once
        self.chars: list[int] | None = None
        if not source.isascii():
            self.chars = [i for i, ch in enumerate(source) for _ in ch.encode()]
            self.chars.append(len(source))
        self.depth = 0

    def span(self, node: ast.AST) -> Span:
        begin: int = getattr(node, "col_offset", 0)
        stop: int = getattr(node, "end_col_offset", None) or begin
        start, end = self.lead + self.char(begin), self.lead + self.char(stop)
        if self.origin is not None:
            file, line, col = self.origin
            return Span(file, line, col + start, line, col + end)
        return self.locate(start, end)

    def char(self, byte_offset: int) -> int:
        return byte_offset if self.chars is None else self.chars[byte_offset]

    def build(self, node: ast.AST) -> Node:
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                raise _Unsupported(
                    node,
                    "the expression nests too deeply",
                    "split it into metrics",
                    "expr-too-complex",
                )
            builder = BUILDERS.get(type(node))
            if builder is None:
                message, hint = UNSUPPORTED.get(
                    type(node), (f"`{type(node).__name__}` is not part of the rule language", None)
                )
                raise _Unsupported(node, message, hint)
            return builder(self, node)
        finally:
            self.depth -= 1

    def constant(self, node: ast.Constant) -> Node:
        value = node.value
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_INTEGER:
            raise _Unsupported(
                node,
                f"{value} is beyond the largest whole number the store holds ({MAX_INTEGER:,})",
                "check the number of digits",
                "expr-too-large",
            )
        if isinstance(value, float) and math.isinf(value):
            raise _Unsupported(
                node, f"{ast.unparse(node)} is too large a number", None, "expr-too-large"
            )
        if value is None or isinstance(value, bool | int | float | str):
            return Literal(span=self.span(node), value=value)
        raise _Unsupported(node, f"the literal {node.value!r} is not supported")

    def name(self, node: ast.Name) -> Node:
        return Name(span=self.span(node), name=node.id)

    def unary(self, node: ast.UnaryOp) -> Node:
        op = _UNARY.get(type(node.op))
        if op is None:
            raise _Unsupported(node, "bit operators are not supported")
        return Unary(span=self.span(node), op=op, operand=self.build(node.operand))

    def binary(self, node: ast.BinOp) -> Node:
        op = _BINARY.get(type(node.op))
        if op is None:
            if isinstance(node.op, ast.Pow):
                raise _Unsupported(node, "`**` is not supported", "multiply instead")
            if isinstance(node.op, ast.FloorDiv):
                raise _Unsupported(node, "`//` is not supported", "use round(a / b)")
            raise _Unsupported(
                node, "bit operators are not supported", "use `and` / `or` for conditions"
            )
        return Binary(
            span=self.span(node), op=op, left=self.build(node.left), right=self.build(node.right)
        )

    def boolop(self, node: ast.BoolOp) -> Node:
        op = "and" if isinstance(node.op, ast.And) else "or"
        return BoolOp(span=self.span(node), op=op, values=tuple(self.build(v) for v in node.values))

    def compare(self, node: ast.Compare) -> Node:
        kinds = [type(op) for op in node.ops]
        if any(k in (ast.In, ast.NotIn, ast.Is, ast.IsNot) for k in kinds):
            if len(kinds) > 1:
                raise _Unsupported(node, "`in` and `is` cannot be chained", "use `and`")
            return self.membership(node, kinds[0], node.comparators[0])
        return Compare(
            span=self.span(node),
            ops=tuple(_COMPARE[k] for k in kinds),
            operands=tuple(self.build(x) for x in (node.left, *node.comparators)),
        )

    def membership(self, node: ast.Compare, kind: type, right: ast.expr) -> Node:
        if kind in (ast.Is, ast.IsNot):
            if not (isinstance(right, ast.Constant) and right.value is None):
                raise _Unsupported(node, "`is` is only for `is None` / `is not None`", "use `==`")
            return IsNone(
                span=self.span(node), operand=self.build(node.left), negated=kind is ast.IsNot
            )
        if not isinstance(right, ast.Tuple | ast.List):
            raise _Unsupported(right, "`in` needs a list of values", 'write x in ("a", "b")')
        items = []
        for item in right.elts:
            built = self.build(item) if isinstance(item, ast.Constant | ast.UnaryOp) else None
            if not isinstance(built, Literal) and not _negative_literal(built):
                raise _Unsupported(item, "the list after `in` may hold only literal values")
            items.append(_as_literal(built))  # type: ignore[arg-type]
        listed = ListLit(span=self.span(right), items=tuple(items))
        return In(
            span=self.span(node),
            needle=self.build(node.left),
            items=listed,
            negated=kind is ast.NotIn,
        )

    def ifelse(self, node: ast.IfExp) -> Node:
        return IfElse(
            span=self.span(node),
            test=self.build(node.test),
            body=self.build(node.body),
            orelse=self.build(node.orelse),
        )

    def call(self, node: ast.Call) -> Node:
        if not isinstance(node.func, ast.Name):
            raise _Unsupported(
                node.func,
                "only functions of the catalogue can be called",
                "see docs/expressions.md",
            )
        if node.keywords:
            raise _Unsupported(
                node.keywords[0].value,
                "keyword arguments are not supported",
                "pass arguments by position",
            )
        return Call(
            span=self.span(node),
            func=node.func.id,
            args=tuple(self.build(arg) for arg in node.args),
        )


def _negative_literal(node: Node | None) -> bool:
    return (
        isinstance(node, Unary)
        and node.op == "-"
        and isinstance(node.operand, Literal)
        and isinstance(node.operand.value, int | float)
    )


def _as_literal(node: Node) -> Literal:
    if isinstance(node, Unary):
        inner = node.operand
        assert isinstance(inner, Literal) and isinstance(inner.value, int | float)
        return Literal(span=node.span, value=-inner.value)
    assert isinstance(node, Literal)
    return node


BUILDERS: dict[type[ast.AST], Callable[[_Builder, Any], Node]] = {
    ast.Constant: _Builder.constant,
    ast.Name: _Builder.name,
    ast.UnaryOp: _Builder.unary,
    ast.BinOp: _Builder.binary,
    ast.BoolOp: _Builder.boolop,
    ast.Compare: _Builder.compare,
    ast.IfExp: _Builder.ifelse,
    ast.Call: _Builder.call,
}


def parse_expression(
    text: str,
    locate: Locate | None = None,
    *,
    file: str = "<expr>",
    origin: tuple[str, int, int] | None = None,
) -> tuple[Node | None, list[Problem]]:
    """Parse one expression; problems (never exceptions) for anything outside the language.

    `locate` maps character offsets to file spans; `origin` (file, line, col) says the text
    stands on one line from there, which makes every position simple arithmetic.
    """
    if locate is None and origin is None:
        origin = (file, 1, 1)
    where: Locate = locate or (
        lambda start, end: Span(origin[0], origin[1], origin[2] + start, origin[1], origin[2] + end)  # type: ignore[index]
    )
    if len(text) > MAX_LENGTH:
        return None, [
            Problem(
                where(0, 0),
                "expr-too-complex",
                f"the expression is over {MAX_LENGTH:,} characters",
                "split it into metrics and segments",
            )
        ]
    flat = text.replace("\r", " ").replace("\n", " ").replace("\t", " ")
    stripped = flat.strip()
    lead = len(flat) - len(flat.lstrip())
    if not stripped:
        return None, [Problem(where(0, len(text)), "expr-syntax", "the expression is empty")]
    try:
        # the contract's parser; a check parses each distinct text once (resolve.py), so
        # catching its warning about several statements is paid once per text
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            statement = SimpleEval.parse(stripped)
    except SyntaxError as exc:
        offset = lead + max((exc.offset or 1) - 1, 0)
        offset = min(offset, len(text))
        foreign = _foreign_operator(text)
        if foreign is not None:
            at, width, instead = foreign
            return None, [
                Problem(where(at, at + width), "expr-syntax", "not a valid expression", instead)
            ]
        return None, [
            Problem(where(offset, offset), "expr-syntax", f"not a valid expression: {exc.msg}")
        ]
    except InvalidExpression:
        return None, [Problem(where(0, len(text)), "expr-syntax", "the expression is empty")]
    except (RecursionError, MemoryError, ValueError):
        return None, [Problem(where(0, 0), "expr-too-complex", "the expression nests too deeply")]
    builder = _Builder(stripped, lead, where, origin)
    if any(issubclass(w.category, MultipleExpressions) for w in caught):
        return None, [
            Problem(
                where(lead, len(text)),
                "expr-unsupported",
                "several statements are not supported",
                "join conditions with `and`",
            )
        ]
    if not isinstance(statement, ast.Expr):
        hint = "did you mean `==`?" if isinstance(statement, ast.Assign | ast.AugAssign) else None
        kind = "assignment" if hint else "a statement"
        return None, [
            Problem(
                builder.span(statement), "expr-unsupported", f"{kind} is not an expression", hint
            )
        ]
    try:
        return builder.build(statement.value), []
    except _Unsupported as exc:
        span = builder.span(exc.node) if exc.node is not None else where(0, len(text))
        return None, [Problem(span, exc.code, exc.message, exc.hint)]


# Punctuation a Chinese input method types, and its ASCII twin.
FULL_WIDTH = {
    "：": ":", "，": ",", "（": "(", "）": ")", "“": '"', "”": '"', "‘": "'", "’": "'",
    "\u3000": " ", "；": ";", "！": "!", "＝": "=", "＞": ">", "＜": "<", "＋": "+", "－": "-",
}  # fmt: skip
# Operators of other languages (and Chinese words for them), and the rule language's word.
FOREIGN = (("&&", "and"), ("||", "or"), ("且", "and"), ("并且", "and"), ("或者", "or"),
           ("或", "or"), ("非", "not"), ("!", "not"))  # fmt: skip


def _foreign_operator(text: str) -> tuple[int, int, str] | None:
    """Where an expression that does not parse uses punctuation or an operator from elsewhere,
    and what to write instead: (offset, width, hint)."""
    for i, char in enumerate(text):
        if char in FULL_WIDTH:
            name = unicodedata.name(char, "full-width character")
            twin = FULL_WIDTH[char]
            return (
                i,
                1,
                (
                    f"`{char}` ({name}) is full-width punctuation, as a Chinese input method types "
                    f"it; type the ASCII `{twin}`" + (" (a space)" if twin == " " else "")
                ),
            )
    code = _outside_strings(text)
    for word, ours in FOREIGN:
        at = code.find(word)
        while word == "!" and at >= 0 and code[at : at + 2] == "!=":
            at = code.find("!", at + 2)
        if at >= 0:
            return at, len(word), f"write `{ours}` instead of `{word}`"
    return None


def _outside_strings(text: str) -> str:
    """The text with the insides of its string literals blanked out (same offsets)."""
    out, quote = [], ""
    for char in text:
        if quote:
            out.append(" " if char != quote else char)
            quote = "" if char == quote else quote
        else:
            out.append(char)
            quote = char if char in "'\"" else ""
    return "".join(out)


# Checking a rule set parses each distinct text once and places a copy of the tree at each other
# occurrence (rules repeat their conditions). A tree parsed with `origin=(file, line, shift)` has
# every span at `shift` + its offsets in the text; OFFSETS gives the offsets themselves.
OFFSETS = ("", 0, 0)


def anchored(node: Node, place: Locate, shift: int = 0) -> Node:
    """A copy of a tree parsed on one line from column `shift` (typed or not), every span put
    by `place`: the tree `parse_expression` gives with `locate=place`, or with the `origin`
    that `place` does the arithmetic of."""
    fields = node.__dict__.copy()
    span = fields["span"]
    fields["span"] = place(span.col - shift, span.end_col - shift)
    for name in _CHILD_FIELDS[type(node)]:
        child = fields[name]
        if type(child) is tuple:
            fields[name] = tuple([anchored(item, place, shift) for item in child])
        else:
            fields[name] = anchored(child, place, shift)
    copy = object.__new__(type(node))
    copy.__dict__.update(fields)  # a fresh object: writing past `frozen` is safe here
    return copy


def _holds_nodes(hint: Any) -> bool:
    if isinstance(hint, type):
        return issubclass(hint, Node)
    args = typing.get_args(hint)
    return typing.get_origin(hint) is tuple and args[-1] is Ellipsis and _holds_nodes(args[0])


# the fields of each node class that hold sub-expressions (a node, or a tuple of nodes)
_CHILD_FIELDS: dict[type, tuple[str, ...]] = {
    cls: tuple(name for name, hint in typing.get_type_hints(cls).items() if _holds_nodes(hint))
    for cls in NODE_CLASSES
}


def literal_expression(value: bool | int | float | None, span: Span) -> Node:
    """A YAML scalar used as an expression (`consent: true`)."""
    return Literal(span=span, value=value)
