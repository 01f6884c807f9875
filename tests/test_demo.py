"""The demo store: deterministic, complete, and shaped like a real shop."""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from rules_engine import demo, store

CUSTOMERS = 3000


def content_digest(path: Path) -> str:
    """A digest of every table's rows in primary-key order (not the file's bytes)."""
    sha = hashlib.sha256()
    with closing(sqlite3.connect(path)) as conn:
        for spec in store.CANONICAL_TABLES:
            order = ", ".join(spec.pk)
            for row in conn.execute(f'SELECT * FROM "{spec.name}" ORDER BY {order}'):
                sha.update(repr(row).encode())
    return sha.hexdigest()


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("demo") / "shop.db"
    demo.build_demo_store(path, customers=CUSTOMERS, seed=7, progress=False)
    return path


@pytest.fixture
def conn(shop: Path) -> Iterator[sqlite3.Connection]:
    with closing(sqlite3.connect(shop)) as connection:
        yield connection


def one(conn: sqlite3.Connection, sql: str) -> float:
    return float(conn.execute(sql).fetchone()[0])


def test_same_seed_same_content_other_seed_differs(shop: Path, tmp_path: Path) -> None:
    again, other = tmp_path / "again.db", tmp_path / "other.db"
    demo.build_demo_store(again, customers=CUSTOMERS, seed=7, progress=False)
    demo.build_demo_store(other, customers=CUSTOMERS, seed=8, progress=False)
    assert content_digest(again) == content_digest(shop)
    assert content_digest(other) != content_digest(shop)


def test_is_a_complete_canonical_store(conn: sqlite3.Connection) -> None:
    assert store.missing_canonical(conn) == {}
    indexes = {
        row[0] for row in conn.execute("SELECT tbl_name FROM sqlite_master WHERE type='index'")
    }
    assert {"orders", "events", "contacts"} <= indexes


def test_rebuild_replaces_an_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "shop.db"
    demo.build_demo_store(path, customers=50, seed=1, progress=False)
    demo.build_demo_store(path, customers=80, seed=1, progress=False)
    with closing(sqlite3.connect(path)) as conn:
        assert one(conn, "SELECT count(*) FROM customers") == 80
    assert sorted(p.name for p in tmp_path.iterdir()) == ["shop.db"]


def test_order_counts_are_skewed(conn: sqlite3.Connection) -> None:
    counts = [row[0] for row in conn.execute("SELECT count(*) FROM orders GROUP BY customer_id")]
    one_time = sum(1 for c in counts if c == 1) / CUSTOMERS
    heavy = sum(1 for c in counts if c >= 30) / CUSTOMERS
    assert 0.25 < one_time < 0.45
    assert 0.03 < heavy < 0.25
    assert max(counts) > 80
    assert 7 < sum(counts) / CUSTOMERS < 13


def test_double_11_peak(conn: sqlite3.Connection) -> None:
    peak = one(conn, "SELECT count(*) FROM orders WHERE substr(ordered_at, 1, 10) = '2025-11-10'")
    ordinary = one(
        conn,
        "SELECT count(*) / 5.0 FROM orders WHERE substr(ordered_at, 1, 10) "
        "BETWEEN '2025-11-14' AND '2025-11-18'",
    )
    assert peak > 4 * ordinary  # Nov 11 00:00-08:00 local is Nov 10 in UTC text


def test_most_customers_in_shanghai_and_some_without_zone(conn: sqlite3.Connection) -> None:
    shanghai = one(conn, "SELECT avg(timezone = 'Asia/Shanghai') FROM customers")
    missing = one(conn, "SELECT avg(timezone IS NULL) FROM customers")
    assert shanghai > 0.75
    assert 0.01 < missing < 0.06


def test_consent_and_addresses_are_realistic(conn: sqlite3.Connection) -> None:
    assert 0.6 < one(conn, "SELECT avg(email IS NOT NULL) FROM customers") < 0.8
    assert one(conn, "SELECT count(*) FROM customers WHERE email IS NULL AND email_opt_in = 1") == 0
    assert 0.3 < one(conn, "SELECT avg(email_opt_in) FROM customers WHERE email IS NOT NULL") < 0.7


def test_every_tier_and_category_present(conn: sqlite3.Connection) -> None:
    tiers = {row[0] for row in conn.execute("SELECT DISTINCT member_tier FROM customers")}
    assert tiers == {"regular", "silver", "gold", "diamond"}
    categories = {row[0] for row in conn.execute("SELECT DISTINCT category FROM orders")}
    assert categories == set(demo.CATEGORIES)


def test_carts_precede_orders_and_some_are_abandoned(conn: sqlite3.Connection) -> None:
    # every customer with orders and carts has a cart before the first order's time, or later
    abandoned = one(
        conn,
        "SELECT count(DISTINCT e.customer_id) FROM events e WHERE e.type = 'add_to_cart' "
        "AND julianday(e.at) > (SELECT max(julianday(o.ordered_at)) FROM orders o "
        "WHERE o.customer_id = e.customer_id)",
    )
    assert abandoned > 0.03 * CUSTOMERS
    before = one(
        conn,
        "SELECT count(*) FROM events e JOIN orders o ON o.customer_id = e.customer_id "
        "WHERE e.type = 'view' AND julianday(e.at) < julianday(o.ordered_at)",
    )
    assert before > 0


def test_complaints_and_bad_reviews(conn: sqlite3.Connection) -> None:
    assert one(conn, "SELECT count(*) FROM events WHERE type = 'complaint'") > 0
    low = one(conn, "SELECT count(*) FROM events WHERE type = 'review' AND value <= 2")
    assert low > 0
    assert one(conn, "SELECT count(*) FROM events WHERE type = 'review' AND value IS NULL") == 0


def test_contacts_are_the_last_60_days(conn: sqlite3.Connection) -> None:
    first, last = conn.execute("SELECT min(sent_at), max(sent_at) FROM contacts").fetchone()
    assert first >= "2026-09-21" and last < "2026-11-20"
    statuses = {row[0] for row in conn.execute("SELECT DISTINCT status FROM contacts")}
    assert {"bounced", "complained", "unsubscribed", "delivered"} <= statuses


def test_time_spellings_vary_but_mean_utc(conn: sqlite3.Connection) -> None:
    spellings = {
        row[0]
        for row in conn.execute(
            "SELECT CASE WHEN ordered_at LIKE '%Z' THEN 'Z' WHEN ordered_at LIKE '%+08:00' "
            "THEN 'offset' WHEN ordered_at LIKE '% %' THEN 'space' END FROM orders"
        )
    }
    assert spellings == {"Z", "offset", "space"}


def test_channel_stats_weibo_exits_and_xiaohongshu_is_new(conn: sqlite3.Connection) -> None:
    weibo = conn.execute(
        "SELECT revenue / spend, target_roi FROM channel_stats WHERE channel = 'weibo' "
        "ORDER BY period_start DESC LIMIT 3"
    ).fetchall()
    assert all(roi < 0.5 * target for roi, target in weibo)
    periods = {
        row[0]: row[1]
        for row in conn.execute("SELECT channel, count(*) FROM channel_stats GROUP BY channel")
    }
    assert periods["xiaohongshu"] <= 3
    assert periods["email"] == 12 and len(periods) == 7
    last = conn.execute("SELECT max(period_end) FROM channel_stats").fetchone()[0]
    assert last < "2026-11-20"


def test_refuses_to_replace_a_file_that_is_not_a_store(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from rules_engine.cli import main

    precious = tmp_path / "customers.csv"
    precious.write_text("id,email\n1,a@example.cn\n")
    result = CliRunner().invoke(main, ["demo-data", str(precious), "--customers", "10"])
    assert result.exit_code == 2
    assert "not a SQLite database" in result.output
    assert precious.read_text() == "id,email\n1,a@example.cn\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["customers.csv"]


def test_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    import subprocess
    import sys

    target = tmp_path / "no" / "such" / "shop.db"
    proc = subprocess.run(
        [sys.executable, "-m", "rules_engine.cli", "demo-data", str(target), "--customers", "5"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert "does not exist" in proc.stderr and "Traceback" not in proc.stderr
