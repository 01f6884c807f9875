"""The impact of a rule change: two plans of the same store and as-of, compared.

`diff_plans` compares the plan of the base rules with the plan of the head rules customer by
customer: segment sizes and who entered or left each segment, each offer's audience,
holdouts, actions, suppressions and cost with the customers it gained and lost, how many
customers' control-group membership changed, where customers moved between offers (each by
the offer of their highest-priority action), actions per channel and the total cost. What
`campaign diff` prints (text, markdown, JSON `campaign-diff/1`) is made from this.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .decide.allocate_arrays import ACTION, HOLDOUT, REASON_CODE, OfferDecisions
from .execute import Plan
from .report.summary import OfferSummary, channel_summaries, offer_summaries
from .rules.compare import RuleChange, rule_changes
from .rules.model import Offer

FORMAT = "campaign-diff/1"
# The holdout step is reached by every member of an offer's audience except those in cooldown
# and those whose group a higher offer already took (SPEC "How decisions are made", step 3).
_BEFORE_HOLDOUT = (REASON_CODE["cooldown"], REASON_CODE["group_taken"])


@dataclass(frozen=True)
class SideInfo:
    """Which rules a side is: the digest of its files, the ref or folder they came from."""

    rules_digest: str
    ref: str | None
    commit: str | None = None


@dataclass(frozen=True)
class Membership:
    """Each segment's members, as a mask over every customer (ascending ids)."""

    customer_ids: np.ndarray
    masks: Mapping[str, np.ndarray]


@dataclass(frozen=True)
class SegmentChange:
    id: str
    before: int | None  # None: no such segment on that side
    after: int | None
    entered: int
    left: int

    @property
    def changed(self) -> bool:
        return self.before != self.after or bool(self.entered or self.left)


@dataclass(frozen=True)
class OfferSide:
    """One offer on one side; an offer out of its window has an empty audience."""

    audience: int
    holdouts: int
    actions: int
    cost: float
    suppressed: dict[str, int]
    in_play: bool
    priority: int


@dataclass(frozen=True)
class OfferChange:
    id: str
    before: OfferSide | None  # None: no such offer on that side
    after: OfferSide | None
    gained: int  # customers with an action from the offer only after
    lost: int  # ... only before
    holdout_changed: int  # customers held out on one side and not on the other
    decisions_changed: int  # customers whose decision or action from this offer differs


@dataclass(frozen=True)
class Move:
    before: str | None  # the offer of the customer's highest-priority action; None: none
    after: str | None
    customers: int


@dataclass(frozen=True)
class ChannelChange:
    id: str
    before: int | None  # actions; None: no such channel on that side
    after: int | None
    exits_before: int | None
    exits_after: int | None
    exits_changed: int  # customers leaving the channel on one side only

    @property
    def changed(self) -> bool:
        return (
            self.before != self.after
            or self.exits_before != self.exits_after
            or bool(self.exits_changed)
        )


@dataclass(frozen=True)
class Diff:
    base: SideInfo
    head: SideInfo
    as_of: str
    customers: int
    rules: list[RuleChange]
    segments: list[SegmentChange]
    offers: list[OfferChange]
    moves: list[Move]
    channels: list[ChannelChange]
    cost_before: float
    cost_after: float
    timezone: str = "UTC"  # the head rules' calendar: times are shown in it next to UTC

    @property
    def decisions_changed(self) -> bool:
        """Whether any customer's segments, decisions, actions or channel exits differ (moves,
        counts and costs follow from those)."""
        return (
            any(s.changed for s in self.segments)
            or any(o.decisions_changed for o in self.offers)
            or any(c.exits_changed for c in self.channels)
        )

    @property
    def customers_moved(self) -> int:
        return sum(m.customers for m in self.moves)


def _in_order(base: Sequence[str], head: Sequence[str]) -> list[str]:
    """Ids of the head rules in their order, then those only the base has, in theirs."""
    return list(dict.fromkeys([*head, *base]))


# -- segments ------------------------------------------------------------------------------------


def segment_changes(
    base: Plan, head: Plan, members: tuple[Membership, Membership] | None
) -> list[SegmentChange]:
    """Sizes before and after, and customers entering and leaving. `members` None: both sides
    computed the same values (the same metrics and segments), so nobody moved."""
    found = []
    for name in _in_order(list(base.segments), list(head.segments)):
        before, after = base.segments.get(name), head.segments.get(name)
        if members is None or before is None or after is None:
            entered = after or 0 if before is None else 0
            left = before or 0 if after is None else 0
        else:
            was, now = members[0].masks[name], members[1].masks[name]
            entered, left = int(np.count_nonzero(now & ~was)), int(np.count_nonzero(was & ~now))
        found.append(SegmentChange(name, before, after, entered, left))
    return found


# -- offers --------------------------------------------------------------------------------------


def _offer_side(summary: OfferSummary | None, priority: int) -> OfferSide:
    if summary is None:  # in the rules, out of its window
        return OfferSide(0, 0, 0, 0.0, {}, False, priority)
    return OfferSide(
        summary.audience,
        summary.holdouts,
        summary.actions,
        summary.cost,
        dict(summary.suppressed),
        True,
        priority,
    )


def _sides(plan: Plan) -> dict[str, OfferSide]:
    summaries = {s.id: s for s in offer_summaries(plan)}
    return {o.id: _offer_side(summaries.get(o.id), o.priority) for o in plan.rules.offers.values()}


@dataclass(frozen=True)
class _Keyed:
    """One offer's decisions sorted by customer id, each as comparable columns."""

    customer_ids: np.ndarray
    outcomes: np.ndarray
    reasons: np.ndarray
    channels: np.ndarray  # index into the diff's channel names, -1 for none
    sends: np.ndarray  # epoch seconds, 0 for none
    costs: np.ndarray  # an action's cost, 0 for none
    styles: np.ndarray  # an action's variant, content and incentive, as a code; -1 for none

    @classmethod
    def of(
        cls, decided: OfferDecisions | None, channels: Mapping[str, int], styles: dict[str, int]
    ) -> _Keyed:
        """`channels` and `styles` code channel names and what an action carries alike on
        both sides (`styles` grows as new ones are met)."""
        if decided is None:
            empty = np.zeros(0, dtype=np.int64)
            return cls(empty, empty, empty, empty, empty, np.zeros(0), empty)
        order = np.argsort(decided.customer_ids, kind="stable")
        names = np.array([*(channels[n] for n in decided.channel_names), -1], dtype=np.int64)
        sends = np.array(
            [int(t.at.timestamp()) if t.at is not None else 0 for t in decided.send_times] + [0],
            dtype=np.int64,
        )
        # an action's cost by channel (the row after the last: none) and variant (+1)
        width = len(decided.offer.variants) + 1
        costs = np.array([*(list(row) for row in decided.costs), [0.0] * width])
        chosen = decided.channels[order]
        variant = decided.variants[order] + 1
        acting = decided.outcomes[order] == ACTION
        carried = np.array([styles.setdefault(k, len(styles)) for k in _styles(decided.offer)])
        return cls(
            decided.customer_ids[order],
            decided.outcomes[order],
            decided.reasons[order],
            names[chosen],
            sends[decided.timings[order]],
            np.where(acting, costs[chosen, variant], 0.0),
            np.where(acting, carried[variant], -1),
        )

    def acting(self) -> np.ndarray:
        found: np.ndarray = self.customer_ids[self.outcomes == ACTION]
        return found

    def held_out(self) -> tuple[np.ndarray, np.ndarray]:
        """Customers the holdout step was reached for, and whether each was held out."""
        reached = ~np.isin(self.reasons, _BEFORE_HOLDOUT)
        return self.customer_ids[reached], self.outcomes[reached] == HOLDOUT


def _holdout_changed(before: _Keyed, after: _Keyed) -> int:
    """Customers whose holdout step was reached on both sides, held out on only one."""
    was_ids, was = before.held_out()
    now_ids, now = after.held_out()
    _, i, j = np.intersect1d(was_ids, now_ids, assume_unique=True, return_indices=True)
    return int(np.count_nonzero(was[i] != now[j]))


def _styles(offer: Offer) -> list[str]:
    """What an action of the offer carries, without a variant and then with each of its
    variants, as comparable text."""
    own = [json.dumps([None, offer.content, offer.incentive], sort_keys=True)]
    return own + [
        json.dumps([v.id, v.content, v.incentive], sort_keys=True) for v in offer.variants
    ]


def _decisions_changed(before: _Keyed, after: _Keyed) -> int:
    """Customers in the offer's audience on one side only, or decided differently: outcome,
    reason, channel, send time, cost, or the variant, content or incentive of the action."""
    _, i, j = np.intersect1d(
        before.customer_ids, after.customer_ids, assume_unique=True, return_indices=True
    )
    differ = (
        (before.outcomes[i] != after.outcomes[j])
        | (before.reasons[i] != after.reasons[j])
        | (before.channels[i] != after.channels[j])
        | (before.sends[i] != after.sends[j])
        | (before.costs[i] != after.costs[j])
        | (before.styles[i] != after.styles[j])
    )
    only = len(before.customer_ids) + len(after.customer_ids) - 2 * len(i)
    return only + int(np.count_nonzero(differ))


def offer_changes(base: Plan, head: Plan) -> list[OfferChange]:
    names = _in_order(list(base.rules.channels), list(head.rules.channels))
    channels = {name: i for i, name in enumerate(names)}
    was, now = _sides(base), _sides(head)
    decided_before = {d.offer.id: d for d in base.by_offer}
    decided_after = {d.offer.id: d for d in head.by_offer}
    found = []
    for offer in _in_order(list(was), list(now)):
        styles: dict[str, int] = {}
        before = _Keyed.of(decided_before.get(offer), channels, styles)
        after = _Keyed.of(decided_after.get(offer), channels, styles)
        acted, acts = before.acting(), after.acting()
        found.append(
            OfferChange(
                offer,
                was.get(offer),
                now.get(offer),
                len(np.setdiff1d(acts, acted, assume_unique=True)),
                len(np.setdiff1d(acted, acts, assume_unique=True)),
                _holdout_changed(before, after),
                _decisions_changed(before, after),
            )
        )
    return found


# -- moves between offers ----------------------------------------------------------------------


def first_actions(plan: Plan) -> tuple[np.ndarray, list[str]]:
    """Customers with an action (ascending) and the offer of each one's highest-priority
    action, as the offer's id."""
    ids = [d.customer_ids[d.outcomes == ACTION] for d in plan.by_offer]  # allocation order
    codes = [np.full(len(found), i, dtype=np.int64) for i, found in enumerate(ids)]
    if not ids:
        return np.zeros(0, dtype=np.int64), []
    everyone, first = np.unique(np.concatenate(ids), return_index=True)
    offers = [d.offer.id for d in plan.by_offer]
    return everyone, [offers[c] for c in np.concatenate(codes)[first].tolist()]


def moves(base: Plan, head: Plan) -> list[Move]:
    """Customers whose highest-priority action came from another offer (or from none), per
    (before, after) pair, most customers first."""
    was_ids, was = first_actions(base)
    now_ids, now = first_actions(head)
    customers = np.union1d(was_ids, now_ids)
    before: list[str | None] = [None] * len(customers)
    after: list[str | None] = [None] * len(customers)
    for at, offer in zip(np.searchsorted(customers, was_ids).tolist(), was, strict=True):
        before[at] = offer
    for at, offer in zip(np.searchsorted(customers, now_ids).tolist(), now, strict=True):
        after[at] = offer
    pairs = Counter((b, a) for b, a in zip(before, after, strict=True) if b != a)
    ordered = sorted(pairs.items(), key=lambda item: (-item[1], item[0][0] or "", item[0][1] or ""))
    return [Move(b, a, n) for (b, a), n in ordered]


# -- channels ------------------------------------------------------------------------------------


def channel_changes(base: Plan, head: Plan) -> list[ChannelChange]:
    was = {c.id: c for c in channel_summaries(base)}
    now = {c.id: c for c in channel_summaries(head)}
    exits_before = {(e.customer_id, e.channel, e.until) for e in base.exits}
    exits_after = {(e.customer_id, e.channel, e.until) for e in head.exits}
    differ = Counter(channel for _, channel, _ in exits_before ^ exits_after)
    found = []
    for name in _in_order(list(was), list(now)):
        b, a = was.get(name), now.get(name)
        found.append(
            ChannelChange(
                name,
                b.actions if b else None,
                a.actions if a else None,
                b.exits if b else None,
                a.exits if a else None,
                differ[name],
            )
        )
    return found


# -- the whole diff ------------------------------------------------------------------------------


def diff_plans(
    base: Plan,
    head: Plan,
    *,
    base_side: SideInfo,
    head_side: SideInfo,
    members: tuple[Membership, Membership] | None = None,
) -> Diff:
    """Compare two plans of the same store and as-of. `members`: each side's segment
    membership; None when both sides computed the same metrics and segments."""
    return Diff(
        base_side,
        head_side,
        head.as_of.isoformat(),
        head.customers,
        rule_changes(base.rules, head.rules),
        segment_changes(base, head, members),
        offer_changes(base, head),
        moves(base, head),
        channel_changes(base, head),
        _total_cost(base),
        _total_cost(head),
        head.rules.calendar.timezone,
    )


def _total_cost(plan: Plan) -> float:
    return round(sum(s.cost for s in offer_summaries(plan)), 2)


# -- JSON ----------------------------------------------------------------------------------------


def _offer_side_json(side: OfferSide | None) -> dict[str, Any] | None:
    if side is None:
        return None
    return {
        "audience": side.audience,
        "holdouts": side.holdouts,
        "actions": side.actions,
        "cost": side.cost,
        "suppressed": side.suppressed,
        "in_play": side.in_play,
        "priority": side.priority,
    }


def diff_document(diff: Diff) -> dict[str, Any]:
    """The diff as JSON data, format `campaign-diff/1`."""
    return {
        "format": FORMAT,
        "as_of": diff.as_of,
        "customers": diff.customers,
        "decisions_changed": diff.decisions_changed,
        "base": _side_json(diff.base),
        "head": _side_json(diff.head),
        "rules": [{"section": r.section, "id": r.id, "change": r.change} for r in diff.rules],
        "segments": [
            {"id": s.id, "before": s.before, "after": s.after, "entered": s.entered, "left": s.left}
            for s in diff.segments
        ],
        "offers": [
            {
                "id": o.id,
                "before": _offer_side_json(o.before),
                "after": _offer_side_json(o.after),
                "gained": o.gained,
                "lost": o.lost,
                "holdout_changed": o.holdout_changed,
                "decisions_changed": o.decisions_changed,
            }
            for o in diff.offers
        ],
        "moves": [{"from": m.before, "to": m.after, "customers": m.customers} for m in diff.moves],
        "channels": [
            {
                "id": c.id,
                "before": c.before,
                "after": c.after,
                "exits": {
                    "before": c.exits_before,
                    "after": c.exits_after,
                    "changed": c.exits_changed,
                },
            }
            for c in diff.channels
        ],
        "cost": {"before": diff.cost_before, "after": diff.cost_after},
    }


def _side_json(side: SideInfo) -> dict[str, Any]:
    return {"rules_digest": side.rules_digest, "ref": side.ref, "commit": side.commit}
