"""Plan files: `plan --out` then `run --plan` commits exactly the plan, or refuses a stale one.

Each kind of change between plan and apply (the rules, an order, a contact, another run, the
as-of, a customer changed in place) makes apply refuse with exit 1, name what changed, and leave
the store's pages as they were.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from rules_engine import demo
from rules_engine.backends.sqlite import fingerprint
from rules_engine.cli import main
from tests.test_run import ENGINE_TABLES, VOLATILE, pages, query

REPO = Path(__file__).resolve().parent.parent
AS_OF = "2026-11-20T10:00:00+08:00"


@pytest.fixture(scope="module")
def demo_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("apply") / "demo.db"
    demo.build_demo_store(path, customers=1_500, seed=3, progress=False)
    return path


@pytest.fixture
def shop(demo_store: Path, tmp_path: Path) -> Path:
    return Path(shutil.copyfile(demo_store, tmp_path / "shop.db"))


@pytest.fixture
def rules_dir(tmp_path: Path) -> Path:
    return Path(shutil.copytree(REPO / "rules", tmp_path / "rules"))


@pytest.fixture
def in_repo(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.chdir(REPO)
    yield


def campaign(*args: str | Path) -> Any:
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def plan_out(db: Path, rules: Path, out: Path, as_of: str = AS_OF) -> None:
    result = campaign("plan", rules, "--db", db, "--as-of", as_of, "--out", out, "--quiet")
    assert result.exit_code == 0, result.output


def engine_rows(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    found = {}
    with closing(sqlite3.connect(path)) as conn:
        for table in ENGINE_TABLES:
            columns = [r[1] for r in conn.execute("SELECT * FROM pragma_table_info(?)", (table,))]
            names = ", ".join(f'"{c}"' for c in columns if c not in VOLATILE)
            found[table] = conn.execute(f'SELECT {names} FROM "{table}" ORDER BY rowid').fetchall()
    return found


def test_apply_of_an_unchanged_plan_commits_the_rows_run_would(
    shop: Path, rules_dir: Path, tmp_path: Path
) -> None:
    plain = Path(shutil.copyfile(shop, tmp_path / "plain.db"))
    plan_file = tmp_path / "plan.json"
    plan_out(shop, rules_dir, plan_file)
    applied = campaign("run", rules_dir, "--db", shop, "--plan", plan_file, "--run-key", "k")
    assert applied.exit_code == 0, applied.output
    ran = campaign("run", rules_dir, "--db", plain, "--run-key", "k", "--as-of", AS_OF, "--quiet")
    assert ran.exit_code == 0, ran.output
    rows = engine_rows(shop)
    assert rows == engine_rows(plain)
    document = json.loads(plan_file.read_text(encoding="utf-8"))
    assert len(rows["actions"]) == len(document["actions"]) > 0
    assert len(rows["audit"]) == len(document["audit"])
    assert "committed run" in applied.output


def test_the_same_key_applied_again_changes_nothing(
    shop: Path, rules_dir: Path, tmp_path: Path
) -> None:
    plan_file = tmp_path / "plan.json"
    plan_out(shop, rules_dir, plan_file)
    assert (
        campaign("run", rules_dir, "--db", shop, "--plan", plan_file, "--run-key", "k").exit_code
        == 0
    )
    before = pages(shop)
    again = campaign("run", rules_dir, "--db", shop, "--plan", plan_file, "--run-key", "k")
    assert again.exit_code == 0
    assert "already committed" in again.output
    assert pages(shop) == before


def test_a_plan_file_under_a_key_committed_at_another_as_of_is_refused(
    shop: Path, rules_dir: Path, tmp_path: Path
) -> None:
    ran = campaign(
        "run", rules_dir, "--db", shop, "--run-key", "k", "--as-of", "2026-11-19T10:00:00+08:00"
    )
    assert ran.exit_code == 0, ran.output
    plan_file = tmp_path / "plan.json"
    plan_out(shop, rules_dir, plan_file)
    before = pages(shop)
    applied = campaign("run", rules_dir, "--db", shop, "--plan", plan_file, "--run-key", "k")
    assert applied.exit_code == 1, applied.output
    assert "run key 'k' was committed as run" in applied.output
    assert (
        "as-of 2026-11-19T02:00:00Z (2026-11-19 10:00 Asia/Shanghai) then, "
        "2026-11-20T02:00:00Z (2026-11-20 10:00 Asia/Shanghai) now"
    ) in applied.output
    assert pages(shop) == before


def test_a_plan_file_under_a_blank_key_is_refused(
    shop: Path, rules_dir: Path, tmp_path: Path
) -> None:
    plan_file = tmp_path / "plan.json"
    plan_out(shop, rules_dir, plan_file)
    before = pages(shop)
    applied = campaign("run", rules_dir, "--db", shop, "--plan", plan_file, "--run-key", "  ")
    assert applied.exit_code == 2, applied.output
    assert "--run-key is empty" in applied.output
    assert pages(shop) == before


def _add_order(db: Path) -> None:
    with closing(sqlite3.connect(db)) as conn, conn:
        conn.execute(
            "INSERT INTO orders (customer_id, ordered_at, amount, currency, status) "
            "VALUES (7, '2026-11-19T08:00:00Z', 99.5, 'CNY', 'completed')"
        )


def _add_contact(db: Path) -> None:
    with closing(sqlite3.connect(db)) as conn, conn:
        conn.execute(
            "INSERT INTO contacts (customer_id, channel, offer_id, sent_at, status) "
            "VALUES (7, 'email', 'vip_winback', '2026-11-19T08:00:00Z', 'sent')"
        )


def _update_customer(db: Path) -> None:
    """An old row changed in place: not among any table's latest rows."""
    with closing(sqlite3.connect(db)) as conn, conn:
        (opt_in,) = conn.execute("SELECT email_opt_in FROM customers WHERE id = 3").fetchone()
        conn.execute("UPDATE customers SET email_opt_in = ? WHERE id = 3", (1 - (opt_in or 0),))


def _commit_run(db: Path) -> None:
    result = campaign("run", "rules", "--db", db, "--run-key", "other", "--as-of", AS_OF, "--quiet")
    assert result.exit_code == 0, result.output


CHANGES: dict[str, tuple[Callable[[Path], None], str]] = {
    "order added": (_add_order, "table orders of the store changed"),
    "contact added": (_add_contact, "table contacts of the store changed"),
    "another run committed": (_commit_run, "table runs of the store changed"),
    "customer changed in place": (_update_customer, "the store file was written"),
}


@pytest.mark.parametrize("change", CHANGES)
def test_a_store_change_makes_apply_refuse_and_write_nothing(
    change: str, shop: Path, tmp_path: Path, in_repo: None
) -> None:
    plan_file = tmp_path / "plan.json"
    plan_out(shop, Path("rules"), plan_file)
    make, named = CHANGES[change]
    make(shop)
    before = pages(shop)
    result = campaign("run", "--db", shop, "--plan", plan_file, "--run-key", "k")
    assert result.exit_code == 1
    assert named in result.output
    assert "nothing was written" in result.output
    assert pages(shop) == before
    assert query(shop, "SELECT count(*) FROM runs WHERE run_key = 'k'") == [(0,)]


def test_changed_rules_make_apply_refuse(shop: Path, rules_dir: Path, tmp_path: Path) -> None:
    plan_file = tmp_path / "plan.json"
    plan_out(shop, rules_dir, plan_file)
    offers = rules_dir / "offers" / "winback.yaml"
    offers.write_text(offers.read_text(encoding="utf-8") + "\n# reviewed\n", encoding="utf-8")
    before = pages(shop)
    result = campaign("run", rules_dir, "--db", shop, "--plan", plan_file, "--run-key", "k")
    assert result.exit_code == 1
    assert "the rules changed" in result.output
    assert pages(shop) == before


def test_another_as_of_makes_apply_refuse(shop: Path, rules_dir: Path, tmp_path: Path) -> None:
    plan_file = tmp_path / "plan.json"
    plan_out(shop, rules_dir, plan_file)
    before = pages(shop)
    later = "2026-11-20T11:00:00+08:00"
    result = campaign(
        "run", rules_dir, "--db", shop, "--plan", plan_file, "--run-key", "k", "--as-of", later
    )
    assert result.exit_code == 1
    assert (
        "the as-of differs (the plan is as of 2026-11-20T02:00:00Z (2026-11-20 10:00 "
        "Asia/Shanghai), not 2026-11-20T03:00:00Z (2026-11-20 11:00 Asia/Shanghai))"
        in (result.output)
    )
    assert pages(shop) == before


def test_a_json_file_without_fingerprint_is_not_a_plan_file(
    shop: Path, rules_dir: Path, tmp_path: Path
) -> None:
    plain = tmp_path / "plain.json"
    made = campaign("plan", rules_dir, "--db", shop, "--as-of", AS_OF, "--json", plain, "--quiet")
    assert made.exit_code == 0
    result = campaign("run", rules_dir, "--db", shop, "--plan", plain, "--run-key", "k")
    assert result.exit_code == 2
    assert "not a plan file with a fingerprint" in result.output
    missing = campaign(
        "run", rules_dir, "--db", shop, "--plan", tmp_path / "no.json", "--run-key", "k"
    )
    assert missing.exit_code == 2
    assert "no such plan file" in missing.output


def test_the_plan_file_is_the_plan_json_with_a_fingerprint(
    shop: Path, rules_dir: Path, tmp_path: Path
) -> None:
    plan_file, plain = tmp_path / "plan.json", tmp_path / "plain.json"
    result = campaign(
        "plan", rules_dir, "--db", shop, "--as-of", AS_OF, "--json", plain, "--out", plan_file
    )
    assert result.exit_code == 0
    saved = json.loads(plan_file.read_text(encoding="utf-8"))
    stamp = saved.pop("fingerprint")
    assert saved == json.loads(plain.read_text(encoding="utf-8"))
    assert stamp["as_of"] == "2026-11-20T02:00:00Z"
    assert stamp["rules_digest"] == saved["rules"]["digest"]
    assert stamp["engine_version"] == fingerprint.engine_version()
    assert set(stamp["store"]["tables"]) >= {"customers", "orders", "contacts", "runs", "actions"}


# -- the store fingerprint, one table at a time --------------------------------------------------

TABLES = ("customers", "orders", "events", "contacts", "channel_stats", "runs", "actions")


@pytest.fixture(scope="module")
def small_store(demo_store: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:")
    with closing(sqlite3.connect(demo_store)) as source:
        source.backup(conn)
    return conn


@settings(deadline=None, max_examples=25)
@given(
    table=st.sampled_from(TABLES),
    edit=st.sampled_from(["insert", "delete_last", "update_last", "update_recent"]),
)
def test_any_append_or_recent_edit_changes_that_tables_digest(
    small_store: sqlite3.Connection, table: str, edit: str
) -> None:
    conn = small_store
    conn.execute("SAVEPOINT edit")
    try:
        before = fingerprint.store_fingerprint(conn, Path("-"))["tables"]
        (last,) = conn.execute(f"SELECT max(rowid) FROM {table}").fetchone()
        if last is None:
            edit = "insert"
        columns = [r[1] for r in conn.execute(f"SELECT * FROM pragma_table_info('{table}')")]
        if edit == "insert":
            conn.execute(f"INSERT INTO {table} DEFAULT VALUES")
        elif edit == "delete_last":
            conn.execute(f"DELETE FROM {table} WHERE rowid = ?", (last,))
        else:
            row = last - (fingerprint.TAIL_ROWS - 1 if edit == "update_recent" else 0)
            target = max(row, 1)
            column = columns[-1]
            conn.execute(
                f"UPDATE {table} SET {column} = coalesce({column}, '') || 'x' WHERE rowid = "
                f"(SELECT min(rowid) FROM {table} WHERE rowid >= ?)",
                (target,),
            )
        after = fingerprint.store_fingerprint(conn, Path("-"))["tables"]
        assert [t for t in before if before[t] != after[t]] == [table]
    finally:
        conn.execute("ROLLBACK TO edit")
        conn.execute("RELEASE edit")
