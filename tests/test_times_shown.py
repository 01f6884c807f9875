"""Times people read are in UTC and, next to it, in the calendar time zone, through one helper
(`times.both_zones`), in every command; and a date alone as `--as-of` is midnight in the
calendar time zone everywhere, in the checks made as of it too (`approved_before`)."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from rules_engine import demo
from rules_engine.cli import main
from rules_engine.times import both_zones, instant_of, read_as_of, shown

ZONE = "Asia/Shanghai"
RULES = (
    "segments:\n  opted:\n    where: email_opt_in\n"
    "channels:\n  email:\n    address: email\n    consent: email_opt_in\n"
    "offers:\n  hello:\n    audience: opted\n    channels: [email]\n    content: t\n"
    "    send_at: '10:00'\n    holdout: 20%\n"
    f"calendar:\n  timezone: {ZONE}\n"
)
# 2026-11-20 00:00 in Shanghai is 2026-11-19T16:00:00Z
MIDNIGHT = "2026-11-19T16:00:00Z (2026-11-20 00:00 Asia/Shanghai)"


def campaign(*args: str | Path) -> Any:
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("times") / "shop.db"
    demo.build_demo_store(path, customers=40, seed=3, progress=False)
    return path


@pytest.fixture
def store(shop: Path, tmp_path: Path) -> Path:
    path = tmp_path / "shop.db"
    path.write_bytes(shop.read_bytes())
    return path


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    folder = tmp_path / "rules"
    folder.mkdir()
    (folder / "rules.yaml").write_text(RULES, encoding="utf-8")
    return folder


@settings(max_examples=50, deadline=None)
@given(
    st.datetimes(min_value=datetime(1950, 1, 1), max_value=datetime(2900, 1, 1)),
    st.sampled_from(["Asia/Shanghai", "Europe/Berlin", "America/New_York", "UTC"]),
)
def test_one_spelling_for_every_time_utc_first(moment: datetime, zone: str) -> None:
    from zoneinfo import ZoneInfo

    aware = moment.replace(tzinfo=UTC)
    text = both_zones(aware, zone)
    assert text.startswith(aware.strftime("%Y-%m-%dT%H:%M:%SZ"))
    if zone != "UTC":
        assert text.endswith(f"({aware.astimezone(ZoneInfo(zone)):%Y-%m-%d %H:%M} {zone})")
    assert shown(aware.strftime("%Y-%m-%dT%H:%M:%SZ"), zone) == text


def test_a_date_alone_waits_for_the_calendar_to_say_its_midnight() -> None:
    assert read_as_of("2026-11-20") == date(2026, 11, 20)
    assert instant_of(date(2026, 11, 20), ZONE) == datetime(2026, 11, 19, 16, tzinfo=UTC)
    exact = read_as_of("2026-11-20T10:00:00+08:00")
    assert instant_of(exact, ZONE) == exact


def approval_rules(rules: Path) -> Path:
    """A draft due at 02:00 on 2026-11-20 in Shanghai: within 3 days of that day's midnight
    there, but before UTC midnight."""
    (rules / "calendar.yaml").write_text(
        "calendar:\n  schedule:\n"
        "    - {id: teaser, channel: email, at: '2026-11-20T02:00', status: draft}\n"
        "  constraints:\n    - {approved_before: 3d}\n",
        encoding="utf-8",
    )
    return rules


@pytest.mark.parametrize("command", ["validate", "plan", "explain", "metrics"])
def test_approved_before_counts_from_the_calendars_midnight_for_a_date_alone(
    rules: Path, store: Path, tmp_path: Path, command: str
) -> None:
    approval_rules(rules)
    extra = {
        "validate": ["--db", store],
        "plan": ["--db", store, "--quiet"],
        "explain": ["--db", store, "1"],
        "metrics": ["--db", store, "--out", tmp_path / "m.csv", "--quiet"],
    }[command]
    alone = campaign(command, rules, *extra, "--as-of", "2026-11-20")
    spelled = campaign(command, rules, *extra, "--as-of", "2026-11-20T00:00:00+08:00")
    assert alone.exit_code == spelled.exit_code == 1, alone.output
    assert "calendar-unapproved" in alone.output
    due = "`teaser` is due 2026-11-19T18:00:00Z (2026-11-20 02:00 Asia/Shanghai)"
    assert due in alone.output
    assert alone.output == spelled.output
    utc = campaign(command, rules, *extra, "--as-of", "2026-11-20T00:00:00Z")
    assert "calendar-unapproved" not in utc.output  # at UTC midnight it was already due


def test_a_run_as_of_a_date_alone_is_as_of_the_calendars_midnight(rules: Path, store: Path) -> None:
    result = campaign("run", rules, "--db", store, "--run-key", "k", "--as-of", "2026-11-20")
    assert result.exit_code == 0, result.output
    assert f"Plan as of {MIDNIGHT}" in result.output
    with sqlite3.connect(store) as conn:
        as_of, zone = conn.execute("SELECT as_of, timezone FROM runs").fetchone()
    conn.close()
    assert (as_of, zone) == ("2026-11-19T16:00:00Z", ZONE)
    again = campaign("run", rules, "--db", store, "--run-key", "k", "--as-of", "2026-11-21")
    assert again.exit_code == 1
    assert (
        f"as-of {MIDNIGHT} then, 2026-11-20T16:00:00Z (2026-11-21 00:00 Asia/Shanghai) now"
        in again.output
    )


def test_run_plan_takes_a_date_alone_as_the_calendars_midnight(
    rules: Path, store: Path, tmp_path: Path
) -> None:
    plan_file = tmp_path / "plan.json"
    made = campaign("plan", rules, "--db", store, "--as-of", "2026-11-20", "--out", plan_file)
    assert made.exit_code == 0, made.output
    applied = campaign(
        "run", rules, "--db", store, "--plan", plan_file, "--run-key", "k", "--as-of", "2026-11-20"
    )
    assert applied.exit_code == 0, applied.output
    assert f"applied plan file {plan_file} ({MIDNIGHT})" in applied.output
    other = campaign(
        "run", rules, "--db", store, "--plan", plan_file, "--run-key", "k2", "--as-of", "2026-11-21"
    )
    assert other.exit_code == 1
    assert (
        f"the plan is as of {MIDNIGHT}, not 2026-11-20T16:00:00Z (2026-11-21 00:00 Asia/Shanghai)"
        in other.output
    )


def test_runs_and_results_show_the_runs_times_in_its_calendar_zone(
    rules: Path, store: Path
) -> None:
    assert (
        campaign("run", rules, "--db", store, "--run-key", "k", "--as-of", "2026-11-20").exit_code
        == 0
    )
    listed = campaign("runs", "--db", store)
    assert MIDNIGHT in listed.output
    one = campaign("runs", "--db", store, "--show", "k")
    assert f"as of         {MIDNIGHT}" in one.output
    started = next(line for line in one.output.splitlines() if "started" in line)
    assert started.endswith(" Asia/Shanghai)")
    body = json.loads(campaign("runs", "--db", store, "--format", "json").output)
    assert body["runs"][0]["timezone"] == ZONE
    assert body["runs"][0]["as_of"] == "2026-11-19T16:00:00Z"  # JSON keeps UTC
    measured = campaign("results", "--db", store, "--run-key", "k", "--days", "3")
    assert measured.exit_code == 0, measured.output
    assert measured.output.startswith(
        f"Results of run k (as of {MIDNIGHT}): completed orders within 3 days, until "
        "2026-11-22T16:00:00Z (2026-11-23 00:00 Asia/Shanghai)"
    )


def test_runs_committed_before_runs_recorded_a_zone_are_shown_in_utc(
    rules: Path, store: Path
) -> None:
    assert (
        campaign("run", rules, "--db", store, "--run-key", "k", "--as-of", "2026-11-20").exit_code
        == 0
    )
    with sqlite3.connect(store) as conn:
        conn.execute('ALTER TABLE runs DROP COLUMN "timezone"')
    conn.close()
    listed = campaign("runs", "--db", store)
    assert listed.exit_code == 0, listed.output
    assert "2026-11-19T16:00:00Z" in listed.output and ZONE not in listed.output
    measured = campaign("results", "--db", store, "--run-key", "k")
    assert measured.exit_code == 0, measured.output
    assert "(as of 2026-11-19T16:00:00Z)" in measured.output
    # reading commands take the store as it is; only the next run needs the column it writes
    planned = campaign("plan", rules, "--db", store, "--as-of", "2026-11-21", "--quiet")
    assert planned.exit_code == 0, planned.output
    explained = campaign("explain", "--db", store, "--as-of", "2026-11-21", rules, "1")
    assert explained.exit_code == 0, explained.output
    assert "init-store" not in explained.output
    before = store.read_bytes()
    refused = campaign("run", rules, "--db", store, "--run-key", "k2", "--as-of", "2026-11-21")
    assert refused.exit_code == 2
    assert "runs (timezone)" in refused.output and "campaign init-store" in refused.output
    assert store.read_bytes() == before
    assert campaign("init-store", store).exit_code == 0
    ran = campaign("run", rules, "--db", store, "--run-key", "k2", "--as-of", "2026-11-21")
    assert ran.exit_code == 0, ran.output


def test_diff_as_of_a_date_alone_is_the_head_calendars_midnight(
    rules: Path, store: Path, tmp_path: Path
) -> None:
    base = tmp_path / "base"
    base.mkdir()
    (base / "rules.yaml").write_text(RULES.replace("holdout: 20%", "holdout: 30%"))
    args = ["diff", "--db", store, rules, "--base-rules", base, "--quiet"]
    alone = campaign(*args, "--as-of", "2026-11-20")
    spelled = campaign(*args, "--as-of", "2026-11-20T00:00:00+08:00")
    assert alone.exit_code == 0, alone.output
    assert alone.output == spelled.output
    assert alone.output.startswith(f"campaign diff as of {MIDNIGHT}, 40 customers")
    markdown = campaign(*args, "--as-of", "2026-11-20", "--format", "markdown")
    assert f"as of {MIDNIGHT}" in markdown.output
    document = json.loads(campaign(*args, "--as-of", "2026-11-20", "--format", "json").output)
    assert document["as_of"].startswith("2026-11-19T16:00:00")  # JSON keeps UTC


def test_explain_of_one_offer_and_its_send_time_show_both_zones(rules: Path, store: Path) -> None:
    with sqlite3.connect(store) as conn:
        (customer,) = conn.execute(
            "SELECT id FROM customers WHERE email_opt_in AND email IS NOT NULL ORDER BY id"
        ).fetchone()
    conn.close()
    args = ["explain", rules, "--db", store, customer, "--as-of", "2026-11-20T08:00:00+08:00"]
    header = f"Customer {customer} as of 2026-11-20T00:00:00Z (2026-11-20 08:00 Asia/Shanghai)"
    assert campaign(*args, "--offer", "hello").output.startswith(header + ", offer hello")
    full = campaign(*args).output
    decided = next(line for line in full.splitlines() if line.strip().startswith("hello"))
    if "ACTION" in decided:  # sent at 10:00 Shanghai time, the offer's send_at
        assert "at 2026-11-20T02:00:00Z (2026-11-20 10:00 Asia/Shanghai)" in decided
    else:
        assert "held out" in decided


def test_a_rule_test_failure_shows_its_as_of_and_send_time_in_both_zones(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(
        RULES.replace("    holdout: 20%\n", "")
        + "tests:\n  sends:\n    as_of: '2026-11-20T08:00:00+08:00'\n"
        "    customers: [{id: 1, email: a@example.com, email_opt_in: true}]\n"
        "    expect:\n      - {customer: 1, offer: hello, send_at: '2026-11-20T09:00:00+08:00'}\n"
        "    then:\n      - as_of: '2026-11-19T08:00:00+08:00'\n"
        "        expect: [{customer: 1, offer: null}]\n",
        encoding="utf-8",
    )
    result = campaign("test", path)
    assert (
        "step 2 of test `sends` runs at 2026-11-19T00:00:00Z (2026-11-19 08:00 Asia/Shanghai)"
        in result.output
    )
    path.write_text(path.read_text().split("    then:")[0], encoding="utf-8")
    result = campaign("test", path)
    assert result.exit_code == 1, result.output
    assert "(as of 2026-11-20T00:00:00Z (2026-11-20 08:00 Asia/Shanghai))" in result.output
    assert (
        "expected 2026-11-20T01:00:00Z (2026-11-20 09:00 Asia/Shanghai), "
        "got 2026-11-20T02:00:00Z (2026-11-20 10:00 Asia/Shanghai)"
    ) in result.output
