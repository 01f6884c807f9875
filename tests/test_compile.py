"""The compiled rule set agrees with the Python reference on whole random stores.

Hypothesis builds small stores (customers with orders, events and contacts; missing values,
every ISO-8601 spelling, Chinese text, ties) and checks, for every customer: each metric and
segment of `customer_values` (SQL) against `reference.evaluate_values` (Python), each
channel's first blocking reason, and each offer's audience. The rule set is the example rules
in `rules/` plus `EDGES`, metrics aimed at the corners of the compiler (first/last/mode,
defaults, customer columns in a `where`, population ranks with ties and missing values).
"""

from __future__ import annotations

import math
import os
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rules_engine.backends import engine_of
from rules_engine.backends.readers import audience_offers, read_candidates
from rules_engine.backends.sqlite.functions import register
from rules_engine.decide.allocate_arrays import REASONS
from rules_engine.execute import offers_in_play
from rules_engine.expr.evaluate import Environment, evaluate
from rules_engine.reference.explain import in_cooldown
from rules_engine.reference.oracle import (
    channel_blocked,
    engine_form,
    evaluate_values,
    read_customers,
)
from rules_engine.rules.check import load_rules
from rules_engine.rules.model import RuleSet
from rules_engine.sql import audience
from rules_engine.sql.compile import compile_values
from rules_engine.sql.namespace import DEFAULT
from rules_engine.store import init_store

ROOT = Path(__file__).parents[1]
AS_OF = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
EXAMPLES = int(os.environ.get("DIFFERENTIAL_EXAMPLES", "300")) // 3
EDGES = """\
metrics:
  e_first_category:
    from: orders
    value: first(category, ordered_at)
  e_last_amount:
    from: orders
    where: amount > 100
    value: last(amount, ordered_at)
  e_first_by_amount:
    from: orders
    value: first(status, amount)
  e_mode_status:
    from: orders
    value: mode(status)
  e_mode_when:
    from: orders
    value: mode(ordered_at)
  e_distinct_times:
    from: orders
    value: count_distinct(ordered_at)
  e_min_completed:
    from: orders
    where: status == "completed"
    value: min(amount)
    default: -1
  e_gold_orders:
    from: orders
    where: member_tier == "gold" and amount >= 50
    value: count()
  e_first_at:
    from: orders
    value: min(ordered_at)
    default: "2020-01-01T00:00:00Z"
  e_days_first:
    value: days_since(e_first_at)
  e_rank:
    value: ntile(3, coalesce(e_min_completed, 0))
  e_rank_missing:
    value: ntile(2, e_last_amount)
  e_rank_of_rank:
    value: ntile(2, e_rank)
  e_review_avg:
    from: events
    where: type == "review"
    value: round(avg(value), 1)
  e_last_event:
    from: events
    value: last(type, at)
  e_city_text:
    value: lower(coalesce(city, "无"))
segments:
  e_ranked_top:
    where: e_rank == 3 and e_rank_missing is not None
  e_gold_buyer:
    where: e_gold_orders > 0 or contains(coalesce(city, ""), "上")
"""

SPELLINGS = ("{}Z", "{}+00:00", "{} ", "{}+08:00")


def instant(offset_minutes: int, spelling: int) -> str:
    """A time near as-of in one of the spellings the store may hold (same rules, any form)."""
    moment = AS_OF + timedelta(minutes=offset_minutes)
    if spelling == 3:
        return moment.astimezone(_SHANGHAI).strftime("%Y-%m-%dT%H:%M:%S") + "+08:00"
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if spelling == 2:
        return text.replace("T", " ")
    return SPELLINGS[spelling].format(text)


_SHANGHAI = __import__("zoneinfo").ZoneInfo("Asia/Shanghai")
maybe = st.one_of
times = st.builds(instant, st.integers(-500 * 1440, 3 * 1440), st.integers(0, 3))
texts = st.sampled_from(["上海", "gold", "", "A b", "beauty", "mother_baby"])


def customers(ids: list[int]) -> st.SearchStrategy[list[dict[str, Any]]]:
    row = st.fixed_dictionaries(
        {
            "member_tier": maybe(
                st.none(), st.sampled_from(["gold", "silver", "diamond", "regular"])
            ),
            "email": maybe(st.none(), st.just("x@example.cn")),
            "phone": maybe(st.none(), st.just("138")),
            "push_token": maybe(st.none(), st.just("pt")),
            "wechat_openid": maybe(st.none(), st.just("o")),
            "email_opt_in": maybe(st.none(), st.sampled_from([0, 1])),
            "sms_opt_in": maybe(st.none(), st.sampled_from([0, 1])),
            "push_opt_in": st.sampled_from([0, 1]),
            "wechat_opt_in": st.sampled_from([0, 1]),
            "city": maybe(st.none(), texts),
            "timezone": maybe(st.none(), st.sampled_from(["Asia/Shanghai", "Europe/London"])),
            "birth_date": maybe(st.none(), st.sampled_from(["1990-11-22", "2000-02-29"])),
        }
    )
    return st.lists(row, min_size=len(ids), max_size=len(ids)).map(
        lambda rows: [{"id": i, **r} for i, r in zip(ids, rows, strict=True)]
    )


def related(ids: list[int]) -> st.SearchStrategy[dict[str, list[dict[str, Any]]]]:
    owner = st.sampled_from(ids)
    order = st.fixed_dictionaries(
        {
            "customer_id": owner,
            "ordered_at": maybe(st.none(), times),
            "amount": maybe(st.none(), st.sampled_from([0.0, 50.0, 99.5, 120.0, 120.0, 4000.0])),
            "status": maybe(st.none(), st.sampled_from(["completed", "completed", "refunded"])),
            "category": maybe(st.none(), texts),
            "coupon_code": maybe(st.none(), st.just("D11-50")),
            "channel": st.sampled_from(["app", "douyin_live"]),
        }
    )
    event = st.fixed_dictionaries(
        {
            "customer_id": owner,
            "type": st.sampled_from(["view", "add_to_cart", "review", "complaint", "live_view"]),
            "at": maybe(st.none(), times),
            "value": maybe(st.none(), st.sampled_from([1.0, 2.0, 4.5, 5.0])),
        }
    )
    contact = st.fixed_dictionaries(
        {
            "customer_id": owner,
            "channel": st.sampled_from(["email", "sms", "app_push", "wechat"]),
            "sent_at": times,
            "status": st.sampled_from(["delivered", "bounced", "complained", "unsubscribed"]),
            "offer_id": maybe(st.none(), st.sampled_from(["vip_winback", "cart_recovery"])),
        }
    )
    return st.fixed_dictionaries(
        {
            "orders": st.lists(order, max_size=14),
            "events": st.lists(event, max_size=10),
            "contacts": st.lists(contact, max_size=6),
        }
    )


@st.composite
def stores(draw: st.DrawFn) -> dict[str, list[dict[str, Any]]]:
    count = draw(st.integers(1, 7))
    ids = sorted(draw(st.sets(st.integers(1, 10_000), min_size=count, max_size=count)))
    return {"customers": draw(customers(ids)), **draw(related(ids))}


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("store") / "empty.db"
    init_store(path)
    return path


@pytest.fixture(scope="module")
def rules(tmp_path_factory: pytest.TempPathFactory) -> RuleSet:
    folder = tmp_path_factory.mktemp("edges")
    (folder / "edges.yaml").write_text(EDGES)
    return load_rules([ROOT / "rules", folder], as_of=AS_OF)


def fill(template: Path, content: dict[str, list[dict[str, Any]]]) -> sqlite3.Connection:
    conn = register(sqlite3.connect(":memory:"))
    with sqlite3.connect(template) as source:
        source.backup(conn)
    for table, rows in content.items():
        for row in rows:
            names = ", ".join(f'"{k}"' for k in row)
            conn.execute(
                f'INSERT INTO "{table}" ({names}) VALUES ({", ".join("?" * len(row))})',
                list(row.values()),
            )
    return conn


def same(python: Any, sql: Any) -> bool:
    if isinstance(python, float) or isinstance(sql, float):
        if python is None or sql is None:
            return python is sql
        return math.isclose(python, sql, rel_tol=1e-9, abs_tol=1e-9)
    return bool(python == sql) and (python is None) == (sql is None)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(content=stores())
def test_sql_and_python_agree_on_whole_stores(
    template: Path, rules: RuleSet, content: dict[str, list[dict[str, Any]]]
) -> None:
    conn = fill(template, content)
    try:
        program = compile_values(rules, AS_OF)
        for statement in program.statements:
            conn.execute(statement.sql, statement.params)
        python = evaluate_values(rules, read_customers(conn, rules), AS_OF)
        cursor = conn.execute("SELECT * FROM temp.customer_values ORDER BY customer_id")
        for row in cursor:
            values = python[row[0]]
            for column, got in zip(program.columns, row[1:], strict=True):
                expected = engine_form(values[column.name], column.type)
                assert same(expected, got), (
                    f"{column.kind} {column.name} of customer {row[0]}: "
                    f"SQL {got!r}, Python {expected!r}"
                )
        check_channels_and_audiences(conn, rules, python)
    finally:
        conn.close()


def check_channels_and_audiences(
    conn: Any, rules: RuleSet, python: dict[int, dict[str, Any]]
) -> None:
    """Channel states and audiences in SQL (SQLite's or DuckDB's, by the connection) against
    the Python reference, and the planner's arrays against the candidates explain reads."""
    offers = offers_in_play(rules, AS_OF)
    engine = engine_of(conn)
    for statements in (
        audience.candidate_statements(rules, offers, AS_OF, dialect=engine.dialect),
        audience.channel_state_statements(rules, AS_OF, [], dialect=engine.dialect),
    ):
        for statement in statements:
            conn.execute(statement.sql, list(statement.params))
    columns = audience.channel_columns(rules)
    sql_state = {
        row[0]: dict(zip((c.channel for c in columns), row[1:], strict=True))
        for row in conn.execute(
            f"SELECT customer_id, {', '.join(c.reason for c in columns)} FROM temp.channel_state"
        ).fetchall()
    }
    candidates = read_candidates(conn, rules, offers)
    members = {offer_id: {c.customer_id for c in found} for offer_id, found in candidates.items()}
    # the planner's reading (numpy, from the audience bits) is the view's, in allocation order
    arrays = engine.read_audiences(conn, rules, offers, DEFAULT)
    for offer in offers:
        ours = candidates[offer.id]
        at = arrays.members[offer.id]
        assert arrays.customer_ids[at].tolist() == [c.customer_id for c in ours], offer.id
        assert arrays.cooldown[offer.id].tolist() == [c.cooldown for c in ours], offer.id
        for c, position in zip(ours, at.tolist(), strict=True):
            assert arrays.zone_names[arrays.zones[position]] == c.timezone
            for channel, reason in c.blocked.items():
                assert REASONS[arrays.blocked[channel][position]] == reason, (c, channel)
    for cid, values in python.items():
        env = Environment(values, AS_OF, rules.calendar.timezone)
        for channel in audience.address_channels(rules):
            if cid not in sql_state:  # channel states are kept for audience members only
                assert not any(cid in found for found in members.values()), cid
                continue
            expected = channel_blocked(channel, env, exit_in_force=False, lifecycle_exit=False)
            assert sql_state[cid][channel.id] == expected, (cid, channel.id)
        for offer in offers:
            inside = evaluate(offer.audience.node, env) is True and not (
                offer.exclude is not None and evaluate(offer.exclude.node, env) is True
            )
            assert (cid in members[offer.id]) == inside, (cid, offer.id)
        # explain reads the customer's audiences in one statement, the same as each offer's
        assert audience_offers(conn, offers, cid) == {o.id for o in offers if cid in members[o.id]}
        # and their cooldowns from their contacts and actions, as SQL finds them
        cooling = in_cooldown(conn, offers, cid, AS_OF)
        for offer in offers:
            for c in (c for c in candidates[offer.id] if c.customer_id == cid):
                assert c.cooldown == (offer.id in cooling), (cid, offer.id)


def test_generated_sql_never_scans_a_joined_table_per_customer(
    template: Path, rules: RuleSet
) -> None:
    """PERF.md's pitfall: a joined table SQLite cannot search by key is scanned once per row of
    the table before it. In a query plan, the tables joined at one level are siblings; at most
    one of them may be a SCAN, the others must be SEARCHes by key."""
    conn = fill(template, {"customers": [{"id": 1}]})
    program = compile_values(rules, AS_OF)
    statements = [*program.statements]
    for statement in statements:
        conn.execute(statement.sql, statement.params)
    offers = offers_in_play(rules, AS_OF)
    statements += audience.candidate_statements(rules, offers, AS_OF)
    statements += audience.channel_state_statements(rules, AS_OF, [])
    for statement in statements:
        if statement.sql.startswith("INSERT"):
            rows = conn.execute(f"EXPLAIN QUERY PLAN {statement.sql}", statement.params)
            scans: dict[int, list[str]] = {}
            for _, parent, _, detail in rows:
                constant = "CONSTANT ROW" in detail or detail == "SCAN positions"
                if detail.startswith("SCAN") and not constant:  # positions: the offers' list
                    scans.setdefault(parent, []).append(detail)
            assert all(len(v) == 1 for v in scans.values()), (statement.label, scans)
        conn.execute(statement.sql, statement.params)
    conn.close()


def test_ntile_matches_sqlite_for_every_population_size() -> None:
    from rules_engine.reference.oracle import ntile_group

    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE t (x)")
    for size in range(1, 30):
        conn.execute("DELETE FROM t")
        conn.executemany("INSERT INTO t VALUES (?)", [(i,) for i in range(size)])
        for groups in (2, 3, 5, 7):
            sql = [g for (g,) in conn.execute(f"SELECT ntile({groups}) OVER (ORDER BY x) FROM t")]
            assert sql == [ntile_group(i, size, groups) for i in range(size)], (size, groups)
    conn.close()
