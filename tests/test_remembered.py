"""A clean check's rule set is remembered for `explain`: asked again with the same files,
schema and as-of, nothing is loaded or resolved, and what is explained is the same; any
change, and any rules with problems, are checked again."""

from __future__ import annotations

import os
import pickle
import shutil
import sqlite3
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from rules_engine.cli import main
from rules_engine.rules import check as check_module
from rules_engine.rules import remembered
from rules_engine.rules.check import check

ROOT = Path(__file__).parents[1]
AS_OF = "2026-11-20T10:00:00+08:00"


def _checks(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """One entry per time the rule files are loaded and checked from now on."""
    checked: list[int] = []
    real = check_module._check_files

    def counting(*args: Any, **kwargs: Any) -> Any:
        checked.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(check_module, "_check_files", counting)
    return checked


def _kept(copied_rules: Path) -> list[Path]:
    return sorted((copied_rules.parent / "cache" / remembered.FOLDER).glob("*.pickle"))


def test_a_clean_check_is_remembered_and_used_again(
    copied_rules: Path, small_demo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    checked = _checks(monkeypatch)
    moment = datetime.fromisoformat(AS_OF)
    first = check([copied_rules], db=small_demo, as_of=moment, remember=True)
    assert (
        not first.problems
        and first.accepted
        and len(checked) == 1
        and len(_kept(copied_rules)) == 1
    )
    again = check([copied_rules], db=small_demo, as_of=moment, remember=True)
    assert len(checked) == 1  # not loaded again
    assert again.rules == first.rules and again.accepted == first.accepted
    assert again.rules.digest == first.rules.digest and not again.problems
    check([copied_rules], db=small_demo, as_of=moment)  # without `remember`: checked, as always
    assert len(checked) == 2


def test_explain_says_the_same_from_a_remembered_check(
    copied_rules: Path, small_demo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = CliRunner()
    command = ["explain", str(copied_rules), "--db", str(small_demo), "7", "--as-of", AS_OF]
    first = runner.invoke(main, command)
    checked = _checks(monkeypatch)
    again = runner.invoke(main, command)
    assert first.exit_code == again.exit_code == 0 and checked == []
    assert again.output == first.output and "campaign" not in again.stderr


@pytest.mark.parametrize(
    "change",
    ["a rule file", "the as-of", "the store's schema", "the engine"],
)
def test_any_change_checks_again(
    copied_rules: Path,
    small_demo: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    change: str,
) -> None:
    moment = datetime.fromisoformat(AS_OF)
    check([copied_rules], db=small_demo, as_of=moment, remember=True)
    checked = _checks(monkeypatch)
    db = small_demo
    if change == "a rule file":
        channels = copied_rules / "channels.yaml"
        channels.write_text(channels.read_text(encoding="utf-8") + "\n# a comment\n")
    elif change == "the as-of":
        moment = datetime.fromisoformat("2026-11-21T10:00:00+08:00")
    elif change == "the store's schema":
        db = tmp_path / "wider.db"
        shutil.copy(small_demo, db)
        with sqlite3.connect(db) as conn:
            conn.execute("ALTER TABLE customers ADD COLUMN loyalty_points INTEGER")
        conn.close()
    else:
        remembered._engine.cache_clear()
        monkeypatch.setattr(remembered, "ENGINE", tmp_path)  # other engine files
    try:
        result = check([copied_rules], db=db, as_of=moment, remember=True)
    finally:
        remembered._engine.cache_clear()
    assert checked == [1] and not result.errors
    assert len(_kept(copied_rules)) == 2


def test_rules_with_problems_are_checked_and_reported_every_time(
    copied_rules: Path, small_demo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    channels = copied_rules / "channels.yaml"
    channels.write_text(channels.read_text(encoding="utf-8") + "\nbogus_section: 1\n")
    checked = _checks(monkeypatch)
    for _ in range(2):
        result = check([copied_rules], db=small_demo, remember=True)
        assert [p.code for p in result.errors] == ["schema-unknown-key"]
    assert len(checked) == 2 and _kept(copied_rules) == []


@pytest.mark.parametrize(
    "damage",
    [b"not a pickle", pickle.dumps({"rules": 1}), pickle.dumps(("rules", []))],
    ids=["bytes", "another object", "not a rule set"],
)
def test_a_damaged_memory_is_ignored_and_replaced(
    copied_rules: Path, small_demo: Path, monkeypatch: pytest.MonkeyPatch, damage: bytes
) -> None:
    first = check([copied_rules], db=small_demo, remember=True)
    (kept,) = _kept(copied_rules)
    kept.write_bytes(damage)
    checked = _checks(monkeypatch)
    again = check([copied_rules], db=small_demo, remember=True)
    assert checked == [1] and again.rules == first.rules
    assert pickle.loads(kept.read_bytes())[0] == first.rules


def test_only_the_latest_are_kept(
    copied_rules: Path, small_demo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(remembered, "KEPT", 2)
    for day in (20, 21, 22):
        moment = datetime.fromisoformat(f"2026-11-{day}T10:00:00+08:00")
        check([copied_rules], db=small_demo, as_of=moment, remember=True)
    assert len(_kept(copied_rules)) == 2
    checked = _checks(monkeypatch)
    check([copied_rules], db=small_demo, as_of=datetime.fromisoformat(AS_OF), remember=True)
    assert checked == [1]  # the oldest was dropped


def test_an_unwritable_cache_folder_checks_every_time(
    copied_rules: Path, small_demo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the folder would be")
    monkeypatch.setenv("CAMPAIGN_CACHE_DIR", str(blocked))
    checked = _checks(monkeypatch)
    for _ in range(2):
        assert not check([copied_rules], db=small_demo, remember=True).errors
    assert checked == [1, 1] and os.path.isfile(blocked)
