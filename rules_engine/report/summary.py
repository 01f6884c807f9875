"""What a plan adds up to: one line per offer and per channel, the view model every report of
a plan (text, JSON, diff) renders."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..decide.records import (
    REASON_ORDER,
    LifecycleState,
    OfferTotals,
)
from ..execute import Plan

if TYPE_CHECKING:  # numpy loads only when a whole store is planned: explain starts without it
    pass


@dataclass(frozen=True)
class OfferSummary:
    """One offer's line in a plan: audience, outcomes, reasons, spend and budget."""

    id: str
    priority: int
    group: str | None
    audience: int
    actions: int
    holdouts: int
    suppressed: dict[str, int]  # reason → customers, in the contract's order
    quiet_hours: int  # actions moved out of quiet hours
    cost: float
    budget_spendable: float | None
    spent_before: float
    actions_before: int
    variants: dict[str, int] = field(default_factory=dict)  # actions per variant
    budget_total: float | None = None
    budget_reserve: float | None = None  # the amount held back (`budget_left` excludes it)
    blackout_moves: int = 0  # actions whose send a blackout moved (apart from quiet hours)

    @property
    def budget_left(self) -> float | None:
        if self.budget_spendable is None:
            return None
        return round(self.budget_spendable - self.spent_before - self.cost, 2)


def offer_summaries(plan: Plan) -> list[OfferSummary]:
    """Offers in play, in allocation order (priority, then id)."""
    found = []
    for decided in plan.by_offer:
        offer = decided.offer
        outcomes = decided.outcomes_counted()
        reasons = decided.reasons_counted()
        before = plan.earlier.get(offer.id, OfferTotals())
        found.append(
            OfferSummary(
                offer.id,
                offer.priority,
                offer.group,
                len(decided),
                outcomes["action"],
                outcomes["holdout"],
                {r: reasons[r] for r in REASON_ORDER if reasons.get(r)},
                reasons.get("quiet_hours", 0),
                round(decided.spend(), 2),
                round(offer.budget.spendable, 2) if offer.budget else None,
                round(before.spend, 2),
                before.actions,
                decided.variants_counted(),
                round(offer.budget.total, 2) if offer.budget else None,
                round(offer.budget.total * offer.budget.reserve, 2) if offer.budget else None,
                decided.blackout_moves(),
            )
        )
    return found


@dataclass(frozen=True)
class ChannelSummary:
    id: str
    actions: int
    cost: float
    exits: int
    lifecycle: LifecycleState | None


def channel_summaries(plan: Plan) -> list[ChannelSummary]:
    """Every channel, in rule-file order: this run's messages and exits, its lifecycle."""
    actions: Counter[str] = Counter()
    cost: dict[str, float] = defaultdict(float)
    for decided in plan.by_offer:
        for name in decided.action_channels():
            actions[name] += 1
            cost[name] += plan.rules.channels[name].cost
    exits = Counter(e.channel for e in plan.exits)
    return [
        ChannelSummary(
            name,
            actions[name],
            round(cost[name], 2),
            exits[name],
            plan.lifecycle.get(name),
        )
        for name in plan.rules.channels
    ]
