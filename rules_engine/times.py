"""Instants and dates as the contract defines them: one set of ISO-8601 spellings, read alike
by the Python evaluator, by the SQL of every engine (`Dialect.epoch` and `Dialect.date` in
each backend's `dialect.py`; SQLite's hands what it cannot read itself to these functions,
`backends.sqlite.functions`) and by `--as-of`.

An instant is a calendar date, optionally followed by a time and an offset:

- the date `YYYY-MM-DD` or `YYYYMMDD`;
- then `T`, `t` or one space, and the time `HH:MM`, `HH:MM:SS` or `HH:MM:SS.fff` (any number
  of decimals, `.` or `,`), or the same without colons (`HHMM`, `HHMMSS`);
- then `Z`, `z`, `+HH`, `+HHMM` or `+HH:MM` (or `-`); no offset means UTC, and a date alone
  is its UTC midnight.

Times are compared to the second: decimals of a second are rounded to the millisecond, then
dropped (`12:00:00.9996` is `12:00:01`, as SQLite reads it). Anything else (week or
ordinal dates, `24:00`, leap seconds, impossible dates, surrounding spaces, numbers) is not an
instant: plan, run, explain, metrics and `validate --db` refuse a store column that holds one,
naming it (`store_values`), so nothing is decided on it (the Python evaluator reads it as
missing; an engine's own parser may read some such text otherwise).

A date (a `date` column, `date(text)`) is `YYYY-MM-DD` or `YYYYMMDD`.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta, timezone

from .errors import InputError

# The years an as-of may fall in: the rules' durations (up to 100 years) either side of it stay
# dates the calendar has.
FIRST_YEAR, LAST_YEAR = 1900, 2999
# days_ago(n) is missing beyond 1,000 years either way: an as-of in those years minus that
# stays on the calendar (SQL and Python alike).
MAX_DAYS_AGO = 365_000
_INSTANT = re.compile(
    r"(?P<y>[0-9]{4})(?P<dash>-?)(?P<mo>[0-9]{2})(?P=dash)(?P<d>[0-9]{2})"
    r"(?:[Tt ](?P<h>[0-9]{2})(?P<colon>:?)(?P<mi>[0-9]{2})"
    r"(?:(?P=colon)(?P<s>[0-9]{2})(?:[.,](?P<f>[0-9]+))?)?"
    r"(?P<zone>[Zz]|[+-][0-9]{2}(?::?[0-9]{2})?)?)?"
)
_DATE = re.compile(r"(?P<y>[0-9]{4})(?P<dash>-?)(?P<mo>[0-9]{2})(?P=dash)(?P<d>[0-9]{2})")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SECOND = timedelta(seconds=1)


def _offset(text: str | None) -> timezone | None:
    if text is None or text in "Zz":
        return UTC
    hours, minutes = int(text[1:3]), int(text[-2:]) if len(text) > 3 else 0
    if hours > 23 or minutes > 59:
        return None
    delta = timedelta(hours=hours, minutes=minutes)
    return timezone(-delta if text[0] == "-" else delta)


def read_instant(value: object) -> datetime | None:
    """The instant an accepted spelling names (aware, whole seconds); None for anything else."""
    if not isinstance(value, str):
        return None
    match = _INSTANT.fullmatch(value)
    if match is None:
        return None
    zone = _offset(match["zone"])
    if zone is None:
        return None
    try:
        moment = datetime(
            int(match["y"]),
            int(match["mo"]),
            int(match["d"]),
            int(match["h"] or 0),
            int(match["mi"] or 0),
            int(match["s"] or 0),
            tzinfo=zone,
        )
        if match["f"] and _rounds_up(int(match["s"]), match["f"]):
            moment += _SECOND
        moment.astimezone(UTC)  # its UTC instant must exist too (years 1 to 9999)
    except (ValueError, OverflowError):
        return None
    return moment


def _rounds_up(seconds: int, decimals: str) -> bool:
    """Whether the decimals of a second make the next second: SQLite's date functions keep
    milliseconds, rounded half up, and the engine then drops them; this is their arithmetic,
    in the same double-precision steps, so every engine gives the same second."""
    fraction, scale = 0.0, 1.0
    for digit in decimals:
        fraction = fraction * 10.0 + (ord(digit) - 48)
        scale *= 10.0
    return int((seconds + fraction / scale) * 1000 + 0.5) >= (seconds + 1) * 1000


def epoch_seconds(value: object) -> int | None:
    """An accepted instant as whole seconds since 1970 (the SQL's form); None otherwise."""
    moment = read_instant(value)
    return None if moment is None else (moment - _EPOCH) // _SECOND


def read_date(value: object) -> date | None:
    """An accepted date spelling as a date; None for anything else (times included)."""
    if not isinstance(value, str):
        return None
    match = _DATE.fullmatch(value)
    if match is None:
        return None
    try:
        return date(int(match["y"]), int(match["mo"]), int(match["d"]))
    except ValueError:
        return None


def parse_instant(text: str) -> datetime:
    """An accepted instant; `ValueError` for anything else (surrounding spaces are trimmed)."""
    moment = read_instant(text.strip())
    if moment is None:
        raise ValueError(f"not an ISO-8601 instant: {text!r}")
    return moment


def parse_as_of(text: str | None) -> datetime:
    """The run's as-of instant (now when not given): the only clock the rules ever see."""
    if text is None:
        return datetime.now(UTC).replace(microsecond=0)
    try:
        moment = parse_instant(text)
    except ValueError:
        if _off_the_calendar(text):
            raise InputError(
                f"--as-of {text!r} is outside the years the engine plans for "
                f"({FIRST_YEAR}-{LAST_YEAR}); check the year"
            ) from None
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


def _off_the_calendar(text: str) -> bool:
    """An ISO spelling whose instant falls off the calendar (year 1 with an offset east)."""
    try:
        datetime.fromisoformat(text.strip())
    except ValueError:
        return False
    return True


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
