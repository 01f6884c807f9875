"""A DuckDB store keeps the shop's times and dates typed (TIMESTAMP, DATE), read from text as
the engine reads it when they are written; text in no accepted spelling is refused there,
and a store made when they were text is converted by `init-store` before it is planned."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rules_engine import store, times
from rules_engine.backends.duckdb.store import (
    ENGINE_TYPES,
    UnreadableValue,
    connect,
    insert_columns,
)
from rules_engine.cli import main
from rules_engine.storecopy import copy_store
from tests.test_differential import NEAR_MISSES, instants_and_spellings, not_instants

AS_OF = "2026-11-20T10:00:00+08:00"
ROOT = Path(__file__).resolve().parent.parent


def invoke(*args: str) -> Any:
    return CliRunner().invoke(main, list(args))


@pytest.fixture(scope="module")
def typed_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("typed") / "shop.duckdb"
    store.init_store(path)
    return path


def written_and_read(path: Path, values: list[Any]) -> list[Any]:
    """`values` written as orders' times by the store's writer, then read back."""
    with closing(connect(path, read_only=False)) as duck:
        duck.execute("DELETE FROM orders")
        ids = tuple(range(1, len(values) + 1))
        insert_columns(duck, "orders", ["id", "customer_id", "ordered_at"], [ids, ids, values])
        found = duck.execute("SELECT ordered_at FROM orders ORDER BY id").fetchall()
    return [store.as_stored(value) for (value,) in found]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(instants_and_spellings(), min_size=1, max_size=6))
def test_every_accepted_spelling_is_stored_as_the_instant_it_names(
    typed_store: Path, pairs: list[tuple[datetime, str]]
) -> None:
    stored = written_and_read(typed_store, [text for _, text in pairs])
    assert stored == [times.utc_text(moment) for moment, _ in pairs]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(instants_and_spellings(), max_size=3), not_instants())
def test_a_value_in_no_accepted_spelling_is_refused_naming_its_row(
    typed_store: Path, good: list[tuple[datetime, str]], bad: object
) -> None:
    before = written_and_read(typed_store, ["2026-01-01T00:00:00Z"])
    values = [text for _, text in good] + [bad]
    with pytest.raises(UnreadableValue, match=rf"orders\.ordered_at: row {len(values)} holds"):
        written_and_read(typed_store, values)
    with closing(connect(typed_store)) as duck:  # the DELETE before it is all that happened
        assert duck.execute("SELECT count(*) FROM orders").fetchone() == (0,)
    assert before == ["2026-01-01T00:00:00Z"]


def sqlite_shop(path: Path, ordered_at: str) -> Path:
    store.init_store(path)
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.execute("INSERT INTO customers (id, birth_date) VALUES (1, '19900101')")
        conn.execute(
            "INSERT INTO orders (id, customer_id, ordered_at, amount, status) "
            "VALUES (1, 1, '2026-11-01T10:00:00+08:00', 5, 'completed'), "
            "(2, 1, ?, 7, 'completed')",
            (ordered_at,),
        )
    return path


@pytest.mark.parametrize("misspelt", NEAR_MISSES[:4])
def test_store_copy_refuses_a_misspelt_time_and_writes_nothing(
    tmp_path: Path, misspelt: str
) -> None:
    source = sqlite_shop(tmp_path / "shop.db", misspelt)
    target = tmp_path / "shop.duckdb"
    result = invoke("store", "copy", str(source), str(target), "--quiet")
    assert result.exit_code == 2, result.output  # the source store's content is bad input
    assert f"{source}: orders.ordered_at: row 2 holds {misspelt!r}" in result.output
    assert "nothing was copied" in result.output
    assert "Traceback" not in result.output
    assert not target.exists() and not list(tmp_path.glob("*.copying*"))


def test_load_refuses_a_misspelt_time_by_line_and_changes_nothing(tmp_path: Path) -> None:
    target = tmp_path / "shop.duckdb"
    store.init_store(target)
    lines = [
        {"id": 1, "customer_id": 1, "ordered_at": "2026-09-01T12:00:00+08:00"},
        {"id": 2, "customer_id": 1, "ordered_at": "2026-09-01T24:00:00Z"},
    ]
    orders = tmp_path / "orders.jsonl"
    orders.write_text("".join(json.dumps(line) + "\n" for line in lines))
    result = invoke("load", "--db", str(target), "orders", str(orders))
    assert result.exit_code != 0
    assert "2026-09-01T24:00:00Z" in result.output and "Traceback" not in result.output
    with closing(connect(target)) as duck:
        assert duck.execute("SELECT count(*) FROM orders").fetchone() == (0,)


def text_times_store(path: Path, source: Path) -> Path:
    """`source`'s rows in a DuckDB store whose every time and date is text, as DuckDB stores
    were made before times were typed."""
    with closing(duckdb.connect(str(path))) as duck:
        for spec in store.CANONICAL_TABLES:
            columns = ", ".join(f'"{n}" {ENGINE_TYPES[k]}' for n, k in spec.columns)
            duck.execute(f'CREATE TABLE "{spec.name}" ({columns})')
        with closing(sqlite3.connect(source)) as conn:
            for spec in store.CANONICAL_TABLES:
                names = [n for n, _ in spec.columns]
                found = conn.execute(f'SELECT {", ".join(names)} FROM "{spec.name}"').fetchall()
                marks = ", ".join("?" for _ in names)
                if found:
                    duck.executemany(f'INSERT INTO "{spec.name}" VALUES ({marks})', found)
    return path


def plan_json(db: Path) -> bytes:
    out = db.with_suffix(".plan.json")
    result = invoke(
        "plan", str(ROOT / "rules"), "--db", str(db), "--as-of", AS_OF, "--json", str(out)
    )
    assert result.exit_code == 0, result.output
    return out.read_bytes()


def test_a_store_with_text_times_is_refused_until_init_store_types_them(
    small_demo: Path, tmp_path: Path
) -> None:
    old = text_times_store(tmp_path / "old.duckdb", small_demo)
    refused = invoke("plan", str(ROOT / "rules"), "--db", str(old), "--as-of", AS_OF)
    assert refused.exit_code == 1, refused.output
    assert "orders.ordered_at keeps its times as text" in refused.output
    assert f"campaign init-store {old}" in refused.output
    assert "Traceback" not in refused.output
    converted = invoke("init-store", str(old))
    assert converted.exit_code == 0, converted.output
    assert "orders.ordered_at typed TIMESTAMP" in converted.output
    with closing(connect(old)) as duck:
        kinds = dict(
            duck.execute(
                "SELECT table_name || '.' || column_name, data_type FROM information_schema.columns"
            ).fetchall()
        )
    assert kinds["orders.ordered_at"] == "TIMESTAMP" and kinds["customers.birth_date"] == "DATE"
    assert kinds["actions.send_at"] == "VARCHAR"  # the engine's own tables keep their text
    assert plan_json(old) == plan_json(small_demo)


def test_init_store_names_a_misspelt_text_time_and_converts_nothing(tmp_path: Path) -> None:
    source = sqlite_shop(tmp_path / "shop.db", "2026-02-30T10:00:00Z")
    old = text_times_store(tmp_path / "old.duckdb", source)
    result = invoke("init-store", str(old))
    assert result.exit_code != 0
    assert "orders.ordered_at holds '2026-02-30T10:00:00Z'" in result.output
    assert "Traceback" not in result.output
    with closing(connect(old)) as duck:
        (kind,) = duck.execute(
            "SELECT data_type FROM information_schema.columns "
            "WHERE table_name = 'orders' AND column_name = 'ordered_at'"
        ).fetchone() or ("",)
        rows = duck.execute("SELECT ordered_at FROM orders ORDER BY id").fetchall()
    assert kind == "VARCHAR"
    assert rows == [("2026-11-01T10:00:00+08:00",), ("2026-02-30T10:00:00Z",)]


def test_a_plan_that_needs_more_memory_than_duckdb_may_use_says_how_to_give_it(
    small_demo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rules_engine.backends.duckdb import backend

    duck = tmp_path / "shop.duckdb"
    copy_store(small_demo, duck)
    monkeypatch.setattr(backend, "MEMORY_FLOOR_MB", 1)
    monkeypatch.setattr(backend, "MEMORY_PER_CACHE_MB", 0)
    result = invoke("plan", str(ROOT / "rules"), "--db", str(duck), "--as-of", AS_OF, "--quiet")
    assert result.exit_code == 1, result.output
    assert "DuckDB needed more memory than it may use" in result.output
    assert "--cache-mb" in result.output and "Traceback" not in result.output
