"""Programs, not shared temp tables: two rule sets planned on one connection, each in its own
namespace, decide exactly what each decides alone, even when one is planned in the middle of
the other (as `campaign diff` compares the rules before and after a change)."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from rules_engine import store
from rules_engine.backends.sqlite.connection import prepare
from rules_engine.execute import Plan, plan
from rules_engine.report.render import plan_json
from rules_engine.rules.check import load_rules
from rules_engine.rules.model import RuleSet
from rules_engine.sql.namespace import Namespace
from rules_engine.times import parse_instant

ROOT = Path(__file__).parents[1]
AS_OF = parse_instant("2026-11-20T10:00:00+08:00")


@pytest.fixture(scope="module")
def base(small_demo: Path) -> RuleSet:
    return load_rules([ROOT / "rules"], db=small_demo, as_of=AS_OF)


@pytest.fixture(scope="module")
def head(small_demo: Path, tmp_path_factory: pytest.TempPathFactory) -> RuleSet:
    """The example rules changed: a year of orders now half a year, and the first offer to
    be allocated now the last."""
    folder = tmp_path_factory.mktemp("head") / "rules"
    shutil.copytree(ROOT / "rules", folder, ignore=shutil.ignore_patterns("tests"))
    edit(folder / "metrics.yaml", "days_ago(365)", "days_ago(180)")
    edit(folder / "offers" / "winback.yaml", "priority: 95", "priority: 5")
    return load_rules([folder], db=small_demo, as_of=AS_OF)


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")


def shown(planned: Plan) -> str:
    return plan_json(planned, digest="-")


def alone(path: Path, rules: RuleSet) -> str:
    with store.closing_read_only(path) as conn:
        prepare(conn, 64)
        return shown(plan(conn, rules, AS_OF))


def nested(
    conn: sqlite3.Connection,
    outer: tuple[RuleSet, str],
    inner: tuple[RuleSet, str],
    stage: str,
) -> tuple[str, str]:
    """`outer` planned in its namespace, and `inner` in its own as `outer` starts `stage`
    (when `outer` has built its tables up to there and read none of what follows)."""
    found: list[str] = []

    def meanwhile(line: str) -> None:
        if line.startswith(stage) and not found:
            found.append(shown(plan(conn, inner[0], AS_OF, namespace=inner[1])))

    planned = shown(plan(conn, outer[0], AS_OF, namespace=outer[1], progress=meanwhile))
    assert len(found) == 1
    return planned, found[0]


def test_two_rule_sets_planned_one_inside_the_other_decide_as_each_alone(
    small_demo: Path, base: RuleSet, head: RuleSet
) -> None:
    expected_base, expected_head = alone(small_demo, base), alone(small_demo, head)
    assert expected_base != expected_head
    with store.closing_read_only(small_demo) as conn:
        prepare(conn, 64)
        assert nested(conn, (base, "base_"), (head, "head_"), "allocation") == (
            expected_base,
            expected_head,
        )
        # the other way round on the same connection, over the tables the first left behind
        assert nested(conn, (head, "head_"), (base, "base_"), "channels") == (
            expected_head,
            expected_base,
        )


@pytest.mark.parametrize("prefix", ["Base_", "base", "1_", "base-", 'x"_', "a" * 40 + "_"])
def test_a_namespace_is_a_short_lower_case_prefix(prefix: str) -> None:
    with pytest.raises(ValueError, match="namespace"):
        Namespace(prefix)


def test_the_default_namespace_names_tables_as_a_single_plan_always_did() -> None:
    assert Namespace().candidates == "candidates"
    assert Namespace("base_").candidates == "base_candidates"
    assert Namespace("base_").name("cv_layer_0") == "base_cv_layer_0"
