"""`campaign explain` and `campaign metrics` as operators and analysts use them."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from rules_engine.cli import main
from rules_engine.reference import explain as explain_module
from tests.test_plan import ALICE, BASE, store_with

AS_OF = "2026-11-15T10:00:00+08:00"
RULES: dict[str, Any] = {
    **BASE,
    "metrics": {
        "orders_total": {"from": "orders", "value": "count()", "default": 0},
        "last_order_at": {"from": "orders", "value": "max(ordered_at)"},
        "big": {"value": "orders_total >= 2"},
    },
    "segments": {"everyone": {"where": "id > 0"}, "buyer": {"where": "orders_total >= 1"}},
}
ORDERS = [
    {"customer_id": 1, "ordered_at": "2026-11-01T08:00:00Z", "amount": 10.0},
    {"customer_id": 1, "ordered_at": "2026-11-02 08:00:00", "amount": 20.0},
]


@pytest.fixture
def shop(tmp_path: Path) -> tuple[Path, Path]:
    folder = tmp_path / "rules"
    folder.mkdir()
    (folder / "rules.yaml").write_text(yaml.safe_dump(RULES, sort_keys=False))
    bob = {"id": 2, "email_opt_in": 0}
    db = store_with(tmp_path / "store.db", customers=[ALICE, bob], orders=ORDERS)
    return folder, db


def campaign(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, [*args, "--as-of", AS_OF])
    return result.exit_code, result.output


def test_explain_shows_values_segment_trees_channels_and_the_decision(
    shop: tuple[Path, Path],
) -> None:
    rules, db = shop
    code, output = campaign("explain", str(rules), "--db", str(db), "1")
    assert code == 0, output
    assert "Customer 1 as of 2026-11-15T02:00:00Z" in output
    assert "orders_total" in output and "2026-11-02T08:00:00Z" in output
    assert "orders_total >= 1  → true" in output  # the segment's tree with its value
    assert "email        usable" in output
    assert "hello                        ACTION on email at 2026-11-15T02:00:00Z" in output
    assert "DISAGREE" not in output


def test_explain_counts_recent_contacts_against_caps(tmp_path: Path) -> None:
    """Explain reads the customer's messages as the plan does: a contact inside the cap's
    window suppresses the offer (this read crashed explain once while plans were fine)."""
    folder = tmp_path / "rules"
    folder.mkdir()
    rules = {**RULES, "calendar": {**RULES.get("calendar", {})}}
    rules["calendar"]["frequency_caps"] = [{"channel": "*", "max": 1, "per": "7d"}]
    rules["calendar"]["min_gap"] = "24h"
    (folder / "rules.yaml").write_text(yaml.safe_dump(rules, sort_keys=False))
    contact = {"customer_id": 1, "channel": "sms", "sent_at": "2026-11-14T08:00:00Z"}
    db = store_with(tmp_path / "store.db", customers=[ALICE], orders=ORDERS, contacts=[contact])
    code, output = campaign("explain", str(folder), "--db", str(db), "1")
    assert code == 0, output
    assert "hello" in output and "frequency_cap" in output
    assert "DISAGREE" not in output


def test_explain_says_why_not(shop: tuple[Path, Path]) -> None:
    rules, db = shop
    code, output = campaign("explain", str(rules), "--db", str(db), "2")
    assert code == 0, output
    assert "email        not usable: no_address" in output
    assert "suppressed: no_address on email" in output


def test_explain_as_json(shop: tuple[Path, Path]) -> None:
    rules, db = shop
    code, output = campaign("explain", str(rules), "--db", str(db), "1", "--format", "json")
    body = json.loads(output)
    assert code == 0 and body["disagreements"] == []
    assert [o["decision"]["outcome"] for o in body["offers"]] == ["action"]


def test_explain_an_unknown_customer_exits_2(shop: tuple[Path, Path]) -> None:
    rules, db = shop
    code, output = campaign("explain", str(rules), "--db", str(db), "99")
    assert code == 2 and "customer 99 is not in the store" in output
    assert "Traceback" not in output


def test_explain_says_loudly_when_sql_and_python_disagree(
    shop: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    rules, db = shop
    honest = explain_module.evaluate_values

    def off_by_one(*args: Any, **kwargs: Any) -> Any:
        values = honest(*args, **kwargs)
        for customer in values.values():
            customer["orders_total"] += 1
        return values

    monkeypatch.setattr(explain_module, "evaluate_values", off_by_one)
    code, output = campaign("explain", str(rules), "--db", str(db), "1")
    assert code == 1
    assert "SQL AND PYTHON DISAGREE" in output and "metric `orders_total`" in output
    assert "please report it" in output


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_metrics_export_every_customer_in_rule_order(
    shop: tuple[Path, Path], tmp_path: Path, suffix: str
) -> None:
    rules, db = shop
    out = tmp_path / f"metrics{suffix}"
    code, output = campaign("metrics", str(rules), "--db", str(db), "--out", str(out), "--quiet")
    assert code == 0, output
    assert "2 customer(s) written" in output
    if suffix == ".csv":
        with out.open(newline="") as f:
            rows = list(csv.DictReader(f))
    else:
        rows = [json.loads(line) for line in out.read_text().splitlines()]
    names = ["customer_id", "orders_total", "last_order_at", "big", "everyone", "buyer"]
    assert list(rows[0]) == names
    first = {k: str(v) for k, v in rows[0].items()}
    assert first == {
        "customer_id": "1",
        "orders_total": "2",
        "last_order_at": "2026-11-02T08:00:00Z",
        "big": "1",
        "everyone": "1",
        "buyer": "1",
    }
    assert str(rows[1]["orders_total"]) == "0" and str(rows[1]["buyer"]) == "0"


def test_metrics_to_an_unknown_format_exits_2_and_writes_nothing(
    shop: tuple[Path, Path], tmp_path: Path
) -> None:
    rules, db = shop
    out = tmp_path / "metrics.xlsx"
    code, output = campaign("metrics", str(rules), "--db", str(db), "--out", str(out))
    assert code == 2 and ".csv or .jsonl" in output and not out.exists()
    assert "Traceback" not in output
