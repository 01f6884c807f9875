"""`campaign results`: lift against the control group, on stores whose figures are known by hand.

The run's rows are written directly (the decisions are not what is tested here), then orders
after the run's as-of are placed so that every figure can be worked out on paper: conversion
rates, the lift and its interval, incremental orders and revenue, ROI.
"""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest
from click.testing import CliRunner

from rules_engine import store
from rules_engine.cli import main
from rules_engine.measure.lift import Arm, measure, needed_per_arm
from rules_engine.measure.results import RunNotFound, results, results_document, results_text

AS_OF = "2026-11-20T02:00:00Z"
Z = 1.959963984540054  # the 97.5% point of the standard normal distribution


def test_lift_of_two_arms_known_by_hand() -> None:
    # 25% of 20 treated converted, 10% of 10 held out: 15 points of lift.
    lift = measure(Arm(20, 5, 6, 600.0), Arm(10, 1, 1, 50.0), cost=40.0)
    spread = math.sqrt(0.25 * 0.75 / 20 + 0.1 * 0.9 / 10)
    assert lift.absolute == pytest.approx(0.15)
    assert lift.absolute_ci is not None
    assert lift.absolute_ci.low == pytest.approx(0.15 - Z * spread)
    assert lift.absolute_ci.high == pytest.approx(0.15 + Z * spread)
    assert lift.relative == pytest.approx(1.5)
    katz = math.sqrt(1 / 5 - 1 / 20 + 1 / 1 - 1 / 10)
    assert lift.relative_ci is not None
    assert lift.relative_ci.low == pytest.approx(math.exp(math.log(2.5) - Z * katz) - 1)
    assert lift.relative_ci.high == pytest.approx(math.exp(math.log(2.5) + Z * katz) - 1)
    assert lift.incremental_converters == pytest.approx(3.0)  # 0.15 x 20
    assert lift.incremental_orders == pytest.approx((6 / 20 - 1 / 10) * 20)
    assert lift.incremental_revenue == pytest.approx((600 / 20 - 50 / 10) * 20)  # 500
    assert lift.incremental_roi == pytest.approx((500 - 40) / 40)
    assert not lift.significant  # the interval reaches below zero at these sizes
    assert lift.needed_per_arm == 97


def test_a_large_clear_lift_is_significant() -> None:
    lift = measure(Arm(10_000, 1_000, 1_000, 0.0), Arm(10_000, 500, 500, 0.0), cost=0.0)
    assert lift.absolute_ci is not None and lift.absolute_ci.low > 0
    assert lift.significant
    assert lift.incremental_roi is None  # nothing spent: no return on it


def test_an_arm_without_converters_has_no_relative_interval() -> None:
    lift = measure(Arm(50, 4, 4, 200.0), Arm(50, 0, 0, 0.0), cost=10.0)
    assert lift.absolute == pytest.approx(0.08)
    assert lift.relative is None  # no baseline to be relative to
    assert lift.relative_ci is None


def test_no_control_group_measures_nothing() -> None:
    lift = measure(Arm(50, 4, 4, 200.0), Arm(0, 0, 0, 0.0), cost=10.0)
    assert lift.absolute is None and lift.incremental_revenue is None and not lift.significant


def test_sample_size_for_the_observed_effect() -> None:
    # (z_0.975 + z_0.8)^2 (0.12*0.88 + 0.10*0.90) / 0.02^2, worked out: 3,834.5... -> 3,835
    z_power = 0.8416212335729143
    expected = math.ceil((Z + z_power) ** 2 * (0.12 * 0.88 + 0.1 * 0.9) / 0.02**2)
    assert needed_per_arm(0.12, 0.10) == expected
    assert needed_per_arm(0.1, 0.1) is None


# -- through a store --------------------------------------------------------------------------


@pytest.fixture
def measured_store(tmp_path: Path) -> Iterator[Path]:
    """Run `r1` as of AS_OF: offer `winback` treated customers 1-20 (cost 2.0 each) and held out
    21-30; offer `nudge` treated 31-40 and has no control group; 21 also got `nudge`."""
    path = tmp_path / "store.db"
    store.init_store(path)
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.executemany('INSERT INTO "customers" ("id") VALUES (?)', [(i,) for i in range(1, 41)])
        conn.execute(
            'INSERT INTO "runs" ("run_id", "run_key", "as_of", "status", "counts") '
            "VALUES ('run1', 'r1', ?, 'committed', '{}')",
            (AS_OF,),
        )
        actions = [(c, "winback", 2.0) for c in range(1, 21)]
        actions += [(c, "nudge", 0.5) for c in [*range(31, 41), 21]]
        conn.executemany(
            'INSERT INTO "actions" ("run_id", "customer_id", "offer_id", "channel", "cost") '
            "VALUES ('run1', ?, ?, 'email', ?)",
            actions,
        )
        audit = [(c, o, "action") for c, o, _ in actions]
        audit += [(c, "winback", "holdout") for c in range(21, 31)]
        conn.executemany(
            'INSERT INTO "audit" ("run_id", "customer_id", "offer_id", "outcome") '
            "VALUES ('run1', ?, ?, ?)",
            audit,
        )
        orders = [
            # treated winback: customers 1-5 convert, 1 twice; 100 each
            *((c, "2026-11-21T10:00:00Z", 100.0, "completed") for c in range(1, 6)),
            (1, "2026-11-25 08:00:00", 100.0, "completed"),
            # held out: customer 21 converts once, for 50, written with an offset
            (21, "2026-11-22T09:00:00+08:00", 50.0, "completed"),
            # none of these count: before the as-of, after 14 days, not completed
            (6, "2026-11-19T10:00:00Z", 999.0, "completed"),
            (7, "2026-12-04T10:00:00Z", 999.0, "completed"),
            (8, "2026-11-21T10:00:00Z", 999.0, "cancelled"),
            (22, "2026-12-04T02:00:01Z", 999.0, "completed"),
        ]
        conn.executemany(
            'INSERT INTO "orders" ("customer_id", "ordered_at", "amount", "status") '
            "VALUES (?, ?, ?, ?)",
            orders,
        )
    yield path


def test_results_of_a_run(measured_store: Path) -> None:
    with closing(sqlite3.connect(measured_store)) as conn:
        found = results(conn, "r1", days=14)
    by_offer = {a.offer_id: a for a in found.arms}
    winback = by_offer["winback"]
    assert winback.treated == Arm(customers=20, converters=5, orders=6, revenue=600.0)
    assert winback.held_out == Arm(customers=10, converters=1, orders=1, revenue=50.0)
    assert winback.lift.cost == 40.0
    assert winback.lift.incremental_revenue == pytest.approx(500.0)
    assert winback.lift.incremental_roi == pytest.approx(11.5)
    nudge = by_offer["nudge"]
    assert nudge.held_out.customers == 0 and nudge.lift.absolute is None
    assert found.contaminated == {"winback": 1}  # customer 21 was held out, yet got nudge


def test_a_longer_window_counts_later_orders(measured_store: Path) -> None:
    with closing(sqlite3.connect(measured_store)) as conn:
        found = results(conn, "r1", days=15)
    winback = next(a for a in found.arms if a.offer_id == "winback")
    assert winback.treated.converters == 6  # customer 7, 15 days on
    assert winback.held_out.converters == 2  # customer 22, 14 days and a second on


def test_results_text_and_json(measured_store: Path) -> None:
    with closing(sqlite3.connect(measured_store)) as conn:
        found = results(conn, "r1")
    text = results_text(found)
    assert "nudge: no control group" in text
    assert "winback: too few customers to conclude" in text and "about 97 customers" in text
    assert "received another offer in this run: winback 1;" in text
    document = results_document(found)
    assert document["format"] == "campaign-results/1"
    arms = {a["offer"]: a for a in document["arms"]}  # type: ignore[attr-defined]
    assert arms["winback"]["treated"]["conversion_rate"] == 0.25
    assert arms["winback"]["held_out"]["received_other_offers"] == 1


def test_unknown_run_key_names_the_runs_there_are(measured_store: Path) -> None:
    with closing(sqlite3.connect(measured_store)) as conn, pytest.raises(RunNotFound) as err:
        results(conn, "nope")
    assert "r1" in str(err.value)


def test_results_command(measured_store: Path) -> None:
    runner = CliRunner()
    shown = runner.invoke(main, ["results", "--db", str(measured_store), "--run-key", "r1"])
    assert shown.exit_code == 0, shown.output
    assert "winback" in shown.output
    as_json = runner.invoke(
        main, ["results", "--db", str(measured_store), "--run-key", "r1", "--format", "json"]
    )
    assert json.loads(as_json.output)["days"] == 14
    missing = runner.invoke(main, ["results", "--db", str(measured_store), "--run-key", "x"])
    assert missing.exit_code == 1 and "Traceback" not in missing.output
    bad_days = runner.invoke(
        main, ["results", "--db", str(measured_store), "--run-key", "r1", "--days", "0"]
    )
    assert bad_days.exit_code == 2
    no_store = runner.invoke(main, ["results", "--db", "/nonexistent.db", "--run-key", "r1"])
    assert no_store.exit_code == 2


def test_simulated_outcomes_fall_in_the_window_and_repeat_by_seed(
    measured_store: Path, tmp_path: Path
) -> None:
    import shutil

    from rules_engine.demo_outcomes import simulate_outcomes

    twin = tmp_path / "twin.db"
    shutil.copy(measured_store, twin)
    before = _orders(measured_store)
    added = simulate_outcomes(measured_store, "r1", days=14, seed=7)
    assert added > 0
    assert added == simulate_outcomes(twin, "r1", days=14, seed=7)
    new = sorted(set(_orders(measured_store)) - set(before))
    assert len(new) == added and new == sorted(set(_orders(twin)) - set(before))
    assert {c for c, _ in new} <= set(range(1, 41))  # only customers the run decided for
    assert all("2026-11-20T02:00:00Z" < at <= "2026-12-04T02:00:00Z" for _, at in new)


def _orders(path: Path) -> list[tuple[int, str]]:
    with closing(sqlite3.connect(path)) as conn:
        return conn.execute('SELECT "customer_id", "ordered_at" FROM "orders"').fetchall()


def test_results_as_a_page_with_charts(measured_store: Path) -> None:
    import re

    page = CliRunner().invoke(
        main, ["results", "--db", str(measured_store), "--run-key", "r1", "--format", "html"]
    )
    assert page.exit_code == 0, page.output
    html = page.output
    assert html.count('data-chart="lift"') == 1 and html.count('data-chart="rates"') == 1
    assert not re.search(r"""(src|href)=["']?https?:""", html)  # nothing to load
    shown = dict(re.findall(r'data-key="([^"]+)" data-value="([^"]*)"', html))
    with closing(sqlite3.connect(measured_store)) as conn:
        document = results_document(results(conn, "r1"))
    for i, arm in enumerate(document["arms"]):  # type: ignore[arg-type]
        assert shown[f"arms.{i}.treated.customers"] == str(arm["treated"]["customers"])
        assert shown[f"arms.{i}.held_out.converters"] == str(arm["held_out"]["converters"])
        assert shown[f"arms.{i}.cost"] == str(arm["cost"])
    assert "winback: too few customers to conclude" in html


def test_an_open_window_or_no_orders_yet_is_said(measured_store: Path) -> None:
    from datetime import UTC, datetime

    with closing(sqlite3.connect(measured_store)) as conn:
        early = results(conn, "r1", now=datetime(2026, 11, 25, tzinfo=UTC))
        late = results(conn, "r1", now=datetime(2027, 1, 1, tzinfo=UTC))
        conn.execute('DELETE FROM "orders" WHERE "ordered_at" > \'2026-11-20\'')
        conn.commit()
        empty = results(conn, "r1", now=datetime(2027, 1, 1, tzinfo=UTC))
    assert any("after now" in c for c in early.caveats())
    assert late.caveats() == [] and late.orders_after == 7
    assert results_document(early)["complete"] is False
    assert any("nothing to measure" in c for c in empty.caveats())
    assert "! no completed order" in results_text(empty)


def test_no_lift_is_shown_without_a_minus_sign() -> None:
    from rules_engine.measure.results import _points

    assert _points(-0.00001) == "+0.00 pt" and _points(0.0123) == "+1.23 pt"
