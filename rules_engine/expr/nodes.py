"""The expression tree: one frozen dataclass per construct of the rule language.

The parser builds it, the type checker returns a copy with every node's `type` set (and each
`Name`'s `kind`), and both evaluators — SQL for whole stores, Python for `explain` and the
tests — have one handler per class here.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import Span


@dataclass(frozen=True, kw_only=True)
class Node:
    span: Span
    type: str | None = None  # a rule type or "null", once type-checked


@dataclass(frozen=True, kw_only=True)
class Literal(Node):
    value: int | float | str | bool | None


@dataclass(frozen=True, kw_only=True)
class ListLit(Node):
    """A literal list or tuple; only allowed on the right of `in`."""

    items: tuple[Literal, ...]


@dataclass(frozen=True, kw_only=True)
class Name(Node):
    name: str
    kind: str | None = None  # column, related, metric, segment or lifecycle, once resolved


@dataclass(frozen=True, kw_only=True)
class Unary(Node):
    op: str  # "-", "+" or "not"
    operand: Node


@dataclass(frozen=True, kw_only=True)
class Binary(Node):
    op: str  # "+", "-", "*", "/" or "%"
    left: Node
    right: Node


@dataclass(frozen=True, kw_only=True)
class BoolOp(Node):
    op: str  # "and" or "or"
    values: tuple[Node, ...]


@dataclass(frozen=True, kw_only=True)
class Compare(Node):
    """A chain `a < b <= c`: true where every adjacent pair compares true."""

    ops: tuple[str, ...]  # "<", "<=", ">", ">=", "==", "!="
    operands: tuple[Node, ...]


@dataclass(frozen=True, kw_only=True)
class In(Node):
    needle: Node
    items: ListLit
    negated: bool = False


@dataclass(frozen=True, kw_only=True)
class IsNone(Node):
    operand: Node
    negated: bool = False


@dataclass(frozen=True, kw_only=True)
class IfElse(Node):
    test: Node
    body: Node
    orelse: Node


@dataclass(frozen=True, kw_only=True)
class Call(Node):
    func: str
    args: tuple[Node, ...]


NODE_CLASSES: tuple[type[Node], ...] = (
    Literal,
    ListLit,
    Name,
    Unary,
    Binary,
    BoolOp,
    Compare,
    In,
    IsNone,
    IfElse,
    Call,
)


def children(node: Node) -> tuple[Node, ...]:
    """The direct sub-expressions of a node, in source order."""
    match node:
        case Unary(operand=operand) | IsNone(operand=operand):
            return (operand,)
        case Binary(left=left, right=right):
            return (left, right)
        case BoolOp(values=values):
            return values
        case Compare(operands=operands):
            return operands
        case In(needle=needle, items=items):
            return (needle, items)
        case IfElse(test=test, body=body, orelse=orelse):
            return (body, test, orelse)
        case Call(args=args):
            return args
        case ListLit(items=items):
            return items
    return ()


def walk(node: Node) -> list[Node]:
    """Every node of the tree, parents before children."""
    out = [node]
    for child in children(node):
        out += walk(child)
    return out
