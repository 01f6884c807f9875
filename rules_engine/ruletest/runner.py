"""Running rule tests: each step through the same `plan` as production, then its expectations.

A test's steps run in order on the test's own store (fixture.py): rows are added, the rules
are planned as of the step's `as_of` with `execute.plan`, and every expectation is compared
with what the plan decided. A step followed by another is committed as a run by the run
writer `campaign run` uses (`audit.run_on`), so the next step sees its actions, exactly as a
later `campaign run` would. What went differently is reported key by key, and for an offer
with the decision in the words `campaign explain` uses.
"""

from __future__ import annotations

import fnmatch
import math
import sqlite3
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from typing import Any, Literal

from ..backends.sqlite.audit import GitState, git_state, run_on
from ..backends.sqlite.functions import register
from ..decide.records import Decision
from ..errors import CampaignError, Span
from ..execute import Plan, plan
from ..reference.explain import OfferLine, describe, explain
from ..report.render import offer_status
from ..rules.model import Expectation, RuleSet, RuleTest, RuleTestStep
from ..rules.overflow import overflow_message
from ..sql.compile import ValuesProgram, compile_values
from ..times import parse_instant, utc_text
from .fixture import EmptyStore, add_rows

Status = Literal["passed", "failed", "error"]


@dataclass(frozen=True)
class Mismatch:
    """One key of an expectation that did not hold: what was expected, what happened."""

    key: str  # segments, not_segments, metrics, offer, outcome, reason, channel, send_at
    name: str | None  # the segment or metric, for those keys
    expected: Any  # JSON values: true/false, numbers, text, null
    actual: Any
    span: Span  # where the key (or the segment or metric) is written


@dataclass(frozen=True)
class Failure:
    """An expectation that failed at one step, every mismatch, and for an offer the decision
    that decided it (as `explain` says it)."""

    step: int  # 1: the test itself; 2...: its `then:` steps
    as_of: datetime
    expectation: Expectation
    mismatches: tuple[Mismatch, ...]
    decided: tuple[str, ...] = ()
    timezone: str = "UTC"  # the rules' calendar: times are shown in it, next to UTC

    @property
    def span(self) -> Span:
        return self.expectation.span


@dataclass
class Exercised:
    """What the tests reached, for coverage: segments with a customer in and one out, offers
    that gave an action, channels an action used, suppression reasons produced."""

    members: set[str] = field(default_factory=set)
    non_members: set[str] = field(default_factory=set)
    offers: set[str] = field(default_factory=set)
    channels: set[str] = field(default_factory=set)
    reasons: set[str] = field(default_factory=set)

    def add(self, other: Exercised) -> None:
        for name in ("members", "non_members", "offers", "channels", "reasons"):
            getattr(self, name).update(getattr(other, name))


@dataclass(frozen=True)
class RuleTestResult:
    test: RuleTest
    status: Status
    failures: tuple[Failure, ...] = ()
    error: str | None = None
    error_step: int | None = None
    seconds: float = 0.0
    exercised: Exercised = field(default_factory=Exercised)

    @property
    def file(self) -> str:
        return self.test.span.file


@dataclass(frozen=True)
class RuleTestRun:
    """Every selected test's result, in rule-file order."""

    rules: RuleSet
    results: tuple[RuleTestResult, ...]
    seconds: float
    pattern: str | None = None

    def count(self, status: Status) -> int:
        return sum(r.status == status for r in self.results)

    @property
    def passed(self) -> bool:
        return bool(self.results) and all(r.status == "passed" for r in self.results)

    def exercised(self) -> Exercised:
        total = Exercised()
        for result in self.results:
            total.add(result.exercised)
        return total


Progress = Callable[[RuleTestResult], None]


def selected(rules: RuleSet, pattern: str | None) -> list[RuleTest]:
    """Tests whose id contains `pattern`, or matches it as a glob (`*`, `?`, `[...]`)."""
    tests = list(rules.tests.values())
    if pattern is None:
        return tests
    if any(char in pattern for char in "*?["):
        return [t for t in tests if fnmatch.fnmatchcase(t.id, pattern)]
    return [t for t in tests if pattern in t.id]


class Shared:
    """What the tests of one rule set share: the empty store each test copies, the values
    program at each as-of (compiled once for every step that runs at it: compiling is the
    larger part of planning a store of a few rows), and the rules' Git state for the run
    records of committed steps (read once, not twice with `git` for every run)."""

    def __init__(self, rules: RuleSet) -> None:
        self.rules = rules
        self.empty = EmptyStore(rules)
        self._programs: dict[tuple[datetime, object], ValuesProgram] = {}

    def program(self, as_of: datetime) -> ValuesProgram:
        key = (as_of, as_of.utcoffset())
        if key not in self._programs:
            self._programs[key] = compile_values(self.rules, as_of)
        return self._programs[key]

    @cached_property
    def git(self) -> GitState:
        return git_state(self.rules.files)

    def close(self) -> None:
        self.empty.close()


def run_tests(
    rules: RuleSet, *, pattern: str | None = None, progress: Progress | None = None
) -> RuleTestRun:
    """Run the checked rule set's tests (those `pattern` selects), each on its own store."""
    started = time.perf_counter()
    results = []
    shared = Shared(rules)
    try:
        for test in selected(rules, pattern):
            result = run_test(rules, test, shared)
            if progress is not None:
                progress(result)
            results.append(result)
    finally:
        shared.close()
    return RuleTestRun(rules, tuple(results), time.perf_counter() - started, pattern)


def _why(exc: Exception, rules: RuleSet) -> str:
    """Why a test could not run, in the words the commands use for the same fault."""
    if isinstance(exc, CampaignError):
        return str(exc)
    if isinstance(exc, sqlite3.OperationalError) and str(exc) == "integer overflow":
        return overflow_message(rules, "its rows: ")
    return f"{type(exc).__name__}: {exc}"


def run_test(rules: RuleSet, test: RuleTest, shared: Shared | None = None) -> RuleTestResult:
    """One test, on a copy of the shared empty store (all made here when not given)."""
    if shared is None:
        shared = Shared(rules)
        try:
            return run_test(rules, test, shared)
        finally:
            shared.close()
    started = time.perf_counter()
    exercised = Exercised()
    failures: list[Failure] = []
    conn = shared.empty.copy()
    step_number = 0
    try:
        for step_number, step in enumerate(test.steps, start=1):
            later = step_number < len(test.steps)
            outcome = _run_step(conn, rules, test, step, step_number, shared, commit=later)
            failures += _check_step(conn, rules, step, step_number, outcome)
            exercised.add(outcome.exercised())
    except Exception as exc:  # a test that cannot run is reported, and the others still run
        return RuleTestResult(
            test,
            "error",
            tuple(failures),
            _why(exc, rules),
            step_number,
            time.perf_counter() - started,
            exercised,
        )
    finally:
        conn.close()
    status: Status = "failed" if failures else "passed"
    return RuleTestResult(
        test, status, tuple(failures), None, None, time.perf_counter() - started, exercised
    )


# -- one step ------------------------------------------------------------------------------


@dataclass(frozen=True)
class StepOutcome:
    """A step's plan, and every customer's metrics and segments as the plan computed them."""

    plan: Plan
    values: dict[int, dict[str, Any]]
    decisions: dict[tuple[int, str], Decision]

    @classmethod
    def of(cls, decided: Plan, values: dict[int, dict[str, Any]]) -> StepOutcome:
        by_key = {(d.customer_id, d.offer_id): d for d in decided.decisions}
        return cls(decided, values, by_key)

    def decision(self, customer: int, offer: str) -> Decision | None:
        return self.decisions.get((customer, offer))

    def actions_of(self, customer: int) -> list[Decision]:
        return [d for d in self.plan.actions if d.customer_id == customer]

    def exercised(self) -> Exercised:
        seen = Exercised()
        for row in self.values.values():
            for segment in self.plan.rules.segments:
                (seen.members if row.get(segment) else seen.non_members).add(segment)
        for d in self.plan.decisions:
            if d.outcome == "action":
                seen.offers.add(d.offer_id)
                if d.channel is not None:
                    seen.channels.add(d.channel)
            elif d.outcome == "suppressed" and d.reason is not None:
                seen.reasons.add(d.reason)
        return seen


def _run_step(
    conn: sqlite3.Connection,
    rules: RuleSet,
    test: RuleTest,
    step: RuleTestStep,
    number: int,
    shared: Shared,
    *,
    commit: bool,
) -> StepOutcome:
    """Add the step's rows and plan; a step with a later one is committed as a run."""
    add_rows(conn, step.rows)
    program = shared.program(step.as_of)
    if commit:
        key = f"campaign test {test.id} step {number}"
        result = run_on(conn, rules, step.as_of, key, wait=0, program=program, git=shared.git)
        assert result.plan is not None  # each step has its own run key
        decided = result.plan
    else:
        decided = plan(conn, rules, step.as_of, program=program)
    return StepOutcome.of(decided, _values(conn))


def _values(conn: sqlite3.Connection) -> dict[int, dict[str, Any]]:
    """Every customer's metrics and segments from the plan's `customer_values`."""
    cursor = conn.execute("SELECT * FROM temp.customer_values")
    names = [d[0] for d in cursor.description]
    return {row[0]: dict(zip(names, row, strict=True)) for row in cursor}


# -- expectations --------------------------------------------------------------------------


def _check_step(
    conn: sqlite3.Connection,
    rules: RuleSet,
    step: RuleTestStep,
    number: int,
    outcome: StepOutcome,
) -> list[Failure]:
    failures = []
    for expectation in step.expect:
        values = outcome.values.get(expectation.customer, {})
        found = _segment_mismatches(expectation, values)
        found += _metric_mismatches(rules, expectation, values)
        offer_found, offers = _offer_mismatches(expectation, outcome)
        found += offer_found
        if found:
            words = _decided(conn, rules, step.as_of, expectation.customer, offers, outcome)
            zone = rules.calendar.timezone
            failures.append(Failure(number, step.as_of, expectation, tuple(found), words, zone))
    return failures


def _segment_mismatches(e: Expectation, values: Mapping[str, Any]) -> list[Mismatch]:
    found = []
    for key, wanted in (("segments", True), ("not_segments", False)):
        for name in getattr(e, key):
            member = bool(values.get(name))
            if member != wanted:
                found.append(Mismatch(key, name, wanted, member, e.where(f"{key}.{name}")))
    return found


def _metric_mismatches(rules: RuleSet, e: Expectation, values: Mapping[str, Any]) -> list[Mismatch]:
    found = []
    for name, wanted in e.metrics:
        kind = rules.metrics[name].type
        actual = values.get(name)
        if not _same_value(wanted, actual, kind):
            shown = _shown_value(actual, kind)
            found.append(Mismatch("metrics", name, wanted, shown, e.where(f"metrics.{name}")))
    return found


def _same_value(wanted: Any, actual: Any, kind: str) -> bool:
    """An expected value (as YAML gives it) against the engine's form of a metric's value."""
    if wanted is None or actual is None:
        return wanted is None and actual is None
    if kind == "boolean":
        return bool(wanted) == bool(actual)
    if kind == "datetime":
        return int(parse_instant(wanted).timestamp()) == int(actual)
    if kind in ("integer", "real"):
        return math.isclose(float(wanted), float(actual), rel_tol=1e-9, abs_tol=1e-9)
    return bool(wanted == actual)


def _shown_value(actual: Any, kind: str) -> Any:
    """A metric's value as the test would write it."""
    if actual is None:
        return None
    if kind == "boolean":
        return bool(actual)
    if kind == "datetime":
        return utc_text(datetime.fromtimestamp(int(actual), UTC))
    return actual


def _offer_mismatches(e: Expectation, outcome: StepOutcome) -> tuple[list[Mismatch], list[str]]:
    """The mismatches of the offer keys, and the offers whose decision explains them."""
    if not e.checks_offer:
        return [], []
    if e.offer is None:
        offers = [d.offer_id for d in outcome.actions_of(e.customer)]
        if not offers:
            return [], []
        return [Mismatch("offer", None, None, offers, e.where("offer"))], offers
    d = outcome.decision(e.customer, e.offer)
    found = []
    wanted = e.outcome or "action"
    actual = d.outcome if d is not None else None
    if actual != wanted:
        key = "outcome" if e.outcome is not None else "offer"
        found.append(Mismatch(key, None, wanted, actual, e.where(key)))
    if e.reason is not None and (d is None or d.reason != e.reason):
        found.append(Mismatch("reason", None, e.reason, d and d.reason, e.where("reason")))
    if e.channel is not None and (d is None or d.channel != e.channel):
        found.append(Mismatch("channel", None, e.channel, d and d.channel, e.where("channel")))
    if e.send_at is not None and (d is None or d.send_at != e.send_at):
        sent = utc_text(d.send_at) if d is not None and d.send_at is not None else None
        found.append(Mismatch("send_at", None, utc_text(e.send_at), sent, e.where("send_at")))
    return found, ([e.offer] if found else [])


def _decided(
    conn: sqlite3.Connection,
    rules: RuleSet,
    as_of: datetime,
    customer: int,
    offers: Iterable[str],
    outcome: StepOutcome,
) -> tuple[str, ...]:
    """Each offer's decision for the customer in explain's words: the plan's decision where
    there is one; otherwise why the customer was not a candidate, as `explain` finds it."""
    words = []
    explained: dict[str, OfferLine] | None = None
    for offer in offers:
        d = outcome.decision(customer, offer)
        if d is not None:
            line = OfferLine(offer, True, True, decision=d)
        elif offer not in outcome.plan.offers_in_play:
            line = OfferLine(offer, False)
        else:
            if explained is None:
                explained = _explain_offers(conn, rules, as_of, customer)
            line = explained.get(offer, OfferLine(offer, True, False))
        text = f"{offer}: {offer_status(line, rules)}"
        if line.in_play and not line.audience and line.trace is not None:
            text += f" (audience: {line.trace.text} → {describe(line.trace.value)})"
        words.append(text)
    return tuple(words)


def _explain_offers(
    conn: sqlite3.Connection, rules: RuleSet, as_of: datetime, customer: int
) -> dict[str, OfferLine]:
    """`explain` of one customer, on a copy of the test's store (its own temp tables)."""
    copy = register(sqlite3.connect(":memory:"))
    try:
        conn.backup(copy)
        found = explain(copy, rules, as_of, customer, population=True)
    finally:
        copy.close()
    return {line.id: line for line in found.offers}
