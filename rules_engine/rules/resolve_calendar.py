"""The calendar: timezone, frequency caps, blackouts, quiet hours and the content calendar's
schedule and constraints."""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from typing import Any

from ..errors import did_you_mean
from ..times import instant_of
from . import calendar_checks
from .load import Document
from .model import Blackout, Calendar, Channel, FrequencyCap, Offer, parse_duration
from .resolving import Resolving, _date, _mapping, _zones


class CalendarSection(Resolving):
    def _calendar_parts(self) -> Iterator[tuple[Document, dict[str, Any]]]:
        for doc in self.documents:
            part = _mapping(doc.data, "calendar")
            if part:
                yield doc, part

    def _calendar(self, channels: Mapping[str, Channel], offers: Mapping[str, Offer]) -> Calendar:
        timezone, caps, blackouts, schedule, constraints = "UTC", [], [], [], []
        min_gap = None
        groups: set[str] = {
            group
            for e in self.entries["offers"].values()
            if isinstance(group := e.body.get("group"), str)
        }
        groups |= {
            group
            for doc in self._broken_docs
            for body in _mapping(doc.data, "offers").values()
            if isinstance(body, dict) and isinstance(group := body.get("group"), str)
        }
        known_channels = self.known("channels")
        for doc, part in self._calendar_parts():
            if "timezone" in part:
                timezone = self._timezone(doc, part["timezone"])
            if "min_gap" in part:
                min_gap = parse_duration(part["min_gap"])
            for i, cap in enumerate(part.get("frequency_caps", [])):
                caps.append(self._cap(doc, i, cap, known_channels, groups))
            for i, blackout in enumerate(part.get("blackouts", [])):
                blackouts.append(self._blackout(doc, i, blackout, known_channels))
            for i, item in enumerate(part.get("schedule", [])):
                schedule.append(
                    {
                        **item,
                        "_span": doc.span(("calendar", "schedule", i)),
                        "_doc": doc,
                        "_index": i,
                    }
                )
            for i, constraint in enumerate(part.get("constraints", [])):
                constraints.append(
                    {
                        **constraint,
                        "_span": doc.span(("calendar", "constraints", i)),
                        "_doc": doc,
                        "_index": i,
                    }
                )
        self.problems += calendar_checks.check(
            schedule,
            constraints,
            known_channels=known_channels,
            offers={k: e.body for k, e in self.entries["offers"].items()}
            | {k: {} for k in self.broken["offers"]},
            timezone=timezone,
            as_of=instant_of(self.as_of, timezone) if self.as_of is not None else None,
        )
        return Calendar(
            timezone,
            tuple(caps),
            min_gap,
            tuple(blackouts),
            tuple({k: v for k, v in s.items() if not k.startswith("_")} for s in schedule),
            tuple({k: v for k, v in c.items() if not k.startswith("_")} for c in constraints),
        )

    def _timezone(self, doc: Document, name: str) -> str:
        if name == "UTC" or name in _zones():
            return name
        self.report(
            doc.span(("calendar", "timezone")),
            "unknown-timezone",
            f"`{name}` is not an IANA timezone name",
            did_you_mean(name, sorted(_zones()), otherwise="for example Asia/Shanghai"),
        )
        return "UTC"

    def _cap(
        self,
        doc: Document,
        i: int,
        cap: dict[str, Any],
        channels: Collection[str],
        groups: set[str],
    ) -> FrequencyCap:
        path = ("calendar", "frequency_caps", i)
        channel, group = cap.get("channel"), cap.get("group")
        if channel not in (None, "*") and channel not in channels:
            self.unknown(doc.span((*path, "channel")), "channel", channel, channels)
        if group is not None and group not in groups:
            self.unknown(doc.span((*path, "group")), "offer group", group, sorted(groups))
        return FrequencyCap(
            doc.span(path), int(cap["max"]), parse_duration(cap["per"]), channel, group
        )

    def _blackout(
        self, doc: Document, i: int, blackout: dict[str, Any], channels: Collection[str]
    ) -> Blackout:
        path = ("calendar", "blackouts", i)
        start, until = _date(blackout["from"]), _date(blackout["until"])
        assert start is not None and until is not None
        if until < start:
            self.report(
                doc.span((*path, "until")),
                "window-order",
                f"the blackout ends ({until}) before it starts ({start})",
            )
        names = blackout.get("channels")
        for j, channel in enumerate(names or []):
            if channel not in channels:
                self.unknown(doc.span((*path, "channels", j)), "channel", channel, channels)
        return Blackout(
            doc.span(path), start, until, tuple(names) if names else None, blackout.get("reason")
        )
