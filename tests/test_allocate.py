"""The sequential part of the decision order: one reason per test, on hand-built candidates.

Every test runs against both allocators (`allocate`, one candidate at a time, and
`allocate_arrays`, per offer over arrays): they must decide alike.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest

from rules_engine.decide import allocate as one_at_a_time
from rules_engine.decide import allocate_arrays
from rules_engine.decide.records import Candidate, Decision, Message, OfferTotals
from rules_engine.decide.sendtime import in_holdout
from rules_engine.errors import Span
from rules_engine.rules.model import (
    Blackout,
    Budget,
    Calendar,
    Channel,
    Expression,
    FrequencyCap,
    Offer,
    QuietHours,
    Window,
)

AS_OF = datetime(2026, 11, 15, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
SPAN = Span("rules/offers.yaml", 3, 3)
TRUE = Expression("True", None, "boolean", SPAN)
CHANNELS = {
    "email": Channel(
        "email", SPAN, address="email", cost=0.02, quiet_hours=QuietHours(time(21), time(9))
    ),
    "sms": Channel("sms", SPAN, address="phone", cost=0.05),
}
CALENDAR = Calendar(timezone="Asia/Shanghai")


def sent(moment: datetime) -> int:
    return int(moment.timestamp())


def offer(**changes: Any) -> Offer:
    base = Offer("winback", SPAN, TRUE, ("email", "sms"), "tpl", priority=50, cost=1.0)
    return replace(base, **changes)


Allocate = Callable[..., list[Decision]]
Decide = Callable[..., list[Decision]]
ALLOCATORS: dict[str, Allocate] = {
    "reference": one_at_a_time.allocate,
    "arrays": allocate_arrays.allocate,
}


@pytest.fixture(params=list(ALLOCATORS))
def allocate(request: pytest.FixtureRequest) -> Allocate:
    """Each allocator in turn: the same inputs, the same decisions."""
    return ALLOCATORS[request.param]


@pytest.fixture
def decide(allocate: Allocate) -> Decide:
    """`allocate` with this file's channels and as-of, and its calendar unless given."""

    def decide(
        offers: list[Offer], cands: dict[str, list[Candidate]], **kwargs: Any
    ) -> list[Decision]:
        kwargs.setdefault("calendar", CALENDAR)
        return allocate(offers, cands, channels=CHANNELS, as_of=AS_OF, **kwargs)

    return decide


def reasons(decisions: list[Decision]) -> list[tuple[int, str, str, str | None, str | None]]:
    return [(d.customer_id, d.offer_id, d.outcome, d.reason, d.channel) for d in decisions]


def not_held(offer_id: str, holdout: float, count: int) -> list[int]:
    return [i for i in range(1, 1000) if not in_holdout(offer_id, i, holdout)][:count]


def test_action_on_first_eligible_channel_at_preferred_time(decide: Decide) -> None:
    [d] = decide([offer(send_at=time(11))], {"winback": [Candidate(1)]})
    assert (d.outcome, d.channel, d.reason) == ("action", "email", None)
    assert d.send_at == datetime(2026, 11, 15, 3, 0, tzinfo=UTC)
    assert d.cost == 1.02


def test_channel_reason_is_the_first_channels_when_none_is_usable(decide: Decide) -> None:
    cand = Candidate(1, blocked={"email": "consent", "sms": "no_address"})
    assert reasons(decide([offer()], {"winback": [cand]})) == [
        (1, "winback", "suppressed", "consent", "email")
    ]


def test_falls_through_to_the_next_channel(decide: Decide) -> None:
    cand = Candidate(1, blocked={"email": "entry"})
    assert reasons(decide([offer()], {"winback": [cand]}))[0][2:] == ("action", None, "sms")


def test_cooldown_is_listed(decide: Decide) -> None:
    [d] = decide([offer()], {"winback": [Candidate(1, cooldown=True)]})
    assert (d.outcome, d.reason) == ("suppressed", "cooldown")


def test_group_taken_by_higher_priority_offer(decide: Decide) -> None:
    high = offer(id="vip", priority=90, group="winback")
    low = offer(id="basic", priority=10, group="winback")
    decisions = decide([low, high], {"vip": [Candidate(1)], "basic": [Candidate(1)]})
    assert reasons(decisions) == [
        (1, "vip", "action", None, "email"),
        (1, "basic", "suppressed", "group_taken", None),
    ]


def test_holdout_takes_the_group_slot(decide: Decide) -> None:
    held = next(i for i in range(1, 1000) if in_holdout("vip", i, 0.5))
    high = offer(id="vip", priority=90, group="g", holdout=0.5)
    low = offer(id="basic", priority=10, group="g")
    decisions = decide([high, low], {"vip": [Candidate(held)], "basic": [Candidate(held)]})
    assert [(d.outcome, d.reason) for d in decisions] == [
        ("holdout", None),
        ("suppressed", "group_taken"),
    ]


def test_channel_frequency_cap_moves_to_next_channel(decide: Decide) -> None:
    calendar = replace(
        CALENDAR, frequency_caps=(FrequencyCap(SPAN, 1, timedelta(days=7), "email"),)
    )
    history = {1: [Message(sent(AS_OF - timedelta(days=2)), "email", None)]}
    [d] = decide([offer()], {"winback": [Candidate(1)]}, calendar=calendar, history=history)
    assert (d.outcome, d.channel) == ("action", "sms")


def test_global_cap_counts_contacts_in_window_only(decide: Decide) -> None:
    calendar = replace(CALENDAR, frequency_caps=(FrequencyCap(SPAN, 2, timedelta(days=7), "*"),))
    history = {
        1: [
            Message(sent(AS_OF - timedelta(days=1)), "sms", None),
            Message(sent(AS_OF - timedelta(days=3)), "email", None),
        ],
        2: [
            Message(sent(AS_OF - timedelta(days=1)), "sms", None),
            Message(sent(AS_OF - timedelta(days=8)), "email", None),
        ],
    }
    decisions = decide(
        [offer()], {"winback": [Candidate(1), Candidate(2)]}, calendar=calendar, history=history
    )
    assert [(d.customer_id, d.reason) for d in decisions] == [(1, "frequency_cap"), (2, None)]


def test_group_cap_counts_only_the_groups_offers(decide: Decide) -> None:
    calendar = replace(
        CALENDAR, frequency_caps=(FrequencyCap(SPAN, 1, timedelta(days=30), group="g"),)
    )
    history = {
        1: [Message(sent(AS_OF - timedelta(days=3)), "email", "other")],
        2: [Message(sent(AS_OF - timedelta(days=3)), "email", "winback")],
    }
    o = offer(group="g")
    decisions = decide(
        [o], {"winback": [Candidate(1), Candidate(2)]}, calendar=calendar, history=history
    )
    assert [(d.customer_id, d.outcome, d.reason) for d in decisions] == [
        (1, "action", None),
        (2, "suppressed", "frequency_cap"),
    ]


def test_group_cap_counts_offers_not_in_play_that_groups_names(decide: Decide) -> None:
    """An offer out of its window still sent the group's message: `groups=` says whose it
    was. Without `groups=`, only the allocated offers' groups are known."""
    calendar = replace(
        CALENDAR, frequency_caps=(FrequencyCap(SPAN, 1, timedelta(days=30), group="g"),)
    )

    def history() -> dict[int, list[Message]]:  # fresh: the reference appends its bookings
        return {1: [Message(sent(AS_OF - timedelta(days=3)), "email", "retired")]}

    o, cands = offer(group="g"), {"winback": [Candidate(1)]}
    named = decide(
        [o], cands, calendar=calendar, history=history(), groups={"winback": "g", "retired": "g"}
    )
    other = decide(
        [o], cands, calendar=calendar, history=history(), groups={"winback": "g", "retired": "h"}
    )
    unnamed = decide([o], cands, calendar=calendar, history=history())
    assert [(d.outcome, d.reason) for d in named] == [("suppressed", "frequency_cap")]
    assert [(d.outcome, d.reason) for d in other] == [("action", None)]
    assert [(d.outcome, d.reason) for d in unnamed] == [("action", None)]


def test_this_runs_actions_count_against_caps(decide: Decide) -> None:
    calendar = replace(CALENDAR, frequency_caps=(FrequencyCap(SPAN, 1, timedelta(days=7), "*"),))
    a, b = offer(id="a", priority=2), offer(id="b", priority=1)
    decisions = decide([a, b], {"a": [Candidate(1)], "b": [Candidate(1)]}, calendar=calendar)
    assert [(d.offer_id, d.reason) for d in decisions] == [("a", None), ("b", "frequency_cap")]


def test_min_gap_looks_both_ways_from_the_send_time(decide: Decide) -> None:
    calendar = replace(CALENDAR, min_gap=timedelta(hours=24))
    history = {1: [Message(sent(AS_OF + timedelta(hours=20)), "sms", None)]}
    [d] = decide([offer()], {"winback": [Candidate(1)]}, calendar=calendar, history=history)
    assert d.reason == "min_gap"


def test_capacity_per_local_day(allocate: Allocate) -> None:
    channels = {**CHANNELS, "email": replace(CHANNELS["email"], capacity_per_day=1)}
    o = offer(channels=("email",))
    decisions = allocate(
        [o],
        {"winback": [Candidate(1), Candidate(2)]},
        channels=channels,
        calendar=CALENDAR,
        as_of=AS_OF,
    )
    assert [d.reason for d in decisions] == [None, "capacity"]


def test_max_actions_counts_earlier_runs(decide: Decide) -> None:
    o = offer(max_actions=3)
    decisions = decide(
        [o],
        {"winback": [Candidate(1), Candidate(2)]},
        totals={"winback": OfferTotals(actions=2, spend=0)},
    )
    assert [d.reason for d in decisions] == [None, "max_actions"]


def test_budget_reserve_and_next_customer_tried(decide: Decide) -> None:
    # spendable: 2.29 less a 10% reserve = 2.061; an email action costs 1.02, an sms one 1.05
    o = offer(budget=Budget(2.29, 0.10))
    cands = [Candidate(1), Candidate(2, blocked={"email": "consent"}), Candidate(3), Candidate(4)]
    decisions = decide([o], {"winback": cands})
    assert [(d.customer_id, d.reason) for d in decisions] == [
        (1, None),
        (2, "budget"),
        (3, None),
        (4, "budget"),
    ]


def test_blackout_past_window_suppresses(decide: Decide) -> None:
    calendar = replace(
        CALENDAR, blackouts=(Blackout(SPAN, date(2026, 11, 15), date(2026, 11, 16)),)
    )
    o = offer(window=Window(date(2026, 11, 1), date(2026, 11, 16)))
    [d] = decide([o], {"winback": [Candidate(1)]}, calendar=calendar)
    assert (d.outcome, d.reason) == ("suppressed", "blackout")


def test_quiet_hours_recorded_as_reason_of_the_action(allocate: Allocate) -> None:
    late = datetime(2026, 11, 15, 14, 0, tzinfo=UTC)  # 22:00 in Shanghai
    [d] = allocate(
        [offer()], {"winback": [Candidate(1)]}, channels=CHANNELS, calendar=CALENDAR, as_of=late
    )
    assert (d.outcome, d.reason, d.channel) == ("action", "quiet_hours", "email")
    assert d.send_at == datetime(2026, 11, 16, 1, 0, tzinfo=UTC)


def test_rank_high_first_missing_last_then_id(decide: Decide) -> None:
    o = offer(max_actions=2)
    cands = [
        Candidate(5, rank=None),
        Candidate(4, rank=10.0),
        Candidate(3, rank=50.0),
        Candidate(2, rank=10.0),
    ]
    decisions = decide([o], {"winback": cands})
    assert [(d.customer_id, d.reason) for d in decisions] == [
        (3, None),
        (2, None),
        (4, "max_actions"),
        (5, "max_actions"),
    ]


def test_offers_in_priority_then_id_order(decide: Decide) -> None:
    offers = [offer(id="b", priority=5), offer(id="a", priority=5), offer(id="c", priority=9)]
    decisions = decide(offers, {o.id: [Candidate(1)] for o in offers})
    assert [d.offer_id for d in decisions] == ["c", "a", "b"]


def test_not_held_helper_is_consistent() -> None:
    ids = not_held("winback", 0.1, 5)
    assert len(ids) == 5 and not any(in_holdout("winback", i, 0.1) for i in ids)
