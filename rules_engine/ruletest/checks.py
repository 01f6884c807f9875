"""Rule tests are checked like rules: every name, row and time, before anything runs.

`check_test` turns one entry of a `tests:` section (already through the JSON Schema) into a
`RuleTest` of typed steps, and reports each problem at the file, line and column that causes
it: customers an expectation names but the test does not define, unknown segments, metrics,
offers and channels, columns the store does not have, values of the wrong type, times that
are not real dates and times, and expectations that cannot be checked as written.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol

from ..errors import PROBLEM_CODES, Span, did_you_mean
from ..rules.load import Document
from ..rules.load import JsonPath as Path
from ..rules.model import Expectation, RuleTest, RuleTestStep
from ..store import RuleType, StoreSchema
from ..times import both_zones, parse_instant

CODES = PROBLEM_CODES["tests"]

# The tables a test's first step may fill, and those a `then:` step may add rows to.
FIRST_STEP_TABLES = ("customers", "orders", "events", "contacts", "channel_stats")
LATER_STEP_TABLES = ("orders", "events", "contacts")
# Keys of an expectation that describe the customer's decision for its `offer`.
DECISION_KEYS = ("outcome", "reason", "channel", "send_at")
SUPPRESSION_REASONS = (
    "cooldown",
    "group_taken",
    "no_address",
    "consent",
    "entry",
    "channel_exit",
    "channel_lifecycle",
    "frequency_cap",
    "blackout",
    "min_gap",
    "capacity",
    "max_actions",
    "budget",
)


class Reporter(Protocol):
    """Collects problems (the resolver that checks the rest of the rules)."""

    def report(self, span: Span, code: str, message: str, hint: str | None = None) -> None: ...

    def unknown(self, span: Span, kind: str, name: str, known: Collection[str]) -> None: ...


@dataclass(frozen=True)
class Names:
    """What an expectation may name: segment ids, metrics with their types (None: unknown
    because the metric has errors), and each offer with the channels it sends on."""

    segments: Collection[str]
    metrics: Mapping[str, RuleType | None]
    offers: Mapping[str, Sequence[str] | None]
    channels: Collection[str]
    timezone: str = "UTC"  # the calendar's: times in messages are shown in it, next to UTC


def check_test(
    doc: Document,
    test_id: str,
    body: dict[str, Any],
    names: Names,
    schema: StoreSchema,
    out: Reporter,
) -> RuleTest:
    """The test as typed steps; every problem goes to `out`."""
    return _TestChecker(doc, test_id, body, names, schema, out).run()


class _TestChecker:
    def __init__(
        self,
        doc: Document,
        test_id: str,
        body: dict[str, Any],
        names: Names,
        schema: StoreSchema,
        out: Reporter,
    ) -> None:
        self.doc, self.id, self.body = doc, test_id, body
        self.names, self.schema, self.out = names, schema, out
        self.customers: set[int] = set()
        self.row_ids: dict[tuple[str, object], Path] = {}

    def _shown(self, moment: datetime) -> str:
        return both_zones(moment, self.names.timezone)

    def run(self) -> RuleTest:
        root: Path = ("tests", self.id)
        steps = [self.step(root, self.body, FIRST_STEP_TABLES)]
        then = self.body.get("then")
        for i, later in enumerate(then if isinstance(then, list) else []):
            if isinstance(later, dict):
                steps.append(self.step((*root, "then", i), later, LATER_STEP_TABLES))
        self.check_order(root, steps)
        description = self.body.get("description")
        return RuleTest(
            self.id,
            self.doc.key_span(root),
            self.body,
            tuple(s for s in steps if s is not None),
            description if isinstance(description, str) else None,
        )

    # -- steps ---------------------------------------------------------------------------

    def step(self, path: Path, body: dict[str, Any], tables: Sequence[str]) -> RuleTestStep | None:
        rows = {table: self.rows(path, table, body.get(table)) for table in tables}
        as_of = self.instant((*path, "as_of"), body.get("as_of"), "test-as-of")
        expect = body.get("expect")
        expectations = [
            self.expectation((*path, "expect", i), item)
            for i, item in enumerate(expect if isinstance(expect, list) else [])
            if isinstance(item, dict)
        ]
        if as_of is None:
            return None
        return RuleTestStep(
            self.doc.span(path),
            as_of,
            {table: tuple(found) for table, found in rows.items() if found},
            tuple(e for e in expectations if e is not None),
        )

    def check_order(self, root: Path, steps: Sequence[RuleTestStep | None]) -> None:
        """Time travel goes forward: each step after the one before it."""
        for i in range(1, len(steps)):
            before, step = steps[i - 1], steps[i]
            if before is not None and step is not None and step.as_of <= before.as_of:
                self.out.report(
                    self.doc.span((*root, "then", i - 1, "as_of")),
                    "test-as-of",
                    f"step {i + 1} of test `{self.id}` runs at {self._shown(step.as_of)}, "
                    f"not after the step before it ({self._shown(before.as_of)})",
                    "each `then:` step moves the clock forward; put the steps in time order",
                )

    def instant(self, path: Path, value: object, code: str) -> datetime | None:
        if not isinstance(value, str):
            return None  # the schema has said so
        try:
            return parse_instant(value)
        except ValueError:
            self.out.report(
                self.doc.span(path),
                code,
                f"{value!r} is not a real date and time",
                'write an existing date and time with an offset, like "2026-11-15T10:00:00+08:00"',
            )
            return None

    # -- rows ----------------------------------------------------------------------------

    def rows(self, path: Path, table: str, rows: object) -> list[dict[str, Any]]:
        found = []
        for i, row in enumerate(rows if isinstance(rows, list) else []):
            if isinstance(row, dict) and self.row((*path, table, i), table, row):
                found.append(row)
        return found

    def row(self, path: Path, table: str, row: dict[str, Any]) -> bool:
        """Whether the row can be stored as written; problems reported."""
        columns = self.schema.columns(table)
        fine = self.identity(path, table, row) if _keys_fit(row, columns) else False
        for column, value in row.items():
            if column not in columns:
                self.unknown_column(path, table, str(column), columns)
                fine = False
            elif value is not None and not _fits(value, columns[column]):
                self.out.report(
                    self.doc.span((*path, column)),
                    "test-row",
                    f"`{table}.{column}` holds {_kind(columns[column])}, not {_shown(value)}",
                    _type_hint(columns[column], value),
                )
                fine = False
        return fine

    def unknown_column(self, path: Path, table: str, column: str, columns: Collection[str]) -> None:
        otherwise = "declare extra columns in a `store:` section of the rules"
        self.out.report(
            self.doc.key_span((*path, column)),
            "unknown-column",
            f"`{table}` has no column `{column}`",
            did_you_mean(column, columns, otherwise=otherwise),
        )

    def identity(self, path: Path, table: str, row: dict[str, Any]) -> bool:
        """Customer ids and row ids are unique within the test; rows belong to its customers."""
        if table == "customers":
            return self.new_customer(path, row.get("id"))
        if table == "channel_stats":
            return self.new_row(path, table, (row.get("channel"), row.get("period_start")))
        owner = row.get("customer_id")
        if owner not in self.customers:
            self.out.report(
                self.doc.span((*path, "customer_id")),
                "test-reference",
                f"this {table[:-1]} row belongs to no customer of test `{self.id}`"
                + ("" if owner is None else f" (customer_id {owner})"),
                "give it the `customer_id` of one of the test's `customers`",
            )
            return False
        return row.get("id") is None or self.new_row(path, table, row["id"])

    def new_customer(self, path: Path, key: object) -> bool:
        if key is None:
            self.out.report(self.doc.span(path), "test-row", "a customer row needs an `id`")
            return False
        if key in self.customers:
            self.out.report(
                self.doc.span((*path, "id")),
                "test-row",
                f"customer {key} is already defined in test `{self.id}`",
                "give each customer of a test its own id",
            )
            return False
        self.customers.add(key)  # type: ignore[arg-type]
        return True

    def new_row(self, path: Path, table: str, key: object) -> bool:
        earlier = self.row_ids.get((table, key))
        if earlier is not None:
            what = "channel and period_start" if table == "channel_stats" else "id"
            self.out.report(
                self.doc.span(path),
                "test-row",
                f"another {table} row of test `{self.id}` has the same {what}",
                f"the first is at {self.doc.span(earlier)}",
            )
            return False
        self.row_ids[(table, key)] = path
        return True

    # -- expectations --------------------------------------------------------------------

    def expectation(self, path: Path, item: dict[str, Any]) -> Expectation | None:
        spans = {str(key): self.doc.key_span((*path, key)) for key in item}
        fine = self.customer(path, item.get("customer"))
        segments = self.segment_list(path, item, "segments", spans)
        not_segments = self.segment_list(path, item, "not_segments", spans)
        metrics = self.metrics(path, item.get("metrics"), spans)
        fine = fine and segments is not None and not_segments is not None and metrics is not None
        fine = self.decision(path, item) and fine
        send_at = None
        if isinstance(item.get("send_at"), str):
            send_at = self.instant((*path, "send_at"), item["send_at"], "test-expectation")
            fine = fine and send_at is not None
        checks = set(item) - {"customer"}
        if not checks:
            self.out.report(
                self.doc.span(path),
                "test-expectation",
                "this expectation checks nothing",
                "add `segments`, `not_segments`, `metrics` or `offer`",
            )
            return None
        if not fine or segments is None or not_segments is None or metrics is None:
            return None
        return Expectation(
            self.doc.span(path),
            item["customer"],
            segments,
            not_segments,
            metrics,
            "offer" in item,
            item.get("offer"),
            item.get("outcome"),
            item.get("reason"),
            item.get("channel"),
            send_at,
            spans,
        )

    def customer(self, path: Path, customer: object) -> bool:
        if customer in self.customers:
            return True
        self.out.report(
            self.doc.span((*path, "customer")),
            "test-reference",
            f"test `{self.id}` has no customer with id {customer}",
            "add the customer to the test's `customers`",
        )
        return False

    def segment_list(
        self, path: Path, item: dict[str, Any], key: str, spans: dict[str, Span]
    ) -> tuple[str, ...] | None:
        values = item.get(key) or []
        fine = True
        for j, name in enumerate(values):
            span = self.doc.span((*path, key, j))
            spans[f"{key}.{name}"] = span
            if name not in self.names.segments:
                self.out.unknown(span, "segment", name, self.names.segments)
                fine = False
            elif key == "not_segments" and name in (item.get("segments") or []):
                self.out.report(
                    span,
                    "test-expectation",
                    f"segment `{name}` is expected both in `segments` and in `not_segments`",
                    "keep it in one of them",
                )
                fine = False
        return tuple(values) if fine else None

    def metrics(
        self, path: Path, values: object, spans: dict[str, Span]
    ) -> tuple[tuple[str, object], ...] | None:
        if not isinstance(values, dict):
            return ()
        fine = True
        for name, value in values.items():
            spans[f"metrics.{name}"] = self.doc.key_span((*path, "metrics", name))
            if name not in self.names.metrics:
                span = self.doc.key_span((*path, "metrics", name))
                self.out.unknown(span, "metric", name, self.names.metrics)
                fine = False
                continue
            rule_type = self.names.metrics[name]
            if rule_type is not None and value is not None and not _fits(value, rule_type, True):
                self.out.report(
                    self.doc.span((*path, "metrics", name)),
                    "test-expectation",
                    f"metric `{name}` is {_kind(rule_type)}: it can never be {_shown(value)}",
                    _type_hint(rule_type, value),
                )
                fine = False
        return tuple(values.items()) if fine else None

    def decision(self, path: Path, item: dict[str, Any]) -> bool:
        """`offer` and the keys about its decision: known names, and that they go together."""
        given = [key for key in DECISION_KEYS if key in item]
        offer, fine = item.get("offer"), True
        if given and offer is None:
            words = "`offer: null` expects no action at all" if "offer" in item else "no `offer`"
            for key in given:
                self.out.report(
                    self.doc.key_span((*path, key)),
                    "test-expectation",
                    f"`{key}` describes the decision for an offer, and this expectation has "
                    f"{words}",
                    "name the offer it is about with `offer:`",
                )
            return False
        if offer is not None and offer not in self.names.offers:
            self.out.unknown(self.doc.span((*path, "offer")), "offer", offer, self.names.offers)
            fine = False
        channel = item.get("channel")
        if channel is not None and channel not in self.names.channels:
            self.out.unknown(
                self.doc.span((*path, "channel")), "channel", channel, self.names.channels
            )
            fine = False
        elif channel is not None and fine:
            sends_on = self.names.offers.get(offer or "")
            if sends_on is not None and channel not in sends_on:
                self.out.report(
                    self.doc.span((*path, "channel")),
                    "test-expectation",
                    f"offer `{offer}` never sends on `{channel}`",
                    f"its channels are {', '.join(sends_on)}",
                )
                fine = False
        return self.outcome(path, item) and fine

    def outcome(self, path: Path, item: dict[str, Any]) -> bool:
        outcome = item.get("outcome") or "action"
        reason = item.get("reason")
        problem = None
        if outcome == "action" and reason not in (None, "quiet_hours"):
            problem = f"an action's only reason is `quiet_hours`, not `{reason}`"
        elif outcome == "holdout" and reason is not None:
            problem = "a customer held out of an offer has no reason"
        elif outcome == "suppressed" and reason == "quiet_hours":
            problem = "`quiet_hours` moves an action; it never suppresses one"
        if problem is not None:
            self.out.report(
                self.doc.span((*path, "reason")),
                "test-expectation",
                problem,
                "check `outcome` and `reason` together",
            )
        if "send_at" in item and outcome != "action":
            self.out.report(
                self.doc.key_span((*path, "send_at")),
                "test-expectation",
                f"only an action has a send time, and this expectation is `{outcome}`",
                "drop `send_at`, or expect an action",
            )
            return False
        return problem is None


# -- values ------------------------------------------------------------------------------


def _keys_fit(row: dict[str, Any], columns: Mapping[str, RuleType]) -> bool:
    """Whether the row's ids can be looked at (customer ids, row ids, customer_id)."""
    keys = ("id", "customer_id", "channel", "period_start")
    return all(row.get(k) is None or k not in columns or _fits(row[k], columns[k]) for k in keys)


def _fits(value: object, rule_type: RuleType, expected: bool = False) -> bool:
    """Whether a YAML value can stand for a value of this type (a row's, or an expected
    metric value's: a datetime as any ISO-8601 text, a date as `YYYY-MM-DD`)."""
    if isinstance(value, bool):
        return rule_type == "boolean"
    if rule_type == "boolean":
        return value in (0, 1) and not expected
    if isinstance(value, int) and not -(2**63) <= value < 2**63:
        return False  # past what the store can hold
    if rule_type == "integer":
        return isinstance(value, int) or (expected and isinstance(value, float))
    if rule_type == "real":
        return isinstance(value, int | float)
    if not isinstance(value, str):
        return False
    if rule_type == "date":
        return _parses(date.fromisoformat, value) and len(value) == 10
    if rule_type == "datetime":
        return _parses(parse_instant, value)
    return True


def _parses(parse: Any, text: str) -> bool:
    try:
        parse(text)
    except ValueError:
        return False
    return True


_KINDS = {
    "integer": "a whole number",
    "real": "a number",
    "text": "text",
    "boolean": "true or false",
    "date": 'a date like "2026-11-15"',
    "datetime": 'a date and time like "2026-11-15T10:00:00Z"',
}


def _kind(rule_type: RuleType) -> str:
    return _KINDS[rule_type]


def _shown(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return repr(value)
    return str(value)


def _type_hint(rule_type: RuleType, value: object) -> str | None:
    if rule_type == "text" and isinstance(value, int | float) and not isinstance(value, bool):
        return f'quote it: "{value}"'
    if rule_type in ("date", "datetime") and isinstance(value, str):
        return "write a real date" + (" and time, in ISO-8601" if rule_type == "datetime" else "")
    return None
