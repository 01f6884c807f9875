"""Readers every backend shares: what a plan reads in few rows (a channel's lifecycle, the
capacity used, earlier runs' totals, the runs at this as-of, exits, segment counts).

Each runs a statement of `sql/` in the connection's dialect through the DB-API calls SQLite's
and DuckDB's Python connections both have (`execute(sql, params)`, `fetchone`, `fetchall`).
What a backend reads in many rows (audiences, messages) is in its own `readers.py`.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta
from fractions import Fraction
from typing import Any

from ..backends.sqlite.dialect import SQLITE
from ..decide.records import (
    LIFECYCLE_GATES,
    PERIOD_NAMES,
    ChannelExit,
    LifecycleState,
    OfferTotals,
    state_of,
)
from ..decide.sendtime import zone
from ..rules.model import RuleSet
from ..sql import audience, history
from ..sql.compile import Statement, ValuesProgram
from ..sql.dialect import Dialect
from ..sql.namespace import DEFAULT, Namespace


def rows(conn: Any, statement: Statement) -> list[tuple[Any, ...]]:
    result: list[tuple[Any, ...]] = conn.execute(statement.sql, list(statement.params)).fetchall()
    return result


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
            channel.id, state_of(gates), gates, numbers, row[9], row[10]
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


def _instant(epoch: int) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)
