"""Readers: what a plan reads from a SQLite store and its temp tables, into Python and numpy.

Each reads what the compiled statements (sql/) left in the program's temp tables, or what
earlier runs left in the store, in as few values as possible: Python builds an object for
every value SQLite returns.
"""

from __future__ import annotations

import itertools
import sqlite3
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from ...decide.records import (
    CHANNEL_REASONS,
    LIFECYCLE_GATES,
    PERIOD_NAMES,
    Candidate,
    ChannelExit,
    LifecycleState,
    Message,
    OfferTotals,
    state_of,
)
from ...decide.sendtime import zone
from ...expr.sqlgen import day_before, epoch_of, not_dated_before, quote
from ...rules.model import Offer, RuleSet
from ...sql import audience
from ...sql.compile import ValuesProgram
from ...sql.namespace import DEFAULT, Namespace
from ...times import utc_text

if TYPE_CHECKING:  # numpy loads only when a whole store is planned: explain starts without it
    from ...decide.allocate_arrays import Audiences, History


def channel_lifecycle(
    conn: sqlite3.Connection, rules: RuleSet, as_of: datetime
) -> dict[str, LifecycleState]:
    states = {}
    for channel in rules.channels.values():
        if channel.lifecycle is None:
            continue
        statement = audience.lifecycle_statement(channel, as_of)
        row = conn.execute(statement.sql, statement.params).fetchone()
        gates = {
            gate: None if value is None else bool(value)
            for gate, value in zip(LIFECYCLE_GATES, row[:3], strict=True)
        }
        numbers = dict(zip(PERIOD_NAMES, row[3:9], strict=True))
        states[channel.id] = LifecycleState(
            channel.id, state_of(gates), gates, numbers, row[9], row[10]
        )
    return states


def read_candidates(
    conn: sqlite3.Connection, rules: RuleSet, offers: Sequence[Offer], ns: Namespace = DEFAULT
) -> dict[str, list[Candidate]]:
    """Each offer's candidates in allocation order (for explain and tests)."""
    return {o.id: list(candidates_of(conn, rules, offers, o, ns)) for o in offers}


def candidates_of(
    conn: sqlite3.Connection,
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
    for row in conn.execute(sql, (offers.index(offer),)):
        pattern = row[4:]
        blocked = shared.get(pattern)
        if blocked is None:
            blocked = shared[pattern] = {ch: row[i] for ch, i in usable}
        rank = None if row[1] is None else float(row[1])
        yield Candidate(row[0], rank, row[3], bool(row[2]), blocked)


# An earlier run's action that the sending system has since reported as a contact (same
# customer, offer and channel, sent at or after that run's as-of) counts once, as the contact.
_UNMATCHED = (
    'NOT EXISTS (SELECT 1 FROM "contacts" AS m WHERE m."customer_id" = a."customer_id" '
    'AND m."offer_id" = a."offer_id" AND m."channel" = a."channel" '
    f"AND {epoch_of('m.sent_at')} >= {epoch_of('r.as_of')} "
    f"AND {epoch_of('m.sent_at')} <= :now)"
)


def _history_queries(
    conn: sqlite3.Connection,
    rules: RuleSet,
    as_of: datetime,
    kind: str = "channel, offer_id",
    ns: Namespace = DEFAULT,
) -> tuple[list[str], dict[str, Any]]:
    """Messages of the candidates that count against caps and min_gap, as
    `(customer_id, epoch, kind)` rows, `kind` SQL over `channel` and `offer_id`: contacts
    sent in the window (from `sent`, audience.py), and earlier runs' actions sent in it or
    planned after it. No queries when no cap or min_gap looks back.

    SQLite has no statistics for temp tables, so the join order is ours: `sent` is read
    once, each row looking its customer up among the candidates; for actions, a few
    candidates (explain) look theirs up by index, many (a whole store's plan) read the
    actions once (one scan beats half a million lookups)."""
    window = audience.message_window(rules)
    start, now = int((as_of - window).timestamp()), int(as_of.timestamp())
    if not window:
        return [], {}
    (candidates,) = conn.execute(f"SELECT count(*) FROM temp.{ns.candidates}").fetchone()
    (customers,) = conn.execute('SELECT coalesce(max(rowid), 0) FROM "customers"').fetchone()
    pair = 'a."customer_id" = x.customer_id'
    if candidates * 20 < customers:
        actions = f'temp.{ns.candidates} AS x CROSS JOIN "actions" AS a ON {pair}'
    else:
        actions = f'"actions" AS a CROSS JOIN temp.{ns.candidates} AS x ON {pair}'
    contacts = (
        f"SELECT k.customer_id, k.t, {kind} FROM temp.{ns.sent} AS k "
        f"CROSS JOIN temp.{ns.candidates} AS x ON x.customer_id = k.customer_id "
        "WHERE k.t > :start AND k.t <= :now"
    )
    planned = (  # each time parsed once, in a co-routine
        f"SELECT customer_id, t, {kind} FROM ("
        f'SELECT a."customer_id" AS customer_id, {epoch_of("a.send_at")} AS t, '
        'a."channel" AS channel, a."offer_id" AS offer_id '
        f'FROM {actions} JOIN "runs" AS r ON r."run_id" = a."run_id" '
        f"WHERE {not_dated_before('a.send_at', ':day')} AND {_UNMATCHED} LIMIT -1) WHERE t > :start"
    )
    return [contacts, planned], {"start": start, "now": now, "day": day_before(as_of - window)}


def read_history(
    conn: sqlite3.Connection, rules: RuleSet, as_of: datetime, ns: Namespace = DEFAULT
) -> dict[int, list[Message]]:
    """The candidates' messages that count against caps and min_gap, per customer (for
    explain and the one-at-a-time allocator)."""
    queries, params = _history_queries(conn, rules, as_of, ns=ns)
    history: dict[int, list[Message]] = defaultdict(list)
    names: dict[Any, Any] = {}  # one string per channel and offer, not one per row
    for sql in queries:
        for customer_id, at, channel, offer_id in conn.execute(sql, params):
            message = Message(
                at, names.setdefault(channel, channel), names.setdefault(offer_id, offer_id)
            )
            history[customer_id].append(message)
    return history


def read_messages(
    conn: sqlite3.Connection,
    rules: RuleSet,
    as_of: datetime,
    audiences: Audiences,
    ns: Namespace = DEFAULT,
) -> History:
    """The same messages as `read_history`, as arrays by position in the audiences; their
    channel and offer as one code SQLite computes (a channel no rule names is "", an offer
    no rule names None: neither can match a cap)."""
    import numpy as np

    from ...decide.allocate_arrays import History

    channels = list(dict.fromkeys([*rules.channels, *_cap_channels(rules)]))
    offers = list(rules.offers)
    size = len(offers) + 1
    params: dict[str, Any] = {}

    def code(column: str, names: list[str]) -> str:
        cases = []
        for i, name in enumerate(names):
            key = f"kind{len(params)}"
            params[key] = name
            cases.append(f"WHEN :{key} THEN {i}")
        return f"CASE {column} {' '.join(cases)} ELSE {len(names)} END" if cases else "0"

    kind = f"{code('channel', channels)} * {size} + {code('offer_id', offers)}"
    queries, window = _history_queries(conn, rules, as_of, kind, ns)
    found = np.fromiter(
        itertools.chain.from_iterable(
            row for sql in queries for row in conn.execute(sql, window | params)
        ),
        dtype=np.int64,
    ).reshape(-1, 3)
    kinds = [(c, o) for c in [*channels, ""] for o in [*offers, None]]
    return History(
        np.searchsorted(audiences.customer_ids, found[:, 0]),
        np.ascontiguousarray(found[:, 1]),
        found[:, 2].astype(np.int32),
        kinds,
    )


def _cap_channels(rules: RuleSet) -> list[str]:
    return [c.channel for c in rules.calendar.frequency_caps if c.channel not in (None, "*")]


def read_audiences(
    conn: sqlite3.Connection, rules: RuleSet, offers: Sequence[Offer], ns: Namespace = DEFAULT
) -> Audiences:
    """`candidates` and `channel_state` as arrays, and each offer's members in allocation
    order (rank high first, missing last, then customer id), unpivoted from the bits of
    `candidates` with numpy.

    Python builds an object for every value SQLite returns, so few values cross: each
    customer's channel reasons packed 4 bits a channel into integers (SQLite's `<<` and `|`
    bind equally tight: each shift is in parentheses), the zone a code by its position among
    the candidates' zones, the ranks' missing values as bits."""
    import numpy as np

    from ...decide.allocate_arrays import REASON_CODE, Audiences

    cols = audience.audience_columns(offers)
    channels = audience.channel_columns(rules)
    reasons = [
        " | ".join(
            f"((CASE s.{c.reason} "
            + " ".join(f"WHEN '{r}' THEN {REASON_CODE[r]}" for r in CHANNEL_REASONS)
            + f" ELSE 0 END) << {4 * i})"
            for i, c in enumerate(channels[start : start + 15])
        )
        for start in range(0, len(channels), 15)
    ]
    missing = [
        " | ".join(
            f"((k.r{j} IS NULL) << {j - start})" for j in range(start, min(start + 62, cols.ranks))
        )
        for start in range(0, cols.ranks, 62)
    ]
    zones = conn.execute(f"SELECT DISTINCT timezone FROM temp.{ns.candidates}")
    zone_names = [z for (z,) in zones]
    named = [(i, z) for i, z in enumerate(zone_names) if z is not None]
    unnamed = zone_names.index(None) if None in zone_names else 0
    zone = " ".join(f"WHEN ?{n} THEN {i}" for n, (i, _) in enumerate(named, start=1))
    zone = f"CASE k.timezone {zone} ELSE {unnamed} END" if named else str(unnamed)
    ints = ["k.customer_id", zone, *reasons, *(f"k.m{w}" for w in range(cols.words)), *missing]
    floats = [f"coalesce(k.r{j}, 0)" for j in range(cols.ranks)]
    found = np.fromiter(
        conn.execute(
            f"SELECT {', '.join(ints + floats)} FROM temp.{ns.candidates} AS k "
            f"LEFT JOIN temp.{ns.channel_state} AS s ON s.customer_id = k.customer_id "
            "ORDER BY k.customer_id",
            [z for _, z in named],
        ),
        dtype=[(f"i{n}", np.int64) for n in range(len(ints))]
        + [(f"f{n}", np.float64) for n in range(len(floats))],
    )
    column = [found[f"i{n}"] for n in range(len(ints))]
    ranks = [found[f"f{n}"] for n in range(len(floats))]
    blocked = {}
    for i, c in enumerate(channels):
        blocked[c.channel] = ((column[2 + i // 15] >> (4 * (i % 15))) & 15).astype(np.int8)
    words = column[2 + len(reasons) : 2 + len(reasons) + cols.words]
    gaps = column[2 + len(reasons) + cols.words :]
    result = Audiences(column[0], column[1].astype(np.int32), zone_names, blocked)
    cooling = np.fromiter(
        itertools.chain.from_iterable(
            conn.execute(f"SELECT offer, customer_id FROM temp.{ns.cooldowns}")
        ),
        dtype=np.int64,
    ).reshape(-1, 2)
    for i, o in enumerate(offers):
        who = np.flatnonzero((words[i // 60] >> (i % 60)) & 1)
        at = cols.rank_of[i]
        if at is None:
            order = who
        else:
            rank = ranks[at][who]
            unknown = (gaps[at // 62][who] >> (at % 62)) & 1
            order = who[np.lexsort((who, -rank, unknown))]
        result.members[o.id] = order
        cooling_now = cooling[cooling[:, 0] == i, 1]
        result.cooldown[o.id] = np.isin(result.customer_ids[order], cooling_now)
    return result


def read_capacity(
    conn: sqlite3.Connection, rules: RuleSet, as_of: datetime, ns: Namespace = DEFAULT
) -> dict[tuple[str, date], int]:
    """Messages of channels with a capacity, already sent (`sent`, of every customer: a
    whole store's plan) or planned, per channel and customer-local day, from two days before
    as-of on (capacity is per local day; earlier days cannot matter)."""
    limited = [c.id for c in rules.channels.values() if c.capacity_per_day is not None]
    if not limited:
        return {}
    start, now = int((as_of - timedelta(days=2)).timestamp()), int(as_of.timestamp())
    has_timezone = "timezone" in rules.schema.columns("customers")
    tz = 'c."timezone"' if has_timezone else "NULL"
    channels = ", ".join(f":channel{i}" for i in range(len(limited)))

    contacts = (
        f"SELECT k.channel, {tz}, k.t, count(*) FROM temp.{ns.sent} AS k "
        'JOIN "customers" AS c ON c."id" = k.customer_id '
        f"WHERE k.channel IN ({channels}) AND k.t > :start AND k.t <= :now GROUP BY 1, 2, 3"
    )
    planned = (  # each time parsed once, in a co-routine
        f'SELECT channel, tz, t, count(*) FROM (SELECT a."channel" AS channel, {tz} AS tz, '
        f'{epoch_of("a.send_at")} AS t FROM "actions" AS a '
        'JOIN "runs" AS r ON r."run_id" = a."run_id" '
        'JOIN "customers" AS c ON c."id" = a."customer_id" '
        f'WHERE a."channel" IN ({channels}) '
        f"AND {not_dated_before('a.send_at', ':day')} "
        f"AND {_UNMATCHED} LIMIT -1) WHERE t > :start GROUP BY 1, 2, 3"
    )
    sql = f"{contacts} UNION ALL {planned}"
    used: dict[tuple[str, date], int] = Counter()
    params = {"start": start, "now": now, "day": day_before(as_of - timedelta(days=2))}
    params.update((f"channel{i}", name) for i, name in enumerate(limited))
    for channel, timezone, at, count in conn.execute(sql, params):
        local = _instant(at).astimezone(zone(timezone, rules.calendar.timezone)).date()
        used[(channel, local)] += count
    return dict(used)


def read_runs_at(conn: sqlite3.Connection, as_of: datetime) -> tuple[tuple[str, int], ...]:
    """Runs committed at this as-of, with their actions, oldest first."""
    sql = (
        'SELECT r."run_key", (SELECT count(*) FROM "actions" AS a WHERE a."run_id" = r."run_id") '
        'FROM "runs" AS r WHERE r."as_of" = ? AND r."status" = ? ORDER BY r."started_at", r.rowid'
    )
    return tuple((key, n) for key, n in conn.execute(sql, (utc_text(as_of), "committed")))


def read_totals(conn: sqlite3.Connection) -> dict[str, OfferTotals]:
    """Each offer's actions and spend committed by earlier runs (max_actions and budget are
    for the offer's whole life)."""
    sql = 'SELECT "offer_id", count(*), coalesce(sum("cost"), 0) FROM "actions" GROUP BY 1'
    return {offer: OfferTotals(n, float(spend)) for offer, n, spend in conn.execute(sql)}


def read_exits(
    conn: sqlite3.Connection, rules: RuleSet, as_of: datetime, ns: Namespace = DEFAULT
) -> list[ChannelExit]:
    query = audience.exit_query(rules, as_of, ns)
    if query is None:
        return []
    columns = audience.channel_columns(rules)
    exits = []
    for row in conn.execute(query.sql, query.params):
        for cols, flag in zip(columns, row[1:], strict=True):
            if flag:
                channel = rules.channels[cols.channel]
                until = as_of + timedelta(days=channel.exit_days) if channel.exit_days else None
                reason = channel.exit.text if channel.exit is not None else ""
                exits.append(ChannelExit(row[0], channel.id, as_of, until, reason))
    return exits


def count_segments(conn: sqlite3.Connection, program: ValuesProgram) -> tuple[int, dict[str, int]]:
    """Customers, and members of each segment, read from each layer's own table."""
    counts: dict[str, int] = {}
    for table, names in program.tables().items():
        segments = [n for n in names if n in program.segments]
        if segments:
            sums = ", ".join(f"coalesce(sum({quote(n)}), 0)" for n in segments)
            row = conn.execute(f"SELECT {sums} FROM {table}").fetchone()
            counts.update(zip(segments, row, strict=True))
    first = quote(program.ns.name("cv_layer_0"))
    (customers,) = conn.execute(f"SELECT count(*) FROM temp.{first}").fetchone()
    return customers, {name: counts[name] for name in program.segments}


def _instant(epoch: int) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)
