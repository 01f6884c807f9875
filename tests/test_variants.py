"""Offer variants: the published assignment, its proportions, each variant's cost in budgets,
and the variant recorded in actions, audit and exports.

The formula is checked against an implementation written here from its published text, not
against the engine's own.
"""

from __future__ import annotations

import csv
import sqlite3
from contextlib import closing
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from rules_engine.cli import main
from rules_engine.decide import allocate as one_at_a_time
from rules_engine.decide import allocate_arrays
from rules_engine.decide.allocate_arrays import variant_indices
from rules_engine.decide.records import Candidate
from rules_engine.decide.sendtime import variant_bucket, variant_of
from rules_engine.errors import Span
from rules_engine.rules.model import Budget, Variant
from rules_engine.store import init_store
from tests.test_allocate import AS_OF, CALENDAR, CHANNELS, offer
from tests.test_plan import ALICE, plan_of, store_with
from tests.test_resolve import codes, run

SPAN = Span("rules/offers.yaml", 3, 3)


def published_bucket(offer_id: str, customer_id: int) -> int:
    """The contract's formula, as written: the first 8 bytes of SHA-256 of
    "{offer}:variant:{customer}", big-endian, modulo 10,000."""
    import hashlib

    hexdigest = hashlib.sha256((offer_id + ":variant:" + str(customer_id)).encode()).hexdigest()
    return int(hexdigest[:16], 16) % 10_000


def variants(*weights: tuple[str, float, float]) -> tuple[Variant, ...]:
    """Variants of (id, weight, cost), their bounds cumulative as the rules compute them."""
    found, total = [], 0.0
    for vid, weight, cost in weights:
        total += weight
        found.append(Variant(vid, SPAN, weight, round(total * 10_000), f"tpl_{vid}", None, cost))
    return tuple(found)


def test_bucket_is_the_published_formula() -> None:
    for offer_id in ("winback", "双十一", "a:b"):
        ids = [*range(1, 500), 2**40, 10**15]
        assert [variant_bucket(offer_id, c) for c in ids] == [
            published_bucket(offer_id, c) for c in ids
        ]
        arrays = allocate_arrays.buckets(f"{offer_id}:variant:".encode(), np.array(ids))
        assert arrays.tolist() == [published_bucket(offer_id, c) for c in ids]


@settings(max_examples=40, deadline=None)
@given(
    st.text(min_size=1, max_size=12),
    st.lists(st.integers(-(2**63), 2**63 - 1), min_size=1, max_size=30),
)
def test_many_ids_are_hashed_in_sql_to_the_same_buckets(offer_id: str, ids: list[int]) -> None:
    """From SQL_HASHING_FROM ids on the buckets come from a query: the same published ones,
    in the ids' order, whatever the offer's spelling and the ids' sign or size."""
    size = allocate_arrays.SQL_HASHING_FROM
    many = np.resize(np.array(ids, dtype=np.int64), size)  # the ids repeated, in order
    expected = np.resize(np.array([published_bucket(offer_id, c) for c in ids]), size)
    found = allocate_arrays.buckets(f"{offer_id}:variant:".encode(), many)
    assert found.tolist() == expected.tolist()


def test_variant_is_the_first_whose_cumulative_weight_holds_the_bucket() -> None:
    o = offer(variants=variants(("a", 0.5, 1.0), ("b", 0.3, 1.0), ("c", 0.2, 1.0)))
    for customer in range(1, 2_000):
        bucket = published_bucket("winback", customer)
        expected = "a" if bucket < 5_000 else "b" if bucket < 8_000 else "c"
        chosen = variant_of(o, customer)
        assert chosen is not None and chosen.id == expected
    ids = np.arange(1, 2_000)
    names = [o.variants[i].id for i in variant_indices(o, ids).tolist()]
    assert names == [v.id for c in ids.tolist() if (v := variant_of(o, c)) is not None]


def test_proportions_on_100k_customers_are_within_sampling_error() -> None:
    o = offer(variants=variants(("a", 0.5, 1.0), ("b", 0.3, 1.0), ("c", 0.2, 1.0)))
    n = 100_000
    counts = np.bincount(variant_indices(o, np.arange(1, n + 1)), minlength=3)
    for count, share in zip(counts.tolist(), (0.5, 0.3, 0.2), strict=True):
        sigma = (n * share * (1 - share)) ** 0.5
        assert abs(count - n * share) < 4 * sigma


@pytest.mark.parametrize("allocate", [one_at_a_time.allocate, allocate_arrays.allocate])
def test_actions_carry_their_variant_and_its_cost(allocate: Any) -> None:
    o = offer(variants=variants(("cheap", 0.5, 1.0), ("dear", 0.5, 3.0)))
    decided = allocate(
        [o],
        {"winback": [Candidate(c) for c in range(1, 41)]},
        channels=CHANNELS,
        calendar=CALENDAR,
        as_of=AS_OF,
    )
    assert all(d.outcome == "action" for d in decided)
    for d in decided:
        expected = "cheap" if published_bucket("winback", d.customer_id) < 5_000 else "dear"
        assert d.variant == expected
        assert d.cost == (1.02 if expected == "cheap" else 3.02)  # email costs 0.02


@pytest.mark.parametrize("allocate", [one_at_a_time.allocate, allocate_arrays.allocate])
def test_budget_is_spent_at_each_variants_cost(allocate: Any) -> None:
    o = offer(variants=variants(("cheap", 0.5, 1.0), ("dear", 0.5, 3.0)), budget=Budget(10.0))
    customers = list(range(1, 41))
    decided = allocate(
        [o],
        {"winback": [Candidate(c) for c in customers]},
        channels=CHANNELS,
        calendar=CALENDAR,
        as_of=AS_OF,
    )
    spent, expected = 0.0, []
    for c in customers:  # the budget walked by hand: who fits, at their variant's price
        price = 1.02 if published_bucket("winback", c) < 5_000 else 3.02
        fits = spent + price <= 10.0 + 1e-9
        spent += price if fits else 0.0
        expected.append((c, "action" if fits else "suppressed"))
    assert [(d.customer_id, d.outcome) for d in decided] == expected
    assert all(d.reason == "budget" for d in decided if d.outcome == "suppressed")


def test_an_offer_without_variants_records_none() -> None:
    decided = allocate_arrays.allocate(
        [offer()], {"winback": [Candidate(1)]}, channels=CHANNELS, calendar=CALENDAR, as_of=AS_OF
    )
    assert decided[0].variant is None


# -- rules ------------------------------------------------------------------------------------

OFFER = """offers:
  hello:
    audience: "True"
    channels: [email]
    content: tpl_hello
    variants:
      a: {weight: 60%}
      b: {weight: 30%, content: tpl_b}
"""


def test_weights_must_add_up_to_100_percent(tmp_path: Path) -> None:
    channels = "channels:\n  email: {address: email}\n"
    found = codes(run(tmp_path, channels + OFFER))
    assert ("f0.yaml", "variant-weights", 8, 5) in found


def test_a_weight_over_100_percent_is_refused(tmp_path: Path) -> None:
    channels = "channels:\n  email: {address: email}\n"
    text = OFFER.replace("60%", "160%").replace("30%", "-60%")
    assert {code for _, code, _, _ in codes(run(tmp_path, channels + text))} & {
        "percent-range",
        "schema-pattern",
    }


def variant_rules(rules: dict[str, Any]) -> None:
    hello = rules["offers"]["hello"]
    hello["incentive"] = {"type": "coupon", "value": 10}
    hello["variants"] = {
        "a": {"weight": "50%"},
        "b": {"weight": "50%", "content": "tpl_b", "incentive": {"type": "coupon", "value": 20}},
    }


def test_plan_actions_carry_the_variants_content_and_incentive(tmp_path: Path) -> None:
    people = [{**ALICE, "id": i} for i in range(1, 21)]
    planned = plan_of(tmp_path, variant_rules, customers=people)
    from rules_engine.backends.sqlite.audit import action_row

    rows = [action_row(planned.rules, None, d) for d in planned.actions]
    assert {r["variant"] for r in rows} == {"a", "b"}
    for row in rows:
        if row["variant"] == "b":
            assert (row["content"], row["incentive"]) == ("tpl_b", '{"type":"coupon","value":20}')
        else:
            assert (row["content"], row["incentive"]) == (
                "tpl_hello",
                '{"type":"coupon","value":10}',
            )


def test_run_records_the_variant_in_actions_audit_and_export(tmp_path: Path) -> None:
    import yaml

    from tests.test_plan import BASE

    rules = {**BASE, "offers": {"hello": dict(BASE["offers"]["hello"])}}
    variant_rules(rules)
    folder = tmp_path / "rules"
    folder.mkdir()
    (folder / "rules.yaml").write_text(yaml.safe_dump(rules))
    db = store_with(tmp_path / "store.db", customers=[{**ALICE, "id": i} for i in range(1, 21)])
    out = tmp_path / "actions.csv"
    result = CliRunner().invoke(
        main,
        [
            "run",
            str(folder),
            "--db",
            str(db),
            "--run-key",
            "k1",
            "--as-of",
            "2026-11-15T10:00:00+08:00",
            "--export",
            str(out),
            "--quiet",
        ],
    )
    assert result.exit_code == 0, result.output
    with closing(sqlite3.connect(db)) as conn:
        actions = dict(conn.execute('SELECT "customer_id", "variant" FROM "actions"').fetchall())
        audit = dict(conn.execute('SELECT "customer_id", "variant" FROM "audit"').fetchall())
    assert actions == audit
    assert actions == {
        c: ("a" if published_bucket("hello", c) < 5_000 else "b") for c in range(1, 21)
    }
    with out.open() as f:
        exported = {int(r["customer_id"]): r["variant"] for r in csv.DictReader(f)}
    assert exported == actions


def test_init_store_adds_the_variant_column_to_an_older_store(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    init_store(path)
    with closing(sqlite3.connect(path)) as conn:
        conn.execute('ALTER TABLE "actions" DROP COLUMN "variant"')
        conn.execute('ALTER TABLE "audit" DROP COLUMN "variant"')
    assert "column actions.variant" in init_store(path)
    assert init_store(path) == []  # safe to run again
    with closing(sqlite3.connect(path)) as conn:
        columns = [row[1] for row in conn.execute('PRAGMA table_info("audit")')]
    assert "variant" in columns


def test_variants_do_not_move_when_other_rules_change() -> None:
    o = offer(variants=variants(("a", 0.5, 1.0), ("b", 0.5, 1.0)))
    other = replace(offer(), id="another", priority=99)
    alone = allocate_arrays.allocate(
        [o],
        {"winback": [Candidate(c) for c in range(1, 60)]},
        channels=CHANNELS,
        calendar=CALENDAR,
        as_of=AS_OF,
    )
    beside = allocate_arrays.allocate(
        [other, o],
        {
            "winback": [Candidate(c) for c in range(1, 60)],
            "another": [Candidate(c) for c in range(30, 40)],
        },
        channels=CHANNELS,
        calendar=CALENDAR,
        as_of=AS_OF,
    )
    assigned = {d.customer_id: d.variant for d in alone}
    assert all(assigned[d.customer_id] == d.variant for d in beside if d.offer_id == "winback")


# -- control groups -----------------------------------------------------------------------------

CONTROL = """channels:
  email: {address: email}
offers:
  winback:
    audience: "True"
    channels: [email]
    content: tpl
    incentive: {type: coupon, value: 50}
    holdout: 10%
    priority: 5
  nudge:
    audience: "True"
    channels: [email]
    content: tpl
    incentive: {type: coupon, value: 5}
"""


def test_a_control_group_another_offer_can_reach_is_a_warning(tmp_path: Path) -> None:
    problems = run(tmp_path, CONTROL)
    assert codes(problems) == [("f0.yaml", "holdout-contaminated", 9, 14)]
    assert "`nudge`" in problems[0].message and not problems[0].is_error


@pytest.mark.parametrize(
    "change",
    [
        # one group: the held-out customer keeps the group's slot
        lambda t: t.replace("holdout: 10%", "holdout: 10%\n    group: g").replace(
            "value: 5}", "value: 5}\n    group: g"
        ),
        # the other offer is allocated first: it decides alike for both arms
        lambda t: t.replace("value: 5}", "value: 5}\n    priority: 9"),
        # another kind of incentive
        lambda t: t.replace("{type: coupon, value: 5}", "{type: points, value: 5}"),
        # windows that never meet
        lambda t: t.replace(
            "value: 5}", "value: 5}\n    window: {from: 2026-01-01, until: 2026-01-31}"
        ).replace("value: 50}", "value: 50}\n    window: {from: 2026-02-01, until: 2026-02-28}"),
    ],
)
def test_no_warning_where_the_control_group_stays_clean(tmp_path: Path, change: Any) -> None:
    assert codes(run(tmp_path, change(CONTROL))) == []
