"""Explain: one customer, every value and every decision, with the reasons a marketer reads.

Everything is computed twice: by the Python reference evaluator on the customer's own rows
(oracle.py) and by the compiled SQL restricted to that customer (sql/compile.py, sql/audience.py).
The two must agree; where they do not, the explanation says so loudly (a bug to report).
The offers are then decided in the contract's order, against the messages and earlier runs
in the store. A customer's decision depends on other customers only through limits they share
(channel capacity, an offer's budget and max_actions) and through population ranks (`ntile`):
where any of those is in play for the customer, explain decides the whole allocation, exactly
as `campaign plan` does, and shows this customer's part of it; otherwise this customer alone
decides the same. Either way explain never contradicts plan.

Population ranks (`ntile`) need every customer; they are computed only with `population`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from ..addresses import HIDDEN, address_columns, address_metrics, mentions
from ..backends import backend_for, dialect_of
from ..backends.readers import audience_offers, channel_lifecycle, read_history, read_totals
from ..decide.allocate import allocate
from ..decide.records import Candidate, Decision, LifecycleState
from ..errors import InputError
from ..execute import offers_in_play, plan
from ..expr.evaluate import Environment, Value, as_type, evaluate
from ..expr.nodes import ListLit, Literal, Node, children, to_text
from ..rules.model import Offer, RuleSet
from ..sql import audience
from ..sql.compile import Statement, compile_values
from ..sql.dialect import reported_real
from ..store import as_stored
from ..times import parse_instant, utc_text
from .oracle import (
    CustomerData,
    channel_blocked,
    channel_exit_now,
    engine_form,
    evaluate_values,
    read_customers,
    uses_population,
)


@dataclass(frozen=True)
class Trace:
    """A sub-expression, its value for this customer, and its parts."""

    text: str
    value: Value
    parts: tuple[Trace, ...] = ()


@dataclass(frozen=True)
class ValueLine:
    """A metric or segment: its value in Python and in SQL, and where it is defined."""

    name: str
    kind: str
    value: Value
    sql: Any
    agrees: bool
    where: str
    trace: Trace | None = None
    population: bool = False  # an ntile rank: needs every customer


@dataclass(frozen=True)
class ChannelLine:
    id: str
    blocked: str | None  # first static reason, or None: usable
    sql_blocked: str | None
    exit_now: bool
    lifecycle: str | None


@dataclass(frozen=True)
class OfferLine:
    id: str
    in_play: bool
    audience: bool | None = None  # in the audience: audience true, exclude not true
    excluded: bool | None = None
    cooldown: bool | None = None
    sql_audience: bool | None = None
    decision: Decision | None = None
    trace: Trace | None = None


@dataclass
class Explanation:
    customer_id: int
    as_of: datetime
    values: list[ValueLine] = field(default_factory=list)
    channels: list[ChannelLine] = field(default_factory=list)
    offers: list[OfferLine] = field(default_factory=list)
    committed: list[dict[str, Any]] = field(default_factory=list)  # audit rows of earlier runs
    population: bool = False
    wrong_types: list[str] = field(default_factory=list)  # store values not of their column's type
    # why the whole store's allocation was decided (shared limits, ranks); None: this
    # customer alone decides the same
    whole_store: str | None = None
    plan_file: str | None = None  # the plan file the decisions were taken from (explain --plan)

    @property
    def disagreements(self) -> list[str]:
        found = [
            f"{v.kind} `{v.name}`: Python {v.value!r}, SQL {v.sql!r}"
            for v in self.values
            if not v.agrees
        ]
        found += [
            f"channel `{c.id}`: Python {c.blocked or 'usable'}, SQL {c.sql_blocked or 'usable'}"
            for c in self.channels
            if c.blocked != c.sql_blocked
        ]
        found += [
            f"offer `{o.id}` audience: Python {o.audience}, SQL {o.sql_audience}"
            for o in self.offers
            if o.in_play and o.audience != o.sql_audience
        ]
        return found


def trace(node: Node, env: Environment) -> Trace:
    """Every sub-expression's value, for a tree a marketer can read (literals left out)."""
    parts = tuple(
        trace(child, env) for child in children(node) if not isinstance(child, Literal | ListLit)
    )
    return Trace(to_text(node), evaluate(node, env), parts)


def explain_store(
    path: str | Path,
    rules: RuleSet,
    as_of: datetime,
    customer_id: int,
    *,
    population: bool = False,
    cache_mb: int = 256,
    show_addresses: bool = False,
) -> Explanation:
    """`campaign explain`: the store opened read-only, one customer explained; values read
    from address columns masked unless `show_addresses`."""
    with backend_for(path).planning(path, cache_mb) as conn:
        found = explain(conn, rules, as_of, customer_id, population=population)
    return found if show_addresses else masked(found, rules)


def masked(found: Explanation, rules: RuleSet) -> Explanation:
    """The explanation with every text value read from an address column hidden."""
    holding = set(address_metrics(rules))
    columns = address_columns(rules) | holding  # metrics that hold addresses read as them

    def hide(t: Trace) -> Trace:
        value = HIDDEN if isinstance(t.value, str) and mentions(t.text, columns) else t.value
        return Trace(t.text, value, tuple(hide(p) for p in t.parts))

    values = [
        replace(
            v,
            value=HIDDEN if v.name in holding and v.value is not None else v.value,
            sql=HIDDEN if v.name in holding and v.sql is not None else v.sql,
            trace=hide(v.trace) if v.trace is not None else None,
        )
        for v in found.values
    ]
    offers = [replace(o, trace=hide(o.trace) if o.trace else None) for o in found.offers]
    return replace(found, values=values, offers=offers)


def explain(
    conn: Any,
    rules: RuleSet,
    as_of: datetime,
    customer_id: int,
    *,
    population: bool = False,
    planned: Sequence[Decision] | None = None,
    lifecycle: Mapping[str, LifecycleState] | None = None,
) -> Explanation:
    """One customer explained on `conn`; the offers decided as `plan` decides them, or, given
    `planned`, as a saved plan decided them (the customer's decisions in a plan file), with
    the channels' `lifecycle` states that plan found (read from the store when not given)."""
    found = read_customers(conn, rules, [customer_id])
    if not found:
        raise InputError(f"customer {customer_id} is not in the store")
    customer = found[0]
    result = Explanation(customer_id, as_of, population=population)
    result.wrong_types = wrong_types(rules, customer)
    sql_values = _sql_values(conn, rules, as_of, customer_id, population)
    ranks = _ranks(rules, sql_values) if population else _no_ranks(rules)
    values = evaluate_values(rules, [customer], as_of, ranks=ranks)[customer_id]
    env = Environment(values, as_of, rules.calendar.timezone)
    result.values = _value_lines(rules, values, sql_values, env)
    dialect = dialect_of(conn)
    if lifecycle is None:
        lifecycle = channel_lifecycle(conn, rules, as_of, dialect)
    in_exit = [c for c, state in lifecycle.items() if state.state == "exit"]
    offers = offers_in_play(rules, as_of)
    _run(conn, audience.candidate_statements(rules, offers, as_of, customer_id, dialect=dialect))
    # channel states are computed for audience members; explain shows them for anyone
    conn.execute(
        "INSERT INTO temp.candidates (customer_id) SELECT CAST(? AS BIGINT) WHERE NOT EXISTS "
        "(SELECT 1 FROM temp.candidates WHERE customer_id = ?)",
        (customer_id, customer_id),
    )
    _run(conn, audience.channel_state_statements(rules, as_of, in_exit, dialect=dialect))
    sql_blocked = _sql_channels(conn, rules)
    exits_in_force = _exits_in_force(conn, customer_id, as_of)
    blocked = {}
    for channel in audience.address_channels(rules):
        reason = channel_blocked(
            channel,
            env,
            exit_in_force=channel.id in exits_in_force,
            lifecycle_exit=channel.id in in_exit,
        )
        blocked[channel.id] = reason
        state = lifecycle.get(channel.id)
        result.channels.append(
            ChannelLine(
                channel.id,
                reason,
                sql_blocked.get(channel.id),
                channel_exit_now(channel, env),
                state.state if state else None,
            )
        )
    result.offers, result.whole_store = _offers(
        conn, rules, as_of, customer, env, blocked, offers, population, planned
    )
    result.committed = _committed(conn, customer_id, as_of)
    return result


def wrong_types(rules: RuleSet, customer: CustomerData) -> list[str]:
    """The customer's store values that are not of their column's type (text in a number
    column, a time that is not ISO-8601): SQL and the Python reference read them differently."""
    tables = [("customers", [customer.row]), *sorted(customer.related.items())]
    found = []
    for table, rows in tables:
        types = rules.schema.columns(table)
        for row in rows:
            for column, value in row.items():
                if value is not None and as_type(value, types.get(column)) is None:
                    where = f" (row id {row['id']})" if "id" in row and table != "customers" else ""
                    found.append(f"{table}.{column} holds {value!r}{where}")
    return found


def _run(conn: Any, statements: Sequence[Statement]) -> None:
    for statement in statements:
        conn.execute(statement.sql, list(statement.params))


def _sql_values(
    conn: Any, rules: RuleSet, as_of: datetime, customer_id: int, population: bool
) -> dict[str, Any]:
    """The customer's row of `customer_values`; with `population`, ranks over every customer.
    Booleans as 1/0, as SQLite keeps them (DuckDB's are real booleans)."""
    only = None if population else customer_id
    dialect = dialect_of(conn)
    program = compile_values(rules, as_of, customer=only, population=population, dialect=dialect)
    _run(conn, program.statements)
    cursor = conn.execute(
        "SELECT * FROM temp.customer_values WHERE customer_id = ?", (customer_id,)
    )
    names = [d[0] for d in cursor.description]
    row = cursor.fetchone()
    values = [int(v) if isinstance(v, bool) else v for v in row or ()]
    return dict(zip(names, values, strict=True)) if row else {}


def _population_metrics(rules: RuleSet) -> list[str]:
    return [m.id for m in rules.metrics.values() if not m.table and uses_population(m.value.node)]


def _ranks(rules: RuleSet, sql_values: Mapping[str, Any]) -> dict[str, dict[int, Any]]:
    cid = sql_values["customer_id"]
    return {name: {cid: sql_values.get(name)} for name in _population_metrics(rules)}


def _no_ranks(rules: RuleSet) -> dict[str, dict[int, Any]]:
    return {name: {} for name in _population_metrics(rules)}


def _value_lines(
    rules: RuleSet, values: Mapping[str, Value], sql: Mapping[str, Any], env: Environment
) -> list[ValueLine]:
    lines = []
    population = set(_population_metrics(rules))
    for metric in rules.metrics.values():
        python = engine_form(values[metric.id], metric.type)
        lines.append(
            ValueLine(
                metric.id,
                "metric",
                values[metric.id],
                reported_real(sql.get(metric.id)) if metric.type == "real" else sql.get(metric.id),
                same(python, sql.get(metric.id)),
                str(metric.span),
                None if metric.table else trace(metric.value.node, env),
                metric.id in population,
            )
        )
    for segment in rules.segments.values():
        member = values[segment.id]
        lines.append(
            ValueLine(
                segment.id,
                "segment",
                member,
                sql.get(segment.id),
                same(int(member), sql.get(segment.id)),
                str(segment.span),
                trace(segment.where.node, env),
            )
        )
    return lines


def same(python: Any, sql: Any) -> bool:
    """Equal as the store keeps values; reals to nine significant digits (SQL sums in another
    order than Python)."""
    if isinstance(python, float) or isinstance(sql, float):
        if python is None or sql is None:
            return python is sql
        return math.isclose(python, sql, rel_tol=1e-9, abs_tol=1e-9)
    return bool(python == sql)


def _sql_channels(conn: Any, rules: RuleSet) -> dict[str, str | None]:
    columns = audience.channel_columns(rules)
    if not columns:
        return {}
    row = conn.execute(
        f"SELECT {', '.join(c.reason for c in columns)} FROM temp.channel_state"
    ).fetchone()
    return {
        c.channel: value for c, value in zip(columns, row or [None] * len(columns), strict=True)
    }


def _exits_in_force(conn: Any, customer_id: int, as_of: datetime) -> set[str]:
    rows = conn.execute(
        'SELECT "channel", "exited_at", "until" FROM "channel_exits" WHERE "customer_id" = ?',
        (customer_id,),
    ).fetchall()
    found = set()
    for channel, exited_at, until in rows:
        start = _instant(exited_at)
        end = _instant(until)
        if start is not None and start <= as_of and (until is None or (end and end > as_of)):
            found.add(channel)
    return found


def _instant(text: Any) -> datetime | None:
    """A time as read from the store: text (SQLite; DuckDB's engine tables) or a TIMESTAMP."""
    text = as_stored(text)
    try:
        return parse_instant(text) if isinstance(text, str) else None
    except ValueError:
        return None


def _offers(
    conn: Any,
    rules: RuleSet,
    as_of: datetime,
    customer: CustomerData,
    env: Environment,
    blocked: Mapping[str, str | None],
    offers: Sequence[Offer],
    population: bool,
    planned: Sequence[Decision] | None,
) -> tuple[list[OfferLine], str | None]:
    """Each offer in allocation order: in play, audience, exclude, cooldown, then the
    decision, as the whole allocation makes it (and why it took the whole store), or as
    `planned` holds it."""
    sql_in = audience_offers(conn, offers, customer.id)
    cooling = in_cooldown(conn, offers, customer.id, as_of)
    candidates: dict[str, list[Candidate]] = {}
    facts: dict[str, tuple[bool, bool, bool]] = {}
    for offer in offers:
        member = evaluate(offer.audience.node, env) is True
        excluded = offer.exclude is not None and evaluate(offer.exclude.node, env) is True
        cooldown = offer.id in cooling
        facts[offer.id] = (member and not excluded, excluded, cooldown)
        if member and not excluded:
            rank = evaluate(offer.rank.node, env) if offer.rank is not None else None
            reasons = {ch: blocked.get(ch, "no_address") for ch in offer.channels}
            timezone = customer.row.get("timezone")
            rank_value = None if rank is None else float(rank)
            candidates[offer.id] = [Candidate(customer.id, rank_value, timezone, cooldown, reasons)]
    if planned is None:
        decided, shared = _decided(conn, rules, as_of, customer, offers, candidates, population)
    else:
        decided, shared = {d.offer_id: d for d in planned}, None
    decided = {k: _with_detail(rules, as_of, d) for k, d in decided.items()}
    lines = []
    for offer in sorted(rules.offers.values(), key=lambda o: (-o.priority, o.id)):
        if offer.id not in facts:
            lines.append(OfferLine(offer.id, False))
            continue
        in_audience, excluded, cooldown = facts[offer.id]
        lines.append(
            OfferLine(
                offer.id,
                True,
                in_audience,
                excluded,
                cooldown,
                offer.id in sql_in,
                decided.get(offer.id),
                trace(offer.audience.node, env),
            )
        )
    return lines, shared


def _decided(
    conn: Any,
    rules: RuleSet,
    as_of: datetime,
    customer: CustomerData,
    offers: Sequence[Offer],
    candidates: Mapping[str, list[Candidate]],
    population: bool,
) -> tuple[dict[str, Decision], str | None]:
    """The customer's decisions by offer, decided for the customer alone or, where it shares
    a limit or a rank with others, over the whole store (and why)."""
    decisions = allocate(
        offers,
        candidates,
        channels=rules.channels,
        calendar=rules.calendar,
        as_of=as_of,
        history=read_history(conn, rules, as_of, dialect=dialect_of(conn)),
        totals=read_totals(conn),
    )
    decided = {d.offer_id: d for d in decisions}
    shared = _shared(rules, [o for o in offers if o.id in candidates], population)
    if shared is not None:
        whole = plan(conn, rules, as_of, namespace="explain_whole_")
        decided = {d.offer_id: d for d in whole.decisions if d.customer_id == customer.id}
    return decided, shared


def _with_detail(rules: RuleSet, as_of: datetime, d: Decision) -> Decision:
    """The decision with the rule that stopped it named: which caps, budget, blackout."""
    if d.detail is not None or d.outcome != "suppressed":
        return d
    offer, channel = rules.offers[d.offer_id], d.channel
    detail: str | None = None
    if d.reason == "budget" and offer.budget is not None:
        b = offer.budget
        detail = f"budget {b.total:g} less {b.reserve:.0%} reserve: {b.spendable:g} to spend"
    elif d.reason == "max_actions":
        detail = f"max_actions {offer.max_actions}"
    elif d.reason == "capacity" and channel in rules.channels:
        detail = f"{channel} capacity {rules.channels[channel].capacity_per_day} a day"
    elif d.reason == "min_gap" and rules.calendar.min_gap is not None:
        detail = f"min_gap {_duration(rules.calendar.min_gap)}"
    elif d.reason == "frequency_cap":
        caps = [
            f"{'group ' + c.group if c.group else c.channel}: {c.max} per {_duration(c.per)}"
            for c in rules.calendar.frequency_caps
            if c.channel in ("*", channel) or (c.group is not None and c.group == offer.group)
        ]
        detail = "caps " + "; ".join(caps) if caps else None
    elif d.reason == "blackout":
        day = as_of.astimezone(ZoneInfo(rules.calendar.timezone)).date()
        hits = [
            f"{b.start}..{b.until}" + (f" ({b.reason})" if b.reason else "")
            for b in rules.calendar.blackouts
            if (b.channels is None or channel in b.channels) and b.until >= day
        ]
        until = offer.window.until if offer.window else None
        detail = f"blackout {', '.join(hits)} until the window ends {until}" if hits else None
    return replace(d, detail=detail) if detail else d


def _duration(span: timedelta) -> str:
    hours = int(span.total_seconds()) // 3600
    return f"{hours // 24}d" if hours % 24 == 0 else f"{hours}h"


def _shared(rules: RuleSet, offers: Sequence[Offer], population: bool) -> str | None:
    """What couples this customer's decisions to other customers', in words; None: nothing."""
    found = []
    if not population and any(uses_population(m.value.node) for m in rules.metrics.values()):
        found.append("population ranks (ntile)")
    for offer in offers:
        limits = [name for name in ("budget", "max_actions") if getattr(offer, name) is not None]
        limits += [
            f"{ch} capacity"
            for ch in offer.channels
            if ch in rules.channels and rules.channels[ch].capacity_per_day is not None
        ]
        if limits:
            found.append(f"{offer.id}: {', '.join(limits)}")
    return "; ".join(found) if found else None


def in_cooldown(conn: Any, offers: Sequence[Offer], customer_id: int, as_of: datetime) -> set[str]:
    """The offers the customer is in the cooldown of: contacted within it, or an action
    planned for after its start (the customer's contacts and actions read once for all)."""
    sent = conn.execute(
        'SELECT "offer_id", "sent_at" FROM "contacts" WHERE "customer_id" = ?', (customer_id,)
    ).fetchall()
    planned = conn.execute(
        'SELECT "offer_id", "send_at" FROM "actions" WHERE "customer_id" = ?', (customer_id,)
    ).fetchall()
    found = set()
    for offer in offers:
        if offer.cooldown is None:
            continue
        start = as_of - offer.cooldown
        times = [_instant(at) for offer_id, at in sent if offer_id == offer.id]
        later = [_instant(at) for offer_id, at in planned if offer_id == offer.id]
        if any(t is not None and start < t <= as_of for t in times) or any(
            t is not None and t > start for t in later
        ):
            found.add(offer.id)
    return found


def _committed(conn: Any, customer_id: int, as_of: datetime) -> list[dict[str, Any]]:
    """Audit rows that runs at this very as-of committed for the customer."""
    cursor = conn.execute(
        'SELECT r."run_key", a.* FROM "audit" AS a JOIN "runs" AS r ON r."run_id" = a."run_id" '
        'WHERE a."customer_id" = ? AND r."as_of" = ? ORDER BY r."run_key", a."offer_id"',
        (customer_id, utc_text(as_of)),
    )
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def describe(value: Value) -> str:
    """A value as a marketer reads it."""
    if value is None:
        return "missing"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return utc_text(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)
