"""The content calendar's constraints, checked against its schedule.

A marketer plans broadcast items (a douyin video, a wechat article) in `calendar.schedule` and
states house rules in `calendar.constraints`: publishing cadence per channel, every channel of a
campaign going out within a time of each other, approval before an item is due, one incentive
for a campaign everywhere. `campaign validate` reports every item that breaks one of them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from ..errors import PROBLEM_CODES, Problem, Span, did_you_mean
from ..times import both_zones
from .model import parse_duration

CODES = PROBLEM_CODES["calendar"]

Item = dict[str, Any]
LIVE = {"draft", "approved", "published"}  # cancelled items do not count


def check(
    schedule: list[Item],
    constraints: list[Item],
    *,
    known_channels: set[str],
    offers: Mapping[str, Mapping[str, Any]],
    timezone: str,
    as_of: datetime | None,
) -> list[Problem]:
    zone = ZoneInfo(timezone)
    problems = list(_references(schedule, known_channels, offers))
    live = [item for item in schedule if item.get("status", "draft") in LIVE]
    campaigns = {c for item in schedule if isinstance(c := item.get("campaign"), str)}
    for constraint in constraints:
        problems += _constraint_references(constraint, known_channels, campaigns)
        if "channel" in constraint:
            problems += _cadence(constraint, live, zone)
        if "sync_within" in constraint:
            problems += _sync(constraint, live, zone)
        if "approved_before" in constraint and as_of is not None:
            problems += _approval(constraint, live, zone, as_of)
        if constraint.get("same_incentive"):
            problems += _same_incentive(constraint, live, offers)
    return problems


def _local(item: Item, zone: ZoneInfo) -> datetime:
    return datetime.fromisoformat(item["at"]).replace(tzinfo=zone)


def _problem(
    item: Item, key: str | None, code: str, message: str, hint: str | None = None
) -> Problem:
    span: Span = item["_span"]
    if key is not None and key in item:
        span = item["_doc"].span((*_path(item), key))
    return Problem(span, code, message, hint)


def _path(item: Item) -> tuple[str | int, ...]:
    section = "schedule" if "at" in item else "constraints"
    return ("calendar", section, item["_index"])


def _unknown(item: Item, key: str, kind: str, name: str, known: Iterable[str]) -> Problem:
    return _problem(
        item,
        key,
        "unknown-reference",
        f"unknown {kind} `{name}`",
        did_you_mean(name, sorted(known)),
    )


def _references(
    schedule: list[Item], channels: set[str], offers: Mapping[str, Any]
) -> Iterable[Problem]:
    seen: dict[str, Item] = {}
    for item in schedule:
        if item["id"] in seen:
            yield _problem(
                item,
                "id",
                "duplicate-id",
                f"schedule item `{item['id']}` is already defined at {seen[item['id']]['_span']}",
            )
        seen.setdefault(item["id"], item)
        if item["channel"] not in channels:
            yield _unknown(item, "channel", "channel", item["channel"], channels)
        for j, offer in enumerate(item.get("promotes") or []):
            if offer not in offers:
                span = item["_doc"].span((*_path(item), "promotes", j))
                yield Problem(
                    span,
                    "unknown-reference",
                    f"unknown offer `{offer}`",
                    did_you_mean(offer, sorted(offers)),
                )


def _constraint_references(
    constraint: Item, channels: set[str], campaigns: set[str]
) -> Iterable[Problem]:
    channel = constraint.get("channel")
    if channel is not None and channel not in channels:
        yield _unknown(constraint, "channel", "channel", channel, channels)
    campaign = constraint.get("campaign")
    if campaign is not None and campaign not in campaigns:
        yield _unknown(
            constraint, "campaign", "campaign (no schedule item has it)", campaign, campaigns
        )


def _week(day: date) -> date:
    return day - timedelta(days=day.weekday())


def _cadence(constraint: Item, live: list[Item], zone: ZoneInfo) -> Iterable[Problem]:
    channel = constraint["channel"]
    items = sorted((i for i in live if i["channel"] == channel), key=lambda i: i["at"])
    per_day: dict[date, list[Item]] = defaultdict(list)
    per_week: dict[date, list[Item]] = defaultdict(list)
    for item in items:
        day = _local(item, zone).date()
        per_day[day].append(item)
        per_week[_week(day)].append(item)
    limits = (
        ("max_per_day", per_day, "on {}", "a day"),
        ("max_per_week", per_week, "in the week of {}", "a week"),
    )
    for key, groups, when, unit in limits:
        if key not in constraint:
            continue
        for start, group in groups.items():
            for extra in group[constraint[key] :]:
                yield _problem(
                    extra,
                    "at",
                    "calendar-cadence",
                    f"{channel} has {len(group)} items {when.format(start)}; at most "
                    f"{constraint[key]} {unit}",
                )
    if "min_per_week" in constraint and live:
        yield from _min_per_week(constraint, channel, per_week, live, zone)


def _min_per_week(
    constraint: Item,
    channel: str,
    per_week: Mapping[date, list[Item]],
    live: list[Item],
    zone: ZoneInfo,
) -> Iterable[Problem]:
    """Every week the schedule covers (first to last item of any channel) needs enough items."""
    days = [_local(item, zone).date() for item in live]
    week, last = _week(min(days)), _week(max(days))
    while week <= last:
        count = len(per_week.get(week, []))
        if count < constraint["min_per_week"]:
            yield _problem(
                constraint,
                "min_per_week",
                "calendar-cadence",
                f"{channel} has {count} item(s) in the week of {week}; at least "
                f"{constraint['min_per_week']} a week",
            )
        week += timedelta(days=7)


def _sync(constraint: Item, live: list[Item], zone: ZoneInfo) -> Iterable[Problem]:
    campaign = constraint["campaign"]
    window = parse_duration(constraint["sync_within"])
    first: dict[str, Item] = {}
    for item in sorted((i for i in live if i.get("campaign") == campaign), key=lambda i: i["at"]):
        first.setdefault(item["channel"], item)
    if len(first) < 2:
        return
    earliest = min(first.values(), key=lambda i: i["at"])
    for item in first.values():
        gap = _local(item, zone) - _local(earliest, zone)
        if gap > window:
            yield _problem(
                item,
                "at",
                "calendar-sync",
                f"campaign {campaign} starts on {item['channel']} {gap} after "
                f"{earliest['channel']}; all channels must go out within "
                f"{constraint['sync_within']}",
                f"move `{item['id']}` closer to `{earliest['id']}`",
            )


def _approval(
    constraint: Item, live: list[Item], zone: ZoneInfo, as_of: datetime
) -> Iterable[Problem]:
    horizon = parse_duration(constraint["approved_before"])
    for item in live:
        due = _local(item, zone)
        if as_of <= due <= as_of + horizon and item.get("status", "draft") == "draft":
            yield _problem(
                item,
                "status",
                "calendar-unapproved",
                f"`{item['id']}` is due {both_zones(due, str(zone))} and is not approved; "
                f"items due within {constraint['approved_before']} must be approved",
                "get it approved and set `status: approved`",
            )


def _incentives(item: Item, offers: Mapping[str, Mapping[str, Any]]) -> list[tuple[str, Any]]:
    found = [(f"item `{item['id']}`", item["incentive"])] if item.get("incentive") else []
    for offer in item.get("promotes") or []:
        incentive = offers.get(offer, {}).get("incentive")
        if incentive:
            found.append((f"offer `{offer}`", incentive))
    return found


def _same_incentive(
    constraint: Item, live: list[Item], offers: Mapping[str, Mapping[str, Any]]
) -> Iterable[Problem]:
    campaign = constraint["campaign"]
    reference: tuple[str, Any] | None = None
    for item in sorted((i for i in live if i.get("campaign") == campaign), key=lambda i: i["at"]):
        for source, incentive in _incentives(item, offers):
            if reference is None:
                reference = (source, incentive)
            elif incentive != reference[1]:
                yield _problem(
                    item,
                    "promotes" if "offer" in source else "incentive",
                    "calendar-incentive",
                    f"campaign {campaign}: {source} offers {_words(incentive)} but "
                    f"{reference[0]} offers {_words(reference[1])}",
                    "one promotion, one price on every channel",
                )


def _words(incentive: Mapping[str, Any]) -> str:
    return ", ".join(f"{k} {v}" for k, v in incentive.items())
