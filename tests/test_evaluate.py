"""The Python reference evaluator follows SQL: three-valued logic, exact division, as-of time."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rules_engine.expr import Context, Scope, parse_expression, typecheck
from rules_engine.expr.evaluate import HANDLERS, Environment, as_type, evaluate
from rules_engine.expr.nodes import NODE_CLASSES

AS_OF = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
COLUMNS = {
    "a": "integer",
    "b": "integer",
    "x": "real",
    "t": "text",
    "ok": "boolean",
    "no": "boolean",
    "at": "datetime",
    "d": "date",
}
ORDERS = {"amount": "real", "status": "text", "ordered_at": "datetime", "category": "text"}


def value(
    text: str,
    context: Context = Context.CONDITION,
    rows: tuple[dict[str, Any], ...] = (),
    **values: Any,
) -> Any:
    node, problems = parse_expression(text)
    assert node is not None, problems
    related = ORDERS if context is Context.AGGREGATE else None
    typed, problems = typecheck(node, Scope(columns=COLUMNS, related=related, context=context))
    assert typed is not None and not [p for p in problems if p.is_error], problems
    return evaluate(typed, Environment(values, AS_OF, "Asia/Shanghai", rows))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ok and no", False),
        ("ok and a > 1", None),
        ("no and a > 1", False),
        ("ok or a > 1", True),
        ("no or a > 1", None),
        ("not (a > 1)", None),
        ("a > 1 if ok else 3 > 1", None),
        ("1 if a > 1 else 2", 2),
        ("a is None", True),
        ("a is not None", False),
        ("t in ('x', 'y')", None),
        ("5 in (1, None)", None),
        ("5 not in (1, None)", None),
        ("1 in (1, None)", True),
        ("coalesce(a, 7)", 7),
        ("min(a, 3)", None),
    ],
)
def test_three_valued_logic_with_missing_values(text: str, expected: Any) -> None:
    assert value(text, ok=True, no=False) == expected


def test_arithmetic_follows_sql() -> None:
    assert value("7 / 2") == 3.5
    assert value("7 / 0") is None
    assert value("-7 % 3") == -1
    assert value("round(2.5)") == 3 and value("round(-2.5)") == -3
    assert value("round(0.125, 2)") == 0.13  # an exact half goes away from zero
    assert value("round(-0.125, 2)") == -0.13
    assert value("round(1.005, 2)") == 1.0  # 1.005 is stored as 1.00499999...
    assert value("a + 1", a=None) is None


def test_chains_compare_every_pair() -> None:
    assert value("30 < a <= 90", a=90) is True
    assert value("30 < a <= 90", a=30) is False
    assert value("30 < a <= b", a=40, b=None) is None
    assert value("30 < a <= b", a=20, b=None) is False


def test_time_is_relative_to_as_of() -> None:
    at = as_type("2026-11-10T02:00:00Z", "datetime")
    assert value("days_since(at)", at=at) == 10
    assert value("days_since(at)", at=as_type("2026-11-10 02:00:01", "datetime")) == 9
    assert value("hours_since(at)", at=as_type("2026-11-20T09:30:00+08:00", "datetime")) == 0
    assert value("at >= days_ago(10)", at=at) is True
    assert (
        value("days_since(d)", d=date(2026, 11, 19)) == 1
    )  # midnight in Shanghai, 26 hours before


def test_spellings_of_one_instant_are_equal() -> None:
    spellings = [
        "2026-09-01T12:00:00Z",
        "2026-09-01T12:00:00+00:00",
        "2026-09-01 12:00:00",
        "2026-09-01T20:00:00+08:00",
    ]
    instants = {as_type(s, "datetime") for s in spellings}
    assert len(instants) == 1


ROWS = (
    {
        "amount": 100.0,
        "status": "completed",
        "ordered_at": as_type("2026-10-01T00:00:00Z", "datetime"),
        "category": "toys",
    },
    {
        "amount": None,
        "status": "completed",
        "ordered_at": as_type("2026-11-01T00:00:00Z", "datetime"),
        "category": "books",
    },
    {
        "amount": 50.0,
        "status": "refunded",
        "ordered_at": as_type("2026-09-01T00:00:00Z", "datetime"),
        "category": "toys",
    },
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("count()", 3),
        ("sum(amount)", 150.0),
        ("avg(amount)", 75.0),
        ("max(amount)", 100.0),
        ("min(ordered_at) < days_ago(60)", True),
        ("count_distinct(category)", 2),
        ("first(category, ordered_at)", "toys"),
        ("last(category, ordered_at)", "books"),
        ("mode(category)", "toys"),
        ("days_since(max(ordered_at))", 19),
    ],
)
def test_aggregates_over_related_rows(text: str, expected: Any) -> None:
    assert value(text, Context.AGGREGATE, ROWS) == expected


def test_aggregates_of_no_rows() -> None:
    assert value("count()", Context.AGGREGATE, ()) == 0
    assert value("sum(amount)", Context.AGGREGATE, ()) is None


def test_periods_below_counts_consecutive_latest_periods() -> None:
    node, _ = parse_expression("periods_below(0.5 * target_roi)")
    assert node is not None
    typed, _ = typecheck(node, Scope(columns={}, context=Context.LIFECYCLE))
    assert typed is not None
    periods = [
        {"roi": 0.6, "target_roi": 2.0},
        {"roi": 0.9, "target_roi": 2.0},
        {"roi": 1.5, "target_roi": 2.0},
        {"roi": 0.1, "target_roi": 2.0},
    ]
    assert evaluate(typed, Environment({}, AS_OF, periods=periods)) == 2


def test_every_node_class_has_a_handler() -> None:
    assert set(HANDLERS) == set(NODE_CLASSES)


@given(st.one_of(st.none(), st.booleans()), st.one_of(st.none(), st.booleans()))
def test_and_or_are_kleene(p: bool | None, q: bool | None) -> None:
    both = value("ok and no", ok=p, no=q)
    either = value("ok or no", ok=p, no=q)
    assert both == (False if False in (p, q) else None if None in (p, q) else True)
    assert either == (True if True in (p, q) else None if None in (p, q) else False)
