"""The plan view model: everything a plan report shows, computed once from a `Plan`.

The text and JSON reports (render.py) and the HTML report (html.py) all render a
`PlanView`, so their numbers are the same. Its offers and channels are the plan's summaries
(`offer_summaries`, `channel_summaries`); what only the HTML page draws is added here: each
offer's funnel, actions per local send hour, lifecycle gate thresholds and the limits that
suppressed customers (cap pressure).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from ..decide.records import REASON_ORDER
from ..execute import Plan
from ..expr.evaluate import Environment, Value, evaluate
from ..expr.nodes import Call, Compare, Name, Node
from ..rules.provenance import rule_names
from ..times import both_zones, utc_text
from .summary import ChannelSummary, OfferSummary, channel_summaries, offer_summaries

# Reasons that mean a limit was reached (caps, min_gap, capacity, max_actions, budget).
LIMITS = ("frequency_cap", "min_gap", "capacity", "max_actions", "budget")


@dataclass(frozen=True)
class FunnelStep:
    """Where an offer's audience went: `actions`, `holdout`, or a suppression reason."""

    step: str
    customers: int


@dataclass(frozen=True)
class OfferView:
    summary: OfferSummary
    description: str | None
    funnel: tuple[FunnelStep, ...]  # actions, holdout, then reasons in the contract's order
    budget_total: float | None
    budget_reserve: float | None  # the share of the total held back (0.1 for 10%)

    @property
    def budget_used(self) -> float:
        """Earlier runs' spend and this run's."""
        return round(self.summary.spent_before + self.summary.cost, 2)


@dataclass(frozen=True)
class Gate:
    name: str  # admit, scale, exit
    rule: str  # the gate's expression
    holds: bool | None
    threshold: float | None = None  # the ROI it compares with, where it reads so (see below)


@dataclass(frozen=True)
class ChannelView:
    summary: ChannelSummary
    description: str | None
    gates: tuple[Gate, ...]
    capacity_per_day: int | None


@dataclass(frozen=True)
class PlanView:
    """One plan, ready to render."""

    as_of: str  # UTC
    as_of_local: str  # in UTC and the calendar timezone, as every header shows it
    timezone: str
    customers: int
    rules_digest: str
    rule_files: int
    rule_names: tuple[str, ...]  # relative to the folder holding them all
    segments: tuple[tuple[str, int, str | None], ...]  # id, customers, description
    offers: tuple[OfferView, ...]  # in allocation order
    not_in_play: tuple[str, ...]
    channels: tuple[ChannelView, ...]  # in rule-file order
    send_hours: tuple[tuple[str, int, int], ...]  # channel, customer-local hour, actions
    exits: int
    runs_at_as_of: tuple[tuple[str, int], ...]  # runs committed at this as-of: key, actions

    @property
    def actions(self) -> int:
        return sum(o.summary.actions for o in self.offers)

    @property
    def holdouts(self) -> int:
        return sum(o.summary.holdouts for o in self.offers)

    @property
    def suppressed(self) -> int:
        return sum(sum(o.summary.suppressed.values()) for o in self.offers)

    @property
    def cost(self) -> float:
        return round(sum(o.summary.cost for o in self.offers), 2)

    def limits(self) -> list[tuple[str, str, int]]:
        """Cap pressure: (offer, limit reason, customers it suppressed), limits reached only."""
        return [
            (o.summary.id, reason, o.summary.suppressed[reason])
            for o in self.offers
            for reason in LIMITS
            if o.summary.suppressed.get(reason)
        ]


def plan_view(plan: Plan, *, digest: str) -> PlanView:
    rules = plan.rules
    tz = rules.calendar.timezone
    return PlanView(
        utc_text(plan.as_of),
        both_zones(plan.as_of, tz),
        tz,
        plan.customers,
        digest,
        len(rules.files),
        tuple(rule_names(rules.files)),
        tuple(
            (name, n, rules.segments[name].description if name in rules.segments else None)
            for name, n in plan.segments.items()
        ),
        tuple(_offer_view(plan, o) for o in offer_summaries(plan)),
        tuple(o for o in rules.offers if o not in plan.offers_in_play),
        tuple(_channel_view(plan, c) for c in channel_summaries(plan)),
        send_hours(plan),
        len(plan.exits),
        plan.runs_at_as_of,
    )


def _offer_view(plan: Plan, summary: OfferSummary) -> OfferView:
    offer = plan.rules.offers[summary.id]
    steps = [FunnelStep("actions", summary.actions), FunnelStep("holdout", summary.holdouts)]
    steps += [FunnelStep(r, summary.suppressed[r]) for r in REASON_ORDER if r in summary.suppressed]
    budget = offer.budget
    return OfferView(
        summary,
        offer.description,
        tuple(steps),
        budget.total if budget else None,
        budget.reserve if budget else None,
    )


def _channel_view(plan: Plan, summary: ChannelSummary) -> ChannelView:
    channel = plan.rules.channels[summary.id]
    gates: list[Gate] = []
    if channel.lifecycle is not None and summary.lifecycle is not None:
        for name in ("admit", "scale", "exit"):
            rule = getattr(channel.lifecycle, name)
            if rule is not None:
                holds = summary.lifecycle.gates.get(name)
                limit = gate_threshold(rule.node, summary.lifecycle.numbers)
                gates.append(Gate(name, rule.text, holds, limit))
    return ChannelView(summary, channel.description, tuple(gates), channel.capacity_per_day)


def gate_threshold(node: Node, numbers: Mapping[str, Value]) -> float | None:
    """The ROI a gate compares the channel's with, for gates of the forms `roi >= X`
    (either side, any comparison) and `periods_below(X) >= N`: X evaluated on the latest
    period's numbers. None for any other form."""
    if not isinstance(node, Compare) or len(node.ops) != 1:
        return None
    left, right = node.operands
    if isinstance(left, Name) and left.name == "roi":
        limit = right
    elif isinstance(right, Name) and right.name == "roi":
        limit = left
    elif isinstance(left, Call) and left.func == "periods_below" and left.args:
        limit = left.args[0]
    else:
        return None
    value = evaluate(limit, Environment(numbers, datetime.min))
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def send_hours(plan: Plan) -> tuple[tuple[str, int, int], ...]:
    """Actions per channel and hour of the day where each customer lives, every hour of every
    channel with actions (zeros included), channels in rule-file order."""
    import numpy as np

    from ..decide.allocate_arrays import ACTION

    counts: Counter[tuple[str, int]] = Counter()
    for decided in plan.by_offer:
        acting = decided.outcomes == ACTION
        pairs = np.stack([decided.channels[acting], decided.timings[acting]])
        if not pairs.size:
            continue
        found, n = np.unique(pairs, axis=1, return_counts=True)
        for (channel, timing), k in zip(found.T.tolist(), n.tolist(), strict=True):
            hour = decided.send_times[timing].local_hour
            counts[(decided.channel_names[channel], -1 if hour is None else hour)] += k
    used = {channel for channel, _ in counts}
    return tuple(
        (channel, hour, counts[(channel, hour)])
        for channel in plan.rules.channels
        if channel in used
        for hour in range(24)
    )
