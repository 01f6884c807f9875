"""The expression language: what parses, what stays rejected, positions, and types."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rules_engine.errors import Span
from rules_engine.expr import (
    CATALOGUE,
    CODES,
    NODE_CLASSES,
    Context,
    Scope,
    parse_expression,
    typecheck,
)
from rules_engine.expr import nodes as n
from rules_engine.expr.parse import _CHILD_FIELDS, BUILDERS, OFFSETS, anchored
from rules_engine.expr.typecheck import HANDLERS
from rules_engine.store import canonical_schema

SCHEMA = canonical_schema()
CUSTOMERS = SCHEMA.columns("customers")
ORDERS = SCHEMA.columns("orders")
METRICS = {
    "recency_days": "integer",
    "monetary_365d": "real",
    "m_score": "integer",
    "last_order_at": "datetime",
}


def parsed(text: str) -> n.Node:
    node, problems = parse_expression(text)
    assert problems == [] and node is not None
    return node


def rejected(text: str) -> tuple[str, int]:
    node, problems = parse_expression(text)
    assert node is None and len(problems) == 1
    return problems[0].code, problems[0].span.col


def check(text: str, **scope: object) -> tuple[str | None, list[tuple[str, int, int]]]:
    node = parsed(text)
    kwargs: dict[str, object] = {
        "columns": CUSTOMERS,
        "metrics": METRICS,
        "segments": ("high_value",),
    }
    kwargs.update(scope)
    typed, problems = typecheck(node, Scope(**kwargs))  # type: ignore[arg-type]
    return (typed.type if typed else None), [(p.code, p.span.line, p.span.col) for p in problems]


# -- parsing ----------------------------------------------------------------------------


def test_every_construct_parses_to_its_node() -> None:
    assert isinstance(parsed("42"), n.Literal)
    assert isinstance(parsed("recency_days"), n.Name)
    assert isinstance(parsed("-x"), n.Unary)
    assert isinstance(parsed("not x"), n.Unary)
    assert isinstance(parsed("a + b * 2"), n.Binary)
    assert isinstance(parsed("a and b or c"), n.BoolOp)
    assert isinstance(parsed("x in ('a', 'b')"), n.In)
    assert isinstance(parsed("x not in [1, -2]"), n.In)
    assert isinstance(parsed("x is None"), n.IsNone)
    assert isinstance(parsed("x is not None"), n.IsNone)
    assert isinstance(parsed("1 if a else 2"), n.IfElse)
    assert isinstance(parsed("days_since(t)"), n.Call)


def test_comparison_chain_is_one_node() -> None:
    node = parsed("30 < recency_days <= 90")
    assert isinstance(node, n.Compare)
    assert node.ops == ("<", "<=") and len(node.operands) == 3


REJECTED = [
    ("x = 1", "expr-unsupported", 1),
    ("a; b", "expr-unsupported", 1),
    ("a.b", "expr-unsupported", 1),
    ("a[0]", "expr-unsupported", 1),
    ("[x for x in y]", "expr-unsupported", 1),
    ("lambda: 1", "expr-unsupported", 1),
    ('f"{x}"', "expr-unsupported", 1),
    ("2 ** 10", "expr-unsupported", 1),
    ("(x := 1)", "expr-unsupported", 2),
    ("{1: 2}", "expr-unsupported", 1),
    ("{1}", "expr-unsupported", 1),
    ("a & b", "expr-unsupported", 1),
    ("~a", "expr-unsupported", 1),
    ("a // 2", "expr-unsupported", 1),
    ("x is 5", "expr-unsupported", 1),
    ("f(*a)", "expr-unsupported", 3),
    ("f(k=1)", "expr-unsupported", 5),
    ("x in y", "expr-unsupported", 6),
    ("x in (y, 1)", "expr-unsupported", 7),
    ("(1, 2)", "expr-unsupported", 1),
    ("a.b()", "expr-unsupported", 1),
    ("import os", "expr-unsupported", 1),
    ("x >", "expr-syntax", 4),
    ("", "expr-syntax", 1),
    ("x" * 10_001, "expr-too-complex", 1),
    ("-" * 150 + "x", "expr-too-complex", 101),
]


@pytest.mark.parametrize(("text", "code", "col"), REJECTED, ids=[r[0][:20] for r in REJECTED])
def test_what_stays_rejected(text: str, code: str, col: int) -> None:
    assert rejected(text) == (code, col)


def test_assignment_hints_at_equality() -> None:
    _, problems = parse_expression("tier = 'gold'")
    assert problems[0].hint == "did you mean `==`?"


def test_positions_count_characters_not_bytes() -> None:
    node = parsed('city == "上海" and x > 5')
    assert isinstance(node, n.BoolOp)
    right = node.values[1]
    assert isinstance(right, n.Compare)
    assert (right.operands[0].span.col, right.operands[0].span.end_col) == (18, 19)


def test_multi_line_expressions_keep_their_offsets() -> None:
    text = "a and\n  b > 1"
    node = parsed(text)
    assert isinstance(node, n.BoolOp)
    b = node.values[1]
    assert isinstance(b, n.Compare)
    assert b.operands[0].span.col == text.index("b") + 1


def test_leading_whitespace_is_counted() -> None:
    _, problems = parse_expression("   x.y")
    assert problems[0].span.col == 4


# every construct, text that is not ASCII, a comment, a text on two lines
PLACED = [
    "  recency_days > 30 and not x or m_score in (1, -2)  ",
    'city != "上海" and (a + b * 2 - -c) / 3 % 2 >= 1',
    "1 if x is None else coalesce(y, 2.5)  # note",
    "x is not None and z not in ['a', '上海'] and days_since(t) <= 90",
    "a and\n  b > 1",
    "count()",
]


def _contents(node: object) -> object:
    if isinstance(node, tuple):
        return [_contents(item) for item in node]
    if hasattr(node, "__dataclass_fields__"):
        return (type(node).__name__, [(k, _contents(v)) for k, v in vars(node).items()])
    return node


@pytest.mark.parametrize("text", PLACED)
def test_a_tree_parsed_once_is_placed_as_a_fresh_parse(text: str) -> None:
    def locate(start: int, end: int) -> Span:  # not column arithmetic, as for quoted text
        return Span("f.yaml", 7, 100 + start, 8, 200 + end)

    def on_line(start: int, end: int) -> Span:
        return Span("f.yaml", 3, 12 + start, 3, 12 + end)

    at_offsets, _ = parse_expression(text, origin=OFFSETS)
    at_12, _ = parse_expression(text, origin=("f.yaml", 3, 12))
    located, _ = parse_expression(text, locate)
    assert at_offsets is not None and at_12 is not None and located is not None
    assert _contents(anchored(at_offsets, on_line)) == _contents(at_12)
    assert _contents(anchored(at_offsets, locate)) == _contents(located)
    assert _contents(anchored(at_12, locate, 12)) == _contents(located)
    scope = Scope(columns=CUSTOMERS, metrics=METRICS)
    typed_at_12, _ = typecheck(at_12, scope)
    typed_located, _ = typecheck(located, scope)
    assert typed_at_12 is not None and typed_located is not None
    assert _contents(anchored(typed_at_12, locate, 12)) == _contents(typed_located)


def test_placing_a_tree_copies_every_sub_expression() -> None:
    trees = [parsed(text) for text in PLACED]
    every = [node for tree in trees for node in n.walk(tree)]
    assert {type(node) for node in every} == set(NODE_CLASSES)
    for node in every:
        held = [getattr(node, name) for name in _CHILD_FIELDS[type(node)]]
        flat = [x for value in held for x in (value if isinstance(value, tuple) else [value])]
        assert sorted(map(id, flat)) == sorted(map(id, n.children(node)))


def test_dispatch_tables_are_complete() -> None:
    produced = {
        type(node)
        for text in (
            "x in (1,)",
            "-a if b is None else c",
            "f(1, 'a', 2.5, True, None) + 1 < 2 and not z or w",
        )
        for node in n.walk(parsed(text))
    }
    assert produced == set(NODE_CLASSES)
    assert set(HANDLERS) == set(NODE_CLASSES)
    assert set(BUILDERS) <= {c for c in vars(ast).values() if isinstance(c, type)}


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_any_text_parses_or_gives_problems(text: str) -> None:
    node, problems = parse_expression(text)
    assert (node is None) == bool(problems)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="xy12 ()+-*/%<>=!andortifelsNone.,'\"[]", max_size=60))
def test_expression_like_text_never_raises(text: str) -> None:
    node, _ = parse_expression(text)
    if node is not None:
        typed, found = typecheck(node, Scope(columns={"x": "integer", "y": "real"}))
        # a tree without errors is fully typed; an untyped one always says why
        assert typed is not None
        assert typed.type is not None or any(p.is_error for p in found)


# -- types ------------------------------------------------------------------------------


SPEC_EXAMPLES = [
    ("days_since(max(ordered_at))", Context.AGGREGATE, "integer"),
    ('status == "completed" and ordered_at >= days_ago(365)', Context.ROW_FILTER, "boolean"),
    ("count()", Context.AGGREGATE, "integer"),
    ("sum(amount)", Context.AGGREGATE, "real"),
    ("ntile(5, monetary_365d)", Context.DERIVED, "integer"),
    ("5 if recency_days <= 30 else 4 if recency_days <= 60 else 1", Context.DERIVED, "integer"),
    ('m_score >= 4 or member_tier in ("gold", "diamond")', Context.CONDITION, "boolean"),
    ("30 < recency_days <= 90", Context.CONDITION, "boolean"),
    ("high_value and recency_days > 30", Context.CONDITION, "boolean"),
    ("roi >= 0.15 * portfolio_roi", Context.LIFECYCLE, "boolean"),
    ("periods_below(0.5 * target_roi) >= 3", Context.LIFECYCLE, "boolean"),
    ("coalesce(monetary_365d, 0) / 2", Context.CONDITION, "real"),
    ("round(monetary_365d)", Context.CONDITION, "integer"),
    ("min(recency_days, 30)", Context.CONDITION, "integer"),
    ("last(amount, ordered_at)", Context.AGGREGATE, "real"),
    ("first(category, ordered_at)", Context.AGGREGATE, "text"),
    ("hours_since(last_order_at) < 72", Context.CONDITION, "boolean"),
]


@pytest.mark.parametrize(
    ("text", "context", "kind"), SPEC_EXAMPLES, ids=[e[0][:30] for e in SPEC_EXAMPLES]
)
def test_spec_examples_type_check(text: str, context: Context, kind: str) -> None:
    related = ORDERS if context in (Context.AGGREGATE, Context.ROW_FILTER) else None
    assert check(
        text, context=context, related=related, related_table="orders" if related else None
    ) == (
        kind,
        [],
    )


def test_names_are_resolved_with_their_kind() -> None:
    node = parsed("high_value and recency_days > 30 and city == 'x'")
    typed, _ = typecheck(node, Scope(columns=CUSTOMERS, metrics=METRICS, segments=("high_value",)))
    assert typed is not None
    kinds = {x.name: x.kind for x in n.walk(typed) if isinstance(x, n.Name)}
    assert kinds == {"high_value": "segment", "recency_days": "metric", "city": "column"}


TYPE_ERRORS = [
    ("country > 5", {}, ("expr-type", 1, 11)),
    ("contry == 'CN'", {}, ("expr-unknown-name", 1, 1)),
    ("lenght(city) > 1", {}, ("expr-unknown-function", 1, 1)),
    ("round(1, 2, 3) > 1", {}, ("expr-arity", 1, 1)),
    ("city + 1 > 2", {}, ("expr-type", 1, 1)),
    ("recency_days and high_value", {}, ("expr-type", 1, 1)),
    ("True > False", {}, ("expr-type", 1, 8)),
    ("1 if high_value else 'x'", {"expect": None}, ("expr-type", 1, 22)),
    ("member_tier in (1, 2)", {}, ("expr-type", 1, 17)),
    ("days_since(city) > 1", {}, ("expr-type", 1, 12)),
    ("sum(monetary_365d) > 1", {}, ("expr-context", 1, 1)),
    ("ntile(5, monetary_365d) > 1", {}, ("expr-context", 1, 1)),
    ("periods_below(1) > 1", {}, ("expr-context", 1, 1)),
    ("member_tier", {}, ("expr-not-boolean", 1, 1)),
    ("member_tier", {"expect": "numeric"}, ("expr-not-numeric", 1, 1)),
    ("city == None", {}, ("expr-compare-none", 1, 9)),
]


@pytest.mark.parametrize(
    ("text", "scope", "expected"), TYPE_ERRORS, ids=[e[0] for e in TYPE_ERRORS]
)
def test_type_problems_at_their_column(
    text: str, scope: dict[str, object], expected: tuple[str, int, int]
) -> None:
    scope = {"expect": "boolean", **scope}
    _, problems = check(text, **scope)
    assert problems == [expected]


def test_did_you_mean_names_the_closest() -> None:
    node = parsed("contry == 'CN'")
    _, problems = typecheck(node, Scope(columns=CUSTOMERS))
    assert problems[0].hint == "did you mean `country`?"
    assert (
        "cannot compare text `country` with integer 5"
        in typecheck(parsed("country > 5"), Scope(columns=CUSTOMERS))[1][0].message
    )


def test_aggregate_rules() -> None:
    agg = {
        "context": Context.AGGREGATE,
        "related": ORDERS,
        "related_table": "orders",
        "expect": None,
    }
    assert check("sum(max(amount))", **agg)[1] == [("expr-context", 1, 5)]
    assert check("amount + 1", **agg)[1] == [("expr-context", 1, 1)]
    assert check("recency_days", **agg)[1] == [("expr-context", 1, 1)]
    row = {
        "context": Context.ROW_FILTER,
        "related": ORDERS,
        "related_table": "orders",
        "expect": "boolean",
    }
    assert check("count() > 1", **row)[1] == [("expr-context", 1, 1)]


def test_one_mistake_one_message() -> None:
    _, problems = check("contry == 'CN' and contry > 5 or (contry + 1) > 2")
    assert {p[0] for p in problems} == {"expr-unknown-name"}


def test_every_function_and_code_is_documented() -> None:
    docs = Path(__file__).parents[1] / "docs"
    reference = (docs / "expressions.md").read_text()
    for function in CATALOGUE:
        assert f"`{function.name}(" in reference, function.name
    problems = (docs / "problems" / "expressions.md").read_text()
    for code in CODES:
        assert f"## {code}" in problems
