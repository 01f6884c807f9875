"""Input that used to end in a Python traceback: impossible dates, huge numbers, wrong-typed
store values, failed writes and files that are not files. Each gets a message and an exit code."""

from __future__ import annotations

import hashlib
import os
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from rules_engine import demo
from rules_engine.cli import main
from rules_engine.rules.check import check

AS_OF = "2026-11-20T10:00:00+08:00"
RULES = """\
metrics:
  spend:
    from: orders
    value: sum(amount)
    default: 0
  first_order:
    from: orders
    value: min(ordered_at)
segments:
  buyers:
    where: spend > 0
channels:
  email:
    address: email
    consent: email_opt_in
offers:
  hello:
    audience: buyers
    channels: [email]
    content: tpl
    cooldown: 30d
    window: {from: 2026-11-01, until: 2026-11-30}
calendar:
  timezone: Asia/Shanghai
"""


def cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    assert "Traceback" not in result.output, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, result.output


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("shop") / "shop.db"
    demo.build_demo_store(path, customers=60, seed=3, progress=False)
    return path


def rules_file(tmp_path: Path, text: str = RULES, name: str = "rules.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def codes(path: Path) -> list[tuple[str, int]]:
    return [(p.code, p.span.line) for p in check([path]).problems]


# -- 1. impossible dates ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "line"),
    [
        ("until: 2026-11-30", "until: 2026-11-31", 22),
        ("from: 2026-11-01", "from: 2026-02-30", 22),
    ],
)
def test_impossible_window_dates_are_problems(
    tmp_path: Path, old: str, new: str, line: int
) -> None:
    path = rules_file(tmp_path, RULES.replace(old, new))
    assert codes(path) == [("impossible-date", line)]


def test_impossible_blackout_schedule_and_test_dates_are_problems(tmp_path: Path) -> None:
    path = rules_file(
        tmp_path,
        RULES
        + """\
  blackouts:
    - {from: 2026-02-29, until: 2026-03-01, reason: not a leap year}
  schedule:
    - {id: teaser, channel: email, at: "2026-11-31T20:00", campaign: c, status: approved}
tests:
  t:
    as_of: "2026-11-15T25:00:00+08:00"
    customers: [{id: 1}]
    expect: [{customer: 1, offer: null}]
""",
    )
    assert codes(path) == [
        ("impossible-date", 26),
        ("impossible-date", 28),
        ("test-as-of", 31),  # rule tests check their own times
    ]
    code, output = cli("validate", str(path))
    assert code == 1
    assert "`2026-02-29` is not a date on the calendar" in output


# -- 2. huge durations and numbers ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("cooldown: 30d", "cooldown: 99999999d"),
        ("cooldown: 30d", "cooldown: 5300w"),
        (
            "consent: email_opt_in",
            "consent: email_opt_in\n    exit: spend > 1\n    exit_days: 99999999",
        ),
        ("timezone: Asia/Shanghai", "timezone: Asia/Shanghai\n  min_gap: 900000h"),
        (
            "timezone: Asia/Shanghai",
            "timezone: Asia/Shanghai\n  frequency_caps: [{channel: '*', max: 1, per: 99999999d}]",
        ),
        ("content: tpl", "content: tpl\n    priority: 99999999999999999999"),
        ("default: 0", "default: -99999999999999999999"),
    ],
)
def test_values_beyond_the_engine_are_refused_at_the_rule(
    tmp_path: Path, shop: Path, old: str, new: str
) -> None:
    path = rules_file(tmp_path, RULES.replace(old, new, 1))
    assert [code for code, _ in codes(path)] == ["value-too-large"]
    code, output = cli("plan", str(path), "--db", str(shop), "--as-of", AS_OF, "--quiet")
    assert code == 1
    assert "problem(s) in the rules" in output


def test_huge_literal_in_an_expression_is_refused(tmp_path: Path) -> None:
    path = rules_file(tmp_path, RULES.replace("spend > 0", "spend > 99999999999999999999"))
    assert [(p.code, p.span.line, p.span.col) for p in check([path]).problems] == [
        ("expr-too-large", 11, 20)
    ]
    path = rules_file(tmp_path, RULES.replace("spend > 0", "spend > 1e999"))
    assert [p.code for p in check([path]).problems] == ["expr-too-large"]


@pytest.mark.parametrize(
    "as_of", ["0001-01-01", "9999-12-31T23:00:00", "0001-01-01T00:00:00+08:00", "1899-12-31"]
)
@pytest.mark.parametrize("command", ["validate", "plan", "explain"])
def test_as_of_outside_the_engines_years_is_a_usage_error(
    tmp_path: Path, shop: Path, as_of: str, command: str
) -> None:
    path = rules_file(tmp_path)
    args = {"validate": [], "plan": ["--db", str(shop)], "explain": ["--db", str(shop), "1"]}
    code, output = cli(command, str(path), *args[command], "--as-of", as_of)
    assert code == 2
    assert "outside the years the engine plans for (1900-2999)" in output


def test_explain_of_a_customer_id_beyond_64_bits_is_a_usage_error(
    tmp_path: Path, shop: Path
) -> None:
    code, output = cli("explain", str(rules_file(tmp_path)), "--db", str(shop), str(10**20))
    assert code == 2
    assert "CUSTOMER_ID" in output


def test_days_ago_of_a_huge_number_is_missing_in_plan_and_explain(
    tmp_path: Path, shop: Path
) -> None:
    where = "first_order > days_ago(1e20) or first_order < days_ago(-365001)"
    path = rules_file(tmp_path, RULES.replace("spend > 0", where))
    code, output = cli("plan", str(path), "--db", str(shop), "--as-of", AS_OF, "--quiet")
    assert code == 0, output
    assert ["buyers", "0"] in [line.split()[:2] for line in output.splitlines()]
    near = RULES.replace("spend > 0", "first_order > days_ago(365000)")
    code, output = cli("plan", str(rules_file(tmp_path, near)), "--db", str(shop), "--as-of", AS_OF)
    conn = sqlite3.connect(shop)
    buyers = conn.execute("SELECT count(DISTINCT customer_id) FROM orders").fetchone()[0]
    conn.close()
    assert ["buyers", f"{buyers:,}"] in [line.split()[:2] for line in output.splitlines()]
    for customer in ("1", "2", "3"):  # explain agrees with the plan's SQL (exit 1 if not)
        code, output = cli("explain", str(path), "--db", str(shop), customer, "--as-of", AS_OF)
        assert code == 0, output


# -- 3. wrong-typed store values, retyped canonical columns ---------------------------------------


def test_explain_names_store_values_of_the_wrong_type(tmp_path: Path, shop: Path) -> None:
    db = tmp_path / "bad.db"
    db.write_bytes(shop.read_bytes())
    with sqlite3.connect(db) as conn:
        customer = conn.execute("SELECT min(customer_id) FROM orders").fetchone()[0]
        conn.execute("UPDATE orders SET amount = 'lots' WHERE customer_id = ?", (customer,))
        conn.execute(
            "UPDATE orders SET ordered_at = 'yesterday' WHERE customer_id = ?", (customer,)
        )
    conn.close()
    code, output = cli(
        "explain", str(rules_file(tmp_path)), "--db", str(db), str(customer), "--as-of", AS_OF
    )
    assert code == 1
    assert "orders.amount holds 'lots'" in output
    assert "orders.ordered_at holds 'yesterday'" in output
    assert "correct the data" in output


def test_a_store_section_cannot_retype_a_canonical_column(tmp_path: Path) -> None:
    path = rules_file(
        tmp_path,
        RULES
        + "store:\n  customers:\n    id: text\n    vip: integer\n  orders:\n    amount: real\n",
    )
    assert codes(path) == [("store-retype", 27)]
    code, output = cli("validate", str(path))
    assert code == 1
    assert "`customers.id` is a canonical column of type integer" in output


# -- 4. write errors ---------------------------------------------------------------------------

full = pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")


@full
def test_a_full_disk_on_plan_json_and_metrics_out_is_a_message(tmp_path: Path, shop: Path) -> None:
    path = rules_file(tmp_path)
    (tmp_path / "plan.json").symlink_to("/dev/full")
    (tmp_path / "metrics.csv").symlink_to("/dev/full")
    before = sha(shop)
    code, output = cli(
        "plan", str(path), "--db", str(shop), "--as-of", AS_OF, "--quiet",
        "--json", str(tmp_path / "plan.json"),
    )  # fmt: skip
    assert code == 2
    assert f"{tmp_path / 'plan.json'}: cannot write the file: No space left on device" in output
    code, output = cli(
        "metrics", str(path), "--db", str(shop), "--as-of", AS_OF, "--quiet",
        "--out", str(tmp_path / "metrics.csv"),
    )  # fmt: skip
    assert code == 2
    assert "No space left on device" in output
    assert sha(shop) == before


@full
def test_a_failed_export_after_the_commit_says_the_run_committed(
    tmp_path: Path, shop: Path
) -> None:
    db = tmp_path / "run.db"
    db.write_bytes(shop.read_bytes())
    path = rules_file(tmp_path)
    (tmp_path / "actions.csv").symlink_to("/dev/full")
    args = ["run", str(path), "--db", str(db), "--as-of", AS_OF, "--run-key", "k", "--quiet"]
    code, output = cli(*args, "--export", str(tmp_path / "actions.csv"))
    assert code == 2
    assert "committed run" in output
    assert "the run committed, but its export failed" in output
    assert "--run-key k" in output
    code, output = cli(*args, "--export", str(tmp_path / "again.csv"))
    assert code == 0, output
    assert "already committed" in output
    assert (tmp_path / "again.csv").read_text().startswith("run_id,customer_id")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere")
def test_a_folder_without_write_permission_is_a_message(tmp_path: Path, shop: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        code, output = cli(
            "plan", str(rules_file(tmp_path)), "--db", str(shop), "--as-of", AS_OF, "--quiet",
            "--json", str(locked / "plan.json"),
        )  # fmt: skip
    finally:
        locked.chmod(0o700)
    assert code == 2
    assert "cannot write the file: Permission denied" in output


# -- 5. paths that are not readable rule files -------------------------------------------------


def test_a_fifo_is_refused_without_waiting(tmp_path: Path) -> None:
    fifo = tmp_path / "rules.yaml"
    os.mkfifo(fifo)
    code, output = cli("validate", str(fifo))
    assert code == 2
    assert "not a regular file" in output


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_a_device_is_refused_without_reading_it() -> None:
    code, output = cli("validate", "/dev/zero")
    assert code == 2
    assert "not a regular file" in output


def test_a_file_over_the_limit_is_refused_whatever_it_claims(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    with big.open("wb") as out:
        out.truncate(6 * 1024 * 1024)  # sparse: read only up to the limit
    code, output = cli("validate", str(big))
    assert code == 2
    assert "over 5 MB" in output


def test_a_path_through_a_file_is_a_message(tmp_path: Path) -> None:
    path = rules_file(tmp_path)
    code, output = cli("validate", str(path / "more.yaml"))
    assert code == 2
    assert "cannot read it (Not a directory)" in output


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads anywhere")
def test_an_unreadable_folder_above_a_rule_file_is_a_message(tmp_path: Path) -> None:
    (tmp_path / "locked").mkdir()
    path = rules_file(tmp_path / "locked")
    path.parent.chmod(0o000)
    try:
        code, output = cli("validate", str(path))
    finally:
        path.parent.chmod(0o700)
    assert code == 2
    assert "Permission denied" in output


# -- 6. nothing to plan --------------------------------------------------------------------------


def test_an_empty_folder_is_nothing_to_check_or_plan(tmp_path: Path, shop: Path) -> None:
    empty = tmp_path / "rules"
    empty.mkdir()
    (empty / "notes.txt").write_text("not a rule file")
    for args in (["validate", str(empty)], ["plan", str(empty), "--db", str(shop)]):
        code, output = cli(*args)
        assert code == 2
        assert f"{empty}: no rule files found (*.yaml or *.yml)" in output


def test_rules_without_offers_or_channels_plan_and_say_there_is_nothing_to_plan(
    tmp_path: Path, shop: Path
) -> None:
    path = rules_file(tmp_path, "segments:\n  opted_in:\n    where: email_opt_in\n")
    code, output = cli("plan", str(path), "--db", str(shop), "--as-of", AS_OF, "--quiet")
    assert code == 0, output
    assert "nothing to plan: the rules define no offers" in output
    assert "0 action(s)" in output
    code, output = cli("explain", str(path), "--db", str(shop), "1", "--as-of", AS_OF)
    assert code == 0, output
    assert "opted_in" in output
