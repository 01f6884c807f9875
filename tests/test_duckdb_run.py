"""Runs on DuckDB stores: the rows every engine writes, written by DuckDB's session in one
transaction; the DuckDB store fingerprint; run history and results read from a DuckDB store.

The twin stores here hold the same rows (a SQLite demo store and its `store copy`), so what
each engine's writer commits for one decided plan can be compared row by row."""

from __future__ import annotations

import dataclasses
import shutil
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rules_engine import store
from rules_engine.apply import (
    PlanFile,
    PlanStale,
    apply_plan,
    plan_file_json,
    plan_with_fingerprint,
    read_plan_file,
)
from rules_engine.backends import writer
from rules_engine.backends.duckdb import writer as duck_writer
from rules_engine.backends.duckdb.fingerprint import store_fingerprint
from rules_engine.backends.sqlite import audit
from rules_engine.execute import Plan, plan_store
from rules_engine.measure.results import results, results_json
from rules_engine.rules.check import check
from rules_engine.rules.model import RuleSet
from rules_engine.runlog import list_runs, run_json, runs_json, show_run
from rules_engine.storecopy import copy_store
from rules_engine.times import parse_as_of

REPO = Path(__file__).resolve().parent.parent
AS_OF = parse_as_of("2026-11-20T10:00:00+08:00")
KEY = "2026-11-20"
ENGINE_TABLES = ("runs", "actions", "audit", "channel_exits")
VOLATILE = {"started_at", "finished_at"}  # the clock


def table_rows(path: Path, table: str) -> list[tuple[Any, ...]]:
    """A table's rows in key order, as SQLite holds them (booleans as 0/1), without the
    columns of `runs` that hold the clock."""
    spec = store.TABLES[table]
    names = [c for c, _ in spec.columns if c not in VOLATILE or table != "runs"]
    sql = (
        f"SELECT {', '.join(store_quote(c) for c in names)} FROM {store_quote(table)} "
        f"ORDER BY {', '.join(store_quote(c) for c in spec.pk)}"
    )
    with store.closing_any(path) as conn:
        found = conn.execute(sql).fetchall()
    return [tuple(int(v) if isinstance(v, bool) else v for v in row) for row in found]


def store_quote(name: str) -> str:
    return f'"{name}"'


def engine_rows(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    return {table: table_rows(path, table) for table in ENGINE_TABLES}


def checked_rules(path: Path) -> RuleSet:
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(REPO)
        result = check(["rules"], db=path, as_of=AS_OF)
    assert not result.errors
    return result.rules


def commit_plan(session: writer.Session, rules: RuleSet, plan: Plan, key: str) -> writer.RunResult:
    return writer.commit_once(
        session,
        rules,
        AS_OF,
        key,
        lambda: writer.write_plan(session, rules, plan, key, datetime.now(UTC)),
    )


@pytest.fixture(scope="module")
def twins(small_demo: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The demo store in both formats, before any run."""
    folder = tmp_path_factory.mktemp("twins")
    sqlite_path = Path(shutil.copyfile(small_demo, folder / "shop.db"))
    copy_store(sqlite_path, folder / "shop.duckdb")
    return sqlite_path, folder / "shop.duckdb"


@pytest.fixture(scope="module")
def rules(twins: tuple[Path, Path]) -> RuleSet:
    return checked_rules(twins[0])


@pytest.fixture(scope="module")
def decided(twins: tuple[Path, Path], rules: RuleSet) -> Plan:
    return plan_store(twins[0], rules, AS_OF)


@pytest.fixture(scope="module")
def committed(
    twins: tuple[Path, Path],
    rules: RuleSet,
    decided: Plan,
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, Path]:
    """Both twins after the same decided plan was committed by each engine's writer, the
    DuckDB one in batches far smaller than the plan, so that several batches are written."""
    folder = tmp_path_factory.mktemp("committed")
    sqlite_path = Path(shutil.copyfile(twins[0], folder / "shop.db"))
    duck_path = Path(shutil.copyfile(twins[1], folder / "shop.duckdb"))
    with audit.session(sqlite_path, wait=5) as session:
        assert not commit_plan(session, rules, decided, KEY).reused
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(duck_writer, "BATCH_ROWS", 397)
        with duck_writer.session(duck_path, wait=5) as duck:
            assert not commit_plan(duck, rules, decided, KEY).reused
    return sqlite_path, duck_path


def test_both_writers_commit_the_same_rows_for_one_plan(
    committed: tuple[Path, Path], decided: Plan
) -> None:
    sqlite_rows, duck_rows = (engine_rows(path) for path in committed)
    assert len(sqlite_rows["audit"]) == len(decided.decisions) > 397 * 3
    assert len(sqlite_rows["actions"]) == len(decided.actions) > 0
    assert duck_rows == sqlite_rows


def test_a_committed_key_is_a_no_op_on_duckdb_and_other_inputs_are_refused(
    committed: tuple[Path, Path], rules: RuleSet, decided: Plan, tmp_path: Path
) -> None:
    path = Path(shutil.copyfile(committed[1], tmp_path / "again.duckdb"))
    before = engine_rows(path)
    with duck_writer.session(path, wait=5) as duck:
        again = commit_plan(duck, rules, decided, KEY)
        assert again.reused and again.counts == writer.counts(decided)
        later = AS_OF.replace(day=21)
        with pytest.raises(writer.RunKeyConflict, match=rf"run {writer.run_id_for(KEY)}"):
            writer.commit_once(duck, rules, later, KEY, lambda: pytest.fail("decided again"))
    assert engine_rows(path) == before


def test_a_failure_while_writing_leaves_the_duckdb_store_as_it_was(
    twins: tuple[Path, Path], rules: RuleSet, decided: Plan, tmp_path: Path
) -> None:
    path = Path(shutil.copyfile(twins[1], tmp_path / "shop.duckdb"))
    before = {table: table_rows(path, table) for table in store.TABLES}

    def half_written(session: writer.Session) -> writer.RunResult:
        writer.write_plan(session, rules, decided, KEY, datetime.now(UTC))
        raise OSError("disk full")

    with duck_writer.session(path, wait=5) as duck, pytest.raises(OSError, match="disk full"):
        writer.commit_once(duck, rules, AS_OF, KEY, lambda: half_written(duck))
    assert {table: table_rows(path, table) for table in store.TABLES} == before
    with duck_writer.session(path, wait=5) as duck:
        assert not commit_plan(duck, rules, decided, KEY).reused
    assert len(table_rows(path, "actions")) == len(decided.actions)


# -- the fingerprint ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fingerprinted(twins: tuple[Path, Path]) -> tuple[Path, dict[str, Any]]:
    with closing(duckdb.connect(str(twins[1]), read_only=True)) as conn:
        return twins[1], store_fingerprint(conn)


CHANGES = {
    "append": 'INSERT INTO "{t}" SELECT * FROM "{t}" LIMIT 1',
    "delete": 'DELETE FROM "{t}" WHERE rowid = (SELECT max(rowid) FROM "{t}")',
    "update": 'UPDATE "{t}" SET "{c}" = NULL WHERE rowid = (SELECT min(rowid) FROM "{t}" '
    'WHERE "{c}" IS NOT NULL)',
}
SHOP_TABLES = {"customers": "city", "orders": "amount", "contacts": "status", "events": "type"}


@settings(
    max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.sampled_from(sorted(SHOP_TABLES)), st.sampled_from(sorted(CHANGES)))
def test_the_fingerprint_names_exactly_the_table_a_change_touched(
    fingerprinted: tuple[Path, dict[str, Any]], tmp_path: Path, table: str, change: str
) -> None:
    source, before = fingerprinted
    path = Path(shutil.copyfile(source, tmp_path / f"{table}-{change}.duckdb"))
    with closing(duckdb.connect(str(path))) as conn:
        if table == "customers" and change == "append":  # keyed by id: a new customer
            conn.execute('INSERT INTO "customers" ("id") SELECT max("id") + 1 FROM "customers"')
        else:
            conn.execute(CHANGES[change].format(t=table, c=SHOP_TABLES[table]))
    with closing(duckdb.connect(str(path), read_only=True)) as conn:
        after = store_fingerprint(conn)
    differ = {t for t in before["tables"] if before["tables"][t] != after["tables"][t]}
    assert differ == {table}
    assert after["file"] != before["file"]


def test_the_fingerprint_is_of_content_not_of_the_file(
    fingerprinted: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    source, before = fingerprinted
    path = Path(shutil.copyfile(source, tmp_path / "checkpointed.duckdb"))
    with closing(duckdb.connect(str(path))) as conn:
        conn.execute('CREATE TABLE "scratch" AS SELECT 1 AS x')
        conn.execute('DROP TABLE "scratch"')
        conn.execute("CHECKPOINT")
    with closing(duckdb.connect(str(path), read_only=True)) as conn:
        assert store_fingerprint(conn) == before


# -- reading runs back ----------------------------------------------------------------------------


def test_runs_and_results_read_a_duckdb_store_as_a_sqlite_one(
    committed: tuple[Path, Path],
) -> None:
    def history(path: Path) -> tuple[str, str]:
        clockless = [
            dataclasses.replace(r, started_at=None, finished_at=None) for r in list_runs(path)
        ]
        record, offers = show_run(path, KEY)
        return runs_json(clockless), run_json(
            dataclasses.replace(record, started_at=None, finished_at=None), offers
        )

    def measured(path: Path) -> str:
        with store.closing_any(path) as conn:
            return results_json(results(conn, KEY, 30, now=AS_OF))

    assert history(committed[1]) == history(committed[0])
    assert '"actions": 0,' not in history(committed[0])[1]
    assert measured(committed[1]) == measured(committed[0])
    assert '"arms": []' not in measured(committed[0])


# -- plan files ------------------------------------------------------------------------------------


def plan_file(path: Path, rules: RuleSet, out: Path) -> PlanFile:
    planned, fingerprint = plan_with_fingerprint(path, rules, AS_OF)
    out.write_text(plan_file_json(planned, fingerprint), encoding="utf-8")
    return read_plan_file(out)


def test_a_plan_file_made_on_duckdb_commits_the_rows_a_plain_run_commits(
    twins: tuple[Path, Path], rules: RuleSet, tmp_path: Path
) -> None:
    reviewed = Path(shutil.copyfile(twins[1], tmp_path / "reviewed.duckdb"))
    plain = Path(shutil.copyfile(twins[1], tmp_path / "plain.duckdb"))
    planned = plan_file(reviewed, rules, tmp_path / "plan.json")
    assert planned.fingerprint.store["format"] == "duckdb"
    assert not apply_plan(reviewed, rules, planned, KEY).reused
    assert apply_plan(reviewed, rules, planned, KEY).reused  # the same key: a no-op
    assert not writer.run_store(plain, rules, AS_OF, KEY).reused
    assert engine_rows(reviewed) == engine_rows(plain)
    assert len(table_rows(plain, "actions")) > 100


def test_a_plan_file_is_refused_once_a_table_it_read_changed_or_on_the_other_format(
    twins: tuple[Path, Path], rules: RuleSet, tmp_path: Path
) -> None:
    path = Path(shutil.copyfile(twins[1], tmp_path / "shop.duckdb"))
    planned = plan_file(path, rules, tmp_path / "plan.json")
    with closing(duckdb.connect(str(path))) as conn:  # a customer withdraws consent
        conn.execute(
            'UPDATE "customers" SET "email_opt_in" = NOT coalesce("email_opt_in", false) '
            'WHERE "id" = 17'
        )
    before = engine_rows(path)
    with pytest.raises(PlanStale, match=r"table customers of the store changed") as refused:
        apply_plan(path, rules, planned, KEY)
    assert "orders" not in str(refused.value)
    assert engine_rows(path) == before
    sqlite_made = plan_file(twins[0], rules, tmp_path / "sqlite-plan.json")
    with pytest.raises(PlanStale, match="made on a sqlite store, this one is duckdb"):
        apply_plan(path, rules, sqlite_made, KEY)
    assert engine_rows(path) == before


def test_progress_speaks_of_a_lock_only_where_the_run_waits_for_one(
    twins: tuple[Path, Path], rules: RuleSet, decided: Plan, tmp_path: Path
) -> None:
    """SQLite's run waits for the write lock when it begins; DuckDB's holds the file already
    (opening it waited, with its own notice), so its progress says nothing of a lock."""
    lines: dict[str, list[str]] = {"sqlite": [], "duckdb": []}
    sqlite_path = Path(shutil.copyfile(twins[0], tmp_path / "shop.db"))
    duck_path = Path(shutil.copyfile(twins[1], tmp_path / "shop.duckdb"))
    for name, opened in (
        ("sqlite", audit.session(sqlite_path, wait=5)),
        ("duckdb", duck_writer.session(duck_path, wait=5)),
    ):
        with opened as session:

            def write(session: writer.Session = session) -> writer.RunResult:
                return writer.write_plan(session, rules, decided, KEY, datetime.now(UTC))

            done = writer.commit_once(session, rules, AS_OF, KEY, write, lines[name].append)
            assert not done.reused
    assert lines["sqlite"] == ["lock: waiting for other runs on this store", "commit"]
    assert lines["duckdb"] == ["commit"]
