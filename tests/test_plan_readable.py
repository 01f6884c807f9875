"""Plan output a person can read: the budget's reserve named, runs at the same as-of noted,
and `explain --offer` for one offer's decision."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from rules_engine import demo
from rules_engine.cli import main
from tests.test_run import query

REPO = Path(__file__).resolve().parent.parent
AS_OF = "2026-11-20T10:00:00+08:00"


def campaign(*args: str | Path) -> Any:
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("readable") / "shop.db"
    demo.build_demo_store(path, customers=800, seed=4, progress=False)
    return path


def plan_json(db: Path, folder: Path) -> tuple[str, dict[str, Any]]:
    out = folder / "plan.json"
    result = campaign(
        "plan", REPO / "rules", "--db", db, "--as-of", AS_OF, "--json", out, "--quiet"
    )
    assert result.exit_code == 0, result.output
    return result.output, json.loads(out.read_text(encoding="utf-8"))


def test_budget_left_says_the_reserve_is_kept_back(shop: Path, tmp_path: Path) -> None:
    text, plan = plan_json(shop, tmp_path)
    assert "budget left*" in text
    assert "* budget left excludes the reserve: total - reserve - earlier runs - this plan" in text
    budgets = [o["budget"] for o in plan["offers"] if o["budget"]]
    assert budgets
    for offer in plan["offers"]:
        b = offer["budget"]
        if b is None:
            continue
        assert b["spendable"] == pytest.approx(b["total"] - b["reserve"], abs=0.01)
        assert b["left"] == pytest.approx(
            b["spendable"] - b["spent_before"] - offer["cost"], abs=0.01
        )


def test_a_plan_after_a_run_at_the_same_as_of_says_so(shop: Path, tmp_path: Path) -> None:
    db = Path(shutil.copyfile(shop, tmp_path / "shop.db"))
    text, plan = plan_json(db, tmp_path)
    assert "already committed at this as-of" not in text
    assert plan["runs_at_as_of"] == []
    ran = campaign("run", REPO / "rules", "--db", db, "--run-key", "first", "--as-of", AS_OF)
    assert ran.exit_code == 0, ran.output
    (actions,) = query(db, "SELECT count(*) FROM actions")[0]
    text, plan = plan_json(db, tmp_path)
    assert plan["runs_at_as_of"] == [{"run_key": "first", "actions": actions}]
    note = text.splitlines()[1]
    assert note.startswith(f"Note: run(s) already committed at this as-of: first ({actions:,} ")
    assert "count against this plan's caps, cooldowns, max_actions and budgets" in note
    later = tmp_path / "later.json"
    other = campaign(
        "plan", REPO / "rules", "--db", db, "--as-of", "2026-11-21T10:00:00+08:00", "--json", later
    )
    assert json.loads(later.read_text(encoding="utf-8"))["runs_at_as_of"] == []
    assert "already committed at this as-of" not in other.output


def test_explain_one_offer_shows_its_decision_only(shop: Path) -> None:
    args = ("explain", REPO / "rules", "--db", shop, "1", "--as-of", AS_OF)
    whole = campaign(*args)
    assert whole.exit_code == 0
    section = whole.output.split("\nOffers, in allocation order\n")[1].split("\n\n")[0]
    offers = {
        line.split()[0]: line.split(None, 1)[1]
        for line in section.splitlines()
        if not line.startswith("      ")  # an offer's audience line
    }
    assert len(offers) > 4
    for offer_id, status in list(offers.items())[:4]:
        one = campaign(*args, "--offer", offer_id)
        assert one.exit_code == 0, one.output
        out = one.output.splitlines()
        assert out[0] == (
            f"Customer 1 as of 2026-11-20T02:00:00Z (2026-11-20 10:00 Asia/Shanghai), "
            f"offer {offer_id}"
        )
        assert out[1].strip() == status.strip()
        assert "Metrics" not in one.output and "Segments" not in one.output
        assert not (set(offers) - {offer_id}) & set(one.output.split())
        assert "Channels, in the offer's preference order" in one.output


def test_explain_one_offer_as_json(shop: Path) -> None:
    result = campaign(
        "explain",
        REPO / "rules",
        "--db",
        shop,
        "1",
        "--as-of",
        AS_OF,
        "--offer",
        "vip_winback",
        "--format",
        "json",
    )
    assert result.exit_code == 0
    body = json.loads(result.output)
    assert [o["id"] for o in body["offers"]] == ["vip_winback"]
    assert "values" not in body
    assert body["customer_id"] == 1


def test_explain_an_unknown_offer_exits_2_with_a_suggestion(shop: Path) -> None:
    result = campaign(
        "explain", REPO / "rules", "--db", shop, "1", "--as-of", AS_OF, "--offer", "vip_winbak"
    )
    assert result.exit_code == 2
    assert "no offer with that id" in result.output
    assert "did you mean `vip_winback`?" in result.output
