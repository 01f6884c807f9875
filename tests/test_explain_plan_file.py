"""`explain --plan PLAN.json`: a saved plan's decision for one customer, without deciding the
whole store again, on SQLite and DuckDB stores; refused, as `run --plan` refuses, when the
plan's rules, as-of or store changed."""

from __future__ import annotations

import copy
import json
import os
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import duckdb
import pytest
import yaml
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, given, settings

from rules_engine.apply import plan_file_json, plan_with_fingerprint, read_plan_file
from rules_engine.backends.duckdb import fingerprint
from rules_engine.cli import main
from rules_engine.errors import InputError
from rules_engine.execute import Plan
from rules_engine.plan_lookup import customer_part
from rules_engine.reference.explain import explain_store
from rules_engine.reference.explain_plan import explain_plan_file
from rules_engine.rules.check import load_rules
from rules_engine.rules.model import RuleSet
from rules_engine.storecopy import copy_store
from rules_engine.times import parse_instant
from tests.test_explain_plan import shops
from tests.test_plan import AS_OF, BASE, store_with

Shop = tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]
AS_OF_TEXT = "2026-11-15T10:00:00+08:00"  # AS_OF


def _full(d: Any) -> tuple[Any, ...]:
    return (d.outcome, d.reason, d.channel, d.send_at, d.cost, d.detail, d.variant)


def _decided(d: Any) -> tuple[Any, ...]:  # as the plan has it: explain names limits in `detail`
    return (d.outcome, d.reason, d.channel, d.send_at, d.cost, d.variant)


def _saved_plan(db: Path, rules: RuleSet, path: Path) -> Plan:
    planned, fingerprint = plan_with_fingerprint(db, rules, AS_OF)
    path.write_text(plan_file_json(planned, fingerprint), encoding="utf-8")
    return planned


def _every_customer_explained_as_planned(folder: Path, db: Path, shop: Shop) -> None:
    """For every customer: explain --plan gives exactly the plan's decisions, and those of
    plain explain; the customer's rows found in the file are those a whole read finds."""
    rules_doc, customers, _ = shop
    rules = load_rules([folder / "rules"], db=db, as_of=AS_OF)
    plan_path = folder / f"{db.name}.plan.json"
    planned = _saved_plan(db, rules, plan_path)
    whole = read_plan_file(plan_path)
    for customer in customers:
        cid = customer["id"]
        part = customer_part(plan_path, cid)
        assert part.audit == [r for r in whole.audit if r["customer_id"] == cid]
        assert part.actions == [r for r in whole.actions if r["customer_id"] == cid]
        explained = explain_plan_file(db, rules, part, cid)
        got = {line.id: line.decision for line in explained.offers if line.decision}
        expected = {d.offer_id: _decided(d) for d in planned.decisions if d.customer_id == cid}
        assert {k: _decided(d) for k, d in got.items()} == expected, (customer, rules_doc)
        plain = explain_store(db, rules, AS_OF, cid)
        assert {k: _full(d) for k, d in got.items()} == {
            line.id: _full(line.decision) for line in plain.offers if line.decision
        }, (customer, rules_doc)
        assert explained.values == plain.values and explained.channels == plain.channels
    for absent in (0, len(customers) + 1):  # ids before and after every row of the file
        assert customer_part(plan_path, absent).audit == []


def _shop_files(tmp: Path, shop: Shop) -> Path:
    rules_doc, customers, contacts = shop
    (tmp / "rules").mkdir()
    (tmp / "rules" / "rules.yaml").write_text(yaml.safe_dump(rules_doc))
    return store_with(tmp / "store.db", customers=customers, contacts=contacts)


def _examples(n: int) -> settings:
    return settings(
        max_examples=n,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )


@_examples(8)
@given(shops())
def test_explain_plan_gives_every_customer_the_plans_decision_on_sqlite(
    tmp_path_factory: pytest.TempPathFactory, shop: Shop
) -> None:
    tmp = tmp_path_factory.mktemp("shop")
    _every_customer_explained_as_planned(tmp, _shop_files(tmp, shop), shop)


@_examples(4)
@given(shops())
def test_explain_plan_gives_every_customer_the_plans_decision_on_duckdb(
    tmp_path_factory: pytest.TempPathFactory, shop: Shop
) -> None:
    tmp = tmp_path_factory.mktemp("shop")
    duck = tmp / "store.duckdb"
    copy_store(_shop_files(tmp, shop), duck)
    _every_customer_explained_as_planned(tmp, duck, shop)


# -- the command ----------------------------------------------------------------------------------

PEOPLE = [
    {"id": 0, "email": "z@example.cn", "email_opt_in": 1},  # in no audience (`id > 0`)
    {"id": 1, "email": "a@example.cn", "email_opt_in": 1},
    {"id": 2, "email": "b@example.cn", "email_opt_in": 1},
]


@pytest.fixture
def shop(tmp_path: Path) -> tuple[Path, Path, Path]:
    """Rules whose budget pays for one action, a store of three customers and a plan file of
    them: the plan gives customer 1 the action and suppresses customer 2 (`budget`)."""
    rules_doc = copy.deepcopy(BASE)
    rules_doc["offers"]["hello"]["budget"] = {"total": 1.5}
    return planned_shop(tmp_path, rules_doc, PEOPLE)


def planned_shop(
    folder: Path, rules_doc: dict[str, Any], customers: list[dict[str, Any]], duck: bool = False
) -> tuple[Path, Path, Path]:
    """The rules folder, the store (SQLite, or its DuckDB copy) and its plan file."""
    (folder / "rules").mkdir()
    (folder / "rules" / "rules.yaml").write_text(yaml.safe_dump(rules_doc))
    db = store_with(folder / "store.db", customers=customers)
    if duck:
        copy_store(db, folder / "store.duckdb")
        db = folder / "store.duckdb"
    plan_path = folder / "plan.json"
    made = campaign("plan", "--db", db, "--as-of", AS_OF_TEXT, "--out", plan_path, "--quiet")
    assert made.exit_code == 0, made.output
    return folder / "rules", db, plan_path


def campaign(*args: str | Path, rules: Path | None = None) -> Result:
    named = [str(a) for a in args]
    if rules is not None:
        named = [named[0], str(rules), *named[1:]]
    return CliRunner().invoke(main, named, catch_exceptions=False)


def explain(rules: Path, db: Path, customer: int, *more: str | Path) -> Result:
    return campaign("explain", "--db", db, str(customer), *more, rules=rules)


@pytest.fixture(autouse=True)
def in_shop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # the default rules/ is the shop's


def test_explain_plan_shows_the_plans_decision_and_where_it_comes_from(
    shop: tuple[Path, Path, Path],
) -> None:
    rules, db, plan_path = shop
    from_plan = explain(rules, db, 2, "--plan", plan_path)
    assert from_plan.exit_code == 0, from_plan.output
    assert "hello                        suppressed: budget on email" in from_plan.stdout
    assert f"Decided as the plan file {plan_path} decides" in from_plan.stdout
    plain = explain(rules, db, 2, "--as-of", AS_OF_TEXT)
    assert "Decided over the whole store" in plain.stdout
    assert _body(from_plan.stdout) == _body(plain.stdout)  # all but where the decision is from
    first = explain(rules, db, 1, "--plan", plan_path)
    assert "ACTION on email at 2026-11-15T02:00:00Z" in first.stdout


def _body(text: str) -> str:
    return text.rsplit("\n\n", 1)[0]


def test_explain_plan_as_json_names_the_plan_file(shop: tuple[Path, Path, Path]) -> None:
    rules, db, plan_path = shop
    from_plan = explain(rules, db, 2, "--plan", plan_path, "--format", "json")
    assert from_plan.exit_code == 0, from_plan.output
    body = json.loads(from_plan.stdout)
    plain = json.loads(explain(rules, db, 2, "--as-of", AS_OF_TEXT, "--format", "json").stdout)
    assert body.pop("plan_file") == str(plan_path) and "plan_file" not in plain
    assert body == plain
    [hello] = [o for o in body["offers"] if o["id"] == "hello"]
    assert (hello["decision"]["outcome"], hello["decision"]["reason"]) == ("suppressed", "budget")


def test_explain_plan_of_one_offer(shop: tuple[Path, Path, Path]) -> None:
    rules, db, plan_path = shop
    one = explain(rules, db, 2, "--plan", plan_path, "--offer", "hello")
    assert one.exit_code == 0, one.output
    assert (
        one.stdout.splitlines()[1]
        == "  suppressed: budget on email (budget 1.5 less 0% reserve: 1.5 to spend)"
    )
    assert f"Decided as the plan file {plan_path} decides" in one.stdout
    as_json = json.loads(
        explain(rules, db, 2, "--plan", plan_path, "--offer", "hello", "--format", "json").stdout
    )
    assert [o["id"] for o in as_json["offers"]] == ["hello"] and as_json["plan_file"] == str(
        plan_path
    )
    unknown = explain(rules, db, 2, "--plan", plan_path, "--offer", "helo")
    assert unknown.exit_code == 2 and "did you mean `hello`?" in unknown.stderr


def test_a_customer_without_audit_rows_has_no_decision_from_the_plan(
    shop: tuple[Path, Path, Path],
) -> None:
    rules, db, plan_path = shop
    assert not [r for r in read_plan_file(plan_path).audit if r["customer_id"] == 0]
    found = explain(rules, db, 0, "--plan", plan_path)
    assert found.exit_code == 0, found.output
    assert "hello                        not in the audience" in found.stdout
    assert f"The plan file {plan_path} holds no decision for this customer" in found.stdout
    missing = explain(rules, db, 7, "--plan", plan_path)
    assert missing.exit_code == 2 and "customer 7 is not in the store" in missing.stderr


def _refused(found: Result, code: int, *words: str) -> None:
    assert found.exit_code == code, found.output
    assert found.stdout == ""  # no explanation
    for word in words:
        assert word in found.stderr


def test_a_changed_store_is_refused(shop: tuple[Path, Path, Path]) -> None:
    rules, db, plan_path = shop
    with closing(sqlite3.connect(db)) as conn, conn:
        conn.execute(
            "INSERT INTO contacts (customer_id, channel, sent_at) VALUES (2, 'sms', "
            "'2026-11-14T02:00:00Z')"
        )
    _refused(
        explain(rules, db, 2, "--plan", plan_path),
        1,
        f"{plan_path}: the plan no longer matches, so it does not explain this store",
        "table contacts of the store changed",
        f"plan again (`campaign plan --db {db} --out {plan_path}`), review it, then explain",
    )


def test_changed_rules_are_refused(shop: tuple[Path, Path, Path]) -> None:
    rules, db, plan_path = shop
    text = (rules / "rules.yaml").read_text()
    (rules / "rules.yaml").write_text(text.replace("priority: 10", "priority: 11"))
    _refused(explain(rules, db, 2, "--plan", plan_path), 1, "the rules changed (digest")


def test_another_as_of_is_refused(shop: tuple[Path, Path, Path]) -> None:
    rules, db, plan_path = shop
    _refused(
        explain(rules, db, 2, "--plan", plan_path, "--as-of", "2026-11-16"),
        1,
        "the as-of differs (the plan is as of 2026-11-15",
    )
    same = explain(rules, db, 2, "--plan", plan_path, "--as-of", "2026-11-15T02:00:00Z")
    assert same.exit_code == 0, same.output


@pytest.mark.parametrize(
    ("make", "words"),
    [
        ("json", "not a plan file with a fingerprint; write one with `campaign plan --db"),
        ("missing", "no such plan file; write one with `campaign plan --out`"),
        ("garbage", "not a plan file (Expecting property name"),
        ("empty", "not a plan file ("),
    ],
)
def test_a_file_that_is_no_plan_file_is_refused_as_run_refuses_it(
    shop: tuple[Path, Path, Path], tmp_path: Path, make: str, words: str
) -> None:
    rules, db, _ = shop
    path = tmp_path / f"{make}.json"
    if make == "json":
        made = campaign("plan", "--db", db, "--as-of", AS_OF_TEXT, "--json", path, "--quiet")
        assert made.exit_code == 0, made.output
    elif make == "garbage":
        path.write_text("{\n this is no JSON\n}\n")
    elif make == "empty":
        path.write_text("")
    _refused(explain(rules, db, 2, "--plan", path), 2, f"{path}: {words}")
    run = campaign("run", "--db", db, "--run-key", "k", "--plan", path, rules=rules)
    assert run.exit_code == 2 and f"{path}: {words}" in run.stderr


def test_a_plan_file_in_another_layout_is_read_whole(shop: tuple[Path, Path, Path]) -> None:
    rules, db, plan_path = shop
    whole = read_plan_file(plan_path)
    reindented = plan_path.with_name("reindented.json")
    reindented.write_text(json.dumps(json.loads(plan_path.read_text()), indent=2))
    for cid in (0, 1, 2):
        part = customer_part(reindented, cid)
        assert part.audit == [r for r in whole.audit if r["customer_id"] == cid]
        assert part.actions == customer_part(plan_path, cid).actions
    found = explain(rules, db, 2, "--plan", reindented)
    assert found.exit_code == 0 and "suppressed: budget" in found.stdout


def test_explain_plan_neither_scans_nor_plans_the_store(
    shop: tuple[Path, Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The store's values are not checked again, nor the whole store allocated: the plan
    file's fingerprint shows the store is the one its plan checked and decided."""
    rules, db, plan_path = shop

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the whole store was read")

    monkeypatch.setattr("rules_engine.store_values.bad_columns", refuse)
    monkeypatch.setattr("rules_engine.rules.overflow.store_overflows", refuse)
    monkeypatch.setattr("rules_engine.reference.explain.plan", refuse)
    found = explain(rules, db, 2, "--plan", plan_path)
    assert found.exit_code == 0 and "suppressed: budget" in found.stdout
    with pytest.raises(AssertionError, match="the whole store was read"):
        explain(rules, db, 2, "--as-of", AS_OF_TEXT)


def test_the_customers_wrong_typed_values_are_still_shown(tmp_path: Path) -> None:
    """A value the rules do not read passes plan's check of the store; explain --plan, which
    does not scan the store, still shows it in the customer's own rows, as explain does."""
    rules, db, plan_path = planned_shop(tmp_path, BASE, [{**PEOPLE[1], "birth_date": "not a date"}])
    for how in (["--plan", plan_path], ["--as-of", AS_OF_TEXT]):
        found = explain(rules, db, 1, *how)
        assert found.exit_code == 0, found.output
        assert "!!   customers.birth_date holds 'not a date'" in found.stdout


def test_on_duckdb_a_changed_store_is_refused(tmp_path: Path) -> None:
    rules_doc = copy.deepcopy(BASE)
    rules_doc["channels"]["email"]["capacity"] = {"per_day": 1}
    rules, duck, plan_path = planned_shop(tmp_path, rules_doc, PEOPLE, duck=True)
    found = explain(rules, duck, 2, "--plan", plan_path)
    assert found.exit_code == 0, found.output
    assert "hello                        suppressed: capacity on email" in found.stdout
    with closing(duckdb.connect(str(duck))) as conn:
        conn.execute("UPDATE customers SET sms_opt_in = 0 WHERE id = 2")
    _refused(
        explain(rules, duck, 2, "--plan", plan_path), 1, "table customers of the store changed"
    )


def test_on_duckdb_an_untouched_store_is_not_hashed_row_by_row_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The plan file records the DuckDB file's state; while the file is untouched its tables
    are not hashed again. A touched file (the same rows) is hashed, and still matches."""
    rules, duck, plan_path = planned_shop(tmp_path, BASE, PEOPLE, duck=True)
    hashed: list[str] = []
    digest = fingerprint.table_digest

    def counted(conn: Any, table: str, definition: str) -> str:
        hashed.append(table)
        return digest(conn, table, definition)

    monkeypatch.setattr(fingerprint, "table_digest", counted)
    found = explain(rules, duck, 1, "--plan", plan_path)
    assert found.exit_code == 0 and "ACTION on email" in found.stdout
    assert hashed == []
    status = duck.stat()
    os.utime(duck, ns=(status.st_atime_ns, status.st_mtime_ns + 1_000_000_000))
    again = explain(rules, duck, 1, "--plan", plan_path)
    assert again.exit_code == 0 and "ACTION on email" in again.stdout
    assert "customers" in hashed


def test_a_duckdb_store_keeping_its_times_as_text_is_refused_as_plan_refuses_it(
    tmp_path: Path,
) -> None:
    """What the check of the store's values finds without reading its rows is still found:
    a DuckDB store made before times were typed, with a plan file whose fingerprint matches
    it (as an engine that read text times made it), is refused before anything is read."""
    from rules_engine.backends.duckdb.backend import DUCKDB
    from tests.test_duckdb_typed_times import text_times_store

    rules, db, plan_path = planned_shop(tmp_path, BASE, PEOPLE)
    old = text_times_store(tmp_path / "old.duckdb", db)
    document = json.loads(plan_path.read_text())
    with DUCKDB.planning(old, 256) as conn:
        document["fingerprint"]["store"] = DUCKDB.fingerprint(conn, old)
    plan_path.write_text(json.dumps(document))
    _refused(
        explain(rules, old, 1, "--plan", plan_path),
        1,
        "contacts.sent_at keeps its times as text",
        f"convert them once with `campaign init-store {old}`",
    )


# -- the channels' lifecycle, as the plan file holds it -------------------------------------------

DEMO_AS_OF = parse_instant("2026-11-20T10:00:00+08:00")
DEMO_RULES = Path(__file__).resolve().parents[1] / "rules"


@pytest.mark.parametrize("demo_store", ["small_demo", "small_duck_demo"])
def test_explain_plan_takes_the_channels_lifecycle_from_the_plan_file(
    demo_store: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """The demo's channels are in several lifecycle states (weibo in exit): explain --plan
    takes each from the plan file, without reading the channel stats again, and shows what
    plain explain shows."""
    db: Path = request.getfixturevalue(demo_store)
    rules = load_rules([DEMO_RULES], db=db, as_of=DEMO_AS_OF)
    planned, fingerprint = plan_with_fingerprint(db, rules, DEMO_AS_OF)
    plan_path = tmp_path / "plan.json"
    plan_path.write_text(plan_file_json(planned, fingerprint), encoding="utf-8")
    for cid in (1, 42, 1999):
        part = customer_part(plan_path, cid)
        assert part.lifecycle == planned.lifecycle
        assert part.lifecycle == read_plan_file(plan_path).lifecycle
        explained = explain_plan_file(db, rules, part, cid)
        plain = explain_store(db, rules, DEMO_AS_OF, cid)
        assert explained.channels == plain.channels
    assert planned.lifecycle["weibo"].state == "exit"
    shown = {c.id: c.lifecycle for c in explained.channels if c.id in planned.lifecycle}
    assert shown and shown == {c: planned.lifecycle[c].state for c in shown}


def test_a_plan_file_without_its_channel_list_reads_the_lifecycle_from_the_store(
    shop: tuple[Path, Path, Path],
) -> None:
    _, _, plan_path = shop
    document = json.loads(plan_path.read_text(encoding="utf-8"))
    assert read_plan_file(plan_path).lifecycle == {}
    del document["channels"]
    plan_path.write_text(json.dumps(document), encoding="utf-8")
    assert read_plan_file(plan_path).lifecycle is None
    for broken in ("not a list", ["not a row"], [{"id": "email", "lifecycle": {"gates": {}}}]):
        document["channels"] = broken
        plan_path.write_text(json.dumps(document), encoding="utf-8")
        with pytest.raises(InputError, match="not a plan file"):
            read_plan_file(plan_path)
