"""The rule set evaluated in Python: the reference the SQL compiler is checked against.

`explain` uses it on one customer's rows, and the differential tests on whole small stores:
metrics (aggregates over the customer's own related rows, their `where` and `default`),
population ranks (`ntile`), segment memberships, channel conditions and channel lifecycle
states. Every value goes through the expression evaluator (`expr.evaluate`), whose semantics
are the contract's; nothing here decides differently from `compile.py`, it only decides
slowly and one customer at a time.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from ..decide.records import LIFECYCLE_GATES, PERIOD_NAMES, LifecycleState, state_of
from ..expr.evaluate import Environment, Value, as_type, evaluate
from ..expr.nodes import Call, Literal, Node, walk
from ..expr.sqlgen import quote
from ..rules.model import Channel, Metric, RuleSet
from ..rules.order import dependency_order
from ..sql.compile import canonical
from ..store import as_stored


@dataclass
class CustomerData:
    """One customer's rows as the store holds them (raw text times, 0/1 booleans)."""

    id: int
    row: dict[str, Any]
    related: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


def related_tables(rules: RuleSet) -> list[str]:
    return sorted({m.table for m in rules.metrics.values() if m.table is not None})


def read_customers(
    conn: Any, rules: RuleSet, ids: Iterable[int] | None = None
) -> list[CustomerData]:
    """Customers with their related rows (in row-id order, which `first`/`last` ties use)."""
    query = 'SELECT * FROM "customers"'
    params: list[Any] = []
    if ids is not None:
        wanted = list(ids)
        query += f' WHERE "id" IN ({", ".join("?" * len(wanted))})'
        params = wanted
    customers = {row["id"]: CustomerData(row["id"], row) for row in _dicts(conn, query, params)}
    for table in related_tables(rules):
        sql = f"SELECT * FROM {quote(table)}"
        if ids is not None:
            sql += f' WHERE "customer_id" IN ({", ".join("?" * len(params))})'
        for row in _dicts(conn, sql + " ORDER BY rowid", params):
            owner = customers.get(row["customer_id"])
            if owner is not None:
                owner.related.setdefault(table, []).append(row)
    return [customers[cid] for cid in sorted(customers)]


def _dicts(conn: Any, sql: str, params: Sequence[Any]) -> list[dict[str, Any]]:
    """Rows as dicts, from SQLite or DuckDB, values as SQLite keeps them (`as_stored`)."""
    cursor = conn.execute(sql, list(params))
    names = [d[0] for d in cursor.description]
    return [{n: as_stored(v) for n, v in zip(names, row, strict=True)} for row in cursor.fetchall()]


def typed(row: Mapping[str, Any], types: Mapping[str, str]) -> dict[str, Value]:
    return {name: as_type(value, types.get(name)) for name, value in row.items()}


# -- metrics and segments ----------------------------------------------------------------------


Ranks = Mapping[str, Mapping[int, Value]]  # ntile metric → customer → its group


def evaluate_values(
    rules: RuleSet,
    customers: Sequence[CustomerData],
    as_of: datetime,
    *,
    ranks: Ranks | None = None,
) -> dict[int, dict[str, Value]]:
    """Every metric and segment of every customer given, in Python.

    `ntile` ranks the customers given; pass `ranks` to take population ranks from elsewhere
    (explain, which has one customer but a whole store).
    """
    tz = rules.calendar.timezone
    columns = rules.schema.columns("customers")
    values = {c.id: typed(c.row, columns) for c in customers}
    for name in dependency_order(rules):
        if name in rules.metrics:
            metric = rules.metrics[name]
            if ranks is not None and name in ranks:
                for c in customers:
                    values[c.id][name] = ranks[name].get(c.id)
                continue
            groups = _ntile_groups(metric, customers, values, as_of, tz)
            for c in customers:
                env = Environment(values[c.id], as_of, tz, ntile=_lookup(groups, c.id))
                values[c.id][name] = metric_value(rules, metric, c, env)
        else:
            where = rules.segments[name].where.node
            for c in customers:
                env = Environment(values[c.id], as_of, tz)
                values[c.id][name] = evaluate(where, env) is True
    return values


def metric_value(rules: RuleSet, metric: Metric, customer: CustomerData, env: Environment) -> Value:
    if metric.table is None:
        return evaluate(metric.value.node, env)
    types = rules.schema.columns(metric.table)
    rows = [typed(row, types) for row in customer.related.get(metric.table, [])]
    if metric.where is not None:
        where = metric.where.node
        rows = [row for row in rows if evaluate(where, env.with_values(row)) is True]
    if metric.default is not None and not rows:
        return as_type(metric.default, metric.type)
    return evaluate(metric.value.node, Environment(env.values, env.as_of, env.timezone, rows=rows))


def _ntile_groups(
    metric: Metric,
    customers: Sequence[CustomerData],
    values: Mapping[int, Mapping[str, Value]],
    as_of: datetime,
    tz: str,
) -> dict[tuple[Any, ...], dict[int, int]]:
    """Each ntile call's group for every customer: rank by value, ties by customer id."""
    groups: dict[tuple[Any, ...], dict[int, int]] = {}
    for node in walk(metric.value.node):
        if isinstance(node, Call) and node.func == "ntile":
            count = node.args[0]
            assert isinstance(count, Literal) and isinstance(count.value, int)
            ranked = []
            for c in customers:
                x = evaluate(node.args[1], Environment(values[c.id], as_of, tz))
                if x is not None:
                    ranked.append((x, c.id))
            ranked.sort()
            groups[canonical(node)] = {
                cid: ntile_group(i, len(ranked), count.value) for i, (_, cid) in enumerate(ranked)
            }
    return groups


def ntile_group(position: int, population: int, groups: int) -> int:
    """SQL's ntile: the first `population % groups` groups hold one row more."""
    size, extra = divmod(population, groups)
    if position < extra * (size + 1):
        return position // (size + 1) + 1
    return extra + (position - extra * (size + 1)) // size + 1


def _lookup(groups: Mapping[tuple[Any, ...], Mapping[int, int]], customer_id: int) -> Any:
    if not groups:
        return None
    return lambda node: groups[canonical(node)].get(customer_id)


# -- channels ----------------------------------------------------------------------------------


CHANNEL_STEPS = ("no_address", "consent", "entry", "channel_exit", "channel_lifecycle")


def channel_blocked(
    channel: Channel,
    env: Environment,
    *,
    exit_in_force: bool,
    lifecycle_exit: bool,
) -> str | None:
    """The first static reason a customer cannot get a message on a channel (SPEC order)."""
    if channel.address is None or env.values.get(channel.address) is None:
        return "no_address"
    if channel.consent is not None and evaluate(channel.consent.node, env) is not True:
        return "consent"
    if channel.entry is not None and evaluate(channel.entry.node, env) is not True:
        return "entry"
    if exit_in_force or channel_exit_now(channel, env):
        return "channel_exit"
    if lifecycle_exit:
        return "channel_lifecycle"
    return None


def channel_exit_now(channel: Channel, env: Environment) -> bool:
    return channel.exit is not None and evaluate(channel.exit.node, env) is True


# -- channel lifecycle -------------------------------------------------------------------------


def lifecycle_states(
    rules: RuleSet, stats: Sequence[Mapping[str, Any]]
) -> dict[str, LifecycleState]:
    """Each channel with `lifecycle` gates, from `channel_stats` rows (SPEC step 5)."""
    by_period: dict[Any, list[Mapping[str, Any]]] = {}
    for row in stats:
        by_period.setdefault(row["period_start"], []).append(row)
    portfolio = {
        period: _ratio(sum(r["revenue"] or 0 for r in rows), sum(r["spend"] or 0 for r in rows))
        for period, rows in by_period.items()
    }
    states = {}
    for channel in rules.channels.values():
        if channel.lifecycle is None:
            continue
        periods = [
            _period_values(row, portfolio[row["period_start"]])
            for row in sorted(
                (r for r in stats if r["channel"] == channel.id),
                key=lambda r: r["period_start"],
                reverse=True,
            )
        ]
        latest = periods[0] if periods else dict.fromkeys(PERIOD_NAMES)
        env = Environment(latest, datetime.min, periods=periods)
        gates: dict[str, bool | None] = {}
        for gate in LIFECYCLE_GATES:
            expression = getattr(channel.lifecycle, gate)
            gates[gate] = None if expression is None else evaluate(expression.node, env)
        states[channel.id] = LifecycleState(
            channel.id,
            state_of(gates),
            gates,
            latest,
            _text(periods[0]["period_start"]) if periods else None,
            len(periods),
        )
    return states


def _period_values(row: Mapping[str, Any], portfolio_roi: float | None) -> dict[str, Value]:
    return {
        "roi": _ratio(row["revenue"], row["spend"]),
        "portfolio_roi": portfolio_roi,
        "target_roi": row["target_roi"],
        "spend": row["spend"],
        "revenue": row["revenue"],
        "conversions": row["conversions"],
        "period_start": row["period_start"],
    }


def _ratio(a: Any, b: Any) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return float(a) / float(b)


def _text(value: Any) -> str | None:
    if isinstance(value, date | datetime):
        return value.isoformat()
    return None if value is None else str(value)


# -- comparing with SQL --------------------------------------------------------------------------


def engine_form(value: Value, kind: str | None) -> Any:
    """A Python value as SQL stores it: datetimes as epoch seconds, dates as text, 1/0."""
    if value is None:
        return None
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, datetime):
        return int(value.timestamp() // 1)
    if isinstance(value, date):
        return value.isoformat()
    if kind == "real" and isinstance(value, int):
        return float(value)
    return value


def uses_population(node: Node) -> bool:
    return any(isinstance(n, Call) and n.func == "ntile" for n in walk(node))
