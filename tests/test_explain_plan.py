"""explain never contradicts plan: on random small stores and rule sets, with shared limits
(budgets, max_actions, channel capacity), groups, holdouts and caps, explaining any customer
gives exactly that customer's decisions in the plan."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rules_engine.execute import plan_store
from rules_engine.reference.explain import explain_store
from rules_engine.rules.check import load_rules
from tests.test_plan import ALICE, AS_OF, BASE, store_with


@st.composite
def shops(draw: Any) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
    rules = copy.deepcopy(BASE)
    second = copy.deepcopy(rules["offers"]["hello"])
    second.update(content="tpl_two", priority=draw(st.sampled_from([5, 10, 20])), cost=2.0)
    rules["offers"]["two"] = second
    for offer in rules["offers"].values():
        if draw(st.booleans()):
            offer["budget"] = {"total": draw(st.sampled_from([1.0, 2.5, 4.1, 10.0]))}
        if draw(st.booleans()):
            offer["max_actions"] = draw(st.integers(1, 3))
        if draw(st.booleans()):
            offer["group"] = "g"
        if draw(st.booleans()):
            offer["holdout"] = "30%"
        if draw(st.booleans()):
            offer["rank"] = "id % 3"
    if draw(st.booleans()):
        rules["channels"]["email"]["capacity"] = {"per_day": draw(st.integers(1, 3))}
    if draw(st.booleans()):
        rules["calendar"]["frequency_caps"] = [{"channel": "*", "max": 1, "per": "7d"}]
    count = draw(st.integers(1, 6))
    customers = [
        {
            "id": i,
            "email": draw(st.sampled_from([None, f"c{i}@example.cn"])),
            "email_opt_in": draw(st.sampled_from([0, 1, None])),
            "phone": draw(st.sampled_from([None, f"138{i}"])),
            "sms_opt_in": draw(st.sampled_from([0, 1])),
            "timezone": draw(st.sampled_from(["Asia/Shanghai", "Europe/Berlin", None])),
        }
        for i in range(1, count + 1)
    ]
    contacts = [
        {
            "id": n,
            "customer_id": draw(st.integers(1, count)),
            "channel": "email",
            "sent_at": "2026-11-13T02:00:00Z",
        }
        for n in range(draw(st.integers(0, 2)))
    ]
    return rules, customers, contacts


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(shops())
def test_explain_of_any_customer_is_its_decision_in_the_plan(
    tmp_path_factory: pytest.TempPathFactory,
    shop: tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]],
) -> None:
    rules_doc, customers, contacts = shop
    tmp = tmp_path_factory.mktemp("shop")
    (tmp / "rules").mkdir()
    (tmp / "rules" / "rules.yaml").write_text(yaml.safe_dump(rules_doc))
    db = store_with(tmp / "store.db", customers=customers, contacts=contacts)
    rules = load_rules([tmp / "rules"], db=db, as_of=AS_OF)
    planned = {
        (d.customer_id, d.offer_id): _shape(d) for d in plan_store(db, rules, AS_OF).decisions
    }
    for customer in customers:
        explained = explain_store(db, rules, AS_OF, customer["id"])
        got = {
            (customer["id"], line.id): _shape(line.decision)
            for line in explained.offers
            if line.decision is not None
        }
        expected = {k: v for k, v in planned.items() if k[0] == customer["id"]}
        assert got == expected, (customer, rules_doc)


def _shape(d: Any) -> tuple[Any, ...]:
    return (d.outcome, d.reason, d.channel, d.send_at, d.cost)


def test_a_customer_a_budget_stops_is_shown_suppressed_by_it(tmp_path: Path) -> None:
    """Two customers, a budget for one action: the plan gives it to the first in rank order;
    explain of the second says budget, as the plan does (not the action it would get alone)."""
    rules_doc = copy.deepcopy(BASE)
    rules_doc["offers"]["hello"]["budget"] = {"total": 1.5}
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "rules.yaml").write_text(yaml.safe_dump(rules_doc))
    people = [{"id": i, "email": f"c{i}@example.cn", "email_opt_in": 1} for i in (1, 2)]
    db = store_with(tmp_path / "store.db", customers=people)
    rules = load_rules([tmp_path / "rules"], db=db, as_of=AS_OF)
    [line] = [o for o in explain_store(db, rules, AS_OF, 2).offers if o.id == "hello"]
    assert line.decision is not None
    assert (line.decision.outcome, line.decision.reason) == ("suppressed", "budget")
    assert "hello: budget" in (explain_store(db, rules, AS_OF, 2).whole_store or "")


@pytest.mark.parametrize(
    ("change", "reason", "named"),
    [
        ({"budget": {"total": 1.5}}, "budget", "budget 1.5 less 0% reserve"),
        ({"max_actions": 1}, "max_actions", "max_actions 1"),
    ],
)
def test_explain_names_the_limit_that_stopped_a_customer(
    tmp_path: Path, change: dict[str, Any], reason: str, named: str
) -> None:
    rules_doc = copy.deepcopy(BASE)
    rules_doc["offers"]["hello"].update(change)
    rules_doc["calendar"]["frequency_caps"] = [{"channel": "*", "max": 1, "per": "7d"}]
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "rules.yaml").write_text(yaml.safe_dump(rules_doc))
    people = [{"id": i, "email": f"c{i}@example.cn", "email_opt_in": 1} for i in (1, 2, 3)]
    sent = [{"id": 1, "customer_id": 3, "channel": "email", "sent_at": "2026-11-14T02:00:00Z"}]
    db = store_with(tmp_path / "store.db", customers=people, contacts=sent)
    rules = load_rules([tmp_path / "rules"], db=db, as_of=AS_OF)
    [second] = [o.decision for o in explain_store(db, rules, AS_OF, 2).offers if o.id == "hello"]
    assert second is not None and second.reason == reason and named in (second.detail or "")
    [capped] = [o.decision for o in explain_store(db, rules, AS_OF, 3).offers if o.id == "hello"]
    assert capped is not None and capped.reason == "frequency_cap"
    assert capped.detail == "caps *: 1 per 7d"


def test_a_blackout_move_is_counted_and_labelled_apart_from_quiet_hours(tmp_path: Path) -> None:
    from rules_engine.report.render import plan_document

    rules_doc = copy.deepcopy(BASE)
    rules_doc["channels"]["email"]["quiet_hours"] = {"start": "21:00", "end": "09:00"}
    rules_doc["calendar"]["blackouts"] = [
        {"from": "2026-11-15", "until": "2026-11-16", "channels": ["email"], "reason": "peak"}
    ]
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "rules.yaml").write_text(yaml.safe_dump(rules_doc))
    db = store_with(tmp_path / "store.db", customers=[{**ALICE}])
    rules = load_rules([tmp_path / "rules"], db=db, as_of=AS_OF)
    planned = plan_store(db, rules, AS_OF)
    [d] = planned.decisions
    assert (d.outcome, d.reason) == ("action", None)  # 2026-11-17 09:00 local: no quiet-hours move
    assert d.detail == (
        "moved by blackout 2026-11-15..2026-11-16 (peak) from 2026-11-15T02:00:00Z "
        "to 2026-11-17T01:00:00Z"
    )
    [offer] = plan_document(planned, digest="d")["offers"]
    assert (offer["moved_by_blackout"], offer["moved_by_quiet_hours"]) == (1, 0)
    [line] = [o for o in explain_store(db, rules, AS_OF, 1).offers if o.id == "hello"]
    assert line.decision is not None and line.decision.detail == d.detail
