"""When a message goes out: the offer's preferred hour, moved out of quiet hours and blackouts.

Quiet hours are the customer's local time (a 21:00 start means 21:00 where the customer
sleeps); blackout dates are the calendar's timezone (a Double 11 blackout is one date for the
whole shop). A send that lands past the offer's window is no send at all.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..rules.model import Blackout, Offer, QuietHours, Variant


@dataclass(frozen=True, slots=True)
class SendTime:
    """A send moment (aware, UTC) and what moved it: quiet hours (at the moment first
    planned), and the first blackout it fell in, from when (`planned`); `at` None: blacked
    out until the window ends."""

    at: datetime | None
    moved_by_quiet_hours: bool = False
    local_hour: int | None = None  # the hour of `at` in the customer's zone (for reports)
    blackout: Blackout | None = None
    planned: datetime | None = None

    def blackout_detail(self) -> str | None:
        """What the audit's `detail` says of a blackout move."""
        b = self.blackout
        if b is None or self.at is None or self.planned is None:
            return None
        why = f" ({b.reason})" if b.reason else ""
        return (
            f"moved by blackout {b.start}..{b.until}{why} from {_utc(self.planned)} "
            f"to {_utc(self.at)}"
        )


def _utc(moment: datetime) -> str:
    return moment.astimezone(ZoneInfo("UTC")).strftime("%Y-%m-%dT%H:%M:%SZ")


@lru_cache(maxsize=512)
def zone(name: str | None, fallback: str) -> ZoneInfo:
    """The customer's zone, or the calendar's when the store has none or an unknown name."""
    if name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return ZoneInfo(fallback)


def in_quiet_hours(local: time, quiet: QuietHours) -> bool:
    """Start inclusive, end exclusive; a start after the end wraps past midnight."""
    if quiet.start <= quiet.end:
        return quiet.start <= local < quiet.end
    return local >= quiet.start or local < quiet.end


def _leave_quiet_hours(moment: datetime, quiet: QuietHours, tz: ZoneInfo) -> datetime:
    local = moment.astimezone(tz)
    if not in_quiet_hours(local.time(), quiet):
        return moment
    end_day = local.date()
    if quiet.start > quiet.end and local.time() >= quiet.start:
        end_day += timedelta(days=1)
    return datetime.combine(end_day, quiet.end, tz)


def _blackout_on(day: date, channel: str, blackouts: Sequence[Blackout]) -> Blackout | None:
    for blackout in blackouts:
        applies = blackout.channels is None or channel in blackout.channels
        if applies and blackout.start <= day <= blackout.until:
            return blackout
    return None


def send_time(
    as_of: datetime,
    *,
    channel: str,
    customer_zone: ZoneInfo,
    calendar_zone: ZoneInfo,
    preferred: time | None = None,
    quiet: QuietHours | None = None,
    blackouts: Sequence[Blackout] = (),
    until: date | None = None,
) -> SendTime:
    """The contract's send-time rule (SPEC "How decisions are made", send time)."""
    moment = as_of
    if preferred is not None:
        local_day = as_of.astimezone(customer_zone).date()
        wanted = datetime.combine(local_day, preferred, customer_zone)
        if wanted >= as_of:
            moment = wanted
    moved = False
    first: Blackout | None = None
    planned: datetime | None = None
    for _ in range(64):  # each pass moves forward; blackouts and quiet hours settle quickly
        if quiet is not None:
            shifted = _leave_quiet_hours(moment, quiet, customer_zone)
            # quiet hours moved the send only if they moved it before any blackout did: the
            # night after a blackout is where the blackout put it, not a quiet-hours move
            moved |= first is None and shifted != moment
            moment = shifted
        blocked = _blackout_on(moment.astimezone(calendar_zone).date(), channel, blackouts)
        if blocked is None:
            break
        if first is None:
            first, planned = blocked, moment
        moment = datetime.combine(blocked.until + timedelta(days=1), time(0), calendar_zone)
    if until is not None and moment.astimezone(calendar_zone).date() > until:
        return SendTime(None, moved, blackout=first, planned=planned)
    return SendTime(
        moment.astimezone(ZoneInfo("UTC")),
        moved,
        moment.astimezone(customer_zone).hour,
        blackout=first,
        planned=planned,
    )


def holdout_bucket(offer_id: str, customer_id: int) -> int:
    """The published control-group formula's bucket, 0..9999 (SPEC "Allocation", holdout)."""
    digest = hashlib.sha256(f"{offer_id}:{customer_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % 10000


def in_holdout(offer_id: str, customer_id: int, holdout: float) -> bool:
    return holdout_bucket(offer_id, customer_id) < holdout * 10000


def variant_bucket(offer_id: str, customer_id: int) -> int:
    """The published variant formula's bucket, 0..9999: independent of the holdout's."""
    digest = hashlib.sha256(f"{offer_id}:variant:{customer_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % 10000


def variant_of(offer: Offer, customer_id: int) -> Variant | None:
    """The variant a customer with an action from `offer` gets (None: the offer has none)."""
    if not offer.variants:
        return None
    bucket = variant_bucket(offer.id, customer_id)
    return next(v for v in offer.variants if bucket < v.bound)
