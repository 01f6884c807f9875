"""On random small stores, a rule test's results are what `campaign plan` gives on a store
with the same rows: the test written from a real store's plan (and, for a later step, from a
real `campaign run` on it) passes, and any one of its expectations changed fails."""

from __future__ import annotations

import json
import os
import sqlite3
import textwrap
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rules_engine import store
from rules_engine.backends.sqlite.audit import run
from rules_engine.execute import plan
from rules_engine.rules.check import check
from rules_engine.rules.model import RuleSet
from rules_engine.ruletest import run_tests
from rules_engine.sql.compile import compile_values
from rules_engine.times import utc_text

EXAMPLES = int(os.environ.get("RULETEST_EXAMPLES", "12"))

RULES = """\
metrics:
  recency_days:
    from: orders
    where: status == "completed"
    value: days_since(max(ordered_at))
  orders_total:
    from: orders
    where: status == "completed"
    value: count()
    default: 0
  spend:
    from: orders
    where: status == "completed"
    value: sum(amount)
    default: 0
  last_order_at:
    from: orders
    where: status == "completed"
    value: max(ordered_at)
  big_spender:
    value: spend >= 100
segments:
  lapsed:
    where: recency_days > 20
  loyal:
    where: orders_total >= 2
channels:
  email:
    address: email
    consent: email_opt_in
    cost: 0.5
    quiet_hours: {start: "22:00", end: "08:00"}
  sms:
    address: phone
    consent: sms_opt_in
    cost: 1
offers:
  winback:
    audience: lapsed
    channels: [email, sms]
    content: tpl_winback
    priority: 50
    group: recall
    cost: 10
    rank: spend
    budget: {total: 35}
    holdout: "20%"
    cooldown: 5d
    send_at: "10:00"
  thanks:
    audience: loyal
    channels: [sms, email]
    content: tpl_thanks
    priority: 10
    group: recall
  tip:
    audience: big_spender
    channels: [email]
    content: tpl_tip
calendar:
  timezone: Asia/Shanghai
  frequency_caps:
    - {channel: "*", max: 2, per: 7d}
  min_gap: 12h
"""

AS_OF = datetime(2026, 11, 15, 1, 30, tzinfo=UTC)
TABLES = ("customers", "orders", "contacts")

customers = st.lists(
    st.fixed_dictionaries(
        {
            "email": st.sampled_from([None, "x@example.cn"]),
            "email_opt_in": st.booleans(),
            "phone": st.sampled_from([None, "13800000000"]),
            "sms_opt_in": st.booleans(),
        }
    ),
    min_size=1,
    max_size=5,
)
moments = st.integers(0, 90 * 24).map(lambda hours: utc_text(AS_OF - timedelta(hours=hours)))
orders = st.lists(
    st.tuples(
        st.integers(0, 4),
        moments,
        st.sampled_from([20.0, 60.5, 99.99, 150.0]),
        st.sampled_from(["completed", "completed", "refunded"]),
    ),
    max_size=8,
)
contacts = st.lists(
    st.tuples(st.integers(0, 4), moments, st.sampled_from(["email", "sms"])), max_size=3
)


def rows_of(
    people: list[dict[str, Any]], bought: Sequence[tuple[Any, ...]], sent: Sequence[tuple[Any, ...]]
) -> dict[str, list[dict[str, Any]]]:
    ids = list(range(1, len(people) + 1))
    return {
        "customers": [{"id": i, **person} for i, person in zip(ids, people, strict=True)],
        "orders": [
            {"customer_id": ids[n % len(ids)], "ordered_at": at, "amount": amount, "status": s}
            for n, at, amount, s in bought
        ],
        "contacts": [
            {"customer_id": ids[n % len(ids)], "channel": ch, "offer_id": "winback", "sent_at": at}
            for n, at, ch in sent
        ],
    }


def insert(path: Path, rows: dict[str, list[dict[str, Any]]]) -> None:
    conn = sqlite3.connect(path)
    with conn:
        for table in TABLES:
            for row in rows.get(table, []):
                names = ", ".join(row)
                marks = ", ".join("?" * len(row))
                conn.execute(f"INSERT INTO {table} ({names}) VALUES ({marks})", list(row.values()))
    conn.close()


def expectations(path: Path, rules: RuleSet, as_of: datetime) -> list[dict[str, Any]]:
    """What `plan` decides on the store at `path`, written as a test's expectations: every
    customer's segments and metrics, every audit row, and `offer: null` for no action."""
    with store.closing_read_only(path) as conn:
        every = compile_values(rules, as_of)  # a plan alone computes what it decides by
        decided = plan(conn, rules, as_of, program=every)
        cursor = conn.execute("SELECT * FROM temp.customer_values ORDER BY customer_id")
        names = [d[0] for d in cursor.description]
        values = [dict(zip(names, row, strict=True)) for row in cursor]
    found = []
    for v in values:
        cid = v["customer_id"]
        member = [s for s in rules.segments if v[s]]
        found.append(
            {
                "customer": cid,
                "segments": member,
                "not_segments": [s for s in rules.segments if s not in member],
                "metrics": {m: written(v[m], rules.metrics[m].type) for m in rules.metrics},
            }
        )
        rows = [d for d in decided.audit if d.customer_id == cid]
        for d in rows:
            item: dict[str, Any] = {"customer": cid, "offer": d.offer_id, "outcome": d.outcome}
            if d.reason is not None:
                item["reason"] = d.reason
            if d.channel is not None and d.outcome != "holdout":
                item["channel"] = d.channel
            if d.send_at is not None:
                item["send_at"] = utc_text(d.send_at)
            found.append(item)
        if not any(d.outcome == "action" for d in rows):
            found.append({"customer": cid, "offer": None})
    return found


def written(value: Any, kind: str) -> Any:
    if value is None:
        return None
    if kind == "datetime":
        return utc_text(datetime.fromtimestamp(value, UTC))
    if kind == "boolean":
        return bool(value)
    return value


def yaml_of(test: dict[str, Any]) -> str:
    """JSON is YAML, and keeps every value's type."""
    return "tests:\n  random:\n" + textwrap.indent(json.dumps(test, indent=1), "    ") + "\n"


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    people=customers,
    bought=orders,
    sent=contacts,
    later=st.one_of(st.none(), st.tuples(st.integers(1, 9 * 24), orders)),
    change=st.integers(0, 10_000),
)
def test_a_rule_test_sees_what_plan_and_run_decide(
    tmp_path_factory: Any,
    people: list[dict[str, Any]],
    bought: list[tuple[Any, ...]],
    sent: list[tuple[Any, ...]],
    later: tuple[int, list[tuple[Any, ...]]] | None,
    change: int,
) -> None:
    folder = tmp_path_factory.mktemp("property")
    (folder / "rules.yaml").write_text(RULES, encoding="utf-8")
    rules = check([folder / "rules.yaml"]).rules
    path = folder / "store.db"
    store.init_store(path)
    rows = rows_of(people, bought, sent)
    insert(path, rows)
    test: dict[str, Any] = {"as_of": utc_text(AS_OF), **rows}
    test["expect"] = expectations(path, rules, AS_OF)
    if later is not None:
        hours, more = later
        as_of = AS_OF + timedelta(hours=hours)
        run(path, rules, AS_OF, "first")  # the first step, committed by `campaign run`
        added = {"orders": rows_of(people, more, [])["orders"]}
        insert(path, added)
        test["then"] = [{"as_of": utc_text(as_of), **added, "expect": []}]
        test["then"][0]["expect"] = expectations(path, rules, as_of)
    (folder / "tests.yaml").write_text(yaml_of(test), encoding="utf-8")
    checked = check([folder / "rules.yaml", folder / "tests.yaml"])
    assert checked.errors == []
    (result,) = run_tests(checked.rules).results
    assert result.status == "passed", result.failures

    steps = [test, *test.get("then", [])]
    step = change % len(steps)
    expect = steps[step]["expect"]
    item = expect[change // len(steps) % len(expect)]
    key = changed(item)
    (folder / "tests.yaml").write_text(yaml_of(test), encoding="utf-8")
    checked = check([folder / "rules.yaml", folder / "tests.yaml"])
    assert checked.errors == []
    (result,) = run_tests(checked.rules).results
    assert result.status == "failed"
    (failure,) = result.failures
    assert failure.step == step + 1
    assert key in {m.key for m in failure.mismatches}


def changed(item: dict[str, Any]) -> str:
    """Change one expected value of `item` into one that does not hold; its key."""
    if item.get("segments"):
        item["not_segments"].append(item["segments"].pop())
        return "not_segments"
    if "segments" in item:
        item["segments"].append(item["not_segments"].pop())
        return "segments"
    if item.get("offer") is None:
        item["offer"] = "tip"
        return "offer"
    if item["outcome"] == "action":
        item["outcome"] = "holdout"
        item.pop("reason", None)
        item.pop("send_at", None)
        item.pop("channel", None)
        return "outcome"
    item["outcome"] = "action"
    item.pop("reason", None)
    item.pop("channel", None)
    return "outcome"
