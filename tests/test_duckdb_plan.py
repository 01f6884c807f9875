"""`campaign plan` on a DuckDB store gives the plan it gives on the same store in SQLite.

The demo shop is built in both formats from the same seed and the example rules planned on
each: the plan JSON must be the same bytes (a plan file's `fingerprint` aside, which describes
the store file itself). After a run committed on each (and the SQLite store after its
run copied to DuckDB), a later plan reads earlier runs' actions (cooldowns, caps, capacity,
max_actions and budgets) on each and must again agree byte for byte.
"""

from __future__ import annotations

import json
import math
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import duckdb
import pytest
from click.testing import CliRunner

from rules_engine import backends
from rules_engine.backends.duckdb.backend import DUCKDB
from rules_engine.backends.duckdb.store import connect
from rules_engine.backends.readers import read_totals
from rules_engine.cli import main
from rules_engine.execute import plan_store
from rules_engine.rules.check import load_rules
from rules_engine.storecopy import copy_store
from rules_engine.times import parse_instant

ROOT = Path(__file__).parents[1]
AS_OF = "2026-11-20T10:00:00+08:00"
LATER = "2026-11-23T10:00:00+08:00"


def campaign(*args: str) -> str:
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def plan_json(db: Path, out: Path, as_of: str = AS_OF) -> bytes:
    campaign("plan", str(ROOT / "rules"), "--db", str(db), "--as-of", as_of, "--quiet",
             "--json", str(out))  # fmt: skip
    return out.read_bytes()


def test_the_duckdb_backend_plans_a_duckdb_store_read_only(small_duck_demo: Path) -> None:
    backend = backends.backend_for(small_duck_demo)
    assert backend is DUCKDB and backend.recognises(small_duck_demo)
    with backend.planning(small_duck_demo, cache_mb=16) as conn, pytest.raises(duckdb.Error):
        conn.execute('DELETE FROM "customers"')
    assert "customers" in backend.schema(small_duck_demo).tables


@pytest.fixture(scope="module")
def outputs(
    small_demo: Path, small_duck_demo: Path, tmp_path_factory: pytest.TempPathFactory
) -> list[tuple[bytes, dict[str, Any], bytes]]:
    """`plan --json --out --report` of the example rules on each engine: the JSON, the plan
    file and the page."""
    folder = tmp_path_factory.mktemp("outputs")
    found = []
    for db in (small_demo, small_duck_demo):
        out = folder / f"{db.suffix}.json"
        plan_file, page = folder / f"{db.suffix}.plan.json", folder / f"{db.suffix}.html"
        campaign("plan", str(ROOT / "rules"), "--db", str(db), "--as-of", AS_OF, "--quiet",
                 "--json", str(out), "--out", str(plan_file), "--report", str(page))  # fmt: skip
        document = json.loads(plan_file.read_text(encoding="utf-8"))
        found.append((out.read_bytes(), document, page.read_bytes()))
    return found


def test_the_plan_json_is_the_same_on_both_engines(
    outputs: list[tuple[bytes, dict[str, Any], bytes]],
) -> None:
    (on_sqlite, _, _), (on_duckdb, _, _) = outputs
    assert json.loads(on_sqlite)["actions"]  # a plan that decides something
    assert on_duckdb == on_sqlite


def test_plan_files_and_reports_are_the_same_on_both_engines(
    outputs: list[tuple[bytes, dict[str, Any], bytes]],
) -> None:
    (_, sqlite_file, sqlite_page), (_, duckdb_file, duckdb_page) = outputs
    for document in (sqlite_file, duckdb_file):
        assert set(document["fingerprint"]["store"]["tables"]) >= {"customers", "orders"}
    assert sqlite_file["fingerprint"] != duckdb_file["fingerprint"]
    sqlite_file.pop("fingerprint")
    duckdb_file.pop("fingerprint")
    assert duckdb_file == sqlite_file
    assert duckdb_page == sqlite_page


def decisions(db: Path, as_of: str) -> list[tuple[str, list[int], list[int], list[int]]]:
    """Each offer's customers in allocation order, with their outcomes and reasons: the plan
    JSON lists actions by customer, so it would not show candidates taken in another order
    where no limit binds."""
    moment = parse_instant(as_of)
    planned = plan_store(db, load_rules([ROOT / "rules"], db=db, as_of=moment), moment)
    return [
        (o.offer.id, o.customer_ids.tolist(), o.outcomes.tolist(), o.reasons.tolist())
        for o in planned.by_offer
    ]


def test_candidates_are_taken_in_the_same_order_on_both_engines(
    small_demo: Path, small_duck_demo: Path
) -> None:
    on_sqlite = decisions(small_demo, AS_OF)
    assert sum(len(ids) for _, ids, _, _ in on_sqlite) > 1_000
    assert decisions(small_duck_demo, AS_OF) == on_sqlite


def test_a_later_plan_reads_earlier_runs_the_same_on_both_engines(
    small_demo: Path, tmp_path: Path
) -> None:
    shop, copied, duck = tmp_path / "shop.db", tmp_path / "copied.duckdb", tmp_path / "run.duckdb"
    shop.write_bytes(small_demo.read_bytes())
    copy_store(shop, duck)
    for db in (shop, duck):
        campaign("run", str(ROOT / "rules"), "--db", str(db), "--run-key", "first",
                 "--as-of", AS_OF, "--quiet")  # fmt: skip
    copy_store(shop, copied)
    on_sqlite = plan_json(shop, tmp_path / "sqlite.json", LATER)
    assert plan_json(copied, tmp_path / "copied.json", LATER) == on_sqlite
    assert plan_json(duck, tmp_path / "duckdb.json", LATER) == on_sqlite
    assert decisions(duck, LATER) == decisions(shop, LATER)
    first = json.loads(plan_json(shop, tmp_path / "first.json"))
    assert json.loads(on_sqlite)["actions"] != first["actions"]  # the earlier run did count


def _store_with_costs(path: Path, costs: list[float]) -> None:
    rows = [("r1", i, "offer" if i % 2 else "other", "email", cost) for i, cost in enumerate(costs)]
    sql = (
        'CREATE TABLE "actions" (run_id TEXT, customer_id INTEGER, offer_id TEXT, channel TEXT, '
        "cost REAL)"
    )
    insert = 'INSERT INTO "actions" VALUES (?, ?, ?, ?, ?)'
    if path.suffix == ".duckdb":
        with closing(duckdb.connect(str(path))) as duck:
            duck.execute(sql.replace("REAL", "DOUBLE"))
            duck.executemany(insert, rows)
    else:
        with closing(sqlite3.connect(path)) as conn, conn:
            conn.execute(sql)
            conn.executemany(insert, rows)


def test_earlier_spend_is_the_exactly_rounded_sum_on_both_engines(tmp_path: Path) -> None:
    # reals whose sum depends on the order they are added in
    costs = [0.1, 1e16, 0.7, -1e16, 0.2, 3.3, 1e-3, 0.3, None, 2.675] * 40
    found: list[dict[str, Any]] = []
    for name in ("shop.db", "shop.duckdb"):
        _store_with_costs(tmp_path / name, costs)  # type: ignore[arg-type]
        conn: Any = (
            connect(tmp_path / name)
            if name.endswith(".duckdb")
            else sqlite3.connect(tmp_path / name)
        )
        with closing(conn):
            totals = read_totals(conn)
        found.append({offer: (t.actions, repr(t.spend)) for offer, t in totals.items()})
    assert found[0] == found[1]
    for parity, offer in ((1, "offer"), (0, "other")):
        mine = [c for i, c in enumerate(costs) if i % 2 == parity]
        expected = math.fsum(c for c in mine if c is not None)
        assert found[0][offer] == (len(mine), repr(expected))
