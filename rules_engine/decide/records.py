"""The records the stages hand each other, and the contract's orders: defined once, here.

Candidates and messages go into the allocation, decisions and channel exits come out of it,
lifecycle states describe each channel; the reason order is the order the contract checks
reasons in, the action and audit columns are what a run writes. This module imports no stage,
so every stage, backend and report can import it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

# Reasons, in the order the contract checks them: a suppressed decision gives the first that
# applies. The channel reasons are those of one channel (the first blocking one, per channel).
CHANNEL_REASONS = ("no_address", "consent", "entry", "channel_exit", "channel_lifecycle")
REASON_ORDER = (
    "cooldown",
    "group_taken",
    *CHANNEL_REASONS,
    "frequency_cap",
    "blackout",
    "min_gap",
    "capacity",
    "max_actions",
    "budget",
)


@dataclass(frozen=True, slots=True)
class Candidate:
    """A customer in an offer's audience, with what SQL found about each of its channels.

    `blocked[channel]` is the first failing static reason for that channel (no_address,
    consent, entry, channel_exit, channel_lifecycle), or None when the channel is usable.
    """

    customer_id: int
    rank: float | None = None
    timezone: str | None = None
    cooldown: bool = False
    blocked: Mapping[str, str | None] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Message:
    """A message that counts against caps and min_gap.

    The executor loads contacts sent up to as-of and earlier runs' actions (an action with a
    matching contact — same customer, offer and channel — only once, as the contact); this
    run's actions are added as they are allocated. Every one of them after a cap window's start
    counts against the cap. `at` is in epoch seconds: a million of them take half the memory
    of datetimes, and compare faster.
    """

    at: int
    channel: str
    offer_id: str | None


@dataclass(slots=True)
class OfferTotals:
    """Actions and spend an offer already has from earlier runs (they count for its life)."""

    actions: int = 0
    spend: float = 0.0


@dataclass(frozen=True, slots=True)
class Decision:
    """One audit row: what happened to a customer for an offer, and why."""

    customer_id: int
    offer_id: str
    outcome: str  # action | holdout | suppressed
    reason: str | None = None
    channel: str | None = None
    send_at: datetime | None = None
    cost: float = 0.0
    detail: str | None = None
    variant: str | None = None  # the offer's variant an action carries


@dataclass(frozen=True, slots=True)
class ChannelExit:
    """A customer leaving a channel on this run (recorded in `channel_exits` by `run`)."""

    customer_id: int
    channel: str
    exited_at: datetime
    until: datetime | None
    reason: str


ACTION_COLUMNS = (
    "run_id",
    "customer_id",
    "offer_id",
    "channel",
    "send_at",
    "content",
    "incentive",
    "cost",
    "variant",
)


AUDIT_COLUMNS = (
    "run_id",
    "customer_id",
    "offer_id",
    "outcome",
    "reason",
    "channel",
    "rule_file",
    "rule_line",
    "detail",
    "variant",
)


# A channel's lifecycle: its gates (expressions over its latest periods' numbers), and the
# states they give, the first whose gate holds (none: testing).
LIFECYCLE_GATES = ("admit", "scale", "exit")
LIFECYCLE_STATES = ("exit", "scaled", "admitted", "testing")
# The numbers of a channel's period that lifecycle gates read.
PERIOD_NAMES = ("roi", "portfolio_roi", "target_roi", "spend", "revenue", "conversions")


@dataclass(frozen=True)
class LifecycleState:
    """A channel's portfolio state and the numbers of its latest period behind it."""

    channel: str
    state: str
    gates: dict[str, bool | None]
    numbers: dict[str, Any]  # roi, portfolio_roi, target_roi, spend, revenue, conversions
    period: str | None = None  # start of the latest period
    periods: int = 0


def state_of(gates: Mapping[str, bool | None]) -> str:
    if gates.get("exit") is True:
        return "exit"
    if gates.get("scale") is True:
        return "scaled"
    if gates.get("admit") is True:
        return "admitted"
    return "testing"
