"""Metrics and segments: parsed and typed in dependency order, each a metric's type known before
anything that uses it is checked; names that clash, circles, tables and declared types."""

from __future__ import annotations

from collections.abc import Mapping

from ..errors import Problem
from ..expr import Context
from ..store import RELATED_TABLES, RuleType
from .model import Metric, Segment
from .order import topological
from .resolving import Entry, Parsed, Resolving, _compatible, _in_file_order, _value_fits


class MetricSection(Resolving):
    def _metrics_and_segments(
        self,
    ) -> tuple[dict[str, Metric], dict[str, Segment], list[str]]:
        parsed: dict[tuple[str, str], Parsed | None] = {}
        deps: dict[str, set[str]] = {}
        for section, key in (("metrics", "value"), ("metrics", "where"), ("segments", "where")):
            for rule_id, entry in self.entries[section].items():
                if key not in entry.body:
                    continue
                result = self.parse(entry.doc, entry.path(section, key))
                parsed[(rule_id, key)] = result
                if result is not None and not (section == "metrics" and "from" in entry.body):
                    deps.setdefault(rule_id, set()).update(result.names)
                deps.setdefault(rule_id, set())
                if result is None:
                    self.failed.add(rule_id)
        self._check_names()
        order = self._order(deps)
        metrics: dict[str, Metric] = {}
        segments: dict[str, Segment] = {}
        for rule_id in order:
            if rule_id in self.entries["metrics"]:
                metric = self._metric(self.entries["metrics"][rule_id], parsed)
                if metric is None:
                    self.failed.add(rule_id)
                else:
                    metrics[rule_id] = metric
                    self.metric_types[rule_id] = metric.type
        for rule_id in order:
            if rule_id in self.entries["segments"]:
                entry = self.entries["segments"][rule_id]
                where = self.check(
                    entry.doc,
                    entry.path("segments", "where"),
                    parsed.get((rule_id, "where")),
                    self.scope(Context.CONDITION),
                )
                if where is not None:
                    segments[rule_id] = Segment(
                        rule_id,
                        entry.doc.key_span(("segments", rule_id)),
                        where,
                        entry.body.get("description"),
                    )
        return (
            _in_file_order(metrics, self.entries["metrics"]),
            _in_file_order(segments, self.entries["segments"]),
            order,
        )

    def _check_names(self) -> None:
        columns = self.schema.columns("customers")
        for section in ("metrics", "segments"):
            for rule_id, entry in self.entries[section].items():
                span = entry.doc.key_span((section, rule_id))
                if rule_id in columns:
                    self.report(
                        span,
                        "name-conflict",
                        f"{section[:-1]} `{rule_id}` has the name of a customers column",
                        "rename it: in expressions the name would be ambiguous",
                    )
                elif section == "segments" and rule_id in self.entries["metrics"]:
                    self.report(
                        span,
                        "name-conflict",
                        f"segment `{rule_id}` has the name of a metric",
                        "rename one of them: in expressions the name would be ambiguous",
                    )

    def _order(self, deps: Mapping[str, set[str]]) -> list[str]:
        """Dependency order of metrics and segments; cycles are reported and left out."""
        order = topological(deps, self._report_cycle)
        return [name for name in order if name not in self.failed]

    def _report_cycle(self, cycle: list[str]) -> None:
        first = cycle[0]
        section = "metrics" if first in self.entries["metrics"] else "segments"
        entry = self.entries[section][first]
        self.report(
            entry.doc.key_span((section, first)),
            "cycle",
            "these rules depend on each other in a circle: " + " → ".join(cycle),
            "break the circle: one of them must not use the other",
        )
        self.failed.update(cycle)

    def _metric(
        self, entry: Entry, parsed: Mapping[tuple[str, str], Parsed | None]
    ) -> Metric | None:
        body, doc = entry.body, entry.doc
        table = body.get("from")
        where = None
        if table is not None:
            if not self._check_table(entry, table):
                return None
            where = (
                self.check(
                    doc,
                    entry.path("metrics", "where"),
                    parsed.get((entry.id, "where")),
                    self.scope(Context.ROW_FILTER, "boolean", table),
                )
                if "where" in body
                else None
            )
            if "where" in body and where is None:
                return None
        context = Context.AGGREGATE if table else Context.DERIVED
        value = self.check(
            doc,
            entry.path("metrics", "value"),
            parsed.get((entry.id, "value")),
            self.scope(context, None, table),
        )
        if value is None or value.type is None:
            return None
        return Metric(
            entry.id,
            doc.key_span(("metrics", entry.id)),
            value,
            self._metric_type(entry, value.type),
            table,
            where,
            body.get("default"),
            body.get("description"),
        )

    def _check_table(self, entry: Entry, table: str) -> bool:
        columns = self.schema.columns(table)
        span = entry.doc.span(entry.path("metrics", "from"))
        if not columns:
            if table in RELATED_TABLES:  # canonical, but this store lacks it
                hint = "add the canonical tables to the store with `campaign init-store STORE`"
                self.report(span, "unknown-table", f"the store has no `{table}` table", hint)
                return False
            related = [t for t in self.schema.tables if "customer_id" in self.schema.columns(t)]
            self.unknown(span, "table", table, related or RELATED_TABLES)
            self.problems[-1] = Problem(
                span, "unknown-table", self.problems[-1].message, self.problems[-1].hint
            )
            return False
        if "customer_id" not in columns:
            self.report(
                span, "unknown-table", f"table `{table}` has no customer_id column to aggregate by"
            )
            return False
        return True

    def _metric_type(self, entry: Entry, inferred: RuleType) -> RuleType:
        declared = entry.body.get("type")
        if declared and not _compatible(declared, inferred):
            self.report(
                entry.doc.span(entry.path("metrics", "type")),
                "metric-type",
                f"metric `{entry.id}` is declared {declared} but its value is {inferred}",
            )
        default = entry.body.get("default")
        if default is not None and not _value_fits(default, declared or inferred):
            self.report(
                entry.doc.span(entry.path("metrics", "default")),
                "metric-type",
                f"default {default!r} of metric `{entry.id}` is not a {declared or inferred}",
            )
        return declared or inferred
