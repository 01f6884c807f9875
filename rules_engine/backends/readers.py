"""Readers every backend shares: what a plan reads in few rows (a channel's lifecycle, the
capacity used, earlier runs' totals, the runs at this as-of, exits, segment counts), and what
explain and the one-candidate-at-a-time allocator read as Python objects (each offer's
candidates, each customer's messages).

Each runs a statement of `sql/` in the connection's dialect through the DB-API calls SQLite's
and DuckDB's Python connections both have (`execute(sql, params)`, `fetchone`, `fetchall`).
What a backend reads in many rows (audiences, messages) is in its own `readers.py`.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from fractions import Fraction
from typing import Any

from ..backends.sqlite.dialect import SQLITE
from ..decide.records import (
    LIFECYCLE_GATES,
    PERIOD_NAMES,
    Candidate,
    ChannelExit,
    LifecycleState,
    Message,
    OfferTotals,
    state_of,
)
from ..decide.sendtime import zone
from ..rules.model import Offer, RuleSet
from ..sql import audience, history
from ..sql.compile import Statement, ValuesProgram
from ..sql.dialect import Dialect
from ..sql.namespace import DEFAULT, Namespace
from ..store import as_stored


def rows(conn: Any, statement: Statement) -> list[tuple[Any, ...]]:
    result: list[tuple[Any, ...]] = conn.execute(statement.sql, list(statement.params)).fetchall()
    return result


def streamed(conn: Any, statement: Statement, size: int = 10_000) -> Iterator[tuple[Any, ...]]:
    """The statement's rows, a batch at a time (a million never sit in memory at once)."""
    cursor = conn.execute(statement.sql, list(statement.params))
    while batch := cursor.fetchmany(size):
        yield from batch


def channel_lifecycle(
    conn: Any, rules: RuleSet, as_of: datetime, dialect: Dialect = SQLITE
) -> dict[str, LifecycleState]:
    states = {}
    for channel in rules.channels.values():
        if channel.lifecycle is None:
            continue
        (row,) = rows(conn, audience.lifecycle_statement(channel, as_of, dialect))
        gates = {
            gate: None if value is None else bool(value)
            for gate, value in zip(LIFECYCLE_GATES, row[:3], strict=True)
        }
        numbers = dict(zip(PERIOD_NAMES, row[3:9], strict=True))
        states[channel.id] = LifecycleState(
            channel.id, state_of(gates), gates, numbers, as_stored(row[9]), row[10]
        )
    return states


def read_capacity(
    conn: Any, rules: RuleSet, as_of: datetime, ns: Namespace = DEFAULT, dialect: Dialect = SQLITE
) -> dict[tuple[str, date], int]:
    """Messages of channels with a capacity per channel and customer-local day
    (`history.capacity_statement`)."""
    statement = history.capacity_statement(rules, as_of, ns, dialect)
    if statement is None:
        return {}
    used: dict[tuple[str, date], int] = Counter()
    for channel, timezone, at, count in rows(conn, statement):
        local = _instant(at).astimezone(zone(timezone, rules.calendar.timezone)).date()
        used[(channel, local)] += int(count)
    return dict(used)


def read_runs_at(
    conn: Any, as_of: datetime, dialect: Dialect = SQLITE
) -> tuple[tuple[str, int], ...]:
    """Runs committed at this as-of, with their actions, oldest first."""
    return tuple((key, int(n)) for key, n in rows(conn, history.runs_at_statement(as_of, dialect)))


def read_totals(conn: Any) -> dict[str, OfferTotals]:
    """Each offer's actions and spend committed by earlier runs (max_actions and budget are
    for the offer's whole life). The spend is the exact sum of the actions' costs, rounded
    once to the nearest float (as `math.fsum` of them would be): the same on every engine,
    whatever order it keeps rows in. Costs are few distinct values, each counted."""
    actions: dict[str, int] = Counter()
    spend: dict[str, Fraction] = defaultdict(Fraction)
    for offer, cost, n in rows(conn, history.totals_statement()):
        actions[offer] += int(n)
        if cost is not None:
            spend[offer] += Fraction(float(cost)) * int(n)
    return {offer: OfferTotals(n, float(spend[offer])) for offer, n in actions.items()}


def read_exits(
    conn: Any, rules: RuleSet, as_of: datetime, ns: Namespace = DEFAULT, dialect: Dialect = SQLITE
) -> list[ChannelExit]:
    query = audience.exit_query(rules, as_of, ns, dialect)
    if query is None:
        return []
    columns = audience.channel_columns(rules)
    exits = []
    for row in rows(conn, query):
        for cols, flag in zip(columns, row[1:], strict=True):
            if flag:
                channel = rules.channels[cols.channel]
                until = as_of + timedelta(days=channel.exit_days) if channel.exit_days else None
                reason = channel.exit.text if channel.exit is not None else ""
                exits.append(ChannelExit(row[0], channel.id, as_of, until, reason))
    return exits


def count_segments(conn: Any, program: ValuesProgram) -> tuple[int, dict[str, int]]:
    """Customers, and members of each segment, read from each layer's own table."""
    counts: dict[str, int] = {}
    customers = 0
    for segments, statement in history.segment_count_statements(program):
        (row,) = rows(conn, statement)
        if segments:
            counts.update(zip(segments, (int(n) for n in row), strict=True))
        else:
            customers = int(row[0])
    return customers, {name: counts[name] for name in program.segments}


def read_candidates(
    conn: Any, rules: RuleSet, offers: Sequence[Offer], ns: Namespace = DEFAULT
) -> dict[str, list[Candidate]]:
    """Each offer's candidates in allocation order (for explain and tests)."""
    return {o.id: list(candidates_of(conn, rules, offers, o, ns)) for o in offers}


def candidates_of(
    conn: Any,
    rules: RuleSet,
    offers: Sequence[Offer],
    offer: Offer,
    ns: Namespace = DEFAULT,
) -> Iterator[Candidate]:
    """One offer's candidates in allocation order (rank high first, missing last, then
    customer id), with the blocking reason of each of the offer's channels; streamed, so a
    million candidates never sit in memory at once."""
    channel_cols = audience.channel_columns(rules)
    position = {c.channel: 4 + i for i, c in enumerate(channel_cols)}
    usable = [(ch, position[ch]) for ch in offer.channels if ch in position]
    reasons = "".join(f", s.{c.reason}" for c in channel_cols)
    shared: dict[tuple[Any, ...], dict[str, str | None]] = {}  # one dict per reason pattern
    sql = (
        f"SELECT m.customer_id, m.rank, EXISTS (SELECT 1 FROM temp.{ns.cooldowns} AS d "
        "WHERE d.customer_id = m.customer_id AND d.offer = m.offer), "
        f"k.timezone{reasons} FROM temp.{ns.members} AS m "
        f"JOIN temp.{ns.candidates} AS k ON k.customer_id = m.customer_id "
        f"JOIN temp.{ns.channel_state} AS s ON s.customer_id = m.customer_id "
        "WHERE m.offer = ? ORDER BY m.rank IS NULL, m.rank DESC, m.customer_id"
    )
    for row in streamed(conn, Statement("allocation", "candidates", sql, (offers.index(offer),))):
        pattern = row[4:]
        blocked = shared.get(pattern)
        if blocked is None:
            blocked = shared[pattern] = {ch: row[i] for ch, i in usable}
        rank = None if row[1] is None else float(row[1])
        yield Candidate(row[0], rank, row[3], bool(row[2]), blocked)


def audience_offers(
    conn: Any, offers: Sequence[Offer], customer_id: int, ns: Namespace = DEFAULT
) -> set[str]:
    """The offers among whose candidates `candidates_of` finds `customer_id`, read in one
    statement for every offer (explain: one customer, instead of one statement per offer)."""
    rows = conn.execute(
        f"SELECT DISTINCT m.offer FROM temp.{ns.members} AS m "
        f"JOIN temp.{ns.candidates} AS k ON k.customer_id = m.customer_id "
        f"JOIN temp.{ns.channel_state} AS s ON s.customer_id = m.customer_id "
        "WHERE m.customer_id = ?",
        (customer_id,),
    ).fetchall()
    return {offers[int(offer)].id for (offer,) in rows}


def history_statements(
    conn: Any,
    rules: RuleSet,
    as_of: datetime,
    kind: history.KindSql = lambda ctx: "channel, offer_id",
    ns: Namespace = DEFAULT,
    dialect: Dialect = SQLITE,
) -> list[Statement]:
    """`history.message_statements`, joined in the order that suits how many candidates
    there are (where the engine keeps the order written: SQLite has no statistics for temp
    tables, so the join order is ours)."""
    if not audience.message_window(rules):
        return []
    candidates, customers = (rows(conn, s)[0][0] for s in history.count_candidates_statements(ns))
    few = candidates * 20 < customers
    return history.message_statements(
        rules, as_of, kind, few_candidates=few, ns=ns, dialect=dialect
    )


def read_history(
    conn: Any,
    rules: RuleSet,
    as_of: datetime,
    ns: Namespace = DEFAULT,
    dialect: Dialect = SQLITE,
) -> dict[int, list[Message]]:
    """The candidates' messages that count against caps and min_gap, per customer (for
    explain and the one-at-a-time allocator)."""
    found: dict[int, list[Message]] = defaultdict(list)
    names: dict[Any, Any] = {}  # one string per channel and offer, not one per row
    for statement in history_statements(conn, rules, as_of, ns=ns, dialect=dialect):
        for customer_id, at, channel, offer_id in streamed(conn, statement):
            message = Message(
                at, names.setdefault(channel, channel), names.setdefault(offer_id, offer_id)
            )
            found[customer_id].append(message)
    return found


def _instant(epoch: int) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)
