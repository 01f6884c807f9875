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


_PRECEDENCE = {"or": 1, "and": 2, "not": 3, "compare": 4, "+": 5, "-": 5, "*": 6, "/": 6, "%": 6}


def to_text(node: Node) -> str:
    """The expression written back as rule text (for explain's trees), fully parenthesised
    where precedence would otherwise change the meaning."""
    match node:
        case Literal(value=value):
            return '"' + value.replace('"', '\\"') + '"' if isinstance(value, str) else str(value)
        case ListLit(items=items):
            return (
                "(" + ", ".join(to_text(i) for i in items) + ("," if len(items) == 1 else "") + ")"
            )
        case Name(name=name):
            return name
        case Unary(op=op, operand=operand):
            inner = _wrapped(operand, 9 if op == "not" else _PRECEDENCE["*"] + 1)
            return f"not {inner}" if op == "not" else f"{op}{inner}"
        case Binary(op=op, left=left, right=right):
            level = _PRECEDENCE[op]
            return f"{_wrapped(left, level)} {op} {_wrapped(right, level + 1)}"
        case BoolOp(op=op, values=values):
            return f" {op} ".join(_wrapped(v, _PRECEDENCE[op] + 1) for v in values)
        case Compare(ops=ops, operands=operands):
            parts = [_wrapped(operands[0], 5)]
            for op, operand in zip(ops, operands[1:], strict=True):
                parts += [op, _wrapped(operand, 5)]
            return " ".join(parts)
        case In(needle=needle, items=items, negated=negated):
            return f"{_wrapped(needle, 5)} {'not in' if negated else 'in'} {to_text(items)}"
        case IsNone(operand=operand, negated=negated):
            return f"{_wrapped(operand, 5)} is {'not ' if negated else ''}None"
        case IfElse(test=test, body=body, orelse=orelse):
            return f"{_wrapped(body, 1)} if {_wrapped(test, 1)} else {_wrapped(orelse, 0)}"
        case Call(func=func, args=args):
            return f"{func}({', '.join(to_text(a) for a in args)})"
    raise TypeError(f"no text for {type(node).__name__}")


def _level(node: Node) -> int:
    match node:
        case BoolOp(op=op):
            return _PRECEDENCE[op]
        case Unary(op="not"):
            return _PRECEDENCE["not"]
        case Compare() | In() | IsNone():
            return _PRECEDENCE["compare"]
        case Binary(op=op):
            return _PRECEDENCE[op]
        case IfElse():
            return 0
    return 9


def _wrapped(node: Node, level: int) -> str:
    text = to_text(node)
    return f"({text})" if _level(node) < level else text
