"""Rule tests are checked like rules: each problem at its file, line and column, from
`campaign validate`, before anything runs."""

from __future__ import annotations

import textwrap
from pathlib import Path

from click.testing import CliRunner

from rules_engine.cli import main
from rules_engine.rules.check import check
from rules_engine.ruletest.checks import CODES
from tests.test_ruletest import RULES

ROOT = Path(__file__).parents[1]

GOOD = """\
tests:
  t1:
    as_of: "2026-11-15T08:00:00Z"
    customers: [{id: 1, email: a@example.cn, email_opt_in: true}]
    orders: [{customer_id: 1, ordered_at: "2026-09-01T12:00:00Z", amount: 80, status: completed}]
    expect:
      - {customer: 1, segments: [lapsed], offer: winback}
    then:
      - as_of: "2026-11-16T08:00:00Z"
        expect: [{customer: 1, offer: winback, outcome: suppressed, reason: cooldown}]
"""


def problems(tmp_path: Path, tests: str) -> list[tuple[str, int, int]]:
    (tmp_path / "rules.yaml").write_text(RULES, encoding="utf-8")
    (tmp_path / "tests.yaml").write_text(textwrap.dedent(tests), encoding="utf-8")
    found = check([tmp_path]).problems
    return [(p.code, p.span.line, p.span.col) for p in found]


def test_a_good_test_has_no_problems(tmp_path: Path) -> None:
    assert problems(tmp_path, GOOD) == []


def test_unknown_names_in_expectations_of_every_step(tmp_path: Path) -> None:
    bad = GOOD.replace("segments: [lapsed], offer: winback", "segments: [lapsd], offer: winbak")
    bad = bad.replace(
        "{customer: 1, offer: winback, outcome", "{customer: 2, offer: winback, outcome"
    )
    bad = bad.replace("reason: cooldown}]", "reason: cooldown, channel: fax}]")
    bad += '      - as_of: "2026-11-17T08:00:00Z"\n'
    bad += "        expect: [{customer: 1, metrics: {recency: 3}}]\n"
    assert problems(tmp_path, bad) == [
        ("unknown-reference", 7, 34),  # lapsd
        ("unknown-reference", 7, 49),  # winbak
        ("test-reference", 10, 29),  # customer 2
        ("unknown-reference", 10, 96),  # fax
        ("unknown-reference", 12, 42),  # recency
    ]


def test_rows_with_unknown_columns_or_wrong_types(tmp_path: Path) -> None:
    bad = GOOD.replace("email_opt_in: true}]", "email_opt_in: maybe, phone: 13800000000}]")
    bad = bad.replace("amount: 80, status", 'amount: "80 CNY", status').replace(
        "status: completed}", "status: completed, colour: red}"
    )
    bad = bad.replace(
        '      - as_of: "2026-11-16T08:00:00Z"\n',
        '      - as_of: "2026-11-16T08:00:00Z"\n'
        '        contacts: [{customer_id: 9, channel: email, sent_at: "2026-13-01"}]\n',
    )
    assert problems(tmp_path, bad) == [
        ("test-row", 4, 60),  # maybe
        ("test-row", 4, 74),  # 13800000000 (a number in a text column)
        ("test-row", 5, 75),  # "80 CNY"
        ("unknown-column", 5, 104),  # colour
        ("test-reference", 10, 34),  # customer_id 9
        ("test-row", 10, 62),  # "2026-13-01"
    ]


def test_times_that_are_not_real_or_go_backwards(tmp_path: Path) -> None:
    bad = GOOD.replace('as_of: "2026-11-15T08:00:00Z"', 'as_of: "2026-02-30T08:00:00Z"')
    assert problems(tmp_path, bad) == [("test-as-of", 3, 12)]
    bad = GOOD.replace('as_of: "2026-11-16T08:00:00Z"', 'as_of: "2026-11-14T08:00:00+00:00"')
    assert problems(tmp_path, bad) == [("test-as-of", 9, 16)]


def test_expectations_that_cannot_be_checked(tmp_path: Path) -> None:
    bad = GOOD.replace(
        "{customer: 1, segments: [lapsed], offer: winback}",
        "{customer: 1, segments: [lapsed], not_segments: [lapsed], channel: email}",
    )
    bad = bad.replace(
        "outcome: suppressed, reason: cooldown}]",
        'outcome: holdout, reason: cooldown, send_at: "2026-11-16T10:00:00Z"}]',
    )
    bad += '      - as_of: "2026-11-17T08:00:00Z"\n'
    bad += "        expect: [{customer: 1}, {customer: 1, metrics: {recency_days: soon}},"
    bad += " {customer: 1, offer: thanks, channel: email}]\n"
    assert problems(tmp_path, bad) == [
        ("test-expectation", 7, 58),  # lapsed in both lists
        ("test-expectation", 7, 67),  # channel without an offer
        ("test-expectation", 10, 74),  # a holdout with a reason
        ("test-expectation", 10, 84),  # a holdout with a send time
        ("test-expectation", 12, 18),  # nothing to check
        ("test-expectation", 12, 71),  # soon: not a whole number
        ("test-expectation", 12, 117),  # thanks never sends on email
    ]


def test_validate_reports_them_with_positions_and_test_refuses_to_run(tmp_path: Path) -> None:
    problems(tmp_path, GOOD.replace("segments: [lapsed]", "segments: [lapsd]"))
    result = CliRunner().invoke(main, ["validate", str(tmp_path)])
    assert result.exit_code == 1
    assert f"{tmp_path / 'tests.yaml'}:7:34: error[unknown-reference]: unknown segment" in (
        result.output
    )
    assert "did you mean `lapsed`?" in result.output
    result = CliRunner().invoke(main, ["test", str(tmp_path), "--format", "github"])
    assert result.exit_code == 1
    assert result.output.startswith(f"::error file={tmp_path / 'tests.yaml'},line=7,col=34,")


def test_every_test_problem_code_is_documented() -> None:
    doc = (ROOT / "docs" / "problems" / "rules.md").read_text(encoding="utf-8")
    for code in CODES:
        assert f"## {code}\n" in doc, code
