"""The canonical store: creation, safe re-runs, refusals, and schema introspection."""

from __future__ import annotations

import hashlib
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from rules_engine import store
from rules_engine.cli import main
from rules_engine.errors import StoreError


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def columns(path: Path, table: str) -> list[tuple[str, str]]:
    with sqlite3.connect(path) as conn:
        return [(r[1], r[2]) for r in conn.execute(f"PRAGMA table_info('{table}')")]


def test_init_store_creates_every_canonical_table_and_column(tmp_path: Path) -> None:
    path = tmp_path / "shop.db"
    result = CliRunner().invoke(main, ["init-store", str(path)])
    assert result.exit_code == 0, result.output
    for spec in store.CANONICAL_TABLES:
        assert [name for name, _ in columns(path, spec.name)] == [c for c, _ in spec.columns]
    with sqlite3.connect(path) as conn:
        assert store.missing_canonical(conn) == {}


def test_related_tables_reference_customers_and_are_indexed(tmp_path: Path) -> None:
    path = tmp_path / "shop.db"
    store.init_store(path)
    with sqlite3.connect(path) as conn:
        for table in ("orders", "events", "contacts"):
            fks = conn.execute(f"PRAGMA foreign_key_list('{table}')").fetchall()
            assert [(fk[2], fk[3], fk[4]) for fk in fks] == [("customers", "customer_id", "id")]
        indexed = {
            (row[0], tuple(c[2] for c in conn.execute(f"PRAGMA index_info('{row[1]}')")))
            for row in conn.execute(
                "SELECT tbl_name, name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
            )
        }
    assert ("orders", ("customer_id", "ordered_at")) in indexed
    assert ("events", ("customer_id", "type", "at")) in indexed
    assert ("contacts", ("customer_id", "sent_at")) in indexed


def test_rerun_keeps_data_and_adds_what_is_missing(tmp_path: Path) -> None:
    path = tmp_path / "shop.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, email TEXT, vip TEXT)")
        conn.execute("INSERT INTO customers VALUES (7, 'a@example.cn', 'yes')")
    created = store.init_store(path)
    assert "column customers.timezone" in created
    assert "table orders" in created
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT id, email, vip FROM customers").fetchall() == [
            (7, "a@example.cn", "yes")
        ]
    assert store.init_store(path) == []


@pytest.mark.parametrize(
    "content",
    [b"id,email\n1,a@example.cn\n", b"\x00\x01binary" * 100],
    ids=["csv-text", "binary"],
)
def test_init_store_refuses_a_file_that_is_not_sqlite(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "customers.csv"
    path.write_bytes(content)
    before = digest(path)
    result = CliRunner().invoke(main, ["init-store", str(path)])
    assert result.exit_code == 2
    assert "not a SQLite database" in result.output
    assert digest(path) == before


def test_init_store_refuses_a_foreign_database(tmp_path: Path) -> None:
    path = tmp_path / "crm.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE leads (id INTEGER PRIMARY KEY, name TEXT)")
    before = digest(path)
    result = CliRunner().invoke(main, ["init-store", str(path)])
    assert result.exit_code == 2
    assert "a SQLite database of another application" in result.output
    assert "leads" in result.output and "will not touch it" in result.output
    assert "campaign init-store" not in result.output  # not the command that just refused
    assert digest(path) == before


def test_init_store_error_has_no_traceback(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("hello\n")
    proc = subprocess.run(
        [sys.executable, "-m", "rules_engine.cli", "init-store", str(path)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith("campaign: error: ")


def test_introspection_uses_rule_types(tmp_path: Path) -> None:
    path = tmp_path / "shop.db"
    store.init_store(path)
    with sqlite3.connect(path) as conn:
        conn.execute("ALTER TABLE customers ADD COLUMN vip_since DATETIME")
        conn.execute("ALTER TABLE customers ADD COLUMN lifetime_value NUMERIC")
        conn.execute("CREATE TABLE reviews (customer_id INTEGER, rating INT, is_public BOOLEAN)")
    schema = store.read_schema(path)
    customers = schema.columns("customers")
    assert customers["email_opt_in"] == "boolean"
    assert customers["created_at"] == "datetime"
    assert customers["birth_date"] == "date"
    assert customers["vip_since"] == "datetime"
    assert customers["lifetime_value"] == "real"
    assert schema.columns("orders")["amount"] == "real"
    assert schema.columns("reviews") == {
        "customer_id": "integer",
        "rating": "integer",
        "is_public": "boolean",
    }


def test_declared_columns_extend_and_override(tmp_path: Path) -> None:
    schema = store.canonical_schema().with_declared(
        {
            "customers": {"vip_manager": "text", "gender": "integer"},
            "reviews": {"rating": "integer"},
        }
    )
    assert schema.columns("customers")["vip_manager"] == "text"
    assert schema.columns("customers")["gender"] == "integer"
    assert schema.columns("reviews") == {"rating": "integer"}
    assert store.canonical_schema().columns("customers")["gender"] == "text"


def test_read_schema_of_missing_store_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="campaign init-store"):
        store.read_schema(tmp_path / "nope.db")


def test_read_only_connection_cannot_write(tmp_path: Path) -> None:
    path = tmp_path / "shop.db"
    store.init_store(path)
    before = digest(path)
    with store.closing_read_only(path) as conn, pytest.raises(sqlite3.OperationalError):
        conn.execute("INSERT INTO customers (id) VALUES (1)")
    assert digest(path) == before


def test_summary_counts_rows(tmp_path: Path) -> None:
    path = tmp_path / "shop.db"
    store.init_store(path)
    with sqlite3.connect(path) as conn:
        conn.executemany("INSERT INTO customers (id) VALUES (?)", [(1,), (2,)])
    result = CliRunner().invoke(main, ["summary", "--db", str(path)])
    assert result.exit_code == 0
    assert any(line.split() == ["customers", "2"] for line in result.output.splitlines())


def test_init_store_in_a_missing_folder_says_so(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["init-store", str(tmp_path / "nope" / "shop.db")])
    assert result.exit_code == 2
    assert "does not exist" in result.output


def test_storage_errors_are_messages_not_tracebacks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def disk_full(path: object, fmt: object = None) -> list[str]:
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(store, "init_store", disk_full)
    result = CliRunner().invoke(main, ["init-store", str(tmp_path / "shop.db")])
    assert result.exit_code == 2
    assert "cannot write the store: database or disk is full" in result.output
