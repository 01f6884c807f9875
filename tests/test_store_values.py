"""Values the rules read: every accepted spelling of a time decides alike through the whole
pipeline, and a store whose columns hold values of another type is refused, naming the table,
the column, the first such row and its value, not decided on."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rules_engine.cli import main
from rules_engine.rules.check import check
from rules_engine.store import closing_read_only
from rules_engine.store_values import bad_columns
from rules_engine.times import epoch_seconds
from tests.test_differential import NEAR_MISSES, instants_and_spellings, not_instants, spelled
from tests.test_plan import ALICE, AS_OF, BASE, outcomes, plan_of, store_with

SETTINGS = settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _spellings_of(moment: datetime) -> st.SearchStrategy[tuple[datetime, str]]:
    @st.composite
    def spelling(draw: Any) -> tuple[datetime, str]:
        minutes = draw(st.integers(-1439, 1439))
        local = moment.astimezone(timezone(timedelta(minutes=minutes)))
        return moment, spelled(local, draw)

    return spelling()


def _caps(rules: dict[str, Any]) -> None:
    rules["calendar"]["frequency_caps"] = [{"channel": "*", "max": 1, "per": "7d"}]
    rules["metrics"] = {
        "recency_days": {"from": "orders", "value": "days_since(max(ordered_at))"},
        "buying_days": {"from": "orders", "value": "count_distinct(date(ordered_at))"},
    }


@SETTINGS
@given(_spellings_of((AS_OF - timedelta(days=3, hours=5)).astimezone(UTC)))
def test_a_contact_in_any_spelling_counts_against_caps_and_orders_against_metrics(
    tmp_path_factory: pytest.TempPathFactory, pair: tuple[datetime, str]
) -> None:
    moment, text = pair
    tmp_path = tmp_path_factory.mktemp("spelling")
    plan = plan_of(
        tmp_path,
        _caps,
        contacts=[{"id": 1, "customer_id": 1, "channel": "email", "sent_at": text}],
        orders=[{"id": 1, "customer_id": 1, "ordered_at": text, "amount": 10.0}],
    )
    assert outcomes(plan) == [(1, "hello", "suppressed", "frequency_cap", "email")], text
    metrics = _metrics(tmp_path)
    assert metrics["recency_days"] == (AS_OF - moment).days == 3
    assert metrics["buying_days"] == 1
    explained = CliRunner().invoke(
        main,
        [
            "explain",
            str(tmp_path / "rules"),
            "--db",
            str(tmp_path / "store.db"),
            "1",
            "--as-of",
            AS_OF.isoformat(),
        ],
    )
    assert explained.exit_code == 0, explained.output
    assert "disagree" not in explained.output


def _metrics(tmp_path: Path) -> dict[str, Any]:
    out = tmp_path / "m.jsonl"
    result = CliRunner().invoke(
        main,
        [
            "metrics",
            str(tmp_path / "rules"),
            "--db",
            str(tmp_path / "store.db"),
            "--as-of",
            AS_OF.isoformat(),
            "--out",
            str(out),
            "--quiet",
        ],
    )
    assert result.exit_code == 0, result.output
    return dict(json.loads(out.read_text().splitlines()[0]))


# -- wrong-typed store values ---------------------------------------------------------------

WRONG = [
    ("orders", "ordered_at", 1763700000, "times"),  # held as the text '1763700000'
    ("orders", "ordered_at", "2026-02-30T10:00:00Z", "times"),
    ("orders", "ordered_at", "2026-11-01T24:00:00Z", "times"),
    ("orders", "ordered_at", "2026-11-01T10:00:00+0800 ", "times"),
    ("orders", "amount", "abc", "finite numbers"),
    ("orders", "amount", "12,50", "finite numbers"),
    ("orders", "amount", float("inf"), "finite numbers"),
    ("customers", "email_opt_in", 2, "0 or 1"),
    ("customers", "email_opt_in", "yes", "0 or 1"),
    ("customers", "birth_date", "1990-13-01", "dates"),
    ("customers", "birth_date", "1990-01-01T00:00:00Z", "dates"),
    ("contacts", "sent_at", "yesterday", "times"),
]


def _rules_reading_everything(folder: Path) -> Path:
    rules = copy.deepcopy(BASE)
    rules["metrics"] = {
        "spend": {"from": "orders", "value": "sum(amount)", "default": 0},
        "last_order": {"from": "orders", "value": "max(ordered_at)"},
        "age_days": {"value": "days_since(birth_date)"},
    }
    folder.mkdir(exist_ok=True)
    (folder / "rules.yaml").write_text(yaml.safe_dump(rules))
    return folder


@pytest.mark.parametrize(("table", "column", "value", "what"), WRONG)
def test_a_wrong_typed_value_is_reported_by_every_command(
    tmp_path: Path, table: str, column: str, value: object, what: str
) -> None:
    good_order = {"id": 7, "customer_id": 1, "ordered_at": "2026-11-01T10:00:00Z", "amount": 1.0}
    rows: dict[str, list[dict[str, Any]]] = {
        "customers": [{**ALICE}, {**ALICE, "id": 2}],
        "orders": [good_order, {**good_order, "id": 8}],
        "contacts": [{"id": 5, "customer_id": 1, "channel": "sms", "sent_at": "2026-01-01"}],
    }
    rows[table][-1][column] = value
    bad_id = rows[table][-1]["id"]
    db = store_with(tmp_path / "store.db", **rows)
    folder = _rules_reading_everything(tmp_path / "rules")
    as_of = ["--as-of", AS_OF.isoformat()]
    for command in [
        ["plan", str(folder), "--db", str(db)],
        ["run", str(folder), "--db", str(db), "--run-key", "k"],
        ["explain", str(folder), "--db", str(db), "1"],
        ["metrics", str(folder), "--db", str(db), "--out", str(tmp_path / "m.csv")],
        ["validate", str(folder), "--db", str(db)],
    ]:
        result = CliRunner().invoke(main, [*command, *as_of])
        assert result.exit_code == 1, (command, result.output)
        assert "Traceback" not in result.output
        shown = repr(str(value) if column == "ordered_at" else value)  # a TEXT column
        message = f"{table}.{column} holds {shown} (id {bad_id}): 1 value(s) that are not {what}"
        assert message in result.output, result.output
        assert "store-value-type" in result.output
        if command[0] != "validate":
            assert "nothing was decided: correct the data" in result.output
    with closing_read_only(db) as conn:
        assert conn.execute('SELECT count(*) FROM "runs"').fetchone() == (0,)
    assert not (tmp_path / "m.csv").exists()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.one_of(
            not_instants(),
            st.sampled_from(NEAR_MISSES),
            instants_and_spellings().map(lambda p: p[1]),
        ),
        max_size=6,
    )
)
def test_the_count_of_bad_times_is_exactly_the_values_outside_the_spellings(
    tmp_path_factory: pytest.TempPathFactory, values: list[object]
) -> None:
    db = store_with(
        tmp_path_factory.mktemp("bad") / "store.db",
        customers=[ALICE],
        orders=[
            {"id": i + 1, "customer_id": 1, "ordered_at": v, "amount": 1.0}
            for i, v in enumerate(values)
        ],
    )
    folder = _rules_reading_everything(tmp_path_factory.mktemp("rules") / "rules")
    rules = check([folder]).rules
    with closing_read_only(db) as conn:  # as stored: TEXT affinity makes numbers text
        stored = [v for (v,) in conn.execute('SELECT "ordered_at" FROM "orders" ORDER BY "id"')]
    expected = [i + 1 for i, v in enumerate(stored) if v is not None and epoch_seconds(v) is None]
    found = [b for b in bad_columns(db, rules) if b.column == "ordered_at"]
    if expected:
        [bad] = found
        assert (bad.rows, bad.example_id) == (len(expected), expected[0])
        assert bad.example == stored[expected[0] - 1]
    else:
        assert found == []
