"""`campaign diff` on a seven-customer store, every number worked out by hand.

The store: customers 1-7, all in Asia/Shanghai. 1-6 have an e-mail address and e-mail
consent; 1-4 and 7 a phone, with SMS consent except 4; 7 has no e-mail address. Their
completed orders add up to 50, 150, 250, 350, 0, 500 and 0.

The base rules: `big` (spend >= 100: customers 2, 3, 4, 6) gets `vip` (e-mail, cost 1 + 0.02),
everyone gets `hello` (e-mail then SMS, cost 0.5 + 0.02 or 0.05); both in group `g`, `vip`
first, so `hello` acts for 1 and 5 by e-mail and 7 by SMS, and is group_taken for the rest.

Holdouts follow the public formula; for `hello` the customers' numbers are 1: 4868, 2: 5348,
5: 3992, 7: 5926 (held out below holdout x 10,000), for `vip` 2: 8045, 3: 4900, 4: 5875,
6: 7855.
"""

from __future__ import annotations

import copy
import json
import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlite_utils
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rules_engine import store
from rules_engine.backends.sqlite.audit import rules_digest
from rules_engine.cli import main
from rules_engine.diff import diff_document
from rules_engine.diff_run import diff_rules, plan_both, still_to_run
from rules_engine.execute import plan_store
from rules_engine.report.diff import MARKDOWN_LIMIT, diff_markdown
from rules_engine.rules.check import load_rules
from rules_engine.sql.compile import compile_values
from rules_engine.times import parse_instant

AS_OF = parse_instant("2026-11-15T10:00:00+08:00")
AS_OF_TEXT = "2026-11-15T10:00:00+08:00"
RULES: dict[str, Any] = {
    "metrics": {"spend": {"from": "orders", "value": "sum(amount)", "default": 0}},
    "channels": {
        "email": {"address": "email", "consent": "email_opt_in", "cost": 0.02},
        "sms": {"address": "phone", "consent": "sms_opt_in", "cost": 0.05},
    },
    "segments": {"big": {"where": "spend >= 100"}, "everyone": {"where": "id > 0"}},
    "offers": {
        "vip": {
            "audience": "big",
            "channels": ["email"],
            "content": "tpl_vip",
            "priority": 50,
            "group": "g",
            "cost": 1.0,
        },
        "hello": {
            "audience": "everyone",
            "channels": ["email", "sms"],
            "content": "tpl_hello",
            "priority": 10,
            "group": "g",
            "cost": 0.5,
        },
    },
    "calendar": {"timezone": "Asia/Shanghai"},
}
SPEND = {1: 50, 2: 150, 3: 250, 4: 350, 6: 500}


def _customer(i: int) -> dict[str, Any]:
    return {
        "id": i,
        "timezone": "Asia/Shanghai",
        "email": None if i == 7 else f"c{i}@example.cn",
        "email_opt_in": 0 if i == 7 else 1,
        "phone": f"+86130000000{i}" if i in (1, 2, 3, 4, 7) else None,
        "sms_opt_in": 0 if i == 4 else 1,
    }


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    path = tmp_path / "shop.db"
    store.init_store(path)
    db = sqlite_utils.Database(path)
    db["customers"].insert_all([_customer(i) for i in range(1, 8)], alter=True)  # type: ignore[union-attr]
    orders = [
        {"id": i, "customer_id": i, "ordered_at": "2026-10-01T12:00:00Z"}
        | {"amount": amount, "status": "completed"}
        for i, amount in SPEND.items()
    ]
    db["orders"].insert_all(orders, alter=True)  # type: ignore[union-attr]
    db.close()
    return path


def write_rules(folder: Path, rules: dict[str, Any]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "rules.yaml").write_text(
        yaml.safe_dump(rules, allow_unicode=True, sort_keys=False), encoding="utf-8"
    )
    return folder


def changed(
    change: Callable[[dict[str, Any]], None], rules: dict[str, Any] = RULES
) -> dict[str, Any]:
    found = copy.deepcopy(rules)
    change(found)
    return found


def diff_of(
    tmp_path: Path, shop: Path, head: dict[str, Any], base: dict[str, Any] = RULES
) -> dict[str, Any]:
    base_dir = write_rules(tmp_path / "base", base)
    head_dir = write_rules(tmp_path / "head", head)
    return diff_document(diff_rules(shop, [head_dir], AS_OF, base_rules=base_dir))


def side(
    audience: int,
    actions: int,
    cost: float,
    priority: int,
    holdouts: int = 0,
    **suppressed: int,
) -> dict[str, Any]:
    return {
        "audience": audience,
        "holdouts": holdouts,
        "actions": actions,
        "cost": cost,
        "suppressed": suppressed,
        "in_play": True,
        "priority": priority,
    }


def offer(
    name: str,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    gained: int = 0,
    lost: int = 0,
    holdout_changed: int = 0,
) -> dict[str, Any]:
    return {
        "id": name,
        "before": before,
        "after": after,
        "gained": gained,
        "lost": lost,
        "holdout_changed": holdout_changed,
    }


def offers_of(document: dict[str, Any]) -> list[dict[str, Any]]:
    """The contract's keys of each offer (`decisions_changed` is checked on its own)."""
    return [{k: v for k, v in o.items() if k != "decisions_changed"} for o in document["offers"]]


def channel(name: str, before: int | None, after: int | None) -> dict[str, Any]:
    return {"id": name, "before": before, "after": after}


def channels_of(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [{k: v for k, v in c.items() if k != "exits"} for c in document["channels"]]


def test_a_segment_threshold_change(tmp_path: Path, shop: Path) -> None:
    """`big` from spend >= 100 to >= 200: customer 2 leaves it, so `vip` loses 2 and
    `hello` (no longer group_taken) gains 2, by e-mail."""
    head = changed(lambda r: r["segments"]["big"].update(where="spend >= 200"))
    found = diff_of(tmp_path, shop, head)
    assert found["format"] == "campaign-diff/1"
    assert found["rules"] == [{"section": "segments", "id": "big", "change": "changed"}]
    assert found["segments"] == [
        {"id": "big", "before": 4, "after": 3, "entered": 0, "left": 1},
        {"id": "everyone", "before": 7, "after": 7, "entered": 0, "left": 0},
    ]
    assert offers_of(found) == [
        offer("vip", side(4, 4, 4.08, 50), side(3, 3, 3.06, 50), lost=1),
        offer(
            "hello",
            side(7, 3, 1.59, 10, group_taken=4),
            side(7, 4, 2.11, 10, group_taken=3),
            gained=1,
        ),
    ]
    assert [o["decisions_changed"] for o in found["offers"]] == [1, 1]
    assert found["moves"] == [{"from": "vip", "to": "hello", "customers": 1}]
    assert channels_of(found) == [channel("email", 6, 6), channel("sms", 1, 1)]
    assert found["cost"] == {"before": 5.67, "after": 5.17}
    assert found["decisions_changed"] is True


def test_offers_added_removed_and_reprioritised(tmp_path: Path, shop: Path) -> None:
    """Base: vip (50), old (30, SMS to everyone, no group), hello (10). Head: new (40, SMS to
    `big`), hello (10), vip moved below hello (5): vip is group_taken for all of `big`."""
    old = {"audience": "everyone", "channels": ["sms"], "content": "tpl_old"}
    base = changed(lambda r: r["offers"].update(old=old | {"priority": 30, "cost": 1.0}))
    new = {"audience": "big", "channels": ["sms"], "content": "tpl_new"}

    def change(rules: dict[str, Any]) -> None:
        del rules["offers"]["old"]
        rules["offers"]["vip"]["priority"] = 5
        rules["offers"]["new"] = new | {"priority": 40, "cost": 2.0}

    found = diff_of(tmp_path, shop, changed(change, base), base)
    assert found["rules"] == [
        {"section": "offers", "id": "new", "change": "added"},
        {"section": "offers", "id": "old", "change": "removed"},
        {"section": "offers", "id": "vip", "change": "changed"},
    ]
    assert offers_of(found) == [
        offer("vip", side(4, 4, 4.08, 50), side(4, 0, 0.0, 5, group_taken=4), lost=4),
        offer("hello", side(7, 3, 1.59, 10, group_taken=4), side(7, 7, 3.67, 10), gained=4),
        offer("new", None, side(4, 2, 4.1, 40, consent=1, no_address=1), gained=2),
        offer("old", side(7, 4, 4.2, 30, consent=1, no_address=2), None, lost=4),
    ]
    assert found["moves"] == [
        {"from": "old", "to": "hello", "customers": 2},
        {"from": "vip", "to": "hello", "customers": 2},
        {"from": "vip", "to": "new", "customers": 2},
    ]
    assert channels_of(found) == [channel("email", 6, 6), channel("sms", 5, 3)]
    assert found["cost"] == {"before": 9.87, "after": 7.77}
    assert found["segments"] == [
        {"id": "big", "before": 4, "after": 4, "entered": 0, "left": 0},
        {"id": "everyone", "before": 7, "after": 7, "entered": 0, "left": 0},
    ]


def test_a_holdout_fraction_changed(tmp_path: Path, shop: Path) -> None:
    """hello's holdout 40% -> 50%: of the customers it decides (1, 5, 7), 5 (3992) is held
    out on both sides, 1 (4868) only after, 7 (5926) on neither."""
    base = changed(lambda r: r["offers"]["hello"].update(holdout="40%"))
    head = changed(lambda r: r["offers"]["hello"].update(holdout="50%"))
    found = diff_of(tmp_path, shop, head, base)
    assert found["rules"] == [{"section": "offers", "id": "hello", "change": "changed"}]
    assert offers_of(found) == [
        offer("vip", side(4, 4, 4.08, 50), side(4, 4, 4.08, 50)),
        offer(
            "hello",
            side(7, 2, 1.07, 10, holdouts=1, group_taken=4),
            side(7, 1, 0.55, 10, holdouts=2, group_taken=4),
            lost=1,
            holdout_changed=1,
        ),
    ]
    assert found["moves"] == [{"from": "hello", "to": None, "customers": 1}]
    assert channels_of(found) == [channel("email", 5, 4), channel("sms", 1, 1)]
    assert found["cost"] == {"before": 5.15, "after": 4.63}


def test_holdout_changed_is_zero_when_holdouts_did_not_change(tmp_path: Path, shop: Path) -> None:
    """With holdouts on both offers, the threshold change moves customer 2 from vip to
    hello: decisions change, control groups do not (2 is decided by hello only after, and
    3, held out of vip, stays held out)."""
    base = changed(lambda r: r["offers"]["hello"].update(holdout="40%"))
    base["offers"]["vip"]["holdout"] = "50%"
    head = changed(lambda r: r["segments"]["big"].update(where="spend >= 200"), base)
    found = diff_of(tmp_path, shop, head, base)
    assert [o["holdout_changed"] for o in found["offers"]] == [0, 0]
    assert [o["before"]["holdouts"] for o in found["offers"]] == [1, 1]  # 3 of vip, 5 of hello
    assert [o["after"]["holdouts"] for o in found["offers"]] == [1, 1]
    assert found["moves"] == [{"from": "vip", "to": "hello", "customers": 1}]


def test_a_channel_removed(tmp_path: Path, shop: Path) -> None:
    """Without SMS, customer 7 (no e-mail address) gets nothing: no_address."""

    def change(rules: dict[str, Any]) -> None:
        del rules["channels"]["sms"]
        rules["offers"]["hello"]["channels"] = ["email"]

    found = diff_of(tmp_path, shop, changed(change))
    assert found["rules"] == [
        {"section": "channels", "id": "sms", "change": "removed"},
        {"section": "offers", "id": "hello", "change": "changed"},
    ]
    assert offers_of(found) == [
        offer("vip", side(4, 4, 4.08, 50), side(4, 4, 4.08, 50)),
        offer(
            "hello",
            side(7, 3, 1.59, 10, group_taken=4),
            side(7, 2, 1.04, 10, group_taken=4, no_address=1),
            lost=1,
        ),
    ]
    assert found["moves"] == [{"from": "hello", "to": None, "customers": 1}]
    assert channels_of(found) == [channel("email", 6, 6), channel("sms", 1, None)]
    assert found["cost"] == {"before": 5.67, "after": 5.12}  # 4.08 + 2 x 0.52


def test_the_same_rules_written_differently_change_nothing(tmp_path: Path, shop: Path) -> None:
    """Rules compare as parsed, not as text: spacing, quoting and a percentage written as a
    fraction are the same rules."""
    base = changed(lambda r: r["offers"]["hello"].update(holdout="10%"))
    head = changed(lambda r: r["offers"]["hello"].update(holdout=0.1), base)
    head["segments"]["big"]["where"] = "spend>=100"
    found = diff_of(tmp_path, shop, head, base)
    assert found["rules"] == []
    assert found["moves"] == []
    assert found["decisions_changed"] is False
    assert all(o["before"] == o["after"] and o["decisions_changed"] == 0 for o in found["offers"])


def test_content_changes_are_decision_changes(tmp_path: Path, shop: Path) -> None:
    """The same customers, channels and costs, another template: the actions differ."""
    head = changed(lambda r: r["offers"]["hello"].update(content="tpl_hello_v2"))
    found = diff_of(tmp_path, shop, head)
    assert [o["decisions_changed"] for o in found["offers"]] == [0, 3]
    assert found["decisions_changed"] is True


def test_a_variant_weight_change_is_a_decision_change(tmp_path: Path, shop: Path) -> None:
    """hello's acting customers 1, 5 and 7 have variant buckets 8405, 6059 and 9848: all in
    `b` at 50/50; at 90/10, 1 and 5 move to `a` and 7 stays. Counts and costs stay the same."""

    def weights(a: str, b: str) -> Callable[[dict[str, Any]], None]:
        variants = {"a": {"weight": a}, "b": {"weight": b, "content": "tpl_hello_b"}}
        return lambda r: r["offers"]["hello"].update(variants=variants)

    found = diff_of(tmp_path, shop, changed(weights("90%", "10%")), changed(weights("50%", "50%")))
    assert [o["decisions_changed"] for o in found["offers"]] == [0, 2]
    assert all(o["before"] == o["after"] for o in found["offers"])
    assert found["moves"] == []
    assert found["decisions_changed"] is True


OFFER_SETTINGS = st.fixed_dictionaries(
    {
        "priority": st.integers(0, 3),
        "group": st.sampled_from(["g", "h", None]),
        "holdout": st.sampled_from(["0%", "30%", "50%"]),
        "channels": st.sampled_from([["email"], ["sms"], ["email", "sms"], ["sms", "email"]]),
    }
)
SIDE = st.fixed_dictionaries(
    {
        "threshold": st.sampled_from([0, 100, 200, 400]),
        "vip": OFFER_SETTINGS,
        "hello": OFFER_SETTINGS,
    }
)


def rules_for(side: dict[str, Any]) -> dict[str, Any]:
    rules = copy.deepcopy(RULES)
    rules["segments"]["big"]["where"] = f"spend >= {side['threshold']}"
    for name in ("vip", "hello"):
        settings_ = {k: v for k, v in side[name].items() if v is not None}
        rules["offers"][name].pop("group")
        rules["offers"][name].update(settings_)
    return rules


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(base=SIDE, head=SIDE)
def test_what_holds_for_any_two_rule_sets(
    tmp_path: Path, shop: Path, base: dict[str, Any], head: dict[str, Any]
) -> None:
    """An offer's control group changes only with its holdout; gained minus lost is its
    change in actions; every customer who moved is counted once; no change, no difference."""
    found = diff_of(tmp_path, shop, rules_for(head), rules_for(base))
    for o in found["offers"]:
        before, after = o["before"]["actions"], o["after"]["actions"]
        assert o["gained"] - o["lost"] == after - before
        if base[o["id"]]["holdout"] == head[o["id"]]["holdout"]:
            assert o["holdout_changed"] == 0
    assert sum(m["customers"] for m in found["moves"]) <= found["customers"]
    assert all(m["from"] != m["to"] for m in found["moves"])
    if base == head:
        assert found["rules"] == [] and found["decisions_changed"] is False


# -- the command ---------------------------------------------------------------------------------


def run_diff(*args: str | Path) -> Any:
    return CliRunner().invoke(main, ["diff", *map(str, args), "--as-of", AS_OF_TEXT, "--quiet"])


def test_detailed_exit_codes(tmp_path: Path, shop: Path) -> None:
    base = write_rules(tmp_path / "base", RULES)
    same = write_rules(tmp_path / "same", RULES)
    other = write_rules(tmp_path / "other", changed(lambda r: r["offers"]["vip"].update(cost=2.0)))
    unchanged = run_diff("--db", shop, same, "--base-rules", base, "--detailed-exitcode")
    assert unchanged.exit_code == 0, unchanged.output
    assert "no decision changed" in unchanged.output
    assert run_diff("--db", shop, other, "--base-rules", base, "--detailed-exitcode").exit_code == 2
    plain = run_diff("--db", shop, other, "--base-rules", base, "--format", "json")
    assert plain.exit_code == 0
    assert json.loads(plain.output)["offers"][0]["after"]["cost"] == 8.08  # 4 x (2 + 0.02)


def test_invalid_rules_name_their_side_file_and_line(tmp_path: Path, shop: Path) -> None:
    base = write_rules(
        tmp_path / "base", changed(lambda r: r["segments"]["big"].update(where="spend >= 'x'"))
    )
    head = write_rules(tmp_path / "head", RULES)
    result = run_diff("--db", shop, head, "--base-rules", base, "--detailed-exitcode")
    assert result.exit_code == 1
    assert f"the base rules ({base})" in result.output
    line = next(
        n
        for n, text in enumerate((base / "rules.yaml").read_text().splitlines(), 1)
        if "spend >= 'x'" in text
    )
    assert f"{base}/rules.yaml:{line}:" in result.output
    assert "the head rules" not in result.output
    both = run_diff("--db", shop, base, "--base-rules", base)
    assert both.exit_code == 1
    assert f"the base rules ({base}) are invalid" in both.output
    assert f"the head rules ({base}) are invalid" in both.output
    assert "Traceback" not in result.output


def test_unreadable_input_exits_2(tmp_path: Path, shop: Path) -> None:
    head = write_rules(tmp_path / "head", RULES)
    missing = run_diff("--db", shop, head, "--base-rules", tmp_path / "nowhere")
    assert missing.exit_code == 2
    assert "no such folder" in missing.output
    neither = run_diff("--db", shop, head)
    assert neither.exit_code == 2
    assert "--base GIT_REF or --base-rules DIR" in neither.output
    no_store = run_diff("--db", tmp_path / "none.db", head, "--base-rules", head)
    assert no_store.exit_code == 2
    assert "none.db" in no_store.output
    no_folder = run_diff("--db", shop, head, "--base-rules", head, "--out", tmp_path / "x" / "d.md")
    assert no_folder.exit_code == 2
    assert "does not exist" in no_folder.output
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "rules.yaml").write_text("offers: [unclosed\n")
    unreadable = run_diff("--db", shop, head, "--base-rules", broken)
    assert unreadable.exit_code == 2
    assert f"the base rules ({broken})" in unreadable.output
    assert f"{broken}/rules.yaml:2:1" in unreadable.output


# -- through Git -------------------------------------------------------------------------------


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.cn", *args],
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def test_base_from_git_head_1(tmp_path: Path, shop: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two commits; the diff reads the first from Git and leaves the working tree alone."""
    repo = tmp_path / "repo"
    (repo / "rules" / "offers").mkdir(parents=True)
    git(repo, "init", "-q")
    rules = copy.deepcopy(RULES)
    offers = {"offers": rules.pop("offers")}
    (repo / "rules" / "base.yaml").write_text(
        yaml.safe_dump(rules, sort_keys=False), encoding="utf-8"
    )
    (repo / "rules" / "offers" / "offers.yaml").write_text(
        yaml.safe_dump(offers, sort_keys=False), encoding="utf-8"
    )
    (repo / "rules" / "notes.txt").write_text("not a rule file")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "base")
    first = git(repo, "rev-parse", "HEAD").strip()
    offers["offers"]["hello"]["holdout"] = "50%"
    (repo / "rules" / "offers" / "offers.yaml").write_text(
        yaml.safe_dump(offers, sort_keys=False), encoding="utf-8"
    )
    git(repo, "commit", "-q", "-am", "hello holds out half")
    offers["offers"]["vip"]["cost"] = 3.0  # an edit not committed: the head is the disk
    (repo / "rules" / "offers" / "offers.yaml").write_text(
        yaml.safe_dump(offers, sort_keys=False), encoding="utf-8"
    )
    status = git(repo, "status", "--porcelain")
    monkeypatch.chdir(repo)
    result = run_diff("--db", shop, "--base", "HEAD~1", "--format", "json")
    assert result.exit_code == 0, result.output
    found = json.loads(result.output)
    assert found["base"]["ref"] == "HEAD~1"
    assert found["base"]["commit"] == first
    assert found["head"]["ref"] is None
    assert found["rules"] == [
        {"section": "offers", "id": "hello", "change": "changed"},
        {"section": "offers", "id": "vip", "change": "changed"},
    ]
    assert found["offers"][1]["holdout_changed"] == 2  # customers 1 (4868) and 5 (3992)
    assert found["offers"][0]["after"]["cost"] == 12.08  # 4 x (3 + 0.02), from the disk
    assert git(repo, "status", "--porcelain") == status
    assert found["base"]["rules_digest"] != found["head"]["rules_digest"]


def test_an_unchanged_working_tree(
    tmp_path: Path, shop: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same files from Git and from disk: the same digest (the one runs record), no
    rule change, no decision change."""
    repo = tmp_path / "repo"
    write_rules(repo / "rules", RULES)
    git(repo, "init", "-q")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "rules")
    monkeypatch.chdir(repo)
    result = run_diff("--db", shop, "--base", "HEAD", "--format", "json", "--detailed-exitcode")
    assert result.exit_code == 0, result.output
    found = json.loads(result.output)
    assert found["base"]["rules_digest"] == found["head"]["rules_digest"]
    assert found["head"]["rules_digest"] == rules_digest([Path("rules/rules.yaml")])
    assert (found["rules"], found["moves"], found["decisions_changed"]) == ([], [], False)


def test_rules_new_since_the_base(
    tmp_path: Path, shop: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """rules/ did not exist at the base commit: no rules there, everything is added."""
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "README").write_text("a shop\n")
    git(repo, "init", "-q")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "start")
    write_rules(repo / "rules", RULES)
    monkeypatch.chdir(repo)
    result = run_diff("--db", shop, "--base", "HEAD", "--format", "json", "--detailed-exitcode")
    assert result.exit_code == 2, result.output
    found = json.loads(result.output)
    assert {r["change"] for r in found["rules"]} == {"added"}
    assert [(o["id"], o["before"], o["after"]["actions"]) for o in found["offers"]] == [
        ("vip", None, 4),
        ("hello", None, 3),
    ]
    assert found["cost"] == {"before": 0.0, "after": 5.67}
    assert found["segments"][0] == {
        "id": "big",
        "before": None,
        "after": 4,
        "entered": 4,
        "left": 0,
    }


def test_git_errors(tmp_path: Path, shop: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    outside = write_rules(tmp_path / "plain" / "rules", RULES)
    result = run_diff("--db", shop, outside, "--base", "HEAD")
    assert result.exit_code == 2
    assert "not inside a Git repository" in result.output
    assert "--base-rules" in result.output
    repo = tmp_path / "repo"
    write_rules(repo / "rules", RULES)
    git(repo, "init", "-q")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "rules")
    monkeypatch.chdir(repo)
    unknown = run_diff("--db", shop, "--base", "no-such-branch")
    assert unknown.exit_code == 2
    assert "no-such-branch: no such commit" in unknown.output
    assert "Traceback" not in unknown.output


def test_without_git(tmp_path: Path, shop: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    head = write_rules(tmp_path / "rules", RULES)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    result = run_diff("--db", shop, head, "--base", "HEAD")
    assert result.exit_code == 2
    assert "git is not installed" in result.output


def test_a_base_commit_that_does_not_validate(
    tmp_path: Path, shop: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = tmp_path / "repo"
    broken = changed(lambda r: r["offers"]["vip"].update(audience="bigg"))
    write_rules(repo / "rules", broken)
    git(repo, "init", "-q")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "typo")
    write_rules(repo / "rules", RULES)
    git(repo, "commit", "-q", "-am", "fixed")
    monkeypatch.chdir(repo)
    result = run_diff("--db", shop, "--base", "HEAD~1", "--detailed-exitcode")
    assert result.exit_code == 1
    line = next(
        n
        for n, t in enumerate(yaml.safe_dump(broken, sort_keys=False).splitlines(), 1)
        if "bigg" in t
    )
    assert "the base rules (HEAD~1) are invalid" in result.output
    assert f"rules/rules.yaml:{line}:" in result.output
    assert "did you mean" in result.output


# -- the docs ------------------------------------------------------------------------------------

ROOT = Path(__file__).parents[1]


def test_every_key_of_the_diff_json_is_documented(tmp_path: Path, shop: Path) -> None:
    document = diff_of(tmp_path, shop, changed(lambda r: r["offers"]["vip"].update(cost=2.0)))
    docs = (ROOT / "docs" / "diff.md").read_text(encoding="utf-8")
    section = docs.split("## The JSON format")[1].split("\n## ")[0]
    rows = set(re.findall(r"^\| `([a-z_]+)` \|", section, flags=re.M))
    assert set(document) == rows
    offer_keys = {*document["offers"][0], *document["offers"][0]["after"]}
    channel_keys = {*document["channels"][0], *document["channels"][0]["exits"]}
    for key in offer_keys | channel_keys | set(document["base"]):
        assert f"{key}" in section


def test_the_pre_commit_hooks_run_commands_that_exist() -> None:
    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    assert [h["id"] for h in hooks] == ["campaign-validate", "campaign-test"]
    for hook in hooks:
        program, command = hook["entry"].split()
        assert program == "campaign"
        assert hook["args"] == ["rules/"]
        assert hook["pass_filenames"] is False
        assert command in main.commands
        result = CliRunner().invoke(main, [command, "--help"])
        assert result.exit_code == 0, result.output


# -- shared work ---------------------------------------------------------------------------------


def checked_rules(tmp_path: Path, name: str, rules: dict[str, Any], shop: Path) -> Any:

    return load_rules([write_rules(tmp_path / name, rules)], db=shop, as_of=AS_OF)


def decided(plan: Any) -> tuple[Any, ...]:
    return (plan.segments, [(d.customer_id, d.offer_id, d.outcome, d.reason) for d in plan.audit])


@pytest.mark.parametrize(
    "change",
    [
        lambda r: r["segments"]["big"].update(where="spend >= 200"),  # shares the aggregates
        lambda r: r["offers"]["vip"].update(priority=5),  # shares every value
        lambda r: r["metrics"].update(n={"from": "orders", "value": "count()", "default": 0}),
        lambda r: (
            r["metrics"].update(v={"from": "events", "value": "count()", "default": 0})
            or r["segments"].update(big={"where": "spend >= 100 and v == 0"})
        ),  # orders shared
    ],
)
def test_plans_that_share_work_decide_as_plans_made_alone(
    tmp_path: Path, shop: Path, change: Callable[[dict[str, Any]], None]
) -> None:

    base = checked_rules(tmp_path, "base", RULES, shop)
    head = checked_rules(tmp_path, "head", changed(change), shop)
    with store.closing_read_only(shop) as conn:
        together = plan_both(conn, base, head, AS_OF)
        (leftover,) = conn.execute(
            "SELECT count(*) FROM temp.sqlite_master WHERE name LIKE 'cv_agg_%'"
        ).fetchone()
    assert leftover == 0  # the intermediates of both sides are dropped
    assert decided(together[0]) == decided(plan_store(shop, base, AS_OF))
    assert decided(together[1]) == decided(plan_store(shop, head, AS_OF))


def test_what_the_head_builds_again(tmp_path: Path, shop: Path) -> None:
    """Only the tables whose statements differ, and those that read them."""
    views = {"from": "events", "where": 'type == "view"', "value": "count()", "default": 0}
    base = changed(lambda r: r["metrics"].update(views=views))

    def left_to_run(change: Callable[[dict[str, Any]], None], name: str) -> list[Any]:
        def work(rules: dict[str, Any], folder: str) -> list[Any]:
            program = compile_values(checked_rules(tmp_path, folder, rules, shop), AS_OF)
            return [s for s in program.statements if not s.sql.startswith("DROP TABLE temp.")]

        return still_to_run(work(base, "base"), work(changed(change, base), name))

    assert left_to_run(lambda r: r["offers"]["vip"].update(priority=5), "offer") == []
    segment = left_to_run(lambda r: r["segments"]["big"].update(where="spend >= 200"), "seg")
    assert {s.stage for s in segment} == {"setup", "segments"}  # no metric computed again
    assert "customer_values" in segment[-1].sql  # the view over the layers, made again
    events = left_to_run(lambda r: r["metrics"]["views"].update(where='type == "search"'), "ev")
    built = {s.sql.split(" SELECT ")[0] for s in events if s.sql.startswith("INSERT INTO")}
    assert 'INSERT INTO temp."cv_agg_events"' in built
    assert 'INSERT INTO temp."cv_agg_orders"' not in built  # the aggregates over orders are kept
    assert 'INSERT INTO temp."cv_layer_0"' in built  # it reads the events' aggregates


# -- markdown ------------------------------------------------------------------------------------


def many_offers(count: int) -> dict[str, Any]:
    rules = copy.deepcopy(RULES)
    rules["offers"] = {
        f"o{i:03}": {
            "audience": "everyone",
            "channels": ["email"],
            "content": f"tpl_{i}",
            "priority": i,
            "cost": 1.0,
        }
        for i in range(count)
    }
    return rules


def test_markdown_of_hundreds_of_offers_fits_a_comment(tmp_path: Path, shop: Path) -> None:
    """500 offers e-mail customers 1-6. The head removes the first 100 (each loses 6
    customers) and narrows the others to `big` (each loses 1 and 5): removed offers first,
    cut to fit, the rest counted."""

    base = many_offers(500)

    def change(rules: dict[str, Any]) -> None:
        for i in range(100):
            del rules["offers"][f"o{i:03}"]
        for body in rules["offers"].values():
            body["audience"] = "big"

    base_dir = write_rules(tmp_path / "base", base)
    head_dir = write_rules(tmp_path / "head", changed(change, base))
    found = diff_rules(shop, [head_dir], AS_OF, base_rules=base_dir)
    text = diff_markdown(found)
    assert len(text) <= MARKDOWN_LIMIT
    assert text.startswith("### campaign diff: 500 rule change(s); 500 offer(s) changed")
    rows = [line for line in text.splitlines() if line.startswith("| `o")]
    assert rows[0].startswith("| `o000` (removed) | 6 → – |")
    assert "more offers (`--format json` has all)" in text
    assert text.count("<details>") == text.count("</details>") >= 2
    full = diff_document(found)
    assert len(full["offers"]) == 500  # the JSON keeps everything
    assert sum(o["lost"] for o in full["offers"]) == 100 * 6 + 400 * 2


def test_markdown_tables_render(tmp_path: Path, shop: Path) -> None:
    """Every table row has its header's number of cells; ids with a `|` cannot break one."""

    base_dir = write_rules(tmp_path / "base", RULES)
    head = changed(lambda r: r["segments"]["big"].update(where="spend >= 200"))
    found = diff_rules(shop, [write_rules(tmp_path / "head", head)], AS_OF, base_rules=base_dir)
    text = diff_markdown(found)
    tables: list[list[str]] = []
    for line in text.splitlines():
        if line.startswith("|"):
            if not tables or not tables[-1]:
                tables.append([])
            tables[-1].append(line)
        elif tables and tables[-1]:
            tables.append([])
    tables = [t for t in tables if t]
    assert len(tables) >= 4  # offers, moves, segments, suppressed, channels, rules
    for table in tables:
        cells = {len(re.split(r"(?<!\\)\|", row)) for row in table}
        assert len(cells) == 1, table
        assert set(table[1]) <= set("|:-")
    assert "| `vip` | `hello` | 1 |" in text
    assert "| `big` | 4 → 3 | -1 | 0 | 1 |" in text
