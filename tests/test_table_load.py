"""`campaign load`: CSV, JSON Lines and Parquet into either store format, checked before a
single row is written."""

from __future__ import annotations

import json
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest
from click.testing import CliRunner

from rules_engine import store
from rules_engine.cli import main

FORMATS = ["shop.db", "shop.duckdb"]
CUSTOMERS_CSV = (
    "id,email,email_opt_in,created_at,city\n"
    "1,a@example.cn,1,2026-09-01T12:00:00Z,上海\n"
    "2,b@example.cn,false,2026-09-01 12:00:00,\n"
)


def invoke(*args: str) -> Any:
    return CliRunner().invoke(main, list(args))


def customers(path: Path) -> list[tuple[Any, ...]]:
    from tests.test_store_formats import rows

    return [(r[0], r[6], r[10], r[1], r[3]) for r in rows(path, "customers")]


@pytest.fixture(params=FORMATS)
def shop(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    path = tmp_path / request.param
    store.init_store(path)
    return path


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_csv_rows_are_loaded_with_their_types(shop: Path, tmp_path: Path) -> None:
    result = invoke(
        "load", "--db", str(shop), "customers", str(write(tmp_path, "c.csv", CUSTOMERS_CSV))
    )
    assert result.exit_code == 0, result.output
    assert "2 row(s) loaded into customers" in result.output
    assert customers(shop) == [
        (1, "a@example.cn", 1, "2026-09-01T12:00:00Z", "上海"),
        (2, "b@example.cn", 0, "2026-09-01T12:00:00Z", None),
    ]


def test_json_lines_and_parquet_load_the_same_rows(shop: Path, tmp_path: Path) -> None:
    lines = [
        {"id": 1, "customer_id": 1, "ordered_at": "2026-09-01T12:00:00Z", "amount": 12.5},
        {"id": 2, "customer_id": 1, "ordered_at": "2026-09-02T08:00:00+08:00", "amount": 3},
    ]
    jsonl = write(tmp_path, "o.jsonl", "\n".join(json.dumps(x) for x in lines) + "\n\n")
    assert invoke("load", "--db", str(shop), "orders", str(jsonl)).exit_code == 0
    from tests.test_store_formats import rows

    loaded = rows(shop, "orders")
    parquet = tmp_path / "o.parquet"
    with closing(duckdb.connect()) as duck:
        duck.execute(
            "COPY (SELECT * FROM (VALUES (3, 1, '2026-09-03T00:00:00Z', 1.5)) "
            "AS t(id, customer_id, ordered_at, amount)) TO ? (FORMAT parquet)",
            [str(parquet)],
        )
    result = invoke("load", "--db", str(shop), "orders", str(parquet), "--append")
    assert result.exit_code == 0, result.output
    after = rows(shop, "orders")
    assert after[:2] == loaded
    assert [(r[0], r[2], r[3]) for r in after] == [
        (1, "2026-09-01T12:00:00Z", 12.5),
        (2, "2026-09-02T00:00:00Z", 3.0),  # the instant 08:00 at +08:00 names
        (3, "2026-09-03T00:00:00Z", 1.5),
    ]


def test_replace_swaps_every_row(shop: Path, tmp_path: Path) -> None:
    first = write(tmp_path, "c.csv", CUSTOMERS_CSV)
    assert invoke("load", "--db", str(shop), "customers", str(first)).exit_code == 0
    second = write(tmp_path, "d.csv", "id,email\n9,z@example.cn\n")
    result = invoke("load", "--db", str(shop), "customers", str(second), "--replace")
    assert result.exit_code == 0, result.output
    assert [r[:2] for r in customers(shop)] == [(9, "z@example.cn")]


BAD_FILES = {
    "bad-type": (
        "c.csv",
        "id,email_opt_in,created_at\n1,1,2026-09-01T12:00:00Z\n2,maybe,2026-09-01\n3,0,soon\n",
        ["line 3: column 'email_opt_in': 'maybe' is not a boolean", "line 4: column 'created_at'"],
    ),
    "bad-integer": ("c.csv", "id\n1\n2.5\n", ["line 3: column 'id': '2.5' is not an integer"]),
    "unknown-column": ("c.csv", "id,emial\n1,a\n", ["column 'emial'", "did you mean 'email'"]),
    "missing-key": ("c.csv", "email\na@example.cn\n", ["key column 'id'"]),
    "repeated-key": ("c.csv", "id\n1\n2\n1\n", ["line 4: the key id=1 repeats line 2"]),
    "empty-key": ("c.csv", "id,email\n,a@example.cn\n", ["line 2: column 'id': the key cannot"]),
    "field-count": ("c.csv", "id,email\n1,a,b\n", ["c.csv:2: 3 field(s)"]),
    "repeated-column": ("c.csv", "id,email,email\n1,a,b\n", ["c.csv:1: the header names email"]),
    "json-type": ("c.jsonl", '{"id": 1}\n{"id": "x"}\n', ["line 2: column 'id': 'x'"]),
    "json-text": ("c.jsonl", '{"id": 1, "email": true}\n', ["line 1: column 'email'"]),
    "json-not-object": ("c.jsonl", "[1, 2]\n", ["c.jsonl:1: each line must be a JSON object"]),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_a_bad_file_is_named_by_line_and_column_and_nothing_is_written(
    shop: Path, tmp_path: Path, case: str
) -> None:
    good = write(tmp_path, "good.csv", "id,email\n100,keep@example.cn\n")
    assert invoke("load", "--db", str(shop), "customers", str(good)).exit_code == 0
    name, text, expected = BAD_FILES[case]
    result = invoke(
        "load", "--db", str(shop), "customers", str(write(tmp_path, name, text)), "--replace"
    )
    assert result.exit_code == 1, result.output
    for words in expected:
        assert words in result.output
    assert "Traceback" not in result.output
    assert [r[:2] for r in customers(shop)] == [(100, "keep@example.cn")]


def test_a_key_already_in_the_table_refuses_the_append(shop: Path, tmp_path: Path) -> None:
    assert (
        invoke(
            "load", "--db", str(shop), "customers", str(write(tmp_path, "c.csv", CUSTOMERS_CSV))
        ).exit_code
        == 0
    )
    again = write(tmp_path, "again.csv", "id,email\n3,c@example.cn\n2,dup@example.cn\n")
    result = invoke("load", "--db", str(shop), "customers", str(again), "--append")
    assert result.exit_code == 1
    assert "the key id=2 is already in customers" in result.output
    assert [r[0] for r in customers(shop)] == [1, 2]


def test_a_table_with_rows_needs_append_or_replace(shop: Path, tmp_path: Path) -> None:
    path = write(tmp_path, "c.csv", CUSTOMERS_CSV)
    assert invoke("load", "--db", str(shop), "customers", str(path)).exit_code == 0
    result = invoke("load", "--db", str(shop), "customers", str(path))
    assert result.exit_code == 1
    assert "already holds 2 row(s)" in result.output and "--append" in result.output


@pytest.mark.parametrize(
    ("table", "name", "text", "words"),
    [
        (
            "custmers",
            "c.csv",
            "id\n1\n",
            "no table 'custmers' in the store; did you mean 'customers'",
        ),
        ("customers", "c.xlsx", "id\n1\n", "unknown file format '.xlsx'"),
        ("customers", "c.jsonl", '{"id": 1\n', "c.jsonl:1:9: not valid JSON"),
        ("customers", "c.parquet", "not parquet", "not a readable Parquet file"),
    ],
)
def test_unreadable_input_exits_2(
    shop: Path, tmp_path: Path, table: str, name: str, text: str, words: str
) -> None:
    result = invoke("load", "--db", str(shop), table, str(write(tmp_path, name, text)))
    assert result.exit_code == 2, result.output
    assert words in result.output and "Traceback" not in result.output
    assert customers(shop) == []


def test_a_missing_file_or_store_exits_2(shop: Path, tmp_path: Path) -> None:
    missing = invoke("load", "--db", str(shop), "customers", str(tmp_path / "nope.csv"))
    assert missing.exit_code == 2 and "no such file" in missing.output
    path = write(tmp_path, "c.csv", CUSTOMERS_CSV)
    no_store = invoke("load", "--db", str(tmp_path / "none.duckdb"), "customers", str(path))
    assert no_store.exit_code == 2 and "no such store" in no_store.output


def test_a_declared_table_is_loaded_with_its_column_types(tmp_path: Path) -> None:
    path = tmp_path / "shop.duckdb"
    store.init_store(path)
    with closing(duckdb.connect(str(path))) as duck:
        duck.execute("CREATE TABLE loyalty (customer_id BIGINT, points DOUBLE, since TIMESTAMPTZ)")
    data = write(tmp_path, "l.csv", "customer_id,points,since\n1,2.5,2026-09-01T12:00:00+08:00\n")
    assert invoke("load", "--db", str(path), "loyalty", str(data)).exit_code == 0
    bad = write(tmp_path, "b.csv", "customer_id,points\n1,lots\n")
    result = invoke("load", "--db", str(path), "loyalty", str(bad), "--append")
    assert (
        result.exit_code == 1 and "line 2: column 'points': 'lots' is not a number" in result.output
    )
    with closing(duckdb.connect(str(path), read_only=True)) as duck:
        duck.execute("SET TimeZone = 'UTC'")
        assert duck.execute("SELECT customer_id, points, epoch(since) FROM loyalty").fetchall() == [
            (1, 2.5, datetime(2026, 9, 1, 4, tzinfo=UTC).timestamp())
        ]


def test_a_load_into_a_duckdb_store_another_process_holds_waits_for_it(tmp_path: Path) -> None:
    import time

    from tests.test_store_formats import held

    path = tmp_path / "busy.duckdb"
    store.init_store(path)
    with held(path, 1.5):
        started = time.monotonic()
        result = invoke(
            "load", "--db", str(path), "customers", str(write(tmp_path, "c.csv", CUSTOMERS_CSV))
        )
        assert result.exit_code == 0, result.output
        assert "waiting up to" in result.output and time.monotonic() - started >= 0.5
    assert len(customers(path)) == 2
