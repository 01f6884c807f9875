"""A plan computes only the metrics the decisions read, and every segment (it counts them):
its decisions are those of a plan with every value computed, on both engines, and what it
leaves out is what only metrics and segments read.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from rules_engine import backends
from rules_engine.execute import plan
from rules_engine.expr.nodes import Name, walk
from rules_engine.report.render import plan_json
from rules_engine.rules.check import load_rules
from rules_engine.rules.model import Expression, RuleSet
from rules_engine.sql.compile import compile_values, decision_values
from rules_engine.sql.namespace import Namespace
from rules_engine.times import parse_instant

ROOT = Path(__file__).parents[1]
AS_OF = parse_instant("2026-11-20T10:00:00+08:00")


def read_by_decisions(rules: RuleSet) -> set[str]:
    """The names in the offers' and channels' expressions, listed field by field here."""
    expressions: list[Expression | None] = []
    for offer in rules.offers.values():
        expressions += [offer.audience, offer.exclude, offer.rank]
    for channel in rules.channels.values():
        expressions += [channel.consent, channel.entry, channel.exit]
    names = {
        n.name for e in expressions if e is not None for n in walk(e.node) if isinstance(n, Name)
    }
    return names & (rules.metrics.keys() | rules.segments.keys())


@pytest.fixture(scope="module")
def example_rules(small_demo: Path) -> RuleSet:
    return load_rules([ROOT / "rules"], db=small_demo, as_of=AS_OF)


def test_decision_values_are_the_names_offers_and_channels_read(example_rules: RuleSet) -> None:
    assert decision_values(example_rules) == read_by_decisions(example_rules)
    assert set(example_rules.metrics) - decision_values(example_rules), (
        "the example rules have metrics that only other rules read"
    )


@pytest.mark.parametrize("store", ["small_demo", "small_duck_demo"])
def test_a_plan_of_the_decision_values_decides_as_a_plan_of_every_value(
    store: str, example_rules: RuleSet, request: pytest.FixtureRequest
) -> None:
    path: Path = request.getfixturevalue(store)
    with backends.backend_for(path).planning(path, 256) as conn:
        dialect = backends.engine_of(conn).dialect
        every = compile_values(example_rules, AS_OF, ns=Namespace("every_"), dialect=dialect)
        whole = plan(conn, example_rules, AS_OF, namespace="every_", program=every)
        narrow = plan(conn, example_rules, AS_OF, namespace="narrow_")
    assert plan_json(narrow, digest="") == plan_json(whole, digest="")


def test_only_what_the_decisions_read_is_computed(example_rules: RuleSet) -> None:
    kept = decision_values(example_rules)
    every = compile_values(example_rules, AS_OF)
    narrow = compile_values(example_rules, AS_OF, kept=kept)
    columns = {c.name for c in narrow.columns}
    assert kept | set(example_rules.segments) <= columns < {c.name for c in every.columns}
    left_out = {c.name for c in every.columns} - columns
    sql = "\n".join(s.sql for s in narrow.statements)
    assert all(
        f'"{name}"' not in sql
        for name in left_out
        if name not in _used_inside(example_rules, columns)
    )


def _used_inside(rules: RuleSet, columns: set[str]) -> set[str]:
    """Rules the kept ones use, however deep: computed inside the statements, not kept."""
    from rules_engine.rules.order import dependencies

    deps = dependencies(rules)
    found: set[str] = set()
    todo = list(columns)
    while todo:
        for d in deps[todo.pop()]:
            if d not in found:
                found.add(d)
                todo.append(d)
    return found
