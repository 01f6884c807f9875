"""Rule tests: the customers, rows and expectations each test names."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..ruletest import checks as ruletest_checks
from .model import Offer, RuleTest
from .resolving import Resolving


class RuleTestSection(Resolving):
    def _tests(
        self,
        metrics: Mapping[str, Any],
        segments: Mapping[str, Any],
        channels: Mapping[str, Any],
        offers: Mapping[str, Offer],
        timezone: str = "UTC",
    ) -> dict[str, RuleTest]:
        """Rule tests, checked by `ruletest.checks` against every name the rules define."""
        names = ruletest_checks.Names(
            segments=self.known("segments"),
            metrics={name: self.metric_types.get(name) for name in self.known("metrics")},
            offers={
                name: offers[name].channels if name in offers else None
                for name in self.known("offers")
            },
            channels=self.known("channels"),
            timezone=timezone,
        )
        return {
            rule_id: ruletest_checks.check_test(
                entry.doc, rule_id, entry.body, names, self.schema, self
            )
            for rule_id, entry in self.entries["tests"].items()
        }
