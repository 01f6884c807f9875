"""Cross-checks over the whole rule set, and building the `RuleSet` the executor reads.

Runs after every file passed the JSON Schema: ids unique across files, references that
resolve, no cycles between metrics and segments, expressions parsed and typed in dependency
order (a metric's type is known before anything uses it), windows and the content
calendar's constraints. Every finding is a Problem at the file, line and column that causes it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from ..errors import PROBLEM_CODES, Problem
from ..store import StoreSchema
from .load import Document
from .model import RuleSet
from .resolve_calendar import CalendarSection
from .resolve_channels import ChannelSection
from .resolve_metrics import MetricSection
from .resolve_offers import OfferSection
from .resolve_tests import RuleTestSection

CODES: dict[str, str] = {
    **PROBLEM_CODES["rules"],
    **PROBLEM_CODES["calendar"],
    **PROBLEM_CODES["tests"],
}


def resolve(
    documents: Sequence[Document],
    schema: StoreSchema,
    *,
    as_of: datetime | date | None = None,
    broken: Sequence[Document] = (),
) -> tuple[RuleSet, list[Problem]]:
    """Check the documents together and build the rule set (partial where there are errors).

    `broken` documents failed the schema: their rules are not checked, but their ids still
    count as defined, so a typo in one file does not flood the others with unknown names.
    """
    return _Resolver(documents, schema, as_of, broken).run()


class _Resolver(MetricSection, ChannelSection, OfferSection, CalendarSection, RuleTestSection):
    """Every section resolved, in the order the rule set needs them: a metric's type before
    anything that uses it, channels before the offers that send on them."""

    def run(self) -> tuple[RuleSet, list[Problem]]:
        metrics, segments, order = self._metrics_and_segments()
        channels = self._channels()
        offers = self._offers(channels)
        calendar = self._calendar(channels, offers)
        tests = self._tests(metrics, segments, channels, offers, calendar.timezone)
        rules = RuleSet(
            metrics=metrics,
            segments=segments,
            channels=channels,
            offers=offers,
            calendar=calendar,
            tests=tests,
            schema=self.schema,
            files=tuple(doc.path for doc in self.documents),
            metric_order=tuple(name for name in order if name in metrics),
            segment_order=tuple(name for name in order if name in segments),
        )
        return rules, self.problems
