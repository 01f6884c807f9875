"""Allocation over arrays: the contract's decision order for a whole store at once.

A customer is in an offer's audience once, so within one offer nothing a candidate books can
change another candidate's cooldown, group slot, holdout, channel, caps or min_gap: those
depend only on the customer and on what earlier offers booked, and are computed here per
offer as array operations. Only the shared limits (capacity per channel and local day,
max_actions, budget) depend on who came first within an offer; they run as a plain loop over
the candidates that get that far, a small share of the audience.

`allocate.Allocator` decides the same one candidate at a time; explain uses it, and the tests
hold the two to the same decisions on any input.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from ..rules.model import Calendar, Channel, FrequencyCap, Offer
from .allocate import allocation_order, in_allocation_order
from .records import REASON_ORDER, Candidate, Decision, Message, OfferTotals
from .sendtime import SendTime, send_time, zone

# Reason codes: 0 is no reason; then an action's, then the contract's reasons, in its order.
REASONS: tuple[str | None, ...] = (None, "quiet_hours", *REASON_ORDER)
REASON_CODE = {reason: code for code, reason in enumerate(REASONS)}
OUTCOMES = ("action", "holdout", "suppressed")
ACTION, HOLDOUT, SUPPRESSED = range(3)
_TIME_SPAN = 1 << 31  # seconds a customer's message times may span in one min_gap key


@dataclass
class Audiences:
    """What SQL found, as arrays: the customers in any audience (`customer_ids`, ascending)
    with their zone and each address channel's first blocking reason, and each offer's members
    in allocation order, as positions in `customer_ids`."""

    customer_ids: np.ndarray  # int64
    zones: np.ndarray  # int32, index into zone_names
    zone_names: list[str | None]
    blocked: dict[str, np.ndarray]  # channel → int8 reason code per customer (0: usable)
    members: dict[str, np.ndarray] = field(default_factory=dict)  # offer → positions
    cooldown: dict[str, np.ndarray] = field(default_factory=dict)  # offer → bool per member

    def add_members(
        self,
        offers: Sequence[Offer],
        rank_of: Sequence[int | None],
        words: Sequence[np.ndarray],
        ranks: Sequence[np.ndarray],
        unknown: Sequence[np.ndarray],
        cooling: np.ndarray,
    ) -> None:
        """Each offer's members in allocation order (rank high first, missing last, then
        customer id) and who of them is in its cooldown, from what SQL found per customer:
        offer i's membership is bit `i % 60` of `words[i // 60]`, its rank `ranks[rank_of[i]]`
        (`unknown` where missing); `cooling` holds `(offer position, customer id)` rows."""
        # cooling customers by position in `customer_ids` (ascending), those not in it left out
        where = np.searchsorted(self.customer_ids, cooling[:, 1])
        inside = where < len(self.customer_ids)
        inside[inside] = self.customer_ids[where[inside]] == cooling[inside, 1]
        cooling_offer, cooling_at = cooling[inside, 0], where[inside]
        cooled = np.zeros(len(self.customer_ids), bool)
        for i, o in enumerate(offers):
            who = np.flatnonzero((words[i // 60] >> (i % 60)) & 1)  # ascending
            at = rank_of[i]
            if at is not None:  # lexsort is stable: equal ranks stay in customer order
                who = who[np.lexsort((-ranks[at][who], unknown[at][who]))]
            self.members[o.id] = who
            now = cooling_at[cooling_offer == i]
            cooled[now] = True
            self.cooldown[o.id] = cooled[who]
            cooled[now] = False


@dataclass
class History:
    """Messages that count against caps and min_gap, by position in `Audiences.customer_ids`."""

    who: np.ndarray  # int64
    at: np.ndarray  # int64, epoch seconds
    kind: np.ndarray  # int32, index into `kinds`
    kinds: list[tuple[str, str | None]]  # (channel, offer) of messages, each once


@dataclass
class OfferDecisions:
    """One offer's decisions in allocation order, as columns."""

    offer: Offer
    customer_ids: np.ndarray  # int64
    outcomes: np.ndarray  # int8, index into OUTCOMES
    reasons: np.ndarray  # int8, index into REASONS
    channels: np.ndarray  # int16, index into `channel_names`, -1 for none
    timings: np.ndarray  # int32, index into `send_times`, -1 for none
    channel_names: Sequence[str]
    send_times: Sequence[SendTime]
    # an action's cost by channel index, then by variant index + 1 (0: the offer's own cost)
    costs: Sequence[Sequence[float]]
    variants: np.ndarray  # int8, index into `offer.variants` for actions, -1 for none

    def __len__(self) -> int:
        return len(self.customer_ids)

    def outcomes_counted(self) -> dict[str, int]:
        counts = np.bincount(self.outcomes, minlength=len(OUTCOMES)).tolist()
        return dict(zip(OUTCOMES, counts, strict=True))

    def reasons_counted(self) -> dict[str | None, int]:
        """Suppressed customers per reason; `quiet_hours` counts actions moved by them."""
        counts = np.bincount(self.reasons, minlength=len(REASONS)).tolist()
        return {reason: n for reason, n in zip(REASONS, counts, strict=True) if n}

    def blackout_moves(self) -> int:
        """Actions whose send a blackout moved (counted apart from quiet-hours moves)."""
        moved = [t.blackout is not None for t in self.send_times]
        acting: list[int] = self.timings[self.outcomes == ACTION].tolist()
        return sum(moved[t] for t in acting)

    def spend(self) -> float:
        """What the actions cost, added up in allocation order."""
        acting = self.outcomes == ACTION
        pairs = zip(
            self.channels[acting].tolist(), (self.variants[acting] + 1).tolist(), strict=True
        )
        total: float = sum(self.costs[c][v] for c, v in pairs)
        return total

    def variants_counted(self) -> dict[str, int]:
        """Actions per variant, in the order the variants are written (empty without any)."""
        names = [v.id for v in self.offer.variants]
        counts = np.bincount(self.variants[self.variants >= 0], minlength=len(names)).tolist()
        return dict(zip(names, counts, strict=True))

    def action_channels(self) -> list[str]:
        """The channel of each action, in allocation order."""
        return [self.channel_names[c] for c in self.channels[self.outcomes == ACTION].tolist()]

    def rows(self) -> Iterator[Decision]:
        offer, group = self.offer.id, self.offer.group
        detail = f"group {group}"
        names, times, costs = self.channel_names, self.send_times, self.costs
        variant_ids = [None, *(v.id for v in self.offer.variants)]
        columns = zip(
            self.customer_ids.tolist(),
            self.outcomes.tolist(),
            self.reasons.tolist(),
            self.channels.tolist(),
            self.timings.tolist(),
            (self.variants + 1).tolist(),
            strict=True,
        )
        for cid, outcome, reason, channel, timing, variant in columns:
            if outcome == ACTION:
                when = times[timing]
                yield Decision(
                    cid,
                    offer,
                    "action",
                    REASONS[reason],
                    names[channel],
                    when.at,
                    costs[channel][variant],
                    when.blackout_detail(),
                    variant=variant_ids[variant],
                )
            elif outcome == HOLDOUT:
                yield Decision(cid, offer, "holdout")
            else:
                name = names[channel] if channel >= 0 else None
                why = REASONS[reason]
                yield Decision(
                    cid,
                    offer,
                    "suppressed",
                    why,
                    name,
                    detail=detail if why == "group_taken" else None,
                )


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
    """`allocate.allocate`'s inputs and answer, decided over arrays."""
    audiences, messages = arrays_of(offers, candidates, history or {})
    allocator = ArrayAllocator(
        channels=channels,
        calendar=calendar,
        as_of=as_of,
        audiences=audiences,
        history=messages,
        groups=groups if groups is not None else {o.id: o.group for o in offers},
        capacity_used=capacity_used,
        totals=totals,
    )
    return [d for offer in in_allocation_order(offers) for d in allocator.decide(offer).rows()]


def arrays_of(
    offers: Sequence[Offer],
    candidates: Mapping[str, Sequence[Candidate]],
    history: Mapping[int, Sequence[Message]],
) -> tuple[Audiences, History]:
    """Per-candidate inputs as arrays. A customer's zone and channels are the customer's own:
    they must be the same in every offer the customer is a candidate of."""
    customers: dict[int, Candidate] = {}
    for offer in offers:
        for cand in candidates.get(offer.id, ()):
            seen = customers.setdefault(cand.customer_id, cand)
            if (seen.timezone, dict(seen.blocked)) != (cand.timezone, dict(cand.blocked)):
                raise ValueError(f"customer {cand.customer_id}: zone or channels differ by offer")
    ids = sorted(customers)
    position = {cid: i for i, cid in enumerate(ids)}
    zone_names = sorted({customers[c].timezone for c in ids}, key=lambda z: (z is None, z or ""))
    zone_code = {name: i for i, name in enumerate(zone_names)}
    names = sorted({ch for c in customers.values() for ch in c.blocked})
    audiences = Audiences(
        np.array(ids, dtype=np.int64),
        np.array([zone_code[customers[c].timezone] for c in ids], dtype=np.int32),
        zone_names,
        {
            ch: np.array([REASON_CODE[customers[c].blocked.get(ch)] for c in ids], dtype=np.int8)
            for ch in names
        },
    )
    for offer in offers:
        ordered = sorted(candidates.get(offer.id, ()), key=allocation_order)
        audiences.members[offer.id] = np.array(
            [position[c.customer_id] for c in ordered], dtype=np.int64
        )
        audiences.cooldown[offer.id] = np.array([c.cooldown for c in ordered], dtype=bool)
    kept = [(position[cid], m) for cid, msgs in history.items() if cid in position for m in msgs]
    kinds: dict[tuple[str, str | None], int] = {}
    messages = History(
        np.array([w for w, _ in kept], dtype=np.int64),
        np.array([m.at for _, m in kept], dtype=np.int64),
        np.array(
            [kinds.setdefault((m.channel, m.offer_id), len(kinds)) for _, m in kept],
            dtype=np.int32,
        ),
        list(kinds),
    )
    return audiences, messages


def buckets(prefix: bytes, customer_ids: np.ndarray) -> np.ndarray:
    """The published hash buckets (0..9999) of `prefix` + customer id, for many at once.
    Many are hashed by DuckDB's vectorised SHA-256 on both cores (a million ids: 0.6 s, against
    1.4 s one by one in Python); a few by `hashlib`, which needs no query."""
    if len(customer_ids) >= SQL_HASHING_FROM:
        return _hashed_in_sql(prefix, customer_ids)
    return _hashed_in_python(prefix, customer_ids)


SQL_HASHING_FROM = 20_000  # ids from which a query is cheaper than hashing one by one


@cache
def _hashing_connection() -> Any:
    """One in-memory DuckDB per process, opened when first needed (35 ms)."""
    import duckdb

    return duckdb.connect()


def _hashed_in_python(prefix: bytes, customer_ids: np.ndarray) -> np.ndarray:
    """The digests' first 8 bytes read as big-endian integers by numpy."""
    start = hashlib.sha256(prefix)  # the prefix hashed once, copied for each id: a fifth less

    def digest(cid: int) -> bytes:
        h = start.copy()
        h.update(b"%d" % cid)
        return h.digest()

    digests = b"".join([digest(cid) for cid in customer_ids.tolist()])
    first = np.frombuffer(digests, dtype=">u8").reshape(-1, 4)[:, 0] if digests else np.zeros(0)
    found: np.ndarray = first % 10000
    return found


def _hashed_in_sql(prefix: bytes, customer_ids: np.ndarray) -> np.ndarray:
    """The same digests' first 16 hex digits as an unsigned integer, in an in-memory DuckDB
    (whatever the store's engine): the ids are scanned from the array, in order."""
    conn = _hashing_connection()
    conn.register("ids", {"id": np.ascontiguousarray(customer_ids, dtype=np.int64)})
    try:
        query = (
            "SELECT CAST(CAST(('0x' || left(sha256($1 || CAST(id AS VARCHAR)), 16)) AS UBIGINT) "
            "% 10000 AS SMALLINT) AS bucket FROM ids"
        )
        column = conn.execute(query, [prefix.decode()]).fetchnumpy()["bucket"]
    finally:
        conn.unregister("ids")
    found: np.ndarray = np.asarray(column, dtype=np.uint64)
    return found


def holdout_mask(offer_id: str, customer_ids: np.ndarray, holdout: float) -> np.ndarray:
    """SPEC's published control-group formula (`sendtime.holdout_bucket`)."""
    held: np.ndarray = buckets(offer_id.encode() + b":", customer_ids) < holdout * 10000
    return held


def variant_indices(offer: Offer, customer_ids: np.ndarray) -> np.ndarray:
    """Each customer's variant of `offer` (`sendtime.variant_of`), as an index."""
    found = buckets(offer.id.encode() + b":variant:", customer_ids)
    bounds = np.array([v.bound for v in offer.variants], dtype=np.int64)
    chosen: np.ndarray = np.searchsorted(bounds, found, side="right").astype(np.int8)
    return chosen


@dataclass
class _Cap:
    """A frequency cap, and each customer's messages that count against it so far."""

    cap: FrequencyCap
    start: int  # the window's start, epoch seconds: messages after it count
    used: np.ndarray  # int32 per customer
    full_at: int  # messages at which the cap is full

    def counts(self, channel: str, group: str | None) -> bool:
        """Whether a message on `channel` from an offer of `group` counts (as
        `allocate.Allocator._over_caps`: a group cap by group, else by channel or every one)."""
        if self.cap.group is not None:
            return group == self.cap.group
        return self.cap.channel == "*" or channel == self.cap.channel


class ArrayAllocator:
    """One run's allocation state over arrays: call `decide` for each offer in allocation
    order (`allocate.in_allocation_order`)."""

    def __init__(
        self,
        *,
        channels: Mapping[str, Channel],
        calendar: Calendar,
        as_of: datetime,
        audiences: Audiences,
        history: History,
        groups: Mapping[str, str | None],
        capacity_used: Mapping[tuple[str, date], int] | None = None,
        totals: Mapping[str, OfferTotals] | None = None,
    ) -> None:
        self.channels = channels
        self.channel_names = list(channels)
        self.channel_index = {name: i for i, name in enumerate(self.channel_names)}
        self.calendar = calendar
        self.calendar_zone = ZoneInfo(calendar.timezone)
        self.as_of = as_of
        self.audiences = audiences
        self.groups = groups
        self.capacity_used: dict[tuple[str, date], int] = defaultdict(int, capacity_used or {})
        self.totals = {k: OfferTotals(v.actions, v.spend) for k, v in (totals or {}).items()}
        self.slots: dict[str, np.ndarray] = {}  # group → taken, per customer
        self.send_times: list[SendTime] = []
        self._timing_index: dict[tuple[str, str, int], int] = {}
        self._timing_epoch: list[int] = []
        self._timing_day: list[date] = []
        size = len(audiences.customer_ids)
        self._usable = np.zeros(size, np.int8)  # a channel without an address column
        now = int(as_of.timestamp())
        self.caps: list[_Cap] = []
        for cap in calendar.frequency_caps:
            item = _Cap(cap, now - int(cap.per.total_seconds()), np.zeros(size, np.int32), 0)
            item.full_at = max(cap.max, 1)
            kinds = [item.counts(ch, groups.get(o) if o else None) for ch, o in history.kinds]
            counted = np.array(kinds, dtype=bool)[history.kind] & (history.at > item.start)
            item.used += np.bincount(history.who[counted], minlength=size).astype(np.int32)
            self.caps.append(item)
        gap = calendar.min_gap
        self.min_gap = int(gap.total_seconds()) if gap is not None else None
        # min_gap looks up each customer's message times in one sorted array of keys
        # position × span + (time − base). Sends are at as-of or later, so a message more
        # than min_gap before as-of cannot matter: the base is there, and 68 years after it
        # times are clamped.
        self._base = now - (self.min_gap or 0) - 1
        recent = history.at > self._base
        self._times = np.sort(self._keys(history.who[recent], history.at[recent]))

    def _keys(self, who: np.ndarray, at: np.ndarray) -> np.ndarray:
        offset: np.ndarray = np.clip(at - self._base, 0, _TIME_SPAN - 1)
        keys: np.ndarray = who.astype(np.int64) * _TIME_SPAN + offset
        return keys

    def decide(self, offer: Offer) -> OfferDecisions:
        aud = self.audiences
        who = aud.members.get(offer.id, np.zeros(0, np.int64))
        n = len(who)
        outcomes = np.full(n, SUPPRESSED, np.int8)
        reasons = np.zeros(n, np.int8)
        open_ = np.ones(n, bool)  # not decided yet

        def settle(mask: np.ndarray, reason: str) -> None:
            reasons[mask] = REASON_CODE[reason]
            open_[mask] = False

        settle(aud.cooldown.get(offer.id, np.zeros(n, bool)), "cooldown")
        group = offer.group
        slots = None
        if group is not None:
            slots = self.slots.setdefault(group, np.zeros(len(aud.customer_ids), bool))
            settle(open_ & slots[who], "group_taken")
        if offer.holdout:
            at = np.flatnonzero(open_)
            held = at[holdout_mask(offer.id, aud.customer_ids[who[at]], offer.holdout)]
            outcomes[held] = HOLDOUT
            open_[held] = False
            if slots is not None:
                slots[who[held]] = True

        chosen = self._channels(offer, who, open_, reasons)
        timings, epochs = self._send_times(offer, who, open_, chosen)
        settle(open_ & (timings >= 0) & self._blacked_out(timings), "blackout")
        self._caps_and_gap(offer, who, open_, epochs, settle)

        variants = np.full(n, -1, np.int8)
        if offer.variants:
            at = np.flatnonzero(open_)
            variants[at] = variant_indices(offer, aud.customer_ids[who[at]])
        costs = [
            [round(self.channels[c].cost + cost, 6) for cost in offer_costs(offer)]
            for c in self.channel_names
        ]
        booked = self._shared_limits(
            offer, np.flatnonzero(open_), chosen, timings, variants, costs, reasons
        )
        outcomes[booked] = ACTION
        variants[outcomes != ACTION] = -1
        moved = np.array([t.moved_by_quiet_hours for t in self.send_times], dtype=bool)
        reasons[booked] = np.where(moved[timings[booked]], REASON_CODE["quiet_hours"], 0)
        self._book(offer, who[booked], chosen[booked], epochs[booked])
        return OfferDecisions(
            offer,
            aud.customer_ids[who],
            outcomes,
            reasons,
            chosen,
            timings,
            self.channel_names,
            self.send_times,
            costs,
            variants,
        )

    def _channels(
        self, offer: Offer, who: np.ndarray, open_: np.ndarray, reasons: np.ndarray
    ) -> np.ndarray:
        """Each open candidate's channel: the first usable one (its own caps leave room);
        with none, the first channel's reason, and the candidate is settled."""
        n = len(who)
        chosen = np.full(n, -1, np.int16)
        first_reason = np.zeros(n, np.int8)
        for name in offer.channels:
            reason = self.audiences.blocked.get(name, self._usable)[who].copy()
            usable = reason == 0
            for cap in self.caps:
                if cap.cap.channel == name:
                    full = usable & (cap.used[who] >= cap.full_at)
                    reason[full] = REASON_CODE["frequency_cap"]
                    usable &= ~full
            take = open_ & usable & (chosen < 0)
            chosen[take] = self.channel_index[name]
            late = open_ & (chosen < 0) & (first_reason == 0)
            first_reason[late] = reason[late]
        none = open_ & (chosen < 0)
        reasons[none] = np.where(
            first_reason[none] > 0, first_reason[none], REASON_CODE["no_address"]
        )
        if offer.channels:
            chosen[none] = self.channel_index[offer.channels[0]]
        open_ &= ~none
        return chosen

    def _send_times(
        self, offer: Offer, who: np.ndarray, open_: np.ndarray, chosen: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Each open candidate's send time (an index into `send_times`, -1 for none) and
        its epoch seconds: computed once per channel and zone."""
        aud, n = self.audiences, len(who)
        timings = np.full(n, -1, np.int32)
        epochs = np.zeros(n, np.int64)
        at = np.flatnonzero(open_)
        if len(at):
            zones = len(aud.zone_names)
            pairs = chosen[at].astype(np.int64) * zones + aud.zones[who[at]]
            kinds, inverse = np.unique(pairs, return_inverse=True)
            index = np.array(
                [
                    self._timing(offer, self.channel_names[k // zones], int(k % zones))
                    for k in kinds.tolist()
                ],
                dtype=np.int32,
            )
            timings[at] = index[inverse]
            epochs[at] = np.array(self._timing_epoch, dtype=np.int64)[timings[at]]
        return timings, epochs

    def _blacked_out(self, timings: np.ndarray) -> np.ndarray:
        nowhere = np.array([t.at is None for t in self.send_times] + [False], dtype=bool)
        blacked: np.ndarray = nowhere[timings]  # -1 reads the trailing False
        return blacked

    def _caps_and_gap(
        self,
        offer: Offer,
        who: np.ndarray,
        open_: np.ndarray,
        epochs: np.ndarray,
        settle: Callable[[np.ndarray, str], None],
    ) -> None:
        """Caps over every channel and the offer's group, then min_gap: a message of the
        customer's within min_gap of the send time, found in the sorted keys."""
        group = offer.group
        for cap in self.caps:
            if cap.cap.channel == "*" or (cap.cap.group is not None and cap.cap.group == group):
                settle(open_ & (cap.used[who] >= cap.full_at), "frequency_cap")
        if self.min_gap is None:
            return
        at = np.flatnonzero(open_)
        if not len(at) or not len(self._times):
            return
        base = who[at].astype(np.int64) * _TIME_SPAN
        low = base + np.clip(epochs[at] - self.min_gap - self._base, 0, _TIME_SPAN - 1)
        high = base + np.clip(epochs[at] + self.min_gap - self._base, 0, _TIME_SPAN - 1)
        after = np.searchsorted(self._times, low, side="right")
        near = np.zeros(len(who), bool)
        found = after < len(self._times)
        near[at[found]] = self._times[after[found]] < high[found]
        settle(near, "min_gap")

    def _timing(self, offer: Offer, channel: str, zone_code: int) -> int:
        key = (offer.id, channel, zone_code)
        found = self._timing_index.get(key)
        if found is None:
            name = self.audiences.zone_names[zone_code]
            customer_zone = zone(name, self.calendar.timezone)
            timing = send_time(
                self.as_of,
                channel=channel,
                customer_zone=customer_zone,
                calendar_zone=self.calendar_zone,
                preferred=offer.send_at,
                quiet=self.channels[channel].quiet_hours,
                blackouts=self.calendar.blackouts,
                until=offer.window.until if offer.window else None,
            )
            found = self._timing_index[key] = len(self.send_times)
            self.send_times.append(timing)
            at = timing.at
            self._timing_epoch.append(int(at.timestamp()) if at is not None else 0)
            self._timing_day.append(at.astimezone(customer_zone).date() if at else date.min)
        return found

    def _shared_limits(
        self,
        offer: Offer,
        open_: np.ndarray,
        chosen: np.ndarray,
        timings: np.ndarray,
        variants: np.ndarray,
        costs: Sequence[Sequence[float]],
        reasons: np.ndarray,
    ) -> np.ndarray:
        """Capacity, max_actions and budget, in allocation order; the positions booked. One
        candidate at a time while a limit can still change who is booked; the candidates
        after the last booking max_actions allows are refused at once, and an offer no limit
        holds back books every candidate at once."""
        totals = self.totals.setdefault(offer.id, OfferTotals())
        used = self.capacity_used
        channels, times = chosen[open_], timings[open_]
        variant_of = (variants[open_] + 1).tolist()
        capacity = [self.channels[name].capacity_per_day for name in self.channel_names]
        capped = any(capacity[c] is not None for c in set(channels.tolist()))
        if not capped and offer.max_actions is None and offer.budget is None:
            pairs, _, counts = self._pairs(channels, times)
            for (channel, timing), count in zip(pairs, counts, strict=True):
                used[(self.channel_names[channel], self._timing_day[timing])] += count
            totals.actions += len(open_)
            for channel, variant in zip(channels.tolist(), variant_of, strict=True):
                totals.spend += costs[channel][variant]
            return open_.astype(np.int64)
        booked = []
        prices = offer_costs(offer)
        for k, (i, channel, timing, variant) in enumerate(
            zip(open_.tolist(), channels.tolist(), times.tolist(), variant_of, strict=True)
        ):
            if offer.max_actions is not None and totals.actions >= offer.max_actions:
                self._refuse_after_max_actions(open_[k:], channels[k:], times[k:], reasons)
                break
            name = self.channel_names[channel]
            spec = self.channels[name]
            day = (name, self._timing_day[timing])
            if spec.capacity_per_day is not None and used[day] >= spec.capacity_per_day:
                reasons[i] = REASON_CODE["capacity"]
            elif offer.budget is not None and not offer.budget.fits(
                totals.spend, spec.cost + prices[variant]
            ):
                reasons[i] = REASON_CODE["budget"]
            else:
                used[day] += 1
                totals.actions += 1
                totals.spend += costs[channel][variant]
                booked.append(i)
        return np.array(booked, dtype=np.int64)

    def _refuse_after_max_actions(
        self, positions: np.ndarray, channels: np.ndarray, times: np.ndarray, reasons: np.ndarray
    ) -> None:
        """Once max_actions is reached nothing more is booked, so what each candidate left
        is refused for depends only on its channel and day: capacity where that is full
        (it is checked first), else max_actions."""
        pairs, inverse, _ = self._pairs(channels, times)
        codes = np.full(len(pairs), REASON_CODE["max_actions"], np.int8)
        for at, (channel, timing) in enumerate(pairs):
            name = self.channel_names[channel]
            limit = self.channels[name].capacity_per_day
            if limit is not None and self.capacity_used[(name, self._timing_day[timing])] >= limit:
                codes[at] = REASON_CODE["capacity"]
        reasons[positions] = codes[inverse]

    @staticmethod
    def _pairs(
        channels: np.ndarray, times: np.ndarray
    ) -> tuple[list[tuple[int, int]], np.ndarray, list[int]]:
        """Each (channel, send time) of the candidates once, which of them each candidate
        has, and how many have each."""
        span = int(times.max()) + 2 if len(times) else 1  # send times from -1 (none)
        keys = channels.astype(np.int64) * span + (times.astype(np.int64) + 1)
        found, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
        pairs = [(key // span, key % span - 1) for key in found.tolist()]
        return pairs, inverse, counts.tolist()

    def _book(self, offer: Offer, who: np.ndarray, chosen: np.ndarray, epochs: np.ndarray) -> None:
        if offer.group is not None and len(who):
            self.slots[offer.group][who] = True
        group = self.groups.get(offer.id)  # as the reference counts this run's messages
        for cap in self.caps:
            counts = np.array([cap.counts(name, group) for name in self.channel_names], dtype=bool)
            counted = counts[chosen] & (epochs > cap.start)
            cap.used[who[counted]] += 1
        if self.min_gap is not None and len(who):
            keys = np.sort(self._keys(who, epochs))
            self._times = np.insert(self._times, np.searchsorted(self._times, keys), keys)


def offer_costs(offer: Offer) -> list[float]:
    """What an action of the offer costs besides its channel: without a variant, then with
    each variant in turn (the index a variant's position + 1)."""
    return [offer.cost, *(v.cost for v in offer.variants)]
