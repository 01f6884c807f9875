"""Stores that do not fit the rules are said so plainly: declared tables and columns that are
missing, customers on several rows, files that are not campaign stores."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from rules_engine import demo
from rules_engine.cli import main

AS_OF = "2026-11-20T10:00:00+08:00"
RULES = """\
store:
  customers:
    vip_manager: text
  reviews:
    customer_id: integer
    rating: integer
metrics:
  rating:
    from: reviews
    value: avg(rating)
segments:
  managed:
    where: vip_manager is not None and rating > 3
"""


def cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, result.output


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("store") / "shop.db"
    demo.build_demo_store(path, customers=20, seed=4, progress=False)
    return path


def test_declared_tables_and_columns_missing_from_the_store_are_named(
    tmp_path: Path, shop: Path
) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    code, output = cli("validate", str(rules), "--db", str(shop))
    assert code == 1
    assert f"{rules}:3:5: error[store-missing]: the store {shop} has no column " in output
    assert "`customers.vip_manager`" in output
    assert f"{rules}:4:3: error[store-missing]: the store {shop} has no `reviews` table" in output
    code, output = cli("plan", str(rules), "--db", str(shop), "--as-of", AS_OF, "--quiet")
    assert code == 1
    assert "no such column" not in output and "no such table" not in output
    assert "store-missing" in output
    code, output = cli("validate", str(rules))  # without a store: declarations are trusted
    assert code == 0, output


def test_a_store_with_the_declared_columns_plans(tmp_path: Path, shop: Path) -> None:
    db = tmp_path / "shop.db"
    db.write_bytes(shop.read_bytes())
    with sqlite3.connect(db) as conn:
        conn.execute("ALTER TABLE customers ADD COLUMN vip_manager TEXT")
        conn.execute("CREATE TABLE reviews (customer_id INTEGER, rating INTEGER)")
    conn.close()
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    code, output = cli("plan", str(rules), "--db", str(db), "--as-of", AS_OF, "--quiet")
    assert code == 0, output


def test_customers_on_several_rows_are_said_plainly(tmp_path: Path, shop: Path) -> None:
    db = tmp_path / "dup.db"
    db.write_bytes(shop.read_bytes())
    with sqlite3.connect(db) as conn:  # a table without its key, as another tool may make it
        conn.execute("CREATE TABLE c2 AS SELECT * FROM customers")
        conn.execute("INSERT INTO c2 SELECT * FROM customers WHERE id IN (2, 5)")
        conn.execute("DROP TABLE customers")
        conn.execute("ALTER TABLE c2 RENAME TO customers")
    conn.close()
    rules = tmp_path / "rules.yaml"
    rules.write_text("segments:\n  all:\n    where: id > 0\n")
    for command in (["plan"], ["explain", "2"], ["metrics", "--out", str(tmp_path / "m.csv")]):
        code, output = cli(command[0], str(rules), "--db", str(db), "--as-of", AS_OF, *command[1:])
        assert code == 2
        assert "customers holds the same id on several rows (2, 5)" in output
        assert "UNIQUE constraint" not in output


def test_not_a_campaign_store_says_what_is_really_missing(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text("segments:\n  all:\n    where: id > 0\n")
    crm = tmp_path / "crm.db"
    with sqlite3.connect(crm) as conn:
        conn.execute("CREATE TABLE customers (name TEXT, email TEXT)")
    conn.close()
    leads = tmp_path / "leads.db"
    with sqlite3.connect(leads) as conn:
        conn.execute("CREATE TABLE leads (id INTEGER PRIMARY KEY)")
    conn.close()
    code, output = cli("plan", str(rules), "--db", str(crm))
    assert code == 2
    assert "not a campaign store (its customers table has no id column)" in output
    code, output = cli("plan", str(rules), "--db", str(leads))
    assert code == 2
    assert "not a campaign store (it has leads, but no customers table)" in output
    for path in (crm, leads):
        before = path.read_bytes()
        code, output = cli("init-store", str(path))
        assert code == 2
        assert "a SQLite database of another application" in output
        assert "will not touch it" in output
        assert path.read_bytes() == before


def test_a_duckdb_store_without_the_customers_key_is_scanned_for_repeated_ids(
    tmp_path: Path, shop: Path
) -> None:
    """A DuckDB store keyed by `id` cannot repeat one (it is not scanned); one made by another
    tool without the key is scanned, and refused as a SQLite one is."""
    import duckdb

    from rules_engine.storecopy import copy_store

    keyed, unkeyed = tmp_path / "keyed.duckdb", tmp_path / "unkeyed.duckdb"
    copy_store(shop, keyed)
    copy_store(shop, unkeyed)
    with duckdb.connect(str(unkeyed)) as duck:
        duck.execute("CREATE TABLE c2 AS SELECT * FROM customers")
        duck.execute("INSERT INTO c2 SELECT * FROM customers WHERE id IN (2, 5)")
        duck.execute("DROP TABLE customers")
        duck.execute("ALTER TABLE c2 RENAME TO customers")
    rules = tmp_path / "rules.yaml"
    rules.write_text("segments:\n  all:\n    where: id > 0\n")
    code, output = cli("plan", str(rules), "--db", str(keyed), "--as-of", AS_OF, "--quiet")
    assert code == 0, output
    code, output = cli("plan", str(rules), "--db", str(unkeyed), "--as-of", AS_OF, "--quiet")
    assert code == 2
    assert "customers holds the same id on several rows (2, 5)" in output
