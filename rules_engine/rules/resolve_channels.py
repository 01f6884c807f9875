"""Channels: addresses, lifecycle gates and the conditions of consent, entry and exit."""

from __future__ import annotations

from ..decide.records import LIFECYCLE_GATES
from ..errors import did_you_mean
from ..expr import Context
from .model import Channel, Expression, Lifecycle, QuietHours, parse_time
from .resolving import Entry, Resolving


class ChannelSection(Resolving):
    def _channels(self) -> dict[str, Channel]:
        channels = {}
        columns = self.schema.columns("customers")
        for rule_id, entry in self.entries["channels"].items():
            body, doc = entry.body, entry.doc
            address = body.get("address")
            if address is not None and address not in columns:
                self.report(
                    doc.span(entry.path("channels", "address")),
                    "unknown-column",
                    f"customers have no column `{address}`",
                    did_you_mean(address, columns),
                )

            lifecycle = None
            if "lifecycle" in body:
                gates = {
                    gate: self.expression(
                        doc,
                        entry.path("channels", "lifecycle", gate),
                        self.scope(Context.LIFECYCLE),
                    )
                    for gate in LIFECYCLE_GATES
                    if gate in body["lifecycle"]
                }
                lifecycle = Lifecycle(**gates)
            quiet = body.get("quiet_hours")
            channels[rule_id] = Channel(
                id=rule_id,
                span=doc.key_span(("channels", rule_id)),
                address=address,
                consent=self._condition(entry, "consent"),
                entry=self._condition(entry, "entry"),
                exit=self._condition(entry, "exit"),
                exit_days=body.get("exit_days"),
                cost=float(body.get("cost", 0)),
                quiet_hours=QuietHours(parse_time(quiet["start"]), parse_time(quiet["end"]))
                if quiet
                else None,
                capacity_per_day=(body.get("capacity") or {}).get("per_day"),
                lifecycle=lifecycle,
                description=body.get("description"),
            )
        return channels

    def _condition(self, entry: Entry, key: str) -> Expression | None:
        if key not in entry.body:
            return None
        path = entry.path("channels", key)
        return self.expression(entry.doc, path, self.scope(Context.CONDITION))
