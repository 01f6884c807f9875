"""`plan` on small hand-built stores: one customer, one rule, one audit reason each.

Every reason of SPEC "How decisions are made" comes out of the whole pipeline here (rules
checked, compiled to SQL, audiences and channels in SQL, history read from the store,
allocated), not from the allocator alone as in test_allocate.py.
"""

from __future__ import annotations

import copy
import hashlib
import os
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlite_utils
import yaml
from click.testing import CliRunner

from rules_engine.cli import main
from rules_engine.decide.sendtime import in_holdout
from rules_engine.execute import Plan, plan_store
from rules_engine.report.render import plan_json
from rules_engine.rules.check import load_rules
from rules_engine.store import init_store
from rules_engine.times import parse_instant

AS_OF = parse_instant("2026-11-15T10:00:00+08:00")  # 02:00 UTC
BASE: dict[str, Any] = {
    "channels": {
        "email": {"address": "email", "consent": "email_opt_in", "cost": 0.02},
        "sms": {"address": "phone", "consent": "sms_opt_in", "cost": 0.05},
    },
    "segments": {"everyone": {"where": "id > 0"}},
    "offers": {
        "hello": {
            "audience": "everyone",
            "channels": ["email", "sms"],
            "content": "tpl_hello",
            "priority": 10,
            "cost": 1.0,
        }
    },
    "calendar": {"timezone": "Asia/Shanghai"},
}
ALICE = {"id": 1, "email": "a@example.cn", "email_opt_in": 1, "timezone": "Asia/Shanghai"}


def store_with(path: Path, **tables: list[dict[str, Any]]) -> Path:
    init_store(path)
    db = sqlite_utils.Database(path)
    for table, rows in tables.items():
        db[table].insert_all(rows, alter=True)  # type: ignore[union-attr]
    db.close()
    return path


def plan_of(
    tmp_path: Path,
    change: Callable[[dict[str, Any]], None] | None = None,
    as_of: datetime = AS_OF,
    **tables: list[dict[str, Any]],
) -> Plan:
    rules = copy.deepcopy(BASE)
    if change is not None:
        change(rules)
    folder = tmp_path / "rules"
    folder.mkdir(exist_ok=True)
    (folder / "rules.yaml").write_text(yaml.safe_dump(rules, allow_unicode=True))
    tables.setdefault("customers", [ALICE])
    db = store_with(tmp_path / "store.db", **tables)
    checked = load_rules([folder], db=db, as_of=as_of)
    return plan_store(db, checked, as_of)


def outcomes(plan: Plan) -> list[tuple[int, str, str, str | None, str | None]]:
    return [(d.customer_id, d.offer_id, d.outcome, d.reason, d.channel) for d in plan.audit]


def offer(rules: dict[str, Any], **changes: Any) -> None:
    rules["offers"]["hello"].update(changes)


def test_action_on_the_first_usable_channel_at_as_of(tmp_path: Path) -> None:
    plan = plan_of(tmp_path)
    assert outcomes(plan) == [(1, "hello", "action", None, "email")]
    [action] = plan.actions
    assert action.send_at == AS_OF and action.cost == 1.02


def test_no_address_is_the_first_channels_reason(tmp_path: Path) -> None:
    plan = plan_of(tmp_path, customers=[{"id": 1, "email_opt_in": 1}])
    assert outcomes(plan) == [(1, "hello", "suppressed", "no_address", "email")]


def test_consent(tmp_path: Path) -> None:
    plan = plan_of(tmp_path, customers=[{**ALICE, "email_opt_in": 0}])
    assert outcomes(plan) == [(1, "hello", "suppressed", "consent", "email")]


def test_missing_consent_is_no_consent(tmp_path: Path) -> None:
    plan = plan_of(tmp_path, customers=[{**ALICE, "email_opt_in": None}])
    assert outcomes(plan)[0][3] == "consent"


def test_entry(tmp_path: Path) -> None:
    def change(rules: dict[str, Any]) -> None:
        rules["channels"]["email"]["entry"] = 'country == "CN"'

    plan = plan_of(tmp_path, change, customers=[{**ALICE, "country": "US"}])
    assert outcomes(plan) == [(1, "hello", "suppressed", "entry", "email")]


def test_falls_through_to_the_next_channel(tmp_path: Path) -> None:
    customer = {**ALICE, "email_opt_in": 0, "phone": "138", "sms_opt_in": 1}
    plan = plan_of(tmp_path, customers=[customer])
    assert outcomes(plan) == [(1, "hello", "action", None, "sms")]


def test_channel_exit_now_is_planned_as_an_exit(tmp_path: Path) -> None:
    def change(rules: dict[str, Any]) -> None:
        rules["channels"]["email"].update(exit='country == "US"', exit_days=30)

    plan = plan_of(tmp_path, change, customers=[{**ALICE, "country": "US"}])
    assert outcomes(plan) == [(1, "hello", "suppressed", "channel_exit", "email")]
    [exit_] = plan.exits
    assert (exit_.customer_id, exit_.channel, exit_.reason) == (1, "email", 'country == "US"')
    assert exit_.until is not None and (exit_.until - exit_.exited_at).days == 30


def test_exits_are_recorded_for_customers_outside_every_audience(tmp_path: Path) -> None:
    def change(rules: dict[str, Any]) -> None:
        rules["channels"]["email"]["exit"] = 'country == "US"'
        offer(rules, audience='country == "CN"')

    plan = plan_of(tmp_path, change, customers=[{**ALICE, "country": "US"}])
    assert plan.audit == []
    assert [(e.customer_id, e.channel, e.until) for e in plan.exits] == [(1, "email", None)]


def test_channel_exit_in_force_from_an_earlier_run(tmp_path: Path) -> None:
    earlier = {
        "customer_id": 1,
        "channel": "email",
        "exited_at": "2026-11-01T00:00:00Z",
        "until": "2026-12-01T00:00:00Z",
        "reason": "complaint",
        "run_id": "r0",
    }
    plan = plan_of(tmp_path, channel_exits=[earlier])
    assert outcomes(plan) == [(1, "hello", "suppressed", "channel_exit", "email")]
    assert plan.exits == []  # already in force: not recorded again


def test_an_exit_that_ended_no_longer_counts(tmp_path: Path) -> None:
    ended = {
        "customer_id": 1,
        "channel": "email",
        "exited_at": "2026-09-01T00:00:00Z",
        "until": "2026-10-01 00:00:00",
        "reason": "complaint",
        "run_id": "r0",
    }
    assert outcomes(plan_of(tmp_path, channel_exits=[ended]))[0][2] == "action"


def test_channel_lifecycle(tmp_path: Path) -> None:
    def change(rules: dict[str, Any]) -> None:
        rules["channels"]["email"]["lifecycle"] = {"exit": "periods_below(target_roi) >= 2"}

    stats = [
        {
            "channel": "email",
            "period_start": f"2026-{m:02}-01",
            "spend": 100.0,
            "revenue": rev,
            "conversions": 1,
            "target_roi": 2.0,
        }
        for m, rev in ((8, 500.0), (9, 100.0), (10, 150.0))
    ]
    plan = plan_of(tmp_path, change, channel_stats=stats)
    assert outcomes(plan) == [(1, "hello", "suppressed", "channel_lifecycle", "email")]
    state = plan.lifecycle["email"]
    assert state.state == "exit" and state.numbers["roi"] == 1.5 and state.periods == 3


def test_frequency_cap_of_the_channel(tmp_path: Path) -> None:
    def change(rules: dict[str, Any]) -> None:
        rules["calendar"]["frequency_caps"] = [{"channel": "email", "max": 1, "per": "7d"}]

    contact = {
        "customer_id": 1,
        "channel": "email",
        "sent_at": "2026-11-12T08:00:00Z",
        "status": "delivered",
    }
    plan = plan_of(tmp_path, change, contacts=[contact])
    assert outcomes(plan) == [(1, "hello", "suppressed", "frequency_cap", "email")]


def test_frequency_cap_over_all_channels(tmp_path: Path) -> None:
    def change(rules: dict[str, Any]) -> None:
        rules["calendar"]["frequency_caps"] = [{"channel": "*", "max": 2, "per": "7d"}]

    contacts = [
        {"customer_id": 1, "channel": ch, "sent_at": at, "status": "sent"}
        for ch, at in (("sms", "2026-11-14 08:00:00"), ("email", "2026-11-10T08:00:00+08:00"))
    ]
    plan = plan_of(tmp_path, change, contacts=contacts)
    assert outcomes(plan) == [(1, "hello", "suppressed", "frequency_cap", "email")]


def test_a_contact_outside_the_cap_window_does_not_count(tmp_path: Path) -> None:
    def change(rules: dict[str, Any]) -> None:
        rules["calendar"]["frequency_caps"] = [{"channel": "*", "max": 1, "per": "7d"}]

    contact = {"customer_id": 1, "channel": "sms", "sent_at": "2026-11-08T01:59:59Z"}
    assert outcomes(plan_of(tmp_path, change, contacts=[contact]))[0][2] == "action"


def test_blackout_past_the_window(tmp_path: Path) -> None:
    def change(rules: dict[str, Any]) -> None:
        rules["calendar"]["blackouts"] = [
            {"from": "2026-11-15", "until": "2026-11-16", "channels": ["email"]}
        ]
        offer(rules, channels=["email"], window={"from": "2026-11-01", "until": "2026-11-16"})

    plan = plan_of(tmp_path, change)
    assert outcomes(plan) == [(1, "hello", "suppressed", "blackout", "email")]


def test_blackout_moves_the_send_to_the_next_day(tmp_path: Path) -> None:
    def change(rules: dict[str, Any]) -> None:
        rules["calendar"]["blackouts"] = [{"from": "2026-11-15", "until": "2026-11-15"}]

    [action] = plan_of(tmp_path, change).actions
    assert action.send_at == parse_instant("2026-11-16T00:00:00+08:00")


def test_min_gap(tmp_path: Path) -> None:
    def change(rules: dict[str, Any]) -> None:
        rules["calendar"]["min_gap"] = "24h"

    contact = {"customer_id": 1, "channel": "sms", "sent_at": "2026-11-14T20:00:00Z"}
    plan = plan_of(tmp_path, change, contacts=[contact])
    assert outcomes(plan) == [(1, "hello", "suppressed", "min_gap", "email")]


def test_capacity_per_local_day(tmp_path: Path) -> None:
    def change(rules: dict[str, Any]) -> None:
        rules["channels"]["email"]["capacity"] = {"per_day": 1}
        offer(rules, channels=["email"])

    bob = {**ALICE, "id": 2, "email": "b@example.cn"}
    plan = plan_of(tmp_path, change, customers=[ALICE, bob])
    assert [o[2:4] for o in outcomes(plan)] == [("action", None), ("suppressed", "capacity")]


def test_max_actions_counts_earlier_runs(tmp_path: Path) -> None:
    def change(rules: dict[str, Any]) -> None:
        offer(rules, max_actions=1)

    bob = {**ALICE, "id": 2, "email": "b@example.cn"}
    earlier = {
        "run_id": "r0",
        "customer_id": 2,
        "offer_id": "hello",
        "channel": "email",
        "send_at": "2026-10-01T02:00:00Z",
        "cost": 1.02,
    }
    plan = plan_of(
        tmp_path,
        change,
        customers=[ALICE, bob],
        actions=[earlier],
        runs=[{"run_id": "r0", "run_key": "k0", "as_of": "2026-10-01T02:00:00Z"}],
    )
    assert [o[3] for o in outcomes(plan)] == ["max_actions", "max_actions"]


def test_budget_keeps_its_reserve_and_tries_the_next_customer(tmp_path: Path) -> None:
    def change(rules: dict[str, Any]) -> None:
        offer(rules, budget={"total": 4, "reserve": "25%"}, rank="rank_value")
        rules["store"] = {"customers": {"rank_value": "real"}}
        rules["channels"]["sms"]["cost"] = 2.5

    people = [
        {**ALICE, "id": 1, "rank_value": 3.0},  # email: 1.02
        {"id": 2, "phone": "1", "sms_opt_in": 1, "rank_value": 2.0},  # sms: 3.5, too dear
        {**ALICE, "id": 3, "rank_value": 1.0},  # email again: 2.04 of 3.0 spendable
        {**ALICE, "id": 4, "rank_value": 0.5},  # 3.06 > 3.0
    ]
    plan = plan_of(tmp_path, change, customers=people)
    assert [(o[0], o[3]) for o in outcomes(plan)] == [
        (1, None),
        (2, "budget"),
        (3, None),
        (4, "budget"),
    ]


def test_cooldown_from_a_contact_of_the_same_offer(tmp_path: Path) -> None:
    def change(rules: dict[str, Any]) -> None:
        offer(rules, cooldown="7d")

    contact = {
        "customer_id": 1,
        "channel": "email",
        "offer_id": "hello",
        "sent_at": "2026-11-10T02:00:00Z",
    }
    plan = plan_of(tmp_path, change, contacts=[contact])
    assert outcomes(plan) == [(1, "hello", "suppressed", "cooldown", None)]


def test_cooldown_from_an_earlier_runs_planned_action(tmp_path: Path) -> None:
    def change(rules: dict[str, Any]) -> None:
        offer(rules, cooldown="7d")

    planned = {
        "run_id": "r0",
        "customer_id": 1,
        "offer_id": "hello",
        "channel": "email",
        "send_at": "2026-11-16T02:00:00Z",
        "cost": 1.02,
    }
    run = {"run_id": "r0", "run_key": "k0", "as_of": "2026-11-14T02:00:00Z"}
    plan = plan_of(tmp_path, change, actions=[planned], runs=[run])
    assert outcomes(plan)[0][3] == "cooldown"


def test_group_taken(tmp_path: Path) -> None:
    def change(rules: dict[str, Any]) -> None:
        offer(rules, group="winback")
        rules["offers"]["vip"] = {**rules["offers"]["hello"], "priority": 90, "content": "v"}

    plan = plan_of(tmp_path, change)
    assert outcomes(plan) == [
        (1, "hello", "suppressed", "group_taken", None),
        (1, "vip", "action", None, "email"),
    ]


def test_holdout_by_the_published_formula(tmp_path: Path) -> None:
    held = next(i for i in range(1, 100) if in_holdout("hello", i, 0.5))
    kept = next(i for i in range(1, 100) if not in_holdout("hello", i, 0.5))

    def change(rules: dict[str, Any]) -> None:
        offer(rules, holdout="50%")

    people = [{**ALICE, "id": held}, {**ALICE, "id": kept}]
    plan = plan_of(tmp_path, change, customers=people)
    assert {d.customer_id: d.outcome for d in plan.audit} == {held: "holdout", kept: "action"}


def test_quiet_hours_move_the_send_and_say_so(tmp_path: Path) -> None:
    def change(rules: dict[str, Any]) -> None:
        rules["channels"]["email"]["quiet_hours"] = {"start": "21:00", "end": "09:00"}
        offer(rules, send_at="23:30")

    customer = {**ALICE, "timezone": "Europe/London"}  # 02:00 UTC is 02:00 in London
    plan = plan_of(tmp_path, change, customers=[customer])
    [action] = plan.actions
    assert action.reason == "quiet_hours"  # 23:30 London is quiet: 09:00 the next morning
    assert action.send_at == datetime(2026, 11, 16, 9, 0, tzinfo=UTC)


def test_offers_out_of_their_window_and_excluded_customers_get_no_audit_row(
    tmp_path: Path,
) -> None:
    def change(rules: dict[str, Any]) -> None:
        offer(rules, window={"from": "2026-11-16", "until": "2026-11-30"})
        rules["offers"]["other"] = {**rules["offers"]["hello"], "window": None}
        del rules["offers"]["other"]["window"]
        rules["offers"]["other"]["exclude"] = "email_opt_in"

    plan = plan_of(tmp_path, change)
    assert plan.offers_in_play == ("other",) and plan.audit == []


def test_missing_rank_goes_last_then_customer_id(tmp_path: Path) -> None:
    def change(rules: dict[str, Any]) -> None:
        offer(rules, rank="score", max_actions=2)
        rules["store"] = {"customers": {"score": "integer"}}

    people = [
        {**ALICE, "id": 1, "score": None},
        {**ALICE, "id": 2, "score": 5},
        {**ALICE, "id": 3, "score": 5},
    ]
    plan = plan_of(tmp_path, change, customers=people)
    assert [(d.customer_id, d.reason) for d in plan.audit] == [
        (1, "max_actions"),
        (2, None),
        (3, None),
    ]


def test_rank_high_first_through_the_whole_pipeline(tmp_path: Path) -> None:
    """The planner orders each audience by rank (high first, missing last, then id) when it
    unpivots the audiences with numpy; max_actions shows who came first."""

    def change(rules: dict[str, Any]) -> None:
        offer(rules, rank="score", max_actions=2)
        rules["store"] = {"customers": {"score": "real"}}

    scores = {1: 1.5, 2: None, 3: 9.0, 4: -2.0, 5: 5.25, 6: 9.0}
    people = [{**ALICE, "id": cid, "score": score} for cid, score in scores.items()]
    plan = plan_of(tmp_path, change, customers=people)
    [decided] = plan.by_offer
    assert decided.customer_ids.tolist() == [3, 6, 5, 1, 4, 2]
    assert [d.customer_id for d in plan.decisions if d.outcome == "action"] == [3, 6]


# -- the plan as a whole ---------------------------------------------------------------------


def test_plan_leaves_the_store_file_untouched(tmp_path: Path) -> None:
    db = store_with(tmp_path / "store.db", customers=[ALICE])
    before = (hashlib.sha256(db.read_bytes()).hexdigest(), os.stat(db).st_mtime_ns)
    folder = tmp_path / "rules"
    folder.mkdir()
    (folder / "r.yaml").write_text(yaml.safe_dump(BASE))
    result = CliRunner().invoke(
        main, ["plan", str(folder), "--db", str(db), "--as-of", "2026-11-15T02:00:00Z"]
    )
    assert result.exit_code == 0, result.output
    assert (hashlib.sha256(db.read_bytes()).hexdigest(), os.stat(db).st_mtime_ns) == before


def test_same_inputs_give_byte_identical_json(tmp_path: Path) -> None:
    people = [{**ALICE, "id": i, "email": f"{i}@x.cn"} for i in range(1, 40)]

    def change(rules: dict[str, Any]) -> None:
        offer(rules, holdout="20%", max_actions=25)

    first = plan_of(tmp_path, change, customers=people)
    rules = load_rules([tmp_path / "rules"], db=tmp_path / "store.db", as_of=AS_OF)
    second = plan_store(tmp_path / "store.db", rules, AS_OF)
    one, two = plan_json(first, digest="d"), plan_json(second, digest="d")
    assert one == two and '"outcome": "holdout"' in one and '"reason": "max_actions"' in one


ROOT = Path(__file__).parents[1]


@pytest.mark.parametrize(
    ("args", "code", "words"),
    [
        (["--db", "{tmp}/missing.db"], 2, "no such store"),
        (["--db", "{tmp}/text.db"], 2, "not a SQLite database"),
        (["--db", "{tmp}/store.db", "--as-of", "yesterday"], 2, "--as-of"),
        (["{tmp}/nowhere", "--db", "{tmp}/store.db"], 2, "nowhere"),
        (["{tmp}/bad", "--db", "{tmp}/store.db"], 1, "unknown name"),
        (["--db", "{tmp}/store.db", "--json", "{tmp}/no/such/dir/p.json"], 2, "does not exist"),
        (["--db", "{tmp}/partial.db"], 2, "campaign init-store"),
    ],
)
def test_plan_failures_are_messages_not_tracebacks(
    tmp_path: Path, args: list[str], code: int, words: str
) -> None:
    store_with(tmp_path / "store.db", customers=[ALICE])
    (tmp_path / "text.db").write_text("not a database")
    with sqlite3.connect(tmp_path / "partial.db") as partial:
        partial.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, email TEXT)")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "r.yaml").write_text("segments:\n  s:\n    where: contry == 'CN'\n")
    filled = [a.replace("{tmp}", str(tmp_path)) for a in args]
    if not filled[0].startswith(str(tmp_path)) or filled[0].endswith(".db"):
        filled = [str(ROOT / "rules"), *filled]
    result = CliRunner().invoke(main, ["plan", "--quiet", *filled])
    assert result.exit_code == code, result.output
    assert words in result.output
    assert "Traceback" not in result.output


def test_written_files_get_the_usual_permissions(tmp_path: Path) -> None:
    from rules_engine.report.export import replacing

    target = tmp_path / "actions.csv"
    with replacing(target) as out:
        out.write("x\n")
    mask = os.umask(0)
    os.umask(mask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~mask
