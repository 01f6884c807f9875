"""Allocation, one candidate at a time: the contract's decision order, applied to candidates
SQL has already found. `explain` decides one customer with it, and it is the reference that
`allocate_arrays` (which the planner uses) is held to.

Everything that is a property of one customer (audience, exclude, cooldown, address, consent,
entry, channel exits, rank) is computed set-based in SQL. What remains is inherently
sequential — group slots, frequency caps, min_gap, capacity, max_actions and budget all depend on
what was allocated before — and runs here as plain dictionary work per candidate.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from zoneinfo import ZoneInfo

from ..rules.model import Calendar, Channel, FrequencyCap, Offer
from .records import Candidate, Decision, Message, OfferTotals
from .sendtime import SendTime, in_holdout, send_time, variant_of, zone


@dataclass
class _State:
    history: dict[int, list[Message]]
    groups: dict[str, str | None]  # offer id → group
    capacity_used: dict[tuple[str, date], int] = field(default_factory=lambda: defaultdict(int))
    slots: set[tuple[int, str]] = field(default_factory=set)
    totals: dict[str, OfferTotals] = field(default_factory=dict)


def allocate(
    offers: Sequence[Offer],
    candidates: Mapping[str, Sequence[Candidate]],
    *,
    channels: Mapping[str, Channel],
    calendar: Calendar,
    as_of: datetime,
    history: Mapping[int, Sequence[Message]] | None = None,
    capacity_used: Mapping[tuple[str, date], int] | None = None,
    totals: Mapping[str, OfferTotals] | None = None,
    groups: Mapping[str, str | None] | None = None,
) -> list[Decision]:
    """Decide every candidate of every offer, in the contract's order; one Decision each."""
    allocator = Allocator(
        offers,
        channels=channels,
        calendar=calendar,
        as_of=as_of,
        history=history,
        capacity_used=capacity_used,
        totals=totals,
        groups=groups,
    )
    decisions: list[Decision] = []
    for offer in in_allocation_order(offers):
        ordered = sorted(candidates.get(offer.id, ()), key=allocation_order)
        decisions += (allocator.decide(offer, cand) for cand in ordered)
    return decisions


def in_allocation_order(offers: Sequence[Offer]) -> list[Offer]:
    """Priority high first, then id."""
    return sorted(offers, key=lambda o: (-o.priority, o.id))


def allocation_order(cand: Candidate) -> tuple[bool, float, int]:
    """Rank high first, missing last, then customer id."""
    return (cand.rank is None, -(cand.rank or 0.0), cand.customer_id)


class Allocator:
    """The state of one run's allocation: feed it each offer's candidates in allocation order
    (offers by `in_allocation_order`, customers by rank, missing last, then id)."""

    def __init__(
        self,
        offers: Sequence[Offer],
        *,
        channels: Mapping[str, Channel],
        calendar: Calendar,
        as_of: datetime,
        history: Mapping[int, Sequence[Message]] | None = None,
        capacity_used: Mapping[tuple[str, date], int] | None = None,
        totals: Mapping[str, OfferTotals] | None = None,
        groups: Mapping[str, str | None] | None = None,
    ) -> None:
        """`groups`: every offer's group, for group caps to count messages of offers not in
        play (default: the groups of `offers`)."""
        # the customers' message lists are shared, not copied: this run's messages are
        # appended to them as they are allocated
        state = _State(
            history={
                cid: msgs if isinstance(msgs, list) else list(msgs)
                for cid, msgs in (history or {}).items()
            },
            groups=dict(groups) if groups is not None else {o.id: o.group for o in offers},
            capacity_used=defaultdict(int, capacity_used or {}),
            totals={k: OfferTotals(v.actions, v.spend) for k, v in (totals or {}).items()},
        )
        self._setup(channels, calendar, as_of, state)

    def _setup(
        self, channels: Mapping[str, Channel], calendar: Calendar, as_of: datetime, state: _State
    ) -> None:
        self.channels = channels
        self.calendar = calendar
        self.as_of = as_of
        self.state = state
        self.calendar_zone = ZoneInfo(calendar.timezone)
        now = int(as_of.timestamp())
        # each cap with its window's start, in epoch seconds
        caps = [(cap, now - int(cap.per.total_seconds())) for cap in calendar.frequency_caps]
        gap = calendar.min_gap
        self.min_gap = int(gap.total_seconds()) if gap is not None else None
        self.channel_caps = {
            name: [(c, start) for c, start in caps if c.channel == name] for name in channels
        }
        self.limit_caps: dict[str | None, list[tuple[FrequencyCap, int]]] = {}
        self.global_caps = [(c, start) for c, start in caps if c.channel == "*"]
        self.group_caps = [(c, start) for c, start in caps if c.group is not None]
        # a send time depends only on the offer, the channel and the customer's zone; the
        # local day only on the channel, the moment and the zone: both repeat a lot
        self.send_times: dict[tuple[str, str, str | None], tuple[SendTime, int]] = {}
        self.days: dict[tuple[str, datetime, str | None], tuple[str, date]] = {}

    def decide(self, offer: Offer, cand: Candidate) -> Decision:
        cid, group = cand.customer_id, offer.group
        if cand.cooldown:
            return Decision(cid, offer.id, "suppressed", "cooldown")
        if group is not None and (cid, group) in self.state.slots:
            return Decision(cid, offer.id, "suppressed", "group_taken", detail=f"group {group}")
        if offer.holdout and in_holdout(offer.id, cid, offer.holdout):
            if group is not None:
                self.state.slots.add((cid, group))
            return Decision(cid, offer.id, "holdout")
        channel, reason = self._choose_channel(offer, cand)
        if channel is None:
            first = offer.channels[0] if offer.channels else None
            return Decision(cid, offer.id, "suppressed", reason or "no_address", first)
        timing, epoch = self._send_time(offer, channel, cand)
        at = timing.at
        if at is None:
            return Decision(cid, offer.id, "suppressed", "blackout", channel)
        variant = variant_of(offer, cid)
        offer_cost = variant.cost if variant is not None else offer.cost
        reason = self._limits(offer, channel, cid, at, cand.timezone, epoch, offer_cost)
        if reason is not None:
            return Decision(cid, offer.id, "suppressed", reason, channel)
        cost = round(self.channels[channel].cost + offer_cost, 6)
        self._book(offer, channel, cid, at, cand.timezone, cost, epoch)
        moved = "quiet_hours" if timing.moved_by_quiet_hours else None
        chosen = variant.id if variant is not None else None
        return Decision(
            cid,
            offer.id,
            "action",
            moved,
            channel,
            at,
            cost,
            timing.blackout_detail(),
            variant=chosen,
        )

    # -- steps -------------------------------------------------------------------------

    def _choose_channel(self, offer: Offer, cand: Candidate) -> tuple[str | None, str | None]:
        first_reason: str | None = None
        for channel in offer.channels:
            reason = cand.blocked.get(channel)
            if reason is None and self._over_caps(cand.customer_id, self.channel_caps[channel]):
                reason = "frequency_cap"
            if reason is None:
                return channel, None
            first_reason = first_reason or reason
        return None, first_reason

    def _send_time(self, offer: Offer, channel: str, cand: Candidate) -> tuple[SendTime, int]:
        """The send time, and it in epoch seconds (0 when blacked out)."""
        key = (offer.id, channel, cand.timezone)
        found = self.send_times.get(key)
        if found is None:
            timing = send_time(
                self.as_of,
                channel=channel,
                customer_zone=zone(cand.timezone, self.calendar.timezone),
                calendar_zone=self.calendar_zone,
                preferred=offer.send_at,
                quiet=self.channels[channel].quiet_hours,
                blackouts=self.calendar.blackouts,
                until=offer.window.until if offer.window else None,
            )
            epoch = int(timing.at.timestamp()) if timing.at is not None else 0
            found = self.send_times[key] = (timing, epoch)
        return found

    def _limits(
        self,
        offer: Offer,
        channel: str,
        cid: int,
        at: datetime,
        tz: str | None,
        epoch: int,
        offer_cost: float,
    ) -> str | None:
        """The first shared limit that fails, in the contract's order, or None; an action
        costs the channel's cost plus `offer_cost` (the offer's, or its variant's)."""
        caps = self.limit_caps.get(offer.group)
        if caps is None:
            own = [(c, start) for c, start in self.group_caps if c.group == offer.group]
            caps = self.limit_caps[offer.group] = self.global_caps + own
        if self._over_caps(cid, caps):
            return "frequency_cap"
        gap = self.min_gap
        if gap is not None:
            for message in self.state.history.get(cid, ()):
                if abs(message.at - epoch) < gap:
                    return "min_gap"
        spec = self.channels[channel]
        if (
            spec.capacity_per_day is not None
            and self.state.capacity_used[self._day(channel, at, tz)] >= spec.capacity_per_day
        ):
            return "capacity"
        totals = self.state.totals.get(offer.id)
        if totals is None:
            totals = self.state.totals[offer.id] = OfferTotals()
        if offer.max_actions is not None and totals.actions >= offer.max_actions:
            return "max_actions"
        budget = offer.budget
        if budget is not None and not budget.fits(totals.spend, spec.cost + offer_cost):
            return "budget"
        return None

    def _over_caps(self, cid: int, caps: Iterable[tuple[FrequencyCap, int]]) -> bool:
        """Whether any cap is full: its messages after the window's start, counted by the
        cap's kind (a group's offers, every channel, or one channel), until it is full."""
        messages = self.state.history.get(cid)
        if not messages:
            return False
        groups = self.state.groups
        for cap, start in caps:
            room, group, channel = cap.max, cap.group, cap.channel
            for m in messages:
                if m.at <= start:
                    continue
                if group is not None:
                    if m.offer_id is None or groups.get(m.offer_id) != group:
                        continue
                elif channel != "*" and m.channel != channel:
                    continue
                room -= 1
                if room <= 0:
                    return True
        return False

    def _day(self, channel: str, at: datetime, tz: str | None) -> tuple[str, date]:
        key = (channel, at, tz)
        if key not in self.days:
            self.days[key] = (channel, at.astimezone(zone(tz, self.calendar.timezone)).date())
        return self.days[key]

    def _take_slot(self, offer: Offer, cid: int) -> None:
        if offer.group is not None:
            self.state.slots.add((cid, offer.group))

    def _book(
        self,
        offer: Offer,
        channel: str,
        cid: int,
        at: datetime,
        tz: str | None,
        cost: float,
        epoch: int,
    ) -> None:
        self._take_slot(offer, cid)
        message = Message(epoch, channel, offer.id)
        self.state.history.setdefault(cid, []).append(message)
        self.state.capacity_used[self._day(channel, at, tz)] += 1
        totals = self.state.totals.setdefault(offer.id, OfferTotals())
        totals.actions += 1
        totals.spend += cost
