"""Who is in play, as SQL: channel lifecycle, each customer's channels, each offer's audience.

Everything here is a property of one customer (or one channel) that does not depend on what
else this run allocates, so it is computed set-based over `customer_values` (compile.py):

- the lifecycle gates of each channel, over `channel_stats` (SPEC "How decisions are made" 5);
- `channel_state`: for every customer and channel with an address, the first static reason
  the channel cannot be used (`no_address`, `consent`, `entry`, `channel_exit`,
  `channel_lifecycle`, in the contract's order), and whether the channel's `exit` starts now;
- `members`: each offer's audience (audience true, exclude not true), with the customer's
  rank; `cooldowns`: who is in an offer's cooldown; `candidates`: who is in any audience.

The sequential rest (group slots, holdout, caps, send time, budget) is `allocate.py`.
Every statement is written in the connection's dialect (`sql/dialect.py`; SQLite by default).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from ..backends.sqlite.dialect import SQLITE
from ..decide.records import LIFECYCLE_GATES, PERIOD_NAMES
from ..expr.nodes import Call
from ..expr.sqlgen import (
    SqlContext,
    compile_expression,
    day_before,
    not_dated_before,
    quote,
)
from ..rules.model import Channel, Offer, RuleSet
from .compile import Statement, calendar_offset, customer_names
from .dialect import Dialect
from .namespace import DEFAULT, Namespace


def _periods(dialect: Dialect) -> str:
    return (
        "WITH p AS (SELECT channel, period_start, spend, revenue, conversions, target_roi, "
        f"{dialect.cast('revenue', 'real')} / NULLIF(spend, 0) AS roi FROM channel_stats), "
        f"f AS (SELECT period_start, {dialect.cast('sum(revenue)', 'real')} "
        "/ NULLIF(sum(spend), 0) AS portfolio_roi FROM p GROUP BY period_start), "
        "r AS (SELECT p.*, f.portfolio_roi, row_number() OVER (PARTITION BY p.channel "
        "ORDER BY p.period_start DESC) AS rn FROM p JOIN f USING (period_start)) "
    )


def lifecycle_statement(channel: Channel, as_of: datetime, dialect: Dialect = SQLITE) -> Statement:
    """One row: the three gates, the latest period's numbers, its start, how many periods.

    `roi` is the latest period's revenue / spend, `portfolio_roi` the spend-weighted ROI of
    every channel in that period, `periods_below(x)` the newest periods in a row whose ROI is
    under x, with x evaluated on each period.
    """
    assert channel.lifecycle is not None
    ctx = SqlContext({name: f"l.{name}" for name in PERIOD_NAMES}, as_of, dialect=dialect)

    def periods_below(node: Call, ctx: SqlContext) -> str:
        names = {name: f"q.{name}" for name in PERIOD_NAMES}
        per_period = SqlContext(names, as_of, params=ctx.params, dialect=dialect)
        threshold = compile_expression(node.args[0], per_period)
        return (
            "coalesce((SELECT min(q.rn) FROM r AS q WHERE q.channel = l.channel "
            f"AND (q.roi < {threshold}) IS NOT TRUE) - 1, "
            "(SELECT count(*) FROM r AS q WHERE q.channel = l.channel))"
        )

    ctx.calls = {"periods_below": periods_below}
    gates = []
    for gate in LIFECYCLE_GATES:
        expression = getattr(channel.lifecycle, gate)
        gates.append(compile_expression(expression.node, ctx) if expression else "NULL")
    me = ctx.bind(channel.id)
    numbers = ", ".join(f"l.{name}" for name in PERIOD_NAMES)
    sql = (
        f"{_periods(dialect)}SELECT {', '.join(gates)}, {numbers}, l.period_start, "
        f"(SELECT count(*) FROM r WHERE r.channel = {me}) "
        f"FROM (SELECT 1) LEFT JOIN r AS l ON l.channel = {me} AND l.rn = 1"
    )
    return Statement("lifecycle", f"lifecycle of {channel.id}", sql, tuple(ctx.params))


def value_context(rules: RuleSet, as_of: datetime, dialect: Dialect = SQLITE) -> SqlContext:
    """Names as the decision statements read them: customer columns and computed values."""
    names = customer_names(rules)
    computed = [*rules.metrics, *rules.segments]
    names.update({name: f"v.{quote(name)}" for name in computed})
    offset = calendar_offset(rules, as_of)
    zone = rules.calendar.timezone
    return SqlContext(
        names, as_of, offset, ready=frozenset(computed), dialect=dialect, calendar_zone=zone
    )


@dataclass(frozen=True)
class ChannelColumns:
    """Where `channel_state` keeps a channel's blocking reason, and the exit query its flag."""

    channel: str
    reason: str
    exit: str


def address_channels(rules: RuleSet) -> list[Channel]:
    return [c for c in rules.channels.values() if c.address is not None]


def channel_columns(rules: RuleSet) -> list[ChannelColumns]:
    return [ChannelColumns(c.id, f"r{i}", f"x{i}") for i, c in enumerate(address_channels(rules))]


def _exit_in_force(channel: Channel, ctx: SqlContext, now: str) -> str:
    epoch = ctx.dialect.epoch
    return (
        'EXISTS (SELECT 1 FROM "channel_exits" AS e WHERE e."customer_id" = c."id" '
        f'AND e."channel" = {ctx.bind(channel.id)} '
        f"AND {epoch('e.exited_at')} <= {now} "
        f'AND (e."until" IS NULL OR {epoch("e.until")} > {now}))'
    )


def channel_state_statements(
    rules: RuleSet,
    as_of: datetime,
    lifecycle_exit: Sequence[str],
    ns: Namespace = DEFAULT,
    dialect: Dialect = SQLITE,
) -> list[Statement]:
    """`channel_state`: for each customer in an audience (`candidates`) and each channel with
    an address, the first reason the channel cannot be used, or NULL.

    The exits in force are read once for every channel (`_exits_in_force`), not once per
    channel: each reading parses the exit's two times, and four copies of that made this the
    largest statement DuckDB plans for an explanation."""
    ctx = value_context(rules, as_of, dialect)
    channels = address_channels(rules)
    selects = []
    for i, (channel, cols) in enumerate(zip(channels, channel_columns(rules), strict=True)):
        exit_now = _condition(channel.exit, ctx, dialect.FALSE)
        steps = [
            (f"c.{quote(channel.address or '')} IS NULL", "no_address"),
            (f"({_condition(channel.consent, ctx, dialect.TRUE)}) IS NOT TRUE", "consent"),
            (f"({_condition(channel.entry, ctx, dialect.TRUE)}) IS NOT TRUE", "entry"),
            (f"({exit_now}) IS TRUE OR x.in_force_{i} IS TRUE", "channel_exit"),
            (ctx.bind(dialect.parameter(channel.id in lifecycle_exit)), "channel_lifecycle"),
        ]
        cases = " ".join(f"WHEN {test} THEN {ctx.bind(reason)}" for test, reason in steps)
        selects.append(f"CASE {cases} END AS {cols.reason}")
    columns = "".join(f", {dialect.column(c.reason, 'text')}" for c in channel_columns(rules))
    exits = _exits_in_force(channels, ctx, as_of, ns) if channels else ""
    return [
        Statement("setup", "channel_state: drop", f"DROP TABLE IF EXISTS temp.{ns.channel_state}"),
        Statement(
            "setup",
            "channel_state: create",
            f"CREATE TEMP TABLE {ns.channel_state} ({dialect.KEY_COLUMN}{columns})",
        ),
        Statement(
            "channels",
            f"channel state of {len(selects)} channel(s)",
            f"INSERT INTO temp.{ns.channel_state} "
            f'SELECT c."id"{"".join(", " + s for s in selects)} '
            f"FROM temp.{ns.candidates} AS k {dialect.JOIN_IN_ORDER} "
            f'"customers" AS c ON c."id" = k.customer_id '
            f'JOIN temp.{ns.customer_values} AS v ON v.customer_id = c."id"{exits}',
            tuple(ctx.params),
        ),
    ]


def _exits_in_force(
    channels: Sequence[Channel], ctx: SqlContext, as_of: datetime, ns: Namespace
) -> str:
    """The join of each candidate's channel exits in force at `as_of`, one flag per channel
    (`x.in_force_0`, ...: true, or NULL for a customer with none)."""
    epoch = ctx.dialect.epoch
    now = ctx.bind(int(as_of.timestamp()))
    flags = ", ".join(
        f'max(e."channel" = {ctx.bind(channel.id)}) AS in_force_{i}'
        for i, channel in enumerate(channels)
    )
    return (
        f' LEFT JOIN (SELECT e."customer_id" AS customer_id, {flags} FROM "channel_exits" AS e '
        f'WHERE e."customer_id" IN (SELECT customer_id FROM temp.{ns.candidates}) '
        f"AND {epoch('e.exited_at')} <= {now} "
        f'AND (e."until" IS NULL OR {epoch("e.until")} > {now}) '
        'GROUP BY e."customer_id") AS x ON x.customer_id = c."id"'
    )


def exit_query(
    rules: RuleSet, as_of: datetime, ns: Namespace = DEFAULT, dialect: Dialect = SQLITE
) -> Statement | None:
    """Customers for whom some channel's `exit` holds now and no exit of it is in force: the
    exits a run records. Only those rows come back."""
    ctx = value_context(rules, as_of, dialect)
    now = ctx.bind(int(as_of.timestamp()))
    flags, tests = [], []
    for channel, cols in zip(address_channels(rules), channel_columns(rules), strict=True):
        if channel.exit is None:
            flags.append(f"{dialect.FALSE} AS {cols.exit}")
            continue
        exit_now = compile_expression(channel.exit.node, ctx)
        flags.append(
            f"(({exit_now}) IS TRUE AND NOT {_exit_in_force(channel, ctx, now)}) AS {cols.exit}"
        )
        tests.append(f"({exit_now}) IS TRUE")
    if not tests:
        return None
    return Statement(
        "exits",
        "channel exits",
        f'SELECT c."id", {", ".join(flags)} FROM "customers" AS c '
        f'JOIN temp.{ns.customer_values} AS v ON v.customer_id = c."id" '
        f"WHERE {' OR '.join(tests)} "
        'ORDER BY c."id"',
        tuple(ctx.params),
    )


def _condition(expression: object, ctx: SqlContext, missing: str) -> str:
    node = getattr(expression, "node", None)
    return missing if node is None else compile_expression(node, ctx)


@dataclass(frozen=True)
class AudienceColumns:
    """Where `candidates` keeps each offer's membership and rank: offer i is bit
    `i % 60` of column `m{i // 60}`; its rank is column `r{rank_of[i]}` (None: no rank), a
    rank shared by several offers stored once."""

    words: int
    rank_of: tuple[int | None, ...]
    ranks: int


def candidate_statements(
    rules: RuleSet,
    offers: Sequence[Offer],
    as_of: datetime,
    customer: int | None = None,
    ns: Namespace = DEFAULT,
    dialect: Dialect = SQLITE,
) -> list[Statement]:
    """Who is in each offer's audience (audience true, exclude not true), with rank:
    `candidates(customer_id, timezone, m0.., r0..)`, one row per customer in at least one
    audience, their audiences as the bits of integers and the offers' ranks
    (`audience_columns`); `members(offer, customer_id, rank)`, a view with one row per
    customer and offer (offers by their position in `offers`); and
    `cooldowns(customer_id, offer)`.

    One pass over the customers computes it all (a table of one row per customer and
    offer, then the customers among them, cost a million-customer plan 3 s more); the
    planner unpivots the bits with numpy, explain and the tests read the view."""
    ctx = value_context(rules, as_of, dialect)
    cols = audience_columns(offers)
    flags = []
    for i, offer in enumerate(offers):
        audience = compile_expression(offer.audience.node, ctx)
        exclude = _condition(offer.exclude, ctx, dialect.FALSE)
        bit = 1 << i % 60
        flags.append(
            f"(CASE WHEN ({audience}) IS TRUE AND ({exclude}) IS NOT TRUE THEN {bit} ELSE 0 END)"
        )
    words = [" + ".join(flags[start : start + 60]) for start in range(0, len(flags), 60)]
    words = words or ["0"]
    ranks: list[str] = [""] * cols.ranks
    for offer, at in zip(offers, cols.rank_of, strict=True):
        if at is not None and offer.rank is not None and not ranks[at]:
            ranks[at] = compile_expression(offer.rank.node, ctx)
    has_timezone = "timezone" in rules.schema.columns("customers")
    timezone = 'c."timezone"' if has_timezone else "NULL"
    only = f' AND c."id" = {ctx.bind(customer)}' if customer is not None else ""
    columns = [f"m{w}" for w in range(len(words))] + [f"r{j}" for j in range(cols.ranks)]
    values = [f"({w})" for w in words] + [f"({r})" for r in ranks]
    select = (
        f'SELECT customer_id, timezone, {", ".join(columns)} FROM (SELECT c."id" AS customer_id, '
        f"{timezone} AS timezone, "
        + ", ".join(f"{v} AS {c}" for v, c in zip(values, columns, strict=True))
        + f' FROM "customers" AS c JOIN temp.{ns.customer_values} AS v ON v.customer_id = c."id"'
        f" WHERE {dialect.TRUE}{only}{dialect.KEEP_SUBQUERY}) WHERE "
        + " OR ".join(f"m{w} != 0" for w in range(len(words)))
    )
    typed = [dialect.column(c, "integer" if c.startswith("m") else "real") for c in columns]
    rank = " ".join(f"WHEN {i} THEN k.r{at}" for i, at in enumerate(cols.rank_of) if at is not None)
    positions = ", ".join(f"({i}, {i // 60}, {1 << i % 60})" for i in range(len(offers)))
    word = " ".join(f"WHEN {w} THEN k.m{w}" for w in range(len(words)))
    offer_at, word_at, bit_at = (f"positions.{dialect.values_column(i)}" for i in range(3))
    return [
        *sent_statements(rules, offers, as_of, customer, ns, dialect),
        *cooldown_statements(offers, as_of, customer, ns, dialect),
        Statement("setup", "members: drop", f"DROP VIEW IF EXISTS temp.{ns.members}"),
        Statement("setup", "candidates: drop", f"DROP TABLE IF EXISTS temp.{ns.candidates}"),
        Statement(
            "setup",
            "candidates: create",
            f"CREATE TEMP TABLE {ns.candidates} ({dialect.KEY_COLUMN}, "
            f"{dialect.column('timezone', 'text')}, {', '.join(typed)})",
        ),
        Statement(
            "audiences",
            f"audiences of {len(offers)} offer(s)",
            f"INSERT INTO temp.{ns.candidates} {select}",
            tuple(ctx.params),
        ),
        Statement(
            "setup",
            "members: create",
            f"CREATE TEMP VIEW {ns.members} AS SELECT {offer_at} AS offer, "
            f"k.customer_id AS customer_id, CASE {offer_at} {rank or 'WHEN 0 THEN NULL'} "
            f"END AS rank FROM temp.{ns.candidates} AS k "
            f"CROSS JOIN (VALUES {positions or '(0, 0, 0)'})"
            f" AS positions WHERE (CASE {word_at} {word} END) & {bit_at}",
        ),
    ]


def audience_columns(offers: Sequence[Offer]) -> AudienceColumns:
    at: dict[str, int] = {}
    rank_of = tuple(
        at.setdefault(offer.rank.text, len(at)) if offer.rank is not None else None
        for offer in offers
    )
    return AudienceColumns(max(1, -(-len(offers) // 60)), rank_of, len(at))


def message_window(rules: RuleSet) -> timedelta:
    """How far back messages count against caps and min_gap: the longest cap, or min_gap."""
    spans = [cap.per for cap in rules.calendar.frequency_caps]
    if rules.calendar.min_gap is not None:
        spans.append(rules.calendar.min_gap)
    return max(spans, default=timedelta(0))


def lookback(rules: RuleSet, offers: Sequence[Offer]) -> timedelta:
    """How far back any decision looks at contacts: caps and min_gap, the offers' cooldowns,
    and the two days capacity reads (a customer-local day starts up to 14 hours before UTC's)."""
    spans = [message_window(rules)]
    spans += [o.cooldown for o in offers if o.cooldown is not None]
    if any(c.capacity_per_day is not None for c in rules.channels.values()):
        spans.append(timedelta(days=2))
    return max(spans)


def sent_statements(
    rules: RuleSet,
    offers: Sequence[Offer],
    as_of: datetime,
    customer: int | None = None,
    ns: Namespace = DEFAULT,
    dialect: Dialect = SQLITE,
) -> list[Statement]:
    """`sent(customer_id, channel, offer_id, t)`: the contacts sent within `lookback` before
    as-of (of every customer, or of `customer`), `t` their time in epoch seconds. The one
    pass over `contacts`, which is the largest table a decision reads: cooldowns, caps,
    min_gap and capacity all read `sent`, each time parsed once here."""
    ctx = SqlContext({}, as_of, dialect=dialect)
    start = as_of - lookback(rules, offers)
    only = f" AND k.customer_id = {ctx.bind(customer)}" if customer is not None else ""
    since, now = ctx.bind(int(start.timestamp())), ctx.bind(int(as_of.timestamp()))
    earliest = ctx.bind(day_before(start))
    return [
        Statement("setup", "sent: drop", f"DROP TABLE IF EXISTS temp.{ns.sent}"),
        Statement(
            "setup",
            "sent: create",
            f"CREATE TEMP TABLE {ns.sent} ({dialect.declared('customer_id', 'integer')}, "
            f"{dialect.column('channel', 'text')}, {dialect.column('offer_id', 'text')}, "
            f"{dialect.declared('t', 'integer')})",
        ),
        Statement(
            "audiences",
            "contacts sent lately",
            f"INSERT INTO temp.{ns.sent} SELECT customer_id, channel, offer_id, t FROM "
            f"(SELECT k.customer_id AS customer_id, k.channel AS channel, k.offer_id AS offer_id, "
            f'{dialect.stored_epoch("k.sent_at")} AS t FROM "contacts" AS k '
            f"WHERE {dialect.stored_not_dated_before('k.sent_at', earliest)}{only}"
            f"{dialect.KEEP_SUBQUERY}) "
            f"WHERE t > {since} AND t <= {now}",
            tuple(ctx.params),
        ),
    ]


def cooldown_statements(
    offers: Sequence[Offer],
    as_of: datetime,
    customer: int | None = None,
    ns: Namespace = DEFAULT,
    dialect: Dialect = SQLITE,
) -> list[Statement]:
    """`cooldowns(customer_id, offer)`: the customers in each offer's cooldown (its position in
    `offers`): a contact of the offer sent within the cooldown (read from `sent`), or an
    earlier run's action of it sent (or planned) after the cooldown's start."""
    cooling = [(i, o) for i, o in enumerate(offers) if o.cooldown is not None]
    statements = [
        Statement("setup", "cooldowns: drop", f"DROP TABLE IF EXISTS temp.{ns.cooldowns}"),
        Statement(
            "setup",
            "cooldowns: create",
            dialect.pair_table(ns.cooldowns, ("customer_id", "offer")),
        ),
    ]
    if not cooling:
        return statements
    ctx = SqlContext({}, as_of, dialect=dialect)
    position = " ".join(f"WHEN {ctx.bind(o.id)} THEN {i}" for i, o in cooling)
    starts = " ".join(
        f"WHEN {ctx.bind(o.id)} THEN {ctx.bind(int((as_of - o.cooldown).timestamp()))}"
        for _, o in cooling
        if o.cooldown is not None
    )
    ids = ", ".join(ctx.bind(o.id) for _, o in cooling)
    longest = max(o.cooldown for _, o in cooling if o.cooldown is not None)
    earliest = ctx.bind(day_before(as_of - longest))
    only = f" AND a.customer_id = {ctx.bind(customer)}" if customer is not None else ""
    sources = [
        f"SELECT k.customer_id, CASE k.offer_id {position} END FROM temp.{ns.sent} AS k "
        f"WHERE k.offer_id IN ({ids}) AND k.t > CASE k.offer_id {starts} END",
        # each time parsed once, in a co-routine
        f"SELECT customer_id, offer FROM (SELECT a.customer_id AS customer_id, "
        f"CASE a.offer_id {position} END AS offer, {dialect.epoch('a.send_at')} AS t, "
        f"CASE a.offer_id {starts} END AS since "
        f'FROM "actions" AS a WHERE a.offer_id IN ({ids}){only} '
        f"AND {not_dated_before('a.send_at', earliest)}{dialect.KEEP_SUBQUERY}) "
        "WHERE t > since",
    ]
    statements.append(
        Statement(
            "audiences",
            "cooldowns",
            dialect.insert_distinct(f"temp.{ns.cooldowns}", sources),
            tuple(ctx.params),
        )
    )
    return statements
