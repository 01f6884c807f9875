"""Coverage: which segments, offers, channels and suppression reasons the rule tests reach.

- a segment is covered when some test customer is in it and some test customer is not (a
  test that only ever sees members cannot tell a condition from `True`);
- an offer, when some test customer got an action from it;
- a channel, when some action used it; only channels an offer sends on are counted (a
  broadcast channel, such as a content-calendar channel, never carries an action);
- a suppression reason, when some test produced it; only reasons the rule set can produce
  are counted (no `budget` without an offer that has one, no `capacity` without a channel
  capacity, and so on).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..decide.records import REASON_ORDER
from ..rules.model import RuleSet
from .runner import Exercised

Kind = Literal["segment", "offer", "channel", "reason"]
KINDS: tuple[Kind, ...] = ("segment", "offer", "channel", "reason")


@dataclass(frozen=True)
class CoverageItem:
    kind: Kind
    id: str
    covered: bool
    missing: str | None = None  # what no test did, in words


@dataclass(frozen=True)
class Coverage:
    items: tuple[CoverageItem, ...]

    @property
    def covered(self) -> int:
        return sum(item.covered for item in self.items)

    @property
    def total(self) -> int:
        return len(self.items)

    @property
    def percent(self) -> float:
        return round(100 * self.covered / self.total, 1) if self.items else 100.0

    def of_kind(self, kind: Kind) -> list[CoverageItem]:
        return [item for item in self.items if item.kind == kind]

    @property
    def not_covered(self) -> list[CoverageItem]:
        return [item for item in self.items if not item.covered]


def coverage_of(rules: RuleSet, seen: Exercised) -> Coverage:
    """Every countable segment, offer, channel and reason of the rules, covered or not."""
    items = [_segment(name, seen) for name in rules.segments]
    items += [
        CoverageItem("offer", name, True)
        if name in seen.offers
        else CoverageItem("offer", name, False, "no test customer got an action from it")
        for name in rules.offers
    ]
    items += [
        CoverageItem("channel", name, True)
        if name in seen.channels
        else CoverageItem("channel", name, False, "no action used it")
        for name in offer_channels(rules)
    ]
    items += [
        CoverageItem("reason", name, True)
        if name in seen.reasons
        else CoverageItem("reason", name, False, "no test produced it")
        for name in possible_reasons(rules)
    ]
    return Coverage(tuple(items))


def _segment(name: str, seen: Exercised) -> CoverageItem:
    member, other = name in seen.members, name in seen.non_members
    if member and other:
        return CoverageItem("segment", name, True)
    if not member:
        return CoverageItem("segment", name, False, "no test customer is in it")
    return CoverageItem("segment", name, False, "every test customer is in it")


def offer_channels(rules: RuleSet) -> list[str]:
    """Channels some offer sends on, in rule-file order."""
    used = {name for offer in rules.offers.values() for name in offer.channels}
    return [name for name in rules.channels if name in used]


def possible_reasons(rules: RuleSet) -> list[str]:
    """The suppression reasons the rules can produce, in the contract's order."""
    offers = list(rules.offers.values())
    channels = [rules.channels[name] for name in offer_channels(rules)]
    groups = [o.group for o in offers if o.group is not None]
    calendar = rules.calendar
    can = {
        "cooldown": any(o.cooldown for o in offers),
        "group_taken": len(groups) > len(set(groups)),
        "no_address": any(c.address for c in channels),
        "consent": any(c.consent for c in channels),
        "entry": any(c.entry for c in channels),
        "channel_exit": any(c.exit for c in channels),
        "channel_lifecycle": any(c.lifecycle and c.lifecycle.exit for c in channels),
        "frequency_cap": bool(calendar.frequency_caps),
        "blackout": any(_can_black_out(rules, o.id) for o in offers),
        "min_gap": calendar.min_gap is not None,
        "capacity": any(c.capacity_per_day is not None for c in channels),
        "max_actions": any(o.max_actions is not None for o in offers),
        "budget": any(o.budget is not None for o in offers),
    }
    return [reason for reason in REASON_ORDER if can[reason]]


def _can_black_out(rules: RuleSet, offer_id: str) -> bool:
    """A send time moved by a blackout or quiet hours can pass the window's last day."""
    offer = rules.offers[offer_id]
    if offer.window is None or offer.window.until is None:
        return False
    for name in offer.channels:
        channel = rules.channels[name]
        blacked = any(b.channels is None or name in b.channels for b in rules.calendar.blackouts)
        if blacked or channel.quiet_hours is not None:
            return True
    return False
