"""What earlier contacts and runs count against this plan, as SQL every engine shares.

The readers of each backend (`backends/NAME/readers.py`) run these statements and bring their
rows into Python or numpy. Each statement binds its own parameters in the dialect given, so a
reader runs it as it is:

- `message_statements`: the candidates' messages that count against caps and min_gap
  (contacts sent in the window, from `sent`; earlier runs' actions sent in it or planned
  after it), as `(customer_id, epoch, kind...)` rows;
- `capacity_statement`: messages of channels with a capacity, per channel, zone and second;
- `totals_statement`: each offer's actions by cost, committed by earlier runs;
- `runs_at_statement`: the runs committed at this as-of, oldest first;
- `segment_count_statements`: the customers and each segment's members.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from ..backends.sqlite.dialect import SQLITE
from ..expr.sqlgen import SqlContext, day_before, not_dated_before, quote
from ..rules.model import RuleSet
from ..times import utc_text
from . import audience
from .compile import Statement, ValuesProgram
from .dialect import Dialect
from .namespace import DEFAULT, Namespace

# SQL over `channel` and `offer_id` telling a message's kind, binding its names in the context.
KindSql = Callable[[SqlContext], str]


def unmatched(ctx: SqlContext, now: str) -> str:
    """An earlier run's action that the sending system has since reported as a contact (same
    customer, offer and channel, sent at or after that run's as-of) counts once, as the
    contact: true for the actions that are not reported yet. `now` is a bound placeholder."""
    dialect = ctx.dialect
    sent = dialect.stored_epoch("m.sent_at")
    return (
        'NOT EXISTS (SELECT 1 FROM "contacts" AS m WHERE m."customer_id" = a."customer_id" '
        'AND m."offer_id" = a."offer_id" AND m."channel" = a."channel" '
        f"AND {sent} >= {dialect.epoch('r.as_of')} AND {sent} <= {now})"
    )


def message_statements(
    rules: RuleSet,
    as_of: datetime,
    kind: KindSql,
    *,
    few_candidates: bool,
    ns: Namespace = DEFAULT,
    dialect: Dialect = SQLITE,
) -> list[Statement]:
    """Messages of the candidates that count against caps and min_gap, as
    `(customer_id, epoch, kind)` rows: contacts sent in the window (from `sent`), and earlier
    runs' actions sent in it or planned after it. None when no cap or min_gap looks back.

    Where the engine keeps the join order written (SQLite, whose temp tables have no
    statistics), `sent` is read once, each row looking its customer up among the candidates;
    for actions, a few candidates (`few_candidates`: explain) look theirs up by index, many
    (a whole store's plan) read the actions once (one scan beats half a million lookups)."""
    window = audience.message_window(rules)
    if not window:
        return []
    start, end = int((as_of - window).timestamp()), int(as_of.timestamp())
    join = dialect.JOIN_IN_ORDER
    pair = 'a."customer_id" = x.customer_id'
    if few_candidates:
        actions = f'temp.{ns.candidates} AS x {join} "actions" AS a ON {pair}'
    else:
        actions = f'"actions" AS a {join} temp.{ns.candidates} AS x ON {pair}'

    ctx = SqlContext({}, as_of, dialect=dialect)
    since, now = ctx.bind(start), ctx.bind(end)
    contacts = (
        f"SELECT k.customer_id, k.t, {kind(ctx)} FROM temp.{ns.sent} AS k "
        f"{join} temp.{ns.candidates} AS x ON x.customer_id = k.customer_id "
        f"WHERE k.t > {since} AND k.t <= {now}"
    )
    found = [Statement("history", "contacts", contacts, tuple(ctx.params))]

    ctx = SqlContext({}, as_of, dialect=dialect)
    since, now = ctx.bind(start), ctx.bind(end)
    day = ctx.bind(day_before(as_of - window))
    planned = (  # each time parsed once, in a co-routine
        f"SELECT customer_id, t, {kind(ctx)} FROM ("
        f'SELECT a."customer_id" AS customer_id, {dialect.epoch("a.send_at")} AS t, '
        'a."channel" AS channel, a."offer_id" AS offer_id '
        f'FROM {actions} JOIN "runs" AS r ON r."run_id" = a."run_id" '
        f"WHERE {not_dated_before('a.send_at', day)} AND {unmatched(ctx, now)}"
        f"{dialect.KEEP_SUBQUERY}) WHERE t > {since}"
    )
    found.append(Statement("history", "earlier runs' actions", planned, tuple(ctx.params)))
    return found


def message_kinds(rules: RuleSet) -> tuple[KindSql, list[tuple[str, str | None]]]:
    """A message's kind as one code the engine computes, and the `(channel, offer)` of each
    code: a channel no rule names is "", an offer no rule names None (neither can match a
    cap)."""
    capped = [c.channel for c in rules.calendar.frequency_caps if c.channel not in (None, "*")]
    channels = list(dict.fromkeys([*rules.channels, *capped]))
    offers = list(rules.offers)

    def kind(ctx: SqlContext) -> str:
        def code(column: str, names: list[str]) -> str:
            cases = " ".join(f"WHEN {ctx.bind(name)} THEN {i}" for i, name in enumerate(names))
            return f"CASE {column} {cases} ELSE {len(names)} END" if names else "0"

        return f"{code('channel', channels)} * {len(offers) + 1} + {code('offer_id', offers)}"

    return kind, [(c, o) for c in [*channels, ""] for o in [*offers, None]]


def count_candidates_statements(ns: Namespace = DEFAULT) -> tuple[Statement, Statement]:
    """How many candidates there are, and (at least) how many customers: whether the
    candidates are few (`message_statements`)."""
    return (
        Statement("history", "candidates", f"SELECT count(*) FROM temp.{ns.candidates}"),
        Statement("history", "customers", 'SELECT coalesce(max(rowid), 0) FROM "customers"'),
    )


def capacity_statement(
    rules: RuleSet, as_of: datetime, ns: Namespace = DEFAULT, dialect: Dialect = SQLITE
) -> Statement | None:
    """`(channel, timezone, epoch, count)`: messages of channels with a capacity, already sent
    (`sent`, of every customer: a whole store's plan) or planned, from two days before as-of
    on (capacity is per customer-local day; earlier days cannot matter). None without any."""
    limited = [c.id for c in rules.channels.values() if c.capacity_per_day is not None]
    if not limited:
        return None
    start, end = int((as_of - timedelta(days=2)).timestamp()), int(as_of.timestamp())
    has_timezone = "timezone" in rules.schema.columns("customers")
    tz = 'c."timezone"' if has_timezone else "NULL"
    ctx = SqlContext({}, as_of, dialect=dialect)
    since, now = ctx.bind(start), ctx.bind(end)
    day = ctx.bind(day_before(as_of - timedelta(days=2)))
    channels = ", ".join(ctx.bind(name) for name in limited)
    contacts = (
        f"SELECT k.channel, {tz}, k.t, count(*) FROM temp.{ns.sent} AS k "
        'JOIN "customers" AS c ON c."id" = k.customer_id '
        f"WHERE k.channel IN ({channels}) AND k.t > {since} AND k.t <= {now} GROUP BY 1, 2, 3"
    )
    planned = (  # each time parsed once, in a co-routine
        f'SELECT channel, tz, t, count(*) FROM (SELECT a."channel" AS channel, {tz} AS tz, '
        f'{dialect.epoch("a.send_at")} AS t FROM "actions" AS a '
        'JOIN "runs" AS r ON r."run_id" = a."run_id" '
        'JOIN "customers" AS c ON c."id" = a."customer_id" '
        f'WHERE a."channel" IN ({channels}) '
        f"AND {not_dated_before('a.send_at', day)} "
        f"AND {unmatched(ctx, now)}{dialect.KEEP_SUBQUERY}) WHERE t > {since} GROUP BY 1, 2, 3"
    )
    sql = f"{contacts} UNION ALL {planned}"
    return Statement("history", "capacity used", sql, tuple(ctx.params))


def totals_statement() -> Statement:
    """`(offer_id, cost, actions)`: earlier runs' actions of each offer at each cost. The
    spend is added up from these in Python (`backends.readers.read_totals`), not by the
    engine: engines add reals in different orders, and a budget must not depend on that."""
    sql = 'SELECT "offer_id", "cost", count(*) FROM "actions" GROUP BY 1, 2'
    return Statement("history", "earlier totals", sql)


def runs_at_statement(as_of: datetime, dialect: Dialect = SQLITE) -> Statement:
    """`(run_key, actions)`: runs committed at this as-of, oldest first."""
    ctx = SqlContext({}, as_of, dialect=dialect)
    sql = (
        'SELECT r."run_key", (SELECT count(*) FROM "actions" AS a WHERE a."run_id" = r."run_id") '
        f'FROM "runs" AS r WHERE r."as_of" = {ctx.bind(utc_text(as_of))} '
        f'AND r."status" = {ctx.bind("committed")} ORDER BY r."started_at", r.rowid'
    )
    return Statement("history", "runs at this as-of", sql, tuple(ctx.params))


def segment_count_statements(program: ValuesProgram) -> list[tuple[list[str], Statement]]:
    """Per layer table holding segments, the segments and the statement counting their
    members; then `([], count of customers)`."""
    found = []
    for table, names in program.tables().items():
        segments = [n for n in names if n in program.segments]
        if segments:
            sums = ", ".join(f"coalesce(sum({quote(n)}), 0)" for n in segments)
            found.append((segments, Statement("segments", "counts", f"SELECT {sums} FROM {table}")))
    first = quote(program.ns.name("cv_layer_0"))
    customers = Statement("segments", "customers", f"SELECT count(*) FROM temp.{first}")
    return [*found, ([], customers)]
