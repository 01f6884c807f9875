"""Send times: preferred hour, quiet hours in the customer's zone, blackouts, the window."""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from rules_engine.decide.sendtime import holdout_bucket, in_holdout, in_quiet_hours, send_time, zone
from rules_engine.errors import Span
from rules_engine.rules.model import Blackout, QuietHours

SHANGHAI = ZoneInfo("Asia/Shanghai")
LONDON = ZoneInfo("Europe/London")
QUIET = QuietHours(time(21), time(9))
D11 = Blackout(Span("calendar.yaml", 5, 7), date(2026, 11, 10), date(2026, 11, 12), ("sms",))


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def test_preferred_hour_today_in_customer_zone() -> None:
    result = send_time(
        at("2026-11-15T08:00:00+08:00"),
        channel="email",
        customer_zone=SHANGHAI,
        calendar_zone=SHANGHAI,
        preferred=time(10),
    )
    assert result.at == at("2026-11-15T02:00:00+00:00")
    assert not result.moved_by_quiet_hours


def test_preferred_hour_already_past_sends_at_as_of() -> None:
    as_of = at("2026-11-15T11:30:00+08:00")
    result = send_time(
        as_of,
        channel="email",
        customer_zone=SHANGHAI,
        calendar_zone=SHANGHAI,
        preferred=time(10),
    )
    assert result.at == as_of


def test_quiet_hours_move_to_their_end_next_morning() -> None:
    result = send_time(
        at("2026-11-15T22:15:00+08:00"),
        channel="email",
        customer_zone=SHANGHAI,
        calendar_zone=SHANGHAI,
        quiet=QUIET,
    )
    assert result.at == at("2026-11-16T09:00:00+08:00")
    assert result.moved_by_quiet_hours


def test_quiet_hours_are_the_customers_local_time() -> None:
    # 10:00 in Shanghai is 02:00 in London: inside London's quiet hours until 09:00 London.
    result = send_time(
        at("2026-11-15T10:00:00+08:00"),
        channel="email",
        customer_zone=LONDON,
        calendar_zone=SHANGHAI,
        quiet=QUIET,
    )
    assert result.at == datetime(2026, 11, 15, 9, 0, tzinfo=LONDON)


def test_quiet_hours_boundaries_start_inclusive_end_exclusive() -> None:
    assert in_quiet_hours(time(21), QUIET)
    assert not in_quiet_hours(time(9), QUIET)
    assert in_quiet_hours(time(8, 59), QUIET)
    day = QuietHours(time(12), time(14))
    assert in_quiet_hours(time(12), day) and not in_quiet_hours(time(14), day)


def test_blackout_moves_past_its_last_day_for_its_channels_only() -> None:
    as_of = at("2026-11-11T10:00:00+08:00")
    kwargs = {
        "customer_zone": SHANGHAI,
        "calendar_zone": SHANGHAI,
        "quiet": QUIET,
        "blackouts": [D11],
    }
    sms = send_time(as_of, channel="sms", **kwargs)  # type: ignore[arg-type]
    assert sms.at == at("2026-11-13T09:00:00+08:00")
    email = send_time(as_of, channel="email", **kwargs)  # type: ignore[arg-type]
    assert email.at == as_of


def test_send_past_the_window_is_suppressed() -> None:
    result = send_time(
        at("2026-11-11T10:00:00+08:00"),
        channel="sms",
        customer_zone=SHANGHAI,
        calendar_zone=SHANGHAI,
        blackouts=[D11],
        until=date(2026, 11, 12),
    )
    assert result.at is None


def test_unknown_or_missing_customer_zone_falls_back_to_the_calendar() -> None:
    assert zone(None, "Asia/Shanghai") == SHANGHAI
    assert zone("Mars/Olympus", "Asia/Shanghai") == SHANGHAI
    assert zone("Europe/London", "Asia/Shanghai") == LONDON


@given(
    st.datetimes(
        min_value=datetime(2025, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)
    ),
    st.sampled_from(["Asia/Shanghai", "Europe/London", "America/Los_Angeles", "Asia/Tokyo"]),
    st.sampled_from([None, time(8), time(10), time(20), time(23, 30)]),
)
def test_send_is_never_before_as_of_nor_in_quiet_hours(
    as_of: datetime, customer: str, preferred: time | None
) -> None:
    tz = ZoneInfo(customer)
    result = send_time(
        as_of,
        channel="sms",
        customer_zone=tz,
        calendar_zone=SHANGHAI,
        preferred=preferred,
        quiet=QUIET,
        blackouts=[D11],
    )
    assert result.at is not None and result.at >= as_of
    assert not in_quiet_hours(result.at.astimezone(tz).time(), QUIET)
    local_day = result.at.astimezone(SHANGHAI).date()
    assert not (D11.start <= local_day <= D11.until)


def test_holdout_follows_the_published_formula() -> None:
    digest = hashlib.sha256(b"vip_winback:42").digest()
    assert holdout_bucket("vip_winback", 42) == int.from_bytes(digest[:8], "big") % 10000
    held = sum(in_holdout("vip_winback", i, 0.10) for i in range(20000))
    assert 1800 < held < 2200
    assert not any(in_holdout("vip_winback", i, 0.0) for i in range(1000))


@given(
    st.datetimes(datetime(2026, 11, 1), datetime(2026, 11, 20), timezones=st.just(SHANGHAI)),
    st.sampled_from([None, QUIET, QuietHours(time(22), time(8)), QuietHours(time(1), time(6))]),
    st.lists(st.integers(0, 25), max_size=3),
    st.integers(0, 4),
)
def test_quiet_hours_and_blackouts_are_told_apart(
    as_of: datetime, quiet: QuietHours | None, starts: list[int], length: int
) -> None:
    """Quiet hours count as the mover only where the send as first planned lay in them; a
    blackout is named with where the send was before it; the night a blackout moved the send
    into is not a quiet-hours move."""
    as_of = as_of.replace(microsecond=0)
    blackouts = [
        Blackout(Span("c.yaml"), date(2026, 11, 1 + s), date(2026, 11, 1 + s + length), None)
        for s in starts
        if s + length < 30
    ]
    result = send_time(
        as_of,
        channel="sms",
        customer_zone=SHANGHAI,
        calendar_zone=SHANGHAI,
        quiet=quiet,
        blackouts=blackouts,
    )
    in_quiet_first = quiet is not None and in_quiet_hours(as_of.astimezone(SHANGHAI).time(), quiet)
    assert result.moved_by_quiet_hours == in_quiet_first

    def blacked_on(moment: datetime) -> bool:
        day = moment.astimezone(SHANGHAI).date()
        return any(b.start <= day <= b.until for b in blackouts)

    if result.blackout is None:  # never blocked: the send's day is in no blackout
        assert result.at is not None and not blacked_on(result.at)
    else:  # where it was before the blackout is in that blackout
        assert result.planned is not None and blacked_on(result.planned)
        day = result.planned.astimezone(SHANGHAI).date()
        assert result.blackout.start <= day <= result.blackout.until
    if result.blackout is not None:
        assert result.planned is not None and result.at is not None and result.planned < result.at
        assert result.blackout_detail() == (
            f"moved by blackout {result.blackout.start}..{result.blackout.until} "
            f"from {result.planned.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ} "
            f"to {result.at.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}"
        )
    else:
        assert result.blackout_detail() is None
