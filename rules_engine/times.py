"""Instants as the contract defines them: ISO-8601 in any common spelling, UTC when no offset.

`--as-of` and every time in the store go through here, so `2026-09-01T12:00:00Z`,
`2026-09-01T12:00:00+00:00` and `2026-09-01 12:00:00` are the same instant everywhere.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time

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


def read_as_of(text: str | None) -> datetime | date:
    """`--as-of` as given: an instant, or a date alone, which is midnight in the calendar time
    zone once the rules say which (`instant_of`)."""
    if text is not None and is_date_alone(text):
        return parse_as_of(text).date()
    return parse_as_of(text)


def instant_of(as_of: datetime | date, zone: str) -> datetime:
    """The instant of an as-of: a date alone is its midnight in the calendar time zone."""
    if isinstance(as_of, datetime):
        return as_of
    from zoneinfo import ZoneInfo

    return datetime.combine(as_of, time(0), ZoneInfo(zone)).astimezone(UTC)


def is_date_alone(text: str | None) -> bool:
    """`2026-11-20` without a time: the calendar's midnight, which only the rules can say."""
    return text is not None and len(text.strip()) == 10 and text.strip()[4] == "-"


def both_zones(moment: datetime, zone: str) -> str:
    """How every message and header shows a time: UTC, then the same moment in the calendar
    time zone, `2026-11-20T02:00:00Z (2026-11-20 10:00 Asia/Shanghai)`; UTC alone when the
    calendar is in UTC."""
    from zoneinfo import ZoneInfo

    if zone == "UTC":
        return utc_text(moment)
    local = moment.astimezone(ZoneInfo(zone))
    return f"{utc_text(moment)} ({local:%Y-%m-%d %H:%M} {zone})"


def shown(text: str | None, zone: str | None) -> str:
    """A time the store holds as text, shown as `both_zones` does (`-` for none); as stored
    when it is not a time, or when the zone is unknown."""
    if not text:
        return "-"
    try:
        moment = parse_instant(text)
        return both_zones(moment, zone) if zone else utc_text(moment)
    except (ValueError, KeyError):  # not a time, or a zone this machine does not know
        return text
