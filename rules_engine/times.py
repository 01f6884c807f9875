"""Instants as the contract defines them: ISO-8601 in any common spelling, UTC when no offset.

`--as-of` and every time in the store go through here, so `2026-09-01T12:00:00Z`,
`2026-09-01T12:00:00+00:00` and `2026-09-01 12:00:00` are the same instant everywhere.
"""

from __future__ import annotations

from datetime import UTC, datetime

from .errors import InputError

# The years an as-of may fall in: the rules' durations (up to 100 years) either side of it stay
# dates the calendar has.
FIRST_YEAR, LAST_YEAR = 1900, 2999
# days_ago(n) is missing beyond 1,000 years either way: an as-of in those years minus that
# stays on the calendar (SQL and Python alike).
MAX_DAYS_AGO = 365_000


def parse_instant(text: str) -> datetime:
    """An aware datetime; naive text is UTC; a bare date is its UTC midnight."""
    value = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def parse_as_of(text: str | None) -> datetime:
    """The run's as-of instant (now when not given): the only clock the rules ever see."""
    if text is None:
        return datetime.now(UTC).replace(microsecond=0)
    try:
        moment = parse_instant(text)
    except ValueError:
        raise InputError(
            f"--as-of {text!r} is not an ISO-8601 time; write e.g. 2026-11-15T10:00:00+08:00"
        ) from None
    try:
        in_range = FIRST_YEAR <= moment.astimezone(UTC).year <= LAST_YEAR
    except OverflowError:  # an offset that moves the year-1 or year-9999 text off the calendar
        in_range = False
    if not in_range:
        raise InputError(
            f"--as-of {text!r} is outside the years the engine plans for "
            f"({FIRST_YEAR}-{LAST_YEAR}); check the year"
        )
    return moment


def utc_text(value: datetime) -> str:
    """The store's spelling of an instant: UTC, seconds, `Z`."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def is_date_alone(text: str | None) -> bool:
    """`2026-11-20` without a time: the calendar's midnight, which only the rules can say."""
    return text is not None and len(text.strip()) == 10 and text.strip()[4] == "-"


def at_calendar_midnight(text: str, zone: str) -> datetime:
    """A date alone as midnight in the calendar time zone (`--as-of 2026-11-20`)."""
    from zoneinfo import ZoneInfo

    day = datetime.fromisoformat(text.strip())
    return day.replace(tzinfo=ZoneInfo(zone)).astimezone(UTC)


def both_zones(moment: datetime, zone: str) -> str:
    """UTC, then the same moment in the calendar time zone: `2026-11-20T02:00:00Z (10:00
    Asia/Shanghai, 2026-11-20)`."""
    from zoneinfo import ZoneInfo

    if zone == "UTC":
        return utc_text(moment)
    local = moment.astimezone(ZoneInfo(zone))
    return f"{utc_text(moment)} ({local:%Y-%m-%d %H:%M} {zone})"
