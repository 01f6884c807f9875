"""The array allocator decides exactly as the one-at-a-time reference, on any valid input.

`case` builds random but valid allocation inputs — offers with tied priorities, shared groups,
channel lists, holdouts, limits, budgets, windows and send times; channels with quiet hours
and capacity; caps of every kind, min_gap and blackouts; candidates with ranks, cooldown,
zones and blocked channels; history (also of offers not in play, named by `groups=`),
capacity used and earlier totals — from any source of choices: hypothesis for the property
(and its shrinking), a seeded `random.Random` for the sweep that proves the inputs reach every
reason. `ALLOCATE_EXAMPLES=5000` runs many more examples.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Protocol, TypeVar
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rules_engine.decide import allocate as one_at_a_time
from rules_engine.decide import allocate_arrays
from rules_engine.decide.records import Candidate, Decision, Message, OfferTotals
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

EXAMPLES = int(os.environ.get("ALLOCATE_EXAMPLES", "200"))
SWEEP = 300  # seeded cases for the coverage check
SPAN = Span("rules/offers.yaml", 3, 3)
TRUE = Expression("True", None, "boolean", SPAN)
T = TypeVar("T")

Allocate = Callable[..., list[Decision]]

# choices, simplest first (hypothesis shrinks towards the first)
AS_OFS = (
    datetime(2026, 11, 15, 2, 0, tzinfo=UTC),  # 10:00 in Shanghai, 21:00 the day before in NY
    datetime(2026, 11, 15, 14, 0, tzinfo=UTC),  # 22:00 in Shanghai, 09:00 in NY
    datetime(2026, 11, 14, 16, 30, tzinfo=UTC),  # 00:30 in Shanghai
    datetime(2026, 3, 8, 6, 30, tzinfo=UTC),  # 01:30 in NY, half an hour before DST
)
CALENDAR_ZONES = ("UTC", "Asia/Shanghai", "America/New_York")
CHANNEL_NAMES = ("email", "sms", "push", "wechat")
GROUPS = ("g1", "g2")
OFFER_IDS = ("a", "b", "c", "d")
GONE = ("retired", "expired")  # offers not in play, whose messages are still in the history
ZONES = (None, "Asia/Shanghai", "America/New_York", "Mars/Olympus_Mons")
BLOCKED = (None,) * 10 + ("no_address", "consent", "entry", "channel_exit", "channel_lifecycle")
QUIET = (
    None,
    QuietHours(time(21), time(9)),
    QuietHours(time(22), time(8)),
    QuietHours(time(1), time(6)),
    QuietHours(time(12), time(13)),
)
PERIODS = (timedelta(hours=1), timedelta(days=1), timedelta(days=3), timedelta(days=30))
GAPS = (None, timedelta(hours=1), timedelta(hours=12), timedelta(days=1), timedelta(days=3))
SENT_HOURS = (-24 * 40, -24 * 8, -24 * 3, -25, -23, -2, 0, 0.5, 20, 24 * 2, 24 * 5)  # from as-of
SENT = (*(timedelta(hours=h) for h in SENT_HOURS), timedelta(seconds=-1))
RANKS = (None, 0.0, 1.0, 1.0, -2.5, 7.25)
BUDGETS = (None, None, Budget(1.5), Budget(3.0, 0.25), Budget(0.6, 0.1), Budget(0.0))
TOTALS = (None, OfferTotals(0, 0.0), OfferTotals(1, 1.0), OfferTotals(2, 2.5))


class Choices(Protocol):
    """Where a case's choices come from."""

    def pick(self, options: Sequence[T]) -> T: ...

    def number(self, low: int, high: int) -> int: ...


class Drawn:
    """Choices drawn by hypothesis, so a failing case shrinks."""

    def __init__(self, draw: st.DrawFn) -> None:
        self.draw = draw

    def pick(self, options: Sequence[T]) -> T:
        return self.draw(st.sampled_from(options))

    def number(self, low: int, high: int) -> int:
        return self.draw(st.integers(low, high))


class Seeded:
    """Choices from a seeded generator, for a fixed sweep of cases."""

    def __init__(self, seed: int) -> None:
        self.random = random.Random(seed)

    def pick(self, options: Sequence[T]) -> T:
        return options[self.random.randrange(len(options))]

    def number(self, low: int, high: int) -> int:
        return self.random.randint(low, high)


@dataclass(frozen=True)
class Case:
    """One allocation's inputs."""

    offers: list[Offer]
    candidates: dict[str, list[Candidate]]
    channels: dict[str, Channel]
    calendar: Calendar
    as_of: datetime
    history: dict[int, list[Message]]
    capacity_used: dict[tuple[str, date], int]
    totals: dict[str, OfferTotals]
    groups: dict[str, str | None] | None

    def run(self, allocate: Allocate) -> list[Decision]:
        """`allocate` on fresh copies: the reference appends its bookings to the history."""
        return allocate(
            self.offers,
            self.candidates,
            channels=self.channels,
            calendar=self.calendar,
            as_of=self.as_of,
            history={cid: list(messages) for cid, messages in self.history.items()},
            capacity_used=dict(self.capacity_used),
            totals={k: OfferTotals(v.actions, v.spend) for k, v in self.totals.items()},
            groups=None if self.groups is None else dict(self.groups),
        )


def some(choices: Choices, options: Sequence[T], most: int, least: int = 0) -> list[T]:
    """From `least` to `most` distinct options, in a chosen order."""
    left, chosen = list(options), []
    for _ in range(choices.number(least, min(most, len(options)))):
        chosen.append(left.pop(choices.number(0, len(left) - 1)))
    return chosen


def case(choices: Choices) -> Case:
    """A random valid case: every offer in play, each customer's zone and channels the same in
    every offer it is a candidate of."""
    as_of = choices.pick(AS_OFS)
    calendar_zone = choices.pick(CALENDAR_ZONES)
    today = as_of.astimezone(ZoneInfo(calendar_zone)).date()
    names = CHANNEL_NAMES[: choices.number(2, 4)]
    channels = {
        name: Channel(
            name,
            SPAN,
            address=name,
            cost=choices.pick((0.0, 0.02, 0.05, 0.5)),
            quiet_hours=choices.pick(QUIET),
            capacity_per_day=choices.pick((None, None, 1, 2, 4)),
        )
        for name in some(choices, names, len(names), least=len(names))  # in any order
    }
    names = tuple(channels)

    caps = []
    for _ in range(choices.number(0, 3)):
        kind = choices.pick(("channel", "*", "group"))
        target = choices.pick(names) if kind == "channel" else "*" if kind == "*" else None
        caps.append(
            FrequencyCap(
                SPAN,
                choices.pick((1, 2, 3)),
                choices.pick(PERIODS),
                channel=target,
                group=choices.pick(GROUPS) if kind == "group" else None,
            )
        )
    blackouts = []
    for _ in range(choices.number(0, 2)):
        start = today + timedelta(days=choices.number(-1, 2))
        blackouts.append(
            Blackout(
                SPAN,
                start,
                start + timedelta(days=choices.number(0, 3)),
                channels=choices.pick((None, None, tuple(some(choices, names, 2, least=1)))),
            )
        )
    calendar = Calendar(
        timezone=calendar_zone,
        frequency_caps=tuple(caps),
        min_gap=choices.pick(GAPS),
        blackouts=tuple(blackouts),
    )

    windows = (
        None,
        Window(None, today),
        Window(today - timedelta(days=1), today + timedelta(days=1)),
        Window(today, today + timedelta(days=3)),
    )
    offers = []
    for offer_id in some(choices, OFFER_IDS, 4, least=1):
        listed = some(choices, names, len(names), least=1)
        offers.append(
            Offer(
                offer_id,
                SPAN,
                TRUE,
                tuple(listed) if choices.number(0, 9) else (),
                "tpl",
                priority=choices.pick((0, 10, 10, 50)),
                group=choices.pick((None, *GROUPS)),
                cost=choices.pick((0.0, 0.5, 1.0)),
                budget=choices.pick(BUDGETS),
                max_actions=choices.pick((None, None, 0, 1, 2)),
                holdout=choices.pick((0.0, 0.0, 0.0, 0.0, 0.05, 0.3, 0.9)),
                window=choices.pick(windows),
                send_at=choices.pick((None, time(3), time(11), time(20, 30), time(23, 59))),
            )
        )

    customers = sorted({choices.number(1, 60) for _ in range(choices.number(1, 8))})
    zones = {cid: choices.pick(ZONES) for cid in customers}
    blocked: dict[int, dict[str, str | None]] = {}
    for cid in customers:
        explicit = choices.pick((False, True))  # usable channels listed as None, or left out
        reasons = {name: choices.pick(BLOCKED) for name in names}
        blocked[cid] = {k: v for k, v in reasons.items() if explicit or v is not None}
    candidates = {
        o.id: [
            Candidate(
                cid,
                rank=choices.pick(RANKS),
                timezone=zones[cid],
                cooldown=choices.pick((False,) * 7 + (True,)),
                blocked=blocked[cid],
            )
            for cid in customers
            if choices.pick((True, True, False))
        ]
        for o in offers
    }

    offer_ids = (None, *(o.id for o in offers), *GONE)
    history: dict[int, list[Message]] = {}
    for cid in [*customers, 999]:  # 999: a customer in no audience
        messages = [
            Message(
                int((as_of + choices.pick(SENT)).timestamp()),
                choices.pick((*names, "post")),  # "post": a channel of no offer
                choices.pick(offer_ids),
            )
            for _ in range(choices.number(0, 3))
        ]
        if messages:
            history[cid] = messages
    groups = None
    if choices.pick((False, True)):
        groups = {o.id: o.group for o in offers} | {g: choices.pick((None, *GROUPS)) for g in GONE}

    capacity_used = {}
    for name in names:
        for days in (-1, 0, 1):
            used = choices.pick((None, None, 0, 1, 2))
            if used is not None:
                capacity_used[name, today + timedelta(days=days)] = used
    totals = {}
    for o in offers:
        earlier = choices.pick(TOTALS)
        if earlier is not None:
            totals[o.id] = earlier
    return Case(
        offers, candidates, channels, calendar, as_of, history, capacity_used, totals, groups
    )


@st.composite
def cases(draw: st.DrawFn) -> Case:
    return case(Drawn(draw))


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_both_allocators_decide_alike(example: Case) -> None:
    """The planner's allocator is held to the reference, decision for decision."""
    assert example.run(allocate_arrays.allocate) == example.run(one_at_a_time.allocate)


def test_the_cases_reach_every_reason_and_outcome() -> None:
    """The property is only as good as its inputs: over a fixed sweep, the reference meets
    every reason of the contract, and the holdout and action outcomes."""
    seen: set[str | None] = set()
    for seed in range(SWEEP):
        for d in case(Seeded(seed)).run(one_at_a_time.allocate):
            seen |= {d.outcome, d.reason}
    wanted = {r for r in (*allocate_arrays.REASONS, *allocate_arrays.OUTCOMES) if r is not None}
    assert wanted <= seen, f"never reached: {sorted(wanted - seen)}"


# -- the disagreements found, each as its smallest example ------------------------------------

AS_OF = AS_OFS[0]
EMAIL = {"email": Channel("email", SPAN, address="email")}
OFFER = Offer("a", SPAN, TRUE, ("email",), "tpl")


def both(calendar: Calendar, history: dict[int, list[Message]]) -> list[list[str | None]]:
    """Each allocator's reasons for customer 1 of OFFER."""
    decided = []
    for allocate in (one_at_a_time.allocate, allocate_arrays.allocate):
        decisions = allocate(
            [OFFER],
            {"a": [Candidate(1)]},
            channels=EMAIL,
            calendar=calendar,
            as_of=AS_OF,
            history={cid: list(messages) for cid, messages in history.items()},
        )
        decided.append([d.reason for d in decisions])
    return decided


def test_a_cap_with_no_message_in_the_history() -> None:
    """A first run has caps but no messages yet: nothing counts, the customer gets the action."""
    calendar = Calendar(frequency_caps=(FrequencyCap(SPAN, 1, timedelta(days=1), "*"),))
    assert both(calendar, {}) == [[None], [None]]


def test_min_gap_beside_a_message_from_decades_ago() -> None:
    """A message an hour ago is within a day's min_gap whatever else the history holds (here a
    1900-01-01 placeholder date, as some stores use for unknown dates)."""
    now = int(AS_OF.timestamp())
    old = int(datetime(1900, 1, 1, tzinfo=UTC).timestamp())
    history = {1: [Message(now - 3600, "email", None), Message(old, "email", None)]}
    calendar = Calendar(min_gap=timedelta(days=1))
    assert both(calendar, history) == [["min_gap"], ["min_gap"]]
