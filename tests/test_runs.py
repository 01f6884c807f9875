"""`campaign runs`: the runs a store committed, and one run's counts per offer, text and JSON."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from rules_engine import demo
from rules_engine.backends.sqlite import audit
from rules_engine.cli import main
from rules_engine.report.summary import offer_summaries
from rules_engine.rules.check import check
from rules_engine.times import parse_as_of
from tests.test_run import query

REPO = Path(__file__).resolve().parent.parent
FIRST, SECOND = "2026-11-19T10:00:00+08:00", "2026-11-20T10:00:00+08:00"


def campaign(*args: str | Path) -> Any:
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A store with two committed runs, and the plans `run` decided for them."""
    folder = tmp_path_factory.mktemp("runs")
    path = folder / "shop.db"
    demo.build_demo_store(path, customers=1_000, seed=5, progress=False)
    rules = Path(shutil.copytree(REPO / "rules", folder / "rules"))
    plans = {}
    for key, as_of in (("day-1", FIRST), ("day-2", SECOND)):
        checked = check([rules], db=path, as_of=parse_as_of(as_of))
        result = audit.run(path, checked.rules, parse_as_of(as_of), key)
        plans[key] = result.plan
    return {"path": path, "plans": plans}


def test_runs_lists_every_run_oldest_first_as_json(history: dict[str, Any]) -> None:
    result = campaign("runs", "--db", history["path"], "--format", "json")
    assert result.exit_code == 0
    body = json.loads(result.output)
    assert body["format"] == "campaign-runs/1"
    assert [r["run_key"] for r in body["runs"]] == ["day-1", "day-2"]
    assert [r["as_of"] for r in body["runs"]] == ["2026-11-19T02:00:00Z", "2026-11-20T02:00:00Z"]
    for run in body["runs"]:
        (actions,) = query(
            history["path"],
            "SELECT count(*) FROM actions a JOIN runs r USING (run_id) WHERE r.run_key = ?",
            (run["run_key"],),
        )[0]
        assert run["counts"]["actions"] == actions
        assert run["status"] == "committed"
        assert len(run["rules_digest"]) == 64
        assert set(run) >= {"git_commit", "started_at", "finished_at", "run_id"}


def test_runs_as_text_has_a_line_per_run(history: dict[str, Any]) -> None:
    result = campaign("runs", "--db", history["path"])
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert lines[0].endswith("2 run(s), oldest first")
    assert lines[1].split()[:4] == ["key", "as", "of", "status"]
    assert [line.split()[0] for line in lines[2:]] == ["day-1", "day-2"]
    actions = sum(o.actions for o in offer_summaries(history["plans"]["day-2"]))
    assert f"{actions:,}" in lines[3].split()


def test_show_counts_each_offer_as_the_run_decided(history: dict[str, Any]) -> None:
    result = campaign("runs", "--db", history["path"], "--show", "day-2", "--format", "json")
    assert result.exit_code == 0
    body = json.loads(result.output)
    assert body["run"]["run_key"] == "day-2"
    shown = {o["offer_id"]: o for o in body["offers"]}
    decided = {o.id: o for o in offer_summaries(history["plans"]["day-2"]) if o.audience}
    assert set(shown) == set(decided)
    for offer_id, o in decided.items():
        got = shown[offer_id]
        assert (got["audience"], got["actions"], got["holdouts"]) == (
            o.audience,
            o.actions,
            o.holdouts,
        )
        assert got["reasons"] == o.suppressed
        assert got["cost"] == pytest.approx(o.cost, abs=0.01)


def test_show_as_text_names_the_run_and_its_offers(history: dict[str, Any]) -> None:
    result = campaign("runs", "--db", history["path"], "--show", "day-1")
    assert result.exit_code == 0
    assert result.output.startswith("Run day-1\n")
    assert "as of         2026-11-19T02:00:00Z" in result.output
    offers = [o.id for o in offer_summaries(history["plans"]["day-1"]) if o.audience]
    table = result.output.split("\nOffers\n")[1].splitlines()
    assert sorted(line.split()[0] for line in table[1:]) == sorted(offers)


def test_an_unknown_key_or_a_store_without_runs(history: dict[str, Any], tmp_path: Path) -> None:
    unknown = campaign("runs", "--db", history["path"], "--show", "nope")
    assert unknown.exit_code == 2
    assert "no run with key 'nope'" in unknown.output
    empty = tmp_path / "empty.db"
    assert campaign("init-store", empty).exit_code == 0
    listed = campaign("runs", "--db", empty)
    assert listed.exit_code == 0
    assert "no runs committed yet" in listed.output
    missing = campaign("runs", "--db", tmp_path / "missing.db")
    assert missing.exit_code == 2
