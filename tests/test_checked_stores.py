"""A SQLite store the store-value check found clean is not scanned again while it is
unchanged; any write to it, or rules reading other columns, scan it again, and a store with
wrong-typed values is scanned (and refused) every time."""

from __future__ import annotations

import copy
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from rules_engine import store_values
from rules_engine.cli import main
from tests.test_plan import ALICE, BASE, store_with

AS_OF = "2026-11-20T10:00:00+08:00"
ORDER = {"id": 1, "customer_id": 1, "ordered_at": "2026-11-01T10:00:00+08:00", "amount": 5.0}


@pytest.fixture
def scans(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[list[str]]:
    """The tables the check scanned, in a cache folder of this test's own."""
    monkeypatch.setenv("CAMPAIGN_CACHE_DIR", str(tmp_path / "cache"))
    seen: list[str] = []
    original = store_values._scan

    def counted(execute: Any, table: str, tests: Any, key: Any) -> Any:
        seen.append(table)
        return original(execute, table, tests, key)

    monkeypatch.setattr(store_values, "_scan", counted)
    yield seen


def rules_reading(folder: Path, value: str) -> Path:
    rules = copy.deepcopy(BASE)
    rules["metrics"] = {"read": {"from": "orders", "value": value}}
    folder.mkdir(exist_ok=True)
    (folder / "rules.yaml").write_text(yaml.safe_dump(rules))
    return folder


def plan(rules: Path, db: Path) -> tuple[int, str]:
    result = CliRunner().invoke(
        main, ["plan", str(rules), "--db", str(db), "--as-of", AS_OF, "--quiet"]
    )
    return result.exit_code, result.output


def test_an_unchanged_clean_store_is_scanned_once(tmp_path: Path, scans: list[str]) -> None:
    db = store_with(tmp_path / "shop.db", customers=[ALICE], orders=[ORDER])
    rules = rules_reading(tmp_path / "rules", "sum(amount)")
    first = plan(rules, db)
    assert first[0] == 0, first[1]
    assert "orders" in scans
    scanned = len(scans)
    again = plan(rules, db)
    assert again == first
    assert len(scans) == scanned  # remembered: nothing scanned the second time


def test_a_write_to_the_store_scans_it_again_and_finds_a_bad_value(
    tmp_path: Path, scans: list[str]
) -> None:
    db = store_with(tmp_path / "shop.db", customers=[ALICE], orders=[ORDER])
    rules = rules_reading(tmp_path / "rules", "max(ordered_at)")
    assert plan(rules, db)[0] == 0
    with closing(sqlite3.connect(db)) as conn, conn:  # changed in place: no row added
        conn.execute("UPDATE orders SET ordered_at = '2026-02-30T10:00:00Z' WHERE id = 1")
    scanned = len(scans)
    code, output = plan(rules, db)
    assert code == 1, output
    assert "orders.ordered_at holds '2026-02-30T10:00:00Z'" in output
    assert len(scans) > scanned
    code, output = plan(rules, db)  # a bad store is never remembered
    assert code == 1 and "2026-02-30T10:00:00Z" in output


def test_rules_reading_other_columns_scan_the_store_again(tmp_path: Path, scans: list[str]) -> None:
    db = store_with(tmp_path / "shop.db", customers=[ALICE], orders=[ORDER])
    assert plan(rules_reading(tmp_path / "a", "sum(amount)"), db)[0] == 0
    scanned = len(scans)
    assert plan(rules_reading(tmp_path / "b", "max(ordered_at)"), db)[0] == 0
    assert len(scans) > scanned


def test_a_cache_folder_that_cannot_be_written_only_means_scanning_every_time(
    tmp_path: Path, scans: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    monkeypatch.setenv("CAMPAIGN_CACHE_DIR", str(blocked))
    db = store_with(tmp_path / "shop.db", customers=[ALICE], orders=[ORDER])
    rules = rules_reading(tmp_path / "rules", "sum(amount)")
    assert plan(rules, db)[0] == 0
    scanned = len(scans)
    code, output = plan(rules, db)
    assert code == 0 and "Traceback" not in output
    assert len(scans) == 2 * scanned
