"""The validated rule set: frozen dataclasses, each rule keeping the span it came from.

Built by `resolve` only from documents that passed the schema, so fields here are already
the right shape; the executor, `explain` and the audit log read rules from these objects and
cite their spans (file and line) in what they report.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from ..errors import Span
from ..store import RuleType, StoreSchema


def _finite(what: str, value: float) -> None:
    """Money and fractions in the model are finite numbers (the loader refuses others, with
    their position; this keeps any other way of building a rule set honest)."""
    if not math.isfinite(value):
        raise ValueError(f"{what} must be a finite number, not {value}")


@dataclass(frozen=True)
class Expression:
    """A parsed, type-checked expression and the text the marketer wrote."""

    text: str
    node: Any
    type: RuleType | None
    span: Span


@dataclass(frozen=True)
class Metric:
    id: str
    span: Span
    value: Expression
    type: RuleType
    table: str | None = None
    where: Expression | None = None
    default: object = None
    description: str | None = None

    @property
    def is_aggregate(self) -> bool:
        return self.table is not None


@dataclass(frozen=True)
class Segment:
    id: str
    span: Span
    where: Expression
    description: str | None = None


@dataclass(frozen=True)
class QuietHours:
    start: time
    end: time


@dataclass(frozen=True)
class Lifecycle:
    admit: Expression | None = None
    scale: Expression | None = None
    exit: Expression | None = None


@dataclass(frozen=True)
class Channel:
    id: str
    span: Span
    address: str | None = None
    consent: Expression | None = None
    entry: Expression | None = None
    exit: Expression | None = None
    exit_days: int | None = None
    cost: float = 0.0
    quiet_hours: QuietHours | None = None
    capacity_per_day: int | None = None
    lifecycle: Lifecycle | None = None
    description: str | None = None

    def __post_init__(self) -> None:
        _finite(f"channel {self.id} cost", self.cost)


@dataclass(frozen=True)
class Budget:
    total: float
    reserve: float = 0.0

    def __post_init__(self) -> None:
        _finite("budget total", self.total)
        _finite("budget reserve", self.reserve)

    @property
    def spendable(self) -> float:
        return self.total * (1 - self.reserve)

    def fits(self, spent: float, cost: float) -> bool:
        """Whether one more action of `cost` stays within what may be spent; a sum that is not
        a finite number (NaN from a broken earlier run, or an overflow) never fits."""
        total = spent + cost
        return math.isfinite(total) and total <= self.spendable + 1e-9


@dataclass(frozen=True)
class Window:
    start: date | None = None
    until: date | None = None

    def contains(self, day: date) -> bool:
        return (self.start is None or self.start <= day) and (
            self.until is None or day <= self.until
        )


@dataclass(frozen=True)
class Variant:
    """One arm of an offer's experiment: its own content, incentive and cost."""

    id: str
    span: Span
    weight: float  # share of the offer's actions, as a fraction
    bound: int  # its buckets are those below this (of 10,000), after the variants before it
    content: str
    incentive: dict[str, Any] | None
    cost: float


@dataclass(frozen=True)
class Offer:
    id: str
    span: Span
    audience: Expression
    channels: tuple[str, ...]
    content: str
    priority: int = 0
    exclude: Expression | None = None
    group: str | None = None
    incentive: dict[str, Any] | None = None
    cost: float = 0.0
    rank: Expression | None = None
    budget: Budget | None = None
    max_actions: int | None = None
    holdout: float = 0.0
    cooldown: timedelta | None = None
    window: Window | None = None
    send_at: time | None = None
    description: str | None = None
    variants: tuple[Variant, ...] = ()

    def __post_init__(self) -> None:
        _finite(f"offer {self.id} cost", self.cost)
        _finite(f"offer {self.id} holdout", self.holdout)


@dataclass(frozen=True)
class FrequencyCap:
    span: Span
    max: int
    per: timedelta
    channel: str | None = None  # "*" for every channel
    group: str | None = None


@dataclass(frozen=True)
class Blackout:
    span: Span
    start: date
    until: date
    channels: tuple[str, ...] | None = None  # None: every channel
    reason: str | None = None


@dataclass(frozen=True)
class Calendar:
    timezone: str = "UTC"
    frequency_caps: tuple[FrequencyCap, ...] = ()
    min_gap: timedelta | None = None
    blackouts: tuple[Blackout, ...] = ()
    schedule: tuple[dict[str, Any], ...] = ()
    constraints: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True)
class Expectation:
    """What must hold for one customer after a step of a rule test; `spans` has where each
    key is written (for failures at the line a marketer edits)."""

    span: Span
    customer: int
    segments: tuple[str, ...] = ()
    not_segments: tuple[str, ...] = ()
    metrics: tuple[tuple[str, object], ...] = ()
    checks_offer: bool = False  # `offer` is given (None: no action from any offer)
    offer: str | None = None
    outcome: str | None = None
    reason: str | None = None
    channel: str | None = None
    send_at: datetime | None = None
    spans: dict[str, Span] = field(default_factory=dict, compare=False)

    def where(self, key: str) -> Span:
        return self.spans.get(key, self.span)


@dataclass(frozen=True)
class RuleTestStep:
    """One run of a rule test: rows added to its store, the as-of, what must hold after it."""

    span: Span
    as_of: datetime
    rows: dict[str, tuple[dict[str, Any], ...]]  # table → rows added before this step runs
    expect: tuple[Expectation, ...]


@dataclass(frozen=True)
class RuleTest:
    """A rule unit test: its first step is the test itself, the rest its `then:` steps."""

    id: str
    span: Span
    body: dict[str, Any]
    steps: tuple[RuleTestStep, ...] = ()
    description: str | None = None


@dataclass(frozen=True)
class RuleSet:
    """Every rule of every file, in file order, with the store schema they were checked against."""

    metrics: dict[str, Metric] = field(default_factory=dict)
    segments: dict[str, Segment] = field(default_factory=dict)
    channels: dict[str, Channel] = field(default_factory=dict)
    offers: dict[str, Offer] = field(default_factory=dict)
    calendar: Calendar = field(default_factory=Calendar)
    tests: dict[str, RuleTest] = field(default_factory=dict)
    schema: StoreSchema = field(default_factory=StoreSchema)
    files: tuple[str, ...] = ()
    metric_order: tuple[str, ...] = ()  # dependency order: a metric after those it uses
    segment_order: tuple[str, ...] = ()
    # what the rules were loaded from (`provenance`): the digest of the bytes read, each file's
    # name relative to the rules root, and the Git commit (when asked for)
    digest: str = ""
    file_names: dict[str, str] = field(default_factory=dict)
    git_commit: str | None = None

    def file_name(self, given: str) -> str:
        """A rule file's name relative to the rules root (plans and audit rows cite it)."""
        return self.file_names.get(given, given)


_DURATION = re.compile(r"^([1-9][0-9]*)(m|h|d|w)$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_duration(text: str) -> timedelta:
    """`30d`, `24h`, `90m`, `2w` (the schema has already checked the pattern)."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"not a duration: {text!r}")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


def parse_percentage(value: str | float | int) -> float:
    """`"10%"` or a fraction such as 0.1, as a fraction."""
    if isinstance(value, str):
        return float(value.rstrip("%")) / 100
    return float(value)


def parse_time(text: str) -> time:
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))
