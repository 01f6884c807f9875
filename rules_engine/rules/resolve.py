"""Cross-checks over the whole rule set, and building the `RuleSet` the executor reads.

Runs after every file passed the JSON Schema: ids unique across files, references that
resolve, no cycles between metrics and segments, expressions parsed and typed in dependency
order (a metric's type is known before anything uses it), windows and the content
calendar's constraints. Every finding is a Problem at the file, line and column that causes it.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import available_timezones

from ..decide.records import LIFECYCLE_GATES
from ..errors import PROBLEM_CODES, Problem, Severity, Span, did_you_mean
from ..expr import (
    Context,
    Node,
    Scope,
    literal_expression,
    parse_expression,
    referenced_names,
    typecheck,
)
from ..expr.functions import NUMERIC, TEMPORAL
from ..expr.parse import OFFSETS, Locate, anchored
from ..expr.typecheck import names_in_scope
from ..ruletest import checks as ruletest_checks
from ..store import RELATED_TABLES, RuleType, StoreSchema
from . import calendar_checks
from .load import Document, JsonPath
from .model import (
    Blackout,
    Budget,
    Calendar,
    Channel,
    Expression,
    FrequencyCap,
    Lifecycle,
    Metric,
    Offer,
    QuietHours,
    RuleSet,
    RuleTest,
    Segment,
    Variant,
    Window,
    parse_duration,
    parse_percentage,
    parse_time,
)
from .order import topological

CODES: dict[str, str] = {
    **PROBLEM_CODES["rules"],
    **PROBLEM_CODES["calendar"],
    **PROBLEM_CODES["tests"],
}

SECTIONS = ("metrics", "segments", "channels", "offers", "tests")


@dataclass(frozen=True)
class Entry:
    """One rule as written: its id, body and where it stands."""

    doc: Document
    id: str
    body: dict[str, Any]

    def path(self, section: str, *rest: str | int) -> JsonPath:
        return (section, self.id, *rest)


@dataclass(frozen=True)
class Parsed:
    """An expression as written: its text and the names it uses; its tree, parsed on one line
    from column `shift` (see `expr.parse.anchored`), and where the text stands. `here`: the tree
    is already in place; `place` is None for a YAML scalar used as an expression."""

    text: str
    names: tuple[str, ...]
    tree: Node
    shift: int
    place: Locate | None
    here: bool


def resolve(
    documents: Sequence[Document],
    schema: StoreSchema,
    *,
    as_of: datetime | None = None,
    broken: Sequence[Document] = (),
) -> tuple[RuleSet, list[Problem]]:
    """Check the documents together and build the rule set (partial where there are errors).

    `broken` documents failed the schema: their rules are not checked, but their ids still
    count as defined, so a typo in one file does not flood the others with unknown names.
    """
    return _Resolver(documents, schema, as_of, broken).run()


class _Resolver:
    def __init__(
        self,
        documents: Sequence[Document],
        schema: StoreSchema,
        as_of: datetime | None,
        broken: Sequence[Document],
    ) -> None:
        self.documents = documents
        self._broken_docs = broken
        self.problems: list[Problem] = []
        self.entries = {section: self._gather(section) for section in SECTIONS}
        self.broken = {
            # ids as text: a rule the schema refused may have a number for an id (`123:`)
            section: {str(rule_id) for doc in broken for rule_id in _mapping(doc.data, section)}
            for section in SECTIONS
        }
        self.schema = schema.with_declared(self._declared_store())
        self.as_of = as_of
        self.metric_types: dict[str, RuleType] = {}
        self._known: dict[str, set[str]] = {}
        self.failed: set[str] = self.broken["metrics"] | self.broken["segments"]
        self.segment_names = frozenset(self.known("segments"))
        # rules repeat their conditions: each distinct text is parsed once (False: it has
        # problems), and typed once per meaning of its names, then placed at each occurrence
        self._texts: dict[str, tuple[Node, int, tuple[str, ...]] | bool] = {}
        self._typed: dict[tuple[object, ...], tuple[Node, int]] = {}

    def known(self, section: str) -> set[str]:
        """Ids defined in a section, including those of rules that failed the schema."""
        if section not in self._known:
            self._known[section] = set(self.entries[section]) | self.broken[section]
        return self._known[section]

    # -- reporting ---------------------------------------------------------------------

    def report(
        self,
        span: Span,
        code: str,
        message: str,
        hint: str | None = None,
        severity: Severity = Severity.ERROR,
    ) -> None:
        self.problems.append(Problem(span, code, message, hint, severity))

    def unknown(self, span: Span, kind: str, name: str, known: Iterable[str]) -> None:
        hint = did_you_mean(name, known)
        self.report(span, "unknown-reference", f"unknown {kind} `{name}`", hint)

    # -- gathering ---------------------------------------------------------------------

    def _gather(self, section: str) -> dict[str, Entry]:
        seen: dict[str, Entry] = {}
        for doc in self.documents:
            items = _mapping(doc.data, section)
            for rule_id, body in items.items():
                if rule_id in seen:
                    first = seen[rule_id].doc.key_span((section, rule_id))
                    self.report(
                        doc.key_span((section, rule_id)),
                        "duplicate-id",
                        f"{section[:-1]} `{rule_id}` is already defined at {first}",
                        "rename one of them; ids are unique across all rule files",
                    )
                    continue
                seen[rule_id] = Entry(doc, rule_id, body if isinstance(body, dict) else {})
        return seen

    def _declared_store(self) -> dict[str, dict[str, RuleType]]:
        declared: dict[str, dict[str, RuleType]] = {}
        for doc in self.documents:
            for table, columns in _mapping(doc.data, "store").items():
                declared.setdefault(table, {}).update(columns or {})
        return declared

    # -- the whole run -----------------------------------------------------------------

    def run(self) -> tuple[RuleSet, list[Problem]]:
        metrics, segments, order = self._metrics_and_segments()
        channels = self._channels()
        offers = self._offers(channels)
        calendar = self._calendar(channels, offers)
        tests = self._tests(metrics, segments, channels, offers)
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

    # -- expressions -------------------------------------------------------------------

    def parse(self, doc: Document, path: JsonPath) -> Parsed | None:
        value = _get(doc.data, path)
        if isinstance(value, str):
            origin = doc.origin(path)

            def locate(start: int, end: int) -> Span:
                return doc.locate(path, start, end)

            place = locate if origin is None else _on_line(*origin)
            known = self._texts.get(value)
            if known is None and origin is not None:  # parsed in place, kept for the next ones
                tree, problems = parse_expression(value, locate, file=doc.path, origin=origin)
                self.problems += problems
                if tree is None:
                    self._texts[value] = False
                    return None
                names = tuple(sorted(referenced_names(tree)))
                self._texts[value] = (tree, origin[2], names)
                return Parsed(value, names, tree, origin[2], place, here=True)
            if known is None:  # quoted or on several lines: offsets in the text are kept
                tree, _ = parse_expression(value, origin=OFFSETS)
                known = self._texts[value] = (
                    (tree, 0, tuple(sorted(referenced_names(tree)))) if tree is not None else False
                )
            if known is False:  # parsed again where it stands, for the problems' positions
                _, problems = parse_expression(value, locate, file=doc.path, origin=origin)
                self.problems += problems
                return None
            assert known is not True
            tree, shift, names = known
            return Parsed(value, names, tree, shift, place, here=False)
        if value is None or isinstance(value, bool | int | float):
            literal = literal_expression(value, doc.span(path))
            return Parsed(str(value), (), literal, 0, None, here=True)
        return None

    def check(
        self, doc: Document, path: JsonPath, parsed: Parsed | None, scope: Scope
    ) -> Expression | None:
        if parsed is None:
            return None
        if self.failed and not self.failed.isdisjoint(parsed.names):
            return None  # the rule it uses is already reported; don't cascade
        typed, problems = self.typecheck(parsed, scope)
        self.problems += problems
        if typed is None or any(p.is_error for p in problems):
            return None
        return Expression(parsed.text, typed, _type_of(typed), doc.span(path))

    def typecheck(self, parsed: Parsed, scope: Scope) -> tuple[Node | None, list[Problem]]:
        """`typecheck` of the tree in place; a result without problems is kept for the next
        occurrence of the text whose names mean the same things (`names_in_scope`)."""
        if parsed.place is None:
            return typecheck(parsed.tree, scope)
        key = (parsed.text, scope.context, scope.expect, names_in_scope(parsed.names, scope))
        known = self._typed.get(key)
        if known is None:
            typed, problems = typecheck(parsed.tree, scope)
            if problems or typed is None:
                if parsed.here:
                    return typed, problems
                # checked again in place, for the problems' positions
                return typecheck(anchored(parsed.tree, parsed.place, parsed.shift), scope)
            known = self._typed[key] = (typed, parsed.shift)
            if parsed.here:
                return typed, []
        tree, shift = known
        return anchored(tree, parsed.place, shift), []

    def expression(self, doc: Document, path: JsonPath, scope: Scope) -> Expression | None:
        return self.check(doc, path, self.parse(doc, path), scope)

    def scope(
        self,
        context: Context,
        expect: RuleType | str | None = "boolean",
        table: str | None = None,
    ) -> Scope:
        # metric types are shared, not copied: a metric's type is known before anything that
        # uses it is checked (dependency order), and copying per expression is quadratic
        return Scope(
            columns=self.schema.columns("customers"),
            metrics=self.metric_types,
            segments=self.segment_names,
            related=self.schema.columns(table) if table else None,
            related_table=table,
            context=context,
            expect=expect,  # type: ignore[arg-type]
        )

    # -- metrics and segments ----------------------------------------------------------

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

    # -- channels ----------------------------------------------------------------------

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

    # -- offers ------------------------------------------------------------------------

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

    # -- calendar ----------------------------------------------------------------------

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
            as_of=self.as_of,
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

    # -- tests -------------------------------------------------------------------------

    def _tests(
        self,
        metrics: Mapping[str, Any],
        segments: Mapping[str, Any],
        channels: Mapping[str, Any],
        offers: Mapping[str, Offer],
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
        )
        return {
            rule_id: ruletest_checks.check_test(
                entry.doc, rule_id, entry.body, names, self.schema, self
            )
            for rule_id, entry in self.entries["tests"].items()
        }


# -- small helpers ---------------------------------------------------------------------


def _mapping(data: object, key: str) -> dict[str, Any]:
    value = data.get(key) if isinstance(data, dict) else None
    return value if isinstance(value, dict) else {}


def _get(data: object, path: JsonPath) -> object:
    for key in path:
        data = data[key]  # type: ignore[index]
    return data


def _on_line(file: str, line: int, col: int) -> Locate:
    """Where offsets of a one-line plain value stand: plain columns from `col`."""

    def place(start: int, end: int) -> Span:
        return Span(file, line, col + start, line, col + end)

    return place


def _type_of(typed: Any) -> RuleType | None:
    return getattr(typed, "type", None)


def _in_file_order(built: Mapping[str, Any], entries: Mapping[str, Entry]) -> dict[str, Any]:
    return {rule_id: built[rule_id] for rule_id in entries if rule_id in built}


def _compatible(declared: str, inferred: str) -> bool:
    if declared == inferred or inferred == "null":
        return True
    return (declared == "real" and inferred == "integer") or {declared, inferred} <= TEMPORAL


def _value_fits(value: object, rule_type: str) -> bool:
    if rule_type in NUMERIC:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if rule_type == "boolean":
        return isinstance(value, bool)
    return isinstance(value, str)


def _date(text: str | None) -> date | None:
    return date.fromisoformat(text) if text else None


_ZONES: set[str] = set()


def _zones() -> set[str]:
    if not _ZONES:
        _ZONES.update(available_timezones())
    return _ZONES


def incentive_kinds(offer: Offer) -> set[str]:
    """The incentive types an offer can hand out (its own and its variants')."""
    found = {offer.incentive.get("type")} if offer.incentive else set()
    found |= {v.incentive.get("type") for v in offer.variants if v.incentive}
    return {str(kind) for kind in found if kind is not None}


def windows_overlap(a: Window | None, b: Window | None) -> bool:
    """Whether two offer windows (both ends inclusive, open ends unbounded) share a day."""
    if a is None or b is None:
        return True
    starts = [d for d in (a.start, b.start) if d is not None]
    ends = [d for d in (a.until, b.until) if d is not None]
    return not starts or not ends or max(starts) <= min(ends)
