"""Rule sets at the limits of the engine: at a limit they plan; one step beyond, validate
refuses them at the rule that does not fit, naming the limit (never a SQLite error at plan)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from rules_engine import demo
from rules_engine.cli import main
from rules_engine.rules.check import check

AS_OF = "2026-11-20T10:00:00+08:00"


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("limits") / "shop.db"
    demo.build_demo_store(path, customers=20, seed=2, progress=False)
    return path


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "rules.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def problems(path: Path) -> list[tuple[str, int]]:
    return [(p.code, p.span.line) for p in check([path]).problems]


def plans(path: Path, shop: Path) -> str:
    result = CliRunner().invoke(main, ["plan", str(path), "--db", str(shop), "--as-of", AS_OF])
    assert result.exit_code == 0, result.output
    return result.output


def chain(steps: int) -> str:
    """Derived metrics each built on the one before: one layer (one joined table) a step."""
    body = "".join(f"  m{i}:\n    value: m{i - 1} + 1\n" for i in range(1, steps))
    return "metrics:\n  m0:\n    value: 1\n" + body


def test_a_chain_of_62_derived_metrics_plans_and_63_are_refused_at_the_63rd(
    tmp_path: Path, shop: Path
) -> None:
    assert problems(write(tmp_path, chain(62))) == []
    plans(tmp_path / "rules.yaml", shop)
    path = write(tmp_path, chain(63))
    assert problems(path) == [("sql-too-many-joins", 1 + 2 * 62 + 1)]
    result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exit_code == 1
    assert "`m62` is step 63" in result.output
    assert "SQLite joins at most 64 tables" in result.output


def segments(count: int) -> str:
    return "segments:\n" + "".join(f"  s{i}:\n    where: email_opt_in\n" for i in range(count))


def test_1999_segments_fit_a_table_and_2000_are_refused_at_the_2000th(tmp_path: Path) -> None:
    assert problems(write(tmp_path, segments(1999))) == []
    path = write(tmp_path, segments(2000))
    assert problems(path) == [("sql-too-many-columns", 2 + 2 * 1999)]
    assert "a SQLite table holds at most 2,000 columns" in check([path]).problems[0].message


BASE = "metrics:\n  a:\n    value: 1\nsegments:\n  s:\n    where: a == 1\n  x:\n    where: "


@pytest.mark.parametrize(
    "where",
    [
        "not " * 40 + "s",  # deep, but within SQLite's parser stack
        " or ".join(["s"] * 900),  # long, but within SQLite's expression depth
        "a in (" + ", ".join(["1"] * 3000) + ")",
    ],
)
def test_long_and_deep_expressions_within_sqlites_limits_plan(
    tmp_path: Path, shop: Path, where: str
) -> None:
    path = write(tmp_path, BASE + where + "\n")
    assert problems(path) == []
    plans(path, shop)


@pytest.mark.parametrize(
    ("where", "code"),
    [
        ("not " * 95 + "s", "sql-too-deep"),  # the parser's stack
        (" + ".join(["a"] * 99) + " > 0", "sql-too-deep"),
        (" or ".join(["s"] * 1900), "sql-too-deep"),  # 1,000 terms deep
        (" + ".join(["1"] * 2000) + " > 0", "expr-too-complex"),  # our parser's 100 levels
    ],
)
def test_expressions_beyond_sqlites_limits_are_refused_at_the_expression(
    tmp_path: Path, shop: Path, where: str, code: str
) -> None:
    path = write(tmp_path, BASE + where + "\n")
    assert problems(path) == [(code, 8)]
    result = CliRunner().invoke(main, ["plan", str(path), "--db", str(shop), "--as-of", AS_OF])
    assert result.exit_code == 1
    assert "the store could not be read" not in result.output


def test_a_sum_beyond_64_bits_is_named_not_a_store_fault(tmp_path: Path, shop: Path) -> None:
    db = tmp_path / "shop.db"
    db.write_bytes(shop.read_bytes())
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE orders SET discount = 0")
    conn.close()
    path = write(
        tmp_path,
        "metrics:\n  n:\n    from: orders\n    value: sum(id * 0 + 4611686018427387904)\n"
        "segments:\n  s:\n    where: n > 0\n",
    )
    result = CliRunner().invoke(main, ["plan", str(path), "--db", str(db), "--as-of", AS_OF])
    assert result.exit_code == 1
    assert "goes beyond 64 bits" in result.output
