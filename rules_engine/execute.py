"""Execute: the contract's decision procedure on a store, producing a `Plan`.

In the order of SPEC "How decisions are made": metrics and segments (compile.py), channel
lifecycle, each customer's channels and each offer's audience (audience.py), then what
earlier messages and runs count against caps, capacity and budgets, and the sequential
allocation (allocate.py). Nothing is written to the store here: `plan` runs this on a
read-only connection, `run` (audit.py) inside its write transaction.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from .backends import backend_for, engine_of
from .backends.readers import (
    channel_lifecycle,
    count_segments,
    read_capacity,
    read_exits,
    read_runs_at,
    read_totals,
)
from .decide.allocate import in_allocation_order
from .decide.records import (
    ChannelExit,
    Decision,
    LifecycleState,
    OfferTotals,
)
from .rules.model import Offer, RuleSet
from .sql import audience
from .sql.compile import Statement, ValuesProgram, compile_values, decision_values
from .sql.namespace import Namespace

if TYPE_CHECKING:  # numpy loads only when a whole store is planned: explain starts without it
    from .decide.allocate_arrays import OfferDecisions

Progress = Callable[[str], None]  # one line about what is being done now


@dataclass
class Plan:
    """Every decision of one run of the rules, and what a report needs to explain them."""

    rules: RuleSet
    as_of: datetime
    customers: int
    segments: dict[str, int]
    offers_in_play: tuple[str, ...]
    lifecycle: dict[str, LifecycleState]
    by_offer: list[OfferDecisions]  # in allocation order
    exits: list[ChannelExit]
    earlier: dict[str, OfferTotals]  # each offer's actions and spend from earlier runs
    timings: dict[str, float] = field(default_factory=dict)
    # Runs already committed at this same as-of, (run key, actions), oldest first: their
    # actions count against this plan's caps, cooldowns, max_actions and budgets.
    runs_at_as_of: tuple[tuple[str, int], ...] = ()

    @cached_property
    def decisions(self) -> list[Decision]:
        """Every decision, in allocation order (made on first use: a million of them take
        a while, and the plan's tables need only `by_offer`)."""
        return [d for offer in self.by_offer for d in offer.rows()]

    @property
    def actions(self) -> list[Decision]:
        """The action list: one per (customer, offer), sorted by customer id then offer id."""
        found = [d for d in self.decisions if d.outcome == "action"]
        return sorted(found, key=lambda d: (d.customer_id, d.offer_id))

    @property
    def audit(self) -> list[Decision]:
        return sorted(self.decisions, key=lambda d: (d.customer_id, d.offer_id))


class Stages:
    """Wall time per stage, and a line to `progress` as each stage starts."""

    def __init__(self, progress: Progress | None) -> None:
        self.progress = progress
        self.timings: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str, what: str = "", announce: bool = True) -> Iterator[None]:
        if self.progress is not None and announce:
            self.progress(f"{name}: {what}" if what else name)
        started = time.perf_counter()
        try:
            yield
        finally:
            self.timings[name] = self.timings.get(name, 0.0) + time.perf_counter() - started

    def run(self, conn: Any, statements: Sequence[Statement]) -> None:
        for statement in statements:
            announce = statement.announced and statement.stage != "setup"
            with self.stage(statement.stage, statement.label, announce):
                conn.execute(statement.sql, list(statement.params))


def offers_in_play(rules: RuleSet, as_of: datetime) -> list[Offer]:
    """Offers whose window (calendar dates, both ends inclusive) holds the as-of date."""
    today = as_of.astimezone(ZoneInfo(rules.calendar.timezone)).date()
    return [o for o in rules.offers.values() if o.window is None or o.window.contains(today)]


def plan_store(
    path: str | Path,
    rules: RuleSet,
    as_of: datetime,
    *,
    cache_mb: int = 256,
    progress: Progress | None = None,
) -> Plan:
    """`campaign plan`: the whole decision procedure on a store opened read-only."""
    with backend_for(path).planning(path, cache_mb) as conn:
        return plan(conn, rules, as_of, progress=progress)


def values_store(
    path: str | Path,
    rules: RuleSet,
    as_of: datetime,
    out: str | Path,
    *,
    cache_mb: int = 256,
    progress: Progress | None = None,
    with_addresses: bool = False,
) -> int:
    """`campaign metrics`: every customer's metrics and segments, streamed to CSV or JSONL;
    a metric whose value is an address is written only `with_addresses`, to a 0600 file."""
    from .addresses import refuse_unasked
    from .report.export import export_values, format_of

    format_of(out)
    private = refuse_unasked(rules, with_addresses)
    with backend_for(path).planning(path, cache_mb) as conn:
        program = compile_values(rules, as_of, dialect=engine_of(conn).dialect)
        Stages(progress).run(conn, program.statements)
        if progress is not None:
            progress(f"writing {out}")
        return export_values(conn, program.columns, out, private=private)


def plan(
    conn: Any,
    rules: RuleSet,
    as_of: datetime,
    *,
    namespace: str = "",
    progress: Progress | None = None,
    program: ValuesProgram | None = None,
) -> Plan:
    """Decide everything for `as_of`; reads the store, writes only temp tables, each named
    with the `namespace` prefix (say "base_"): plans in different namespaces can share one
    connection, in any order, even one inside another. `program` is the rules' values program
    (`compile_values`, in the same namespace) with only the statements still to run, when the
    connection already holds the results of the others (`diff` plans two rule sets)."""
    ns = Namespace(namespace)
    stages = Stages(progress)
    engine = engine_of(conn)
    dialect = engine.dialect
    if program is None:  # only what the decisions read (callers reading more bring theirs)
        program = compile_values(rules, as_of, ns=ns, dialect=dialect, kept=decision_values(rules))
    elif program.ns != ns:
        raise ValueError(
            f"the values program is in namespace {program.ns.prefix!r}, not {namespace!r}"
        )
    stages.run(conn, program.statements)
    with stages.stage("lifecycle"):
        lifecycle = channel_lifecycle(conn, rules, as_of, dialect)
    in_exit = [name for name, state in lifecycle.items() if state.state == "exit"]
    offers = offers_in_play(rules, as_of)
    stages.run(conn, audience.candidate_statements(rules, offers, as_of, ns=ns, dialect=dialect))
    stages.run(conn, audience.channel_state_statements(rules, as_of, in_exit, ns, dialect))
    with stages.stage("allocation", "offers in priority order"):
        audiences = engine.read_audiences(conn, rules, offers, ns)
    with stages.stage("history", "earlier contacts and runs"):
        history = engine.read_messages(conn, rules, as_of, audiences, ns)
        capacity = read_capacity(conn, rules, as_of, ns, dialect)
        earlier = read_totals(conn)
        same_as_of = read_runs_at(conn, as_of, dialect)
    with stages.stage("allocation", announce=False):
        from .decide.allocate_arrays import ArrayAllocator

        allocator = ArrayAllocator(
            channels=rules.channels,
            calendar=rules.calendar,
            as_of=as_of,
            audiences=audiences,
            history=history,
            groups={o.id: o.group for o in rules.offers.values()},
            capacity_used=capacity,
            totals=earlier,
        )
        decided = [allocator.decide(offer) for offer in in_allocation_order(offers)]
    with stages.stage("exits"):
        exits = read_exits(conn, rules, as_of, ns, dialect)
    with stages.stage("segments", "counts"):
        customers, segments = count_segments(conn, program)
    return Plan(
        rules,
        as_of,
        customers,
        segments,
        tuple(o.id for o in offers),
        lifecycle,
        decided,
        exits,
        earlier,
        stages.timings,
        same_as_of,
    )


# -- what a plan adds up to ---------------------------------------------------------------------
