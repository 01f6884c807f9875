"""Offers: audiences, channels, windows, variants and control groups, and the priorities within a
group."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ..errors import Severity
from ..expr import Context
from .load import Document, JsonPath
from .model import (
    Budget,
    Channel,
    Offer,
    Variant,
    Window,
    parse_duration,
    parse_percentage,
    parse_time,
)
from .resolving import Entry, Resolving, _date, incentive_kinds, windows_overlap


class OfferSection(Resolving):
    def _offers(self, channels: Mapping[str, Channel]) -> dict[str, Offer]:
        offers = {}
        for rule_id, entry in self.entries["offers"].items():
            offer = self._offer(entry, channels)
            if offer is not None:
                offers[rule_id] = offer
        self._check_priorities()
        self._check_control_groups(offers)
        return offers

    def _check_control_groups(self, offers: Mapping[str, Offer]) -> None:
        """A control group measures an offer only while its customers get what the treated
        ones get from the offers after it: those allocated later can spend frequency-cap room
        (min_gap, capacity) that the offer's actions took from the treated customers but not
        from the held-out ones. Offers of one group are kept apart by the group's slot, and
        offers allocated earlier decide the same for both arms."""
        ordered = sorted(offers.values(), key=lambda o: (-o.priority, o.id))
        for at, offer in enumerate(ordered):
            if not offer.holdout:
                continue
            kinds = incentive_kinds(offer)
            rivals = [
                o.id
                for o in ordered[at + 1 :]
                if (o.group is None or o.group != offer.group)
                and kinds & incentive_kinds(o)
                and windows_overlap(o.window, offer.window)
            ]
            if rivals:
                entry = self.entries["offers"][offer.id]
                self.report(
                    entry.doc.span(entry.path("offers", "holdout")),
                    "holdout-contaminated",
                    f"customers held out of `{offer.id}` can get "
                    f"{', '.join(f'`{r}`' for r in rivals[:5])}"
                    f"{' and others' if len(rivals) > 5 else ''} later in the same run, with the "
                    f"same kind of incentive ({', '.join(sorted(kinds))}), more often than its "
                    "treated customers can: the control group would overstate what they buy "
                    "without the offer",
                    f"put `{offer.id}` and those offers in one `group`, or accept the bias",
                    Severity.WARNING,
                )

    def _offer(self, entry: Entry, channels: Mapping[str, Channel]) -> Offer | None:
        body, doc = entry.body, entry.doc

        def path(*rest: str | int) -> JsonPath:
            return entry.path("offers", *rest)

        audience = self.expression(doc, path("audience"), self.scope(Context.CONDITION))
        exclude = (
            self.expression(doc, path("exclude"), self.scope(Context.CONDITION))
            if "exclude" in body
            else None
        )
        rank = (
            self.expression(doc, path("rank"), self.scope(Context.CONDITION, "numeric"))
            if "rank" in body
            else None
        )
        for i, channel in enumerate(body.get("channels", [])):
            if channel not in self.known("channels"):
                self.unknown(
                    doc.span(path("channels", i)), "channel", channel, self.entries["channels"]
                )
            elif channel in channels and channels[channel].address is None:
                self.report(
                    doc.span(path("channels", i)),
                    "channel-no-address",
                    f"channel `{channel}` has no `address`, so offers cannot send on it",
                    "give the channel an address column, or use it in the calendar schedule only",
                )
        holdout = parse_percentage(body.get("holdout", 0))
        budget = None
        if "budget" in body:
            reserve = parse_percentage(body["budget"].get("reserve", 0))
            budget = Budget(float(body["budget"]["total"]), reserve)
        window = self._window(doc, path("window"), body.get("window"))
        variants = self._variants(entry, path)
        if audience is None:
            return None
        return Offer(
            id=entry.id,
            span=doc.key_span(("offers", entry.id)),
            audience=audience,
            channels=tuple(body.get("channels", ())),
            content=body.get("content", ""),
            priority=int(body.get("priority", 0)),
            exclude=exclude,
            group=body.get("group"),
            incentive=body.get("incentive"),
            cost=float(body.get("cost", 0)),
            rank=rank,
            budget=budget,
            max_actions=body.get("max_actions"),
            holdout=holdout,
            cooldown=parse_duration(body["cooldown"]) if "cooldown" in body else None,
            window=window,
            send_at=parse_time(body["send_at"]) if "send_at" in body else None,
            description=body.get("description"),
            variants=variants,
        )

    def _variants(self, entry: Entry, path: Callable[..., JsonPath]) -> tuple[Variant, ...]:
        """The offer's experiment arms in the order written; their weights must make 100%."""
        body, doc = entry.body, entry.doc
        written = body.get("variants") or {}
        variants: list[Variant] = []
        total = 0.0
        for variant_id, arm in written.items():
            weight = parse_percentage(arm["weight"])
            total += weight
            variants.append(
                Variant(
                    id=variant_id,
                    span=doc.key_span(("offers", entry.id, "variants", variant_id)),
                    weight=weight,
                    bound=min(10000, round(total * 10000)),
                    content=arm.get("content", body.get("content", "")),
                    incentive=arm.get("incentive", body.get("incentive")),
                    cost=float(arm.get("cost", body.get("cost", 0))),
                )
            )
        if variants and abs(total - 1) > 1e-9:
            self.report(
                doc.key_span(("offers", entry.id, "variants")),
                "variant-weights",
                f"the weights of offer `{entry.id}`'s variants add up to {100 * total:g}%, "
                "not 100%",
                "make the weights add up to exactly 100%",
            )
        return tuple(variants)

    def _window(self, doc: Document, path: JsonPath, window: Any) -> Window | None:
        if not window:
            return None
        start = _date(window.get("from"))
        until = _date(window.get("until"))
        if start and until and until < start:
            self.report(
                doc.span((*path, "until")),
                "window-order",
                f"the window ends ({until}) before it starts ({start})",
            )
        return Window(start, until)

    def _check_priorities(self) -> None:
        seen: dict[tuple[str, int], Entry] = {}
        for entry in self.entries["offers"].values():
            group = entry.body.get("group")
            if group is None:
                continue
            key = (group, int(entry.body.get("priority", 0)))
            if key in seen:
                other = seen[key]
                self.report(
                    entry.doc.key_span(("offers", entry.id)),
                    "ambiguous-priority",
                    f"offers `{other.id}` and `{entry.id}` of group `{group}` have the same "
                    f"priority {key[1]}; the id decides which goes first",
                    "give one of them a higher priority",
                    Severity.WARNING,
                )
            else:
                seen[key] = entry
