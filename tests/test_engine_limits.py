"""Rule sets at the limits of the engine: at a limit they plan; one step beyond, validate
refuses them at the rule that does not fit, naming the limit (never a SQLite error at plan)."""

from __future__ import annotations

import sqlite3
import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import assume, given, settings
from hypothesis import strategies as st

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
    """The rules plan, and every value computes (a plan computes only what the decisions
    read: `campaign metrics` runs the SQL of every metric)."""
    result = CliRunner().invoke(main, ["plan", str(path), "--db", str(shop), "--as-of", AS_OF])
    assert result.exit_code == 0, result.output
    out = path.parent / "values.csv"
    values = CliRunner().invoke(
        main, ["metrics", str(path), "--db", str(shop), "--as-of", AS_OF, "--out", str(out)]
    )
    assert values.exit_code == 0, values.output
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


# -- whole numbers beyond 64 bits ------------------------------------------------------------------

MAX = 2**63 - 1
OVER = "metrics:\n  a:\n    value: 1\nsegments:\n  s:\n    where: a == 1\n  x:\n    where: "


@pytest.mark.parametrize(
    "where",
    [
        f"{MAX - 1} + 1 > 0",  # the largest whole number
        f"-{MAX} - 1 < 0",  # the smallest
        "4611686018427387903 * 2 + 1 > a",
        f"abs(-{MAX}) > a",
    ],
)
def test_whole_number_arithmetic_up_to_64_bits_plans(
    tmp_path: Path, shop: Path, where: str
) -> None:
    path = write(tmp_path, OVER + where + "\n")
    assert problems(path) == []
    plans(path, shop)


@pytest.mark.parametrize(
    ("where", "col"),
    [
        (f"{MAX} + 1 > 0", 12),
        (f"-{MAX} - 2 < 0", 12),
        ("4611686018427387904 * 2 > a", 12),
        (f"abs(-{MAX} - 1) > a", 12),
        (f"a + ({MAX} + 1) * 0 > 0", 17),  # the piece beyond 64 bits, not what contains it
    ],
)
def test_whole_number_arithmetic_beyond_64_bits_is_refused_at_its_piece(
    tmp_path: Path, shop: Path, where: str, col: int
) -> None:
    path = write(tmp_path, OVER + where + "\n")
    found = check([path]).problems
    assert [(p.code, p.span.line, p.span.col) for p in found] == [("integer-overflow", 8, col)]
    assert "beyond the whole numbers the store holds" in found[0].message
    assert "9,223,372,036,854,775,807" in found[0].message
    result = CliRunner().invoke(main, ["plan", str(path), "--db", str(shop), "--as-of", AS_OF])
    assert result.exit_code == 1
    assert "integer-overflow" in result.output


@settings(max_examples=40, deadline=None)
@given(
    st.integers(-(2**64), 2**64),
    st.integers(-(2**64), 2**64),
    st.sampled_from(["+", "-", "*"]),
)
def test_validate_refuses_exactly_the_arithmetic_the_store_cannot_hold(
    a: int, b: int, op: str
) -> None:
    def fits(n: int) -> bool:
        return -(2**63) <= n <= MAX

    assume(abs(a) <= MAX and abs(b) <= MAX)  # -2**63 is written as -(2**63): refused apart
    exact = a + b if op == "+" else a - b if op == "-" else a * b
    text = f"metrics:\n  m:\n    value: ({a}) {op} ({b})\n"
    with tempfile.TemporaryDirectory() as folder:
        path = write(Path(folder), text)
        codes = [p.code for p in check([path]).problems]
    assert codes == ([] if fits(exact) else ["integer-overflow"])


STORED = "store:\n  orders: {amount_cents: integer}\n" + (
    "metrics:\n  spent:\n    from: orders\n    value: sum(amount_cents)\n    default: 0\n"
    "segments:\n  s:\n    where: spent > 0\n"
)


def with_amounts(shop: Path, tmp_path: Path, *amounts: int) -> Path:
    """The shop with a whole-number column on orders, set on one customer's orders."""
    db = tmp_path / "shop.db"
    db.write_bytes(shop.read_bytes())
    with sqlite3.connect(db) as conn:
        conn.execute("ALTER TABLE orders ADD COLUMN amount_cents INTEGER DEFAULT 0")
        ids = [i for (i,) in conn.execute("SELECT id FROM orders WHERE customer_id = 1")]
        assert len(ids) >= len(amounts)
        for order_id, amount in zip(ids, amounts, strict=False):
            conn.execute("UPDATE orders SET amount_cents = ? WHERE id = ?", (amount, order_id))
    conn.close()
    return db


def test_a_sum_of_store_values_up_to_64_bits_plans(tmp_path: Path, shop: Path) -> None:
    db = with_amounts(shop, tmp_path, MAX - 10, 10)
    path = write(tmp_path, STORED)
    result = CliRunner().invoke(main, ["plan", str(path), "--db", str(db), "--as-of", AS_OF])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("command", ["plan", "metrics", "explain", "run"])
def test_a_sum_of_store_values_beyond_64_bits_names_the_metric(
    tmp_path: Path, shop: Path, command: str
) -> None:
    db = with_amounts(shop, tmp_path, MAX - 10, 11)
    path = write(tmp_path, STORED)
    assert problems(path) == []  # only the data can tell
    extra = {
        "plan": [],
        "metrics": ["--out", str(tmp_path / "m.csv")],
        "explain": ["1"],
        "run": ["--run-key", "k"],
    }[command]
    args = [command, str(path), "--db", str(db), "--as-of", AS_OF, *extra]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1, result.output
    assert "goes beyond 64 bits" in result.output
    assert f"metric `spent` ({path}:4:3) takes sum(amount_cents)" in result.output
    assert "Traceback" not in result.output


def test_a_rule_test_whose_rows_add_up_beyond_64_bits_says_so(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        STORED + "tests:\n  t:\n    as_of: '2026-11-20T10:00:00+08:00'\n    customers: [{id: 1}]\n"
        f"    orders:\n      - {{id: 1, customer_id: 1, amount_cents: {MAX}}}\n"
        "      - {id: 2, customer_id: 1, amount_cents: 1}\n"
        "    expect: [{customer: 1, segments: [s]}]\n",
    )
    result = CliRunner().invoke(main, ["test", str(path)])
    assert result.exit_code == 1
    assert "the test could not run at step 1: its rows: a sum, abs() or arithmetic on" in (
        result.output
    )
    assert "metric `spent`" in result.output and "OperationalError" not in result.output


def test_explain_says_when_a_customers_value_goes_beyond_64_bits(
    tmp_path: Path, shop: Path
) -> None:
    db = tmp_path / "shop.db"
    db.write_bytes(shop.read_bytes())
    with sqlite3.connect(db) as conn:
        conn.execute("ALTER TABLE customers ADD COLUMN points INTEGER")
        conn.execute("UPDATE customers SET points = ?", (MAX - 5,))
    conn.close()
    path = write(
        tmp_path,
        "store:\n  customers: {points: integer}\nmetrics:\n  more:\n    value: points + 100\n",
    )
    result = CliRunner().invoke(
        main, ["explain", str(path), "--db", str(db), "1", "--as-of", AS_OF]
    )
    assert result.exit_code == 1
    assert f"metric `more` is {MAX + 95:,}" in result.output
    assert "beyond the whole numbers the store holds (64 bits)" in result.output


def with_points(shop: Path, tmp_path: Path, low: int, high: int) -> Path:
    db = tmp_path / "shop.db"
    db.write_bytes(shop.read_bytes())
    with sqlite3.connect(db) as conn:
        conn.execute("ALTER TABLE customers ADD COLUMN points INTEGER")
        conn.execute("UPDATE customers SET points = ?", (low,))
        conn.execute("UPDATE customers SET points = ? WHERE id = 1", (high,))
    conn.close()
    return db


POINTS = "store:\n  customers: {points: integer}\nmetrics:\n  more:\n    value: "
READ = "segments:\n  more_than_none:\n    where: more > 0\n"  # so that a plan computes `more`


@pytest.mark.parametrize(
    ("value", "low", "high", "warned"),
    [
        ("points + 100", 0, MAX - 100, False),
        ("points + 100", 0, MAX - 99, True),
        ("points * 2", 0, MAX // 2, False),
        ("points * 2", 0, MAX // 2 + 1, True),
        ("-points - 1", 0, MAX, False),  # the smallest whole number is -MAX - 1
        ("-points - 2", 0, MAX, True),
        ("points - 1 if points > 0 else points - 1", -MAX, 5, False),
        ("points - 1 if points > 0 else points - 2", -MAX, 5, True),  # both branches count
    ],
)
def test_validate_db_warns_where_the_stores_values_take_arithmetic_beyond_64_bits(
    tmp_path: Path, shop: Path, value: str, low: int, high: int, warned: bool
) -> None:
    db = with_points(shop, tmp_path, low, high)
    path = write(tmp_path, POINTS + value + "\n")
    assert problems(path) == []  # the rules alone cannot tell
    found = [(p.code, p.span.line) for p in check([path], db=db).problems]
    assert found == ([("store-overflow", 5)] if warned else [])
    strict = CliRunner().invoke(main, ["validate", str(path), "--db", str(db), "--strict"])
    assert strict.exit_code == (1 if warned else 0), strict.output
    if warned:
        assert "beyond the whole numbers the store holds (64 bits)" in strict.output
        planned = CliRunner().invoke(
            main, ["plan", str(path), "--db", str(db), "--as-of", AS_OF, "--quiet"]
        )
        assert planned.exit_code == 0, planned.output  # SQL goes on, approximately: said
        assert "campaign: warning:" in planned.output
        assert "can be " in planned.output and "beyond the whole numbers" in planned.output


def test_abs_of_the_smallest_whole_number_is_warned_and_named_at_plan(
    tmp_path: Path, shop: Path
) -> None:
    db = with_points(shop, tmp_path, 0, -MAX)
    path = write(tmp_path, POINTS + "abs(points - 1)\n" + READ)
    assert [p.code for p in check([path], db=db).problems] == ["store-overflow"]
    planned = CliRunner().invoke(main, ["plan", str(path), "--db", str(db), "--as-of", AS_OF])
    assert planned.exit_code == 1  # SQLite refuses abs() of -2**63
    assert f"metric `more` ({path}:4:3) takes abs(points - 1)" in planned.output


def aggregates(count: int) -> str:
    """Metrics over orders, each its own aggregate: one column a metric in orders' table."""
    body = "".join(
        f"  m{i}:\n    from: orders\n    value: count()\n    where: amount > {i}\n"
        for i in range(count)
    )
    return "metrics:\n" + body


def test_1999_metrics_over_one_table_plan_and_2000_are_refused_at_the_2000th(
    tmp_path: Path, shop: Path
) -> None:
    path = write(tmp_path, aggregates(1999))
    assert problems(path) == []
    plans(path, shop)
    found = check([write(tmp_path, aggregates(2000))]).problems
    assert [(p.code, p.span.line) for p in found] == [("sql-too-many-columns", 2 + 4 * 1999)]
    message = found[0].message
    assert "`m1999` is one of 2,000 metrics over `orders`" in message
    assert "a SQLite table holds at most 2,000 columns" in message


def related(count: int) -> str:
    """A metric over each of `count` declared tables: each table joined with the customers."""
    tables = "".join(f"  t{i}: {{customer_id: integer}}\n" for i in range(count))
    metrics = "".join(f"  m{i}:\n    from: t{i}\n    value: count()\n" for i in range(count))
    return "store:\n" + tables + "metrics:\n" + metrics


def test_metrics_over_63_tables_plan_and_over_64_are_refused_at_the_64th(
    tmp_path: Path, shop: Path
) -> None:
    db = tmp_path / "shop.db"
    db.write_bytes(shop.read_bytes())
    with sqlite3.connect(db) as conn:
        for i in range(63):
            conn.execute(f"CREATE TABLE t{i} (customer_id INTEGER)")
    conn.close()
    path = write(tmp_path, related(63))
    assert problems(path) == []
    plans(path, db)
    found = check([write(tmp_path, related(64))]).problems
    assert [(p.code, p.span.line) for p in found] == [("sql-too-many-joins", 2 + 64 + 1 + 3 * 63)]
    assert "`m63` reads `t63`, the 64th table" in found[0].message
    assert "SQLite joins at most 64 tables in one query" in found[0].message


def test_validate_db_warns_where_a_sum_of_the_stores_values_can_go_beyond_64_bits(
    tmp_path: Path, shop: Path
) -> None:
    path = write(tmp_path, STORED)
    small = with_amounts(shop, tmp_path, 1_000, 2_000)
    assert check([path], db=small).problems == []
    (tmp_path / "shop.db").unlink()
    large = with_amounts(shop, tmp_path, MAX // 2, 5)
    found = check([path], db=large).problems
    assert [(p.code, p.span.line, p.span.col) for p in found] == [("store-overflow", 6, 12)]
    assert "`sum(amount_cents)` can be" in found[0].message
    assert f"`amount_cents` (0 to {MAX // 2:,})" in (found[0].hint or "")
    assert "orders rows a customer" in (found[0].hint or "")


@pytest.mark.parametrize("text", [STORED, POINTS + "points + 100\n" + READ])
def test_on_a_duckdb_store_64_bits_overflowed_is_said_not_a_store_fault(
    tmp_path: Path, shop: Path, text: str
) -> None:
    from rules_engine.storecopy import copy_store

    source = with_points(shop, tmp_path, 0, MAX - 5)
    with sqlite3.connect(source) as conn:
        conn.execute("ALTER TABLE orders ADD COLUMN amount_cents INTEGER DEFAULT 0")
    conn.close()
    with sqlite3.connect(source) as conn:
        conn.execute("UPDATE orders SET amount_cents = ? WHERE customer_id = 1", (MAX // 2,))
    conn.close()
    duck = tmp_path / "shop.duckdb"
    copy_store(source, duck)
    path = write(tmp_path, text)
    result = CliRunner().invoke(main, ["plan", str(path), "--db", str(duck), "--as-of", AS_OF])
    assert result.exit_code == 1, result.output
    assert "goes beyond 64 bits" in result.output
    assert "could not be read" not in result.output and "Traceback" not in result.output
