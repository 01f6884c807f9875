"""The example rules planned against the demo store, as `make demo` does.

Every offer acts on the demo store, and `explain` agrees with the plan's SQL on a sample of
customers: on 2,000 customers in `make test`, and on the 100,000 of `make demo` in the slow
tests, where also every reason the example rules can cause on the demo morning shows up:
blackouts (Double 11 and New Year's Eve) and channel lifecycle exits (weibo, a broadcast
channel no offer sends on) cannot happen on 2026-11-20, so they do not.
"""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import pytest

from rules_engine.demo import build_demo_store
from rules_engine.execute import Plan, plan_store
from rules_engine.reference.explain import explain_store
from rules_engine.rules.check import load_rules
from rules_engine.rules.model import RuleSet
from rules_engine.times import parse_instant

ROOT = Path(__file__).parents[1]
AS_OF = parse_instant("2026-11-20T10:00:00+08:00")
CAN_HAPPEN = {
    "cooldown",
    "group_taken",
    "no_address",
    "consent",
    "entry",
    "channel_exit",
    "frequency_cap",
    "min_gap",
    "capacity",
    "max_actions",
    "budget",
}


SIZES = [pytest.param(2_000, id="2k"), pytest.param(100_000, id="100k", marks=pytest.mark.slow)]


@pytest.fixture(scope="module", params=SIZES)
def customers(request: pytest.FixtureRequest) -> int:
    size: int = request.param
    return size


@pytest.fixture(scope="module")
def demo(customers: int, request: pytest.FixtureRequest) -> Path:
    if customers == 2_000:
        small: Path = request.getfixturevalue("small_demo")
        return small
    factory: pytest.TempPathFactory = request.getfixturevalue("tmp_path_factory")
    path = factory.mktemp("demo") / "demo.db"
    build_demo_store(path, customers=customers, seed=1, progress=False)
    return path


@pytest.fixture(scope="module")
def rules(demo: Path) -> RuleSet:
    return load_rules([ROOT / "rules"], db=demo, as_of=AS_OF)


@pytest.fixture(scope="module")
def plan(demo: Path, rules: RuleSet) -> Plan:
    return plan_store(demo, rules, AS_OF)


def test_every_offer_acts(plan: Plan, rules: RuleSet) -> None:
    acting = Counter(d.offer_id for d in plan.actions)
    assert set(plan.offers_in_play) == set(rules.offers)
    assert {o: acting[o] for o in rules.offers if not acting[o]} == {}


def test_every_reason_the_rules_can_cause_appears(plan: Plan, customers: int) -> None:
    if customers < 100_000:
        pytest.skip("budgets, capacity and max_actions bind only on the full demo store")
    seen = Counter(d.reason for d in plan.decisions if d.outcome == "suppressed")
    assert set(seen) == CAN_HAPPEN
    assert any(d.reason == "quiet_hours" for d in plan.actions)
    assert any(d.outcome == "holdout" for d in plan.decisions)
    assert plan.lifecycle["weibo"].state == "exit" and plan.exits


def test_no_customer_gets_two_offers_of_one_group(plan: Plan, rules: RuleSet) -> None:
    slots = Counter(
        (d.customer_id, rules.offers[d.offer_id].group)
        for d in plan.decisions
        if d.outcome in ("action", "holdout") and rules.offers[d.offer_id].group
    )
    assert max(slots.values()) == 1


def test_explain_agrees_with_sql_on_sampled_customers(
    demo: Path, rules: RuleSet, plan: Plan, customers: int
) -> None:
    acting = sorted({d.customer_id for d in plan.actions})
    anyone = random.Random(8).sample(range(1, customers + 1), 4)
    sample = random.Random(7).sample(acting, 8) + anyone
    for customer_id in sample:
        explanation = explain_store(demo, rules, AS_OF, customer_id)
        assert explanation.disagreements == [], customer_id
        decided = {o.id: o.decision for o in explanation.offers if o.decision is not None}
        planned = {d.offer_id: d for d in plan.decisions if d.customer_id == customer_id}
        assert decided.keys() == planned.keys(), customer_id
