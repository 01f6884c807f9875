"""`campaign test`: rule tests passing, failing key by key, erroring, across time, as JUnit,
GitHub annotations and JSON, and their coverage against a hand-counted rule set."""

from __future__ import annotations

import json
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner

from rules_engine.cli import main
from rules_engine.rules.check import check
from rules_engine.ruletest import RuleTestRun, coverage_of, run_tests

ROOT = Path(__file__).parents[1]

# A small rule set whose coverage is counted by hand below. No holdouts: every customer of
# an offer's audience is decided by the steps a test is about.
RULES = """\
metrics:
  recency_days:
    from: orders
    where: status == "completed"
    value: days_since(max(ordered_at))
  orders_total:
    from: orders
    where: status == "completed"
    value: count()
    default: 0
  last_order_at:
    from: orders
    where: status == "completed"
    value: max(ordered_at)
segments:
  lapsed:
    where: recency_days > 30
  loyal:
    where: orders_total >= 3
  never_bought:
    where: orders_total == 0
channels:
  email:
    address: email
    consent: email_opt_in
    cost: 0.5
  sms:
    address: phone
    consent: sms_opt_in
    cost: 1
offers:
  winback:
    audience: lapsed
    channels: [email, sms]
    content: tpl_winback
    priority: 50
    group: recall
    cost: 10
    budget: {total: 25}
    cooldown: 7d
    send_at: "10:00"
  thanks:
    audience: loyal
    channels: [sms]
    content: tpl_thanks
    priority: 10
    group: recall
calendar:
  timezone: UTC
  frequency_caps:
    - {channel: "*", max: 2, per: 7d}
"""

# Customer 1 lapsed with an e-mail address: winback by e-mail at 10:00. Customer 2 bought
# recently. Customer 3 never bought. Customer 4 lapsed without consent.
PASSING = """\
tests:
  lapsed_gets_winback:
    as_of: "2026-11-15T08:00:00Z"
    customers:
      - {id: 1, email: a@example.cn, email_opt_in: true}
      - {id: 2, email: b@example.cn, email_opt_in: true}
      - {id: 3}
      - {id: 4, email: d@example.cn, email_opt_in: false}
    orders:
      - {customer_id: 1, ordered_at: "2026-09-01T12:00:00Z", amount: 80, status: completed}
      - {customer_id: 2, ordered_at: "2026-11-10T12:00:00Z", amount: 20, status: completed}
      - {customer_id: 4, ordered_at: "2026-09-01T12:00:00Z", amount: 50, status: completed}
    expect:
      - customer: 1
        segments: [lapsed]
        not_segments: [loyal]
        metrics: {recency_days: 74, orders_total: 1, last_order_at: "2026-09-01T12:00:00Z"}
        offer: winback
        channel: email
        send_at: "2026-11-15T10:00:00Z"
      - {customer: 2, not_segments: [lapsed], offer: null}
      - {customer: 3, segments: [never_bought], offer: null}
      - {customer: 4, offer: winback, outcome: suppressed, reason: consent}
"""


def write(folder: Path, *texts: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "rules.yaml").write_text(RULES, encoding="utf-8")
    for i, text in enumerate(texts):
        (folder / f"tests_{i}.yaml").write_text(textwrap.dedent(text), encoding="utf-8")
    return folder


def campaign(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["test", *args])
    return result.exit_code, result.output


def results_of(folder: Path) -> RuleTestRun:
    checked = check([folder])
    assert checked.errors == [], checked.errors
    return run_tests(checked.rules)


def line_of(path: Path, text: str, nth: int = 1) -> int:
    """The 1-based line of the nth line of `path` that contains `text`."""
    found = [i for i, line in enumerate(path.read_text().splitlines(), 1) if text in line]
    return found[nth - 1]


# -- passing -------------------------------------------------------------------------------


def test_passing_tests_exit_0_and_say_so(tmp_path: Path) -> None:
    code, output = campaign(str(write(tmp_path, PASSING)))
    assert code == 0, output
    assert "  ok    lapsed_gets_winback" in output
    assert "1 test: 1 passed, 0 failed, 0 error(s)" in output


def test_the_example_rule_sets_tests_pass_with_80_percent_coverage() -> None:
    checked = check([ROOT / "rules"])
    run = run_tests(checked.rules)
    assert [r.test.id for r in run.results if r.status != "passed"] == []
    assert len(run.results) == len(checked.rules.tests) >= 12
    assert coverage_of(checked.rules, run.exercised()).percent >= 80


# -- failing, key by key ----------------------------------------------------------------------

# (replace in PASSING, with, the key, its name, expected, actual, text on the key's line)
WRONG = [
    (
        "segments: [lapsed]",
        "segments: [lapsed, never_bought]",
        "segments",
        "never_bought",
        True,
        False,
    ),
    (
        "segments: [never_bought]",
        "not_segments: [never_bought]",
        "not_segments",
        "never_bought",
        False,
        True,
    ),
    ("recency_days: 74", "recency_days: 70", "metrics", "recency_days", 70, 74),
    (
        'last_order_at: "2026-09-01T12:00:00Z"',
        'last_order_at: "2026-09-02T12:00:00Z"',
        "metrics",
        "last_order_at",
        "2026-09-02T12:00:00Z",
        "2026-09-01T12:00:00Z",
    ),
    ("channel: email", "channel: sms", "channel", None, "sms", "email"),
    (
        'send_at: "2026-11-15T10:00:00Z"',
        'send_at: "2026-11-15T10:00:00+08:00"',
        "send_at",
        None,
        "2026-11-15T02:00:00Z",
        "2026-11-15T10:00:00Z",
    ),
    ("reason: consent", "reason: no_address", "reason", None, "no_address", "consent"),
    (
        "outcome: suppressed, reason: consent",
        "outcome: holdout",
        "outcome",
        None,
        "holdout",
        "suppressed",
    ),
    (
        "customer: 2, not_segments: [lapsed], offer: null",
        "customer: 2, offer: winback",
        "offer",
        None,
        "action",
        None,
    ),
    (
        "customer: 1\n",
        "customer: 1\n        offer: null\n      - customer: 1\n",
        "offer",
        None,
        None,
        ["winback"],
    ),
]


@pytest.mark.parametrize(("old", "new", "key", "name", "expected", "actual"), WRONG)
def test_each_key_of_an_expectation_fails_on_its_own(
    tmp_path: Path, old: str, new: str, key: str, name: str | None, expected: object, actual: object
) -> None:
    assert old in PASSING
    folder = write(tmp_path, PASSING.replace(old, new, 1))
    (result,) = results_of(folder).results
    assert result.status == "failed"
    (failure,) = result.failures
    assert [(m.key, m.name, m.expected, m.actual) for m in failure.mismatches] == [
        (key, name, expected, actual)
    ]
    path = folder / "tests_0.yaml"
    changed = new.splitlines()[0].strip().split(":")[0] if key != "offer" else "offer"
    assert failure.mismatches[0].span.file == str(path)
    assert failure.mismatches[0].span.line >= failure.expectation.span.line
    text = path.read_text().splitlines()[failure.mismatches[0].span.line - 1]
    assert (name or changed) in text


def test_a_failure_names_the_test_the_line_and_the_decision_as_explain_says(
    tmp_path: Path,
) -> None:
    wrong = PASSING.replace("outcome: suppressed, reason: consent", "channel: email")
    wrong = wrong.replace(
        "customer: 3, segments: [never_bought], offer: null", "customer: 3, offer: winback"
    )
    folder = write(tmp_path, wrong)
    code, output = campaign(str(folder))
    assert code == 1
    path = folder / "tests_0.yaml"
    assert f"FAIL lapsed_gets_winback ({path}:2)" in output
    line4 = line_of(path, "customer: 4")
    assert f"{path}:{line4}: customer 4 (as of 2026-11-15T08:00:00Z)" in output
    assert f"{path}:{line4}: offer `winback`: expected an action, got suppressed" in output
    assert "decided: winback: suppressed: consent on email" in output
    line3 = line_of(path, "customer: 3")
    assert f"{path}:{line3}: offer `winback`: expected an action, got no decision" in output
    assert "decided: winback: not in the audience (audience: lapsed → false)" in output
    assert "1 test: 0 passed, 1 failed, 0 error(s)" in output


def test_a_test_that_cannot_run_is_an_error_and_the_others_still_run(tmp_path: Path) -> None:
    """A channel exit a year-9999 run records would end after the last date Python knows."""
    far = """\
    channels:
      push:
        address: push_token
        exit: recency_days > 1000
        exit_days: 30
    tests:
      far_future:
        as_of: "9999-12-31T23:00:00Z"
        customers: [{id: 1, push_token: pt_1}]
        orders:
          - {customer_id: 1, ordered_at: "2026-09-01T12:00:00Z", amount: 80, status: completed}
        expect: [{customer: 1, segments: [lapsed]}]
    """
    folder = write(tmp_path, PASSING, far)
    run = results_of(folder)
    assert [r.status for r in run.results] == ["passed", "error"]
    assert "OverflowError" in (run.results[1].error or "")
    code, output = campaign(str(folder))
    assert code == 1
    assert "ERROR far_future" in output and "could not run at step 1" in output
    out = tmp_path / "junit.xml"
    campaign(str(folder), "--junit", str(out))
    root = ET.parse(out).getroot()
    assert (root.get("failures"), root.get("errors")) == ("0", "1")
    (error,) = root.iter("error")
    assert "OverflowError" in (error.get("message") or "")


# -- time travel ------------------------------------------------------------------------------

TIME_TRAVEL = """\
tests:
  cooldown_then_budget:
    as_of: "2026-11-15T08:00:00Z"
    customers:
      - {id: 1, email: a@example.cn, email_opt_in: true}
      - {id: 2, email: b@example.cn, email_opt_in: true}
      - {id: 3, phone: "13800000003", sms_opt_in: true}
    orders:
      - {customer_id: 1, ordered_at: "2026-09-01T12:00:00Z", amount: 80, status: completed}
      - {customer_id: 2, ordered_at: "2026-09-01T12:00:00Z", amount: 90, status: completed}
      - {customer_id: 3, ordered_at: "2026-11-01T12:00:00Z", amount: 10, status: completed}
    expect:
      - {customer: 1, offer: winback, channel: email}
      - {customer: 2, offer: winback, channel: email}
      - {customer: 3, not_segments: [lapsed], offer: null}
    then:
      - as_of: "2026-11-20T08:00:00Z"
        expect:
          - {customer: 1, offer: winback, outcome: suppressed, reason: cooldown}
          - {customer: 3, offer: null}
      - as_of: "2026-12-10T08:00:00Z"
        orders:
          - {customer_id: 2, ordered_at: "2026-12-01T12:00:00Z", amount: 5, status: completed}
        expect:
          - {customer: 1, offer: winback, outcome: suppressed, reason: budget}
          - {customer: 2, not_segments: [lapsed]}
          - {customer: 3, segments: [lapsed], offer: winback, outcome: suppressed, reason: budget}
"""


def test_time_travel_steps_see_earlier_steps_committed(tmp_path: Path) -> None:
    """Step 1 spends 21 of the budget of 25; step 2, five days later, is within the
    cooldown; step 3, after it, has no budget left for a third action, and customer 2's new
    order takes them out of the audience."""
    run = results_of(write(tmp_path, TIME_TRAVEL))
    (result,) = run.results
    assert result.status == "passed", [f.mismatches for f in result.failures]
    assert len(result.test.steps) == 3
    assert {"cooldown", "budget"} <= result.exercised.reasons


def test_a_failing_step_fails_its_test_and_says_which_step(tmp_path: Path) -> None:
    wrong = TIME_TRAVEL.replace("reason: cooldown}", "reason: frequency_cap}")
    folder = write(tmp_path, wrong)
    (result,) = results_of(folder).results
    assert result.status == "failed"
    (failure,) = result.failures
    assert failure.step == 2
    assert [(m.key, m.expected, m.actual) for m in failure.mismatches] == [
        ("reason", "frequency_cap", "cooldown")
    ]
    code, output = campaign(str(folder))
    assert code == 1
    assert "customer 1 (step 2 of 3, as of 2026-11-20T08:00:00Z)" in output


def test_without_the_earlier_run_the_later_step_decides_otherwise(tmp_path: Path) -> None:
    """The same store and as-of as step 2, but as a test of its own: no cooldown."""
    alone = """\
    tests:
      alone:
        as_of: "2026-11-20T08:00:00Z"
        customers: [{id: 1, email: a@example.cn, email_opt_in: true}]
        orders:
          - {customer_id: 1, ordered_at: "2026-09-01T12:00:00Z", amount: 80, status: completed}
        expect:
          - {customer: 1, offer: winback, outcome: suppressed, reason: cooldown}
    """
    (result,) = results_of(write(tmp_path, alone)).results
    assert [(m.key, m.actual) for f in result.failures for m in f.mismatches] == [
        ("outcome", "action"),
        ("reason", None),
    ]


# -- reporters ----------------------------------------------------------------------------------


def test_junit_has_a_suite_per_file_and_a_case_per_test(tmp_path: Path) -> None:
    failing = PASSING.replace("lapsed_gets_winback", "wrong_channel").replace(
        "channel: email", "channel: sms"
    )
    folder = write(tmp_path, PASSING, failing, TIME_TRAVEL)
    out = tmp_path / "junit.xml"
    code, _ = campaign(str(folder), "--junit", str(out))
    assert code == 1
    root = ET.parse(out).getroot()
    assert root.tag == "testsuites"
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("3", "1", "0")
    suites = {s.get("name"): s for s in root.iter("testsuite")}
    assert set(suites) == {str(folder / f"tests_{i}.yaml") for i in range(3)}
    bad = suites[str(folder / "tests_1.yaml")]
    assert (bad.get("tests"), bad.get("failures")) == ("1", "1")
    (case,) = bad.iter("testcase")
    assert case.get("name") == "wrong_channel"
    (failure,) = case.iter("failure")
    line = line_of(folder / "tests_1.yaml", "customer: 1")
    assert failure.get("message") == (
        f"{folder / 'tests_1.yaml'}:{line}: channel of `winback`: expected sms, got email"
    )
    assert "decided: winback: ACTION on email at 2026-11-15T10:00:00Z" in (failure.text or "")
    assert [c.get("name") for c in suites[str(folder / "tests_2.yaml")].iter("testcase")] == [
        "cooldown_then_budget"
    ]
    assert not list(suites[str(folder / "tests_0.yaml")].iter("failure"))


def test_github_annotations_sit_on_the_expectations_line(tmp_path: Path) -> None:
    folder = write(tmp_path, PASSING.replace("reason: consent", "reason: no_address"))
    code, output = campaign(str(folder), "--format", "github")
    assert code == 1
    path = folder / "tests_0.yaml"
    line = line_of(path, "customer: 4")
    (annotation,) = [x for x in output.splitlines() if x.startswith("::error")]
    assert annotation.startswith(f"::error file={path},line={line},col=9,")
    assert "title=campaign test%3A lapsed_gets_winback::" in annotation
    assert "reason of `winback`: expected no_address, got consent" in annotation
    assert "%0Adecided: winback: suppressed: consent on email" in annotation


def test_json_is_stable_and_complete(tmp_path: Path) -> None:
    folder = write(tmp_path, PASSING.replace("recency_days: 74", "recency_days: 70"))
    first = campaign(str(folder), "--format", "json", "--coverage")
    second = campaign(str(folder), "--format", "json", "--coverage")
    assert first == second and first[0] == 1
    body = json.loads(first[1])
    assert body["format"] == "campaign-test/1"
    assert body["summary"] == {"tests": 1, "passed": 0, "failed": 1, "errors": 0}
    (test,) = body["tests"]
    assert (test["id"], test["status"], test["steps"]) == ("lapsed_gets_winback", "failed", 1)
    (failure,) = test["failures"]
    (mismatch,) = failure["mismatches"]
    assert (mismatch["key"], mismatch["name"], mismatch["expected"], mismatch["actual"]) == (
        "metrics",
        "recency_days",
        70,
        74,
    )
    assert mismatch["line"] == line_of(folder / "tests_0.yaml", "recency_days: 70")
    assert len(body["coverage"]["items"]) == body["coverage"]["total"] == 13


def test_k_selects_tests_by_id(tmp_path: Path) -> None:
    other = PASSING.replace("lapsed_gets_winback", "second_one")
    folder = write(tmp_path, PASSING, other)
    code, output = campaign(str(folder), "-k", "second")
    assert code == 0 and "second_one" in output and "lapsed_gets_winback" not in output
    code, output = campaign(str(folder), "-k", "*winback")
    assert code == 0 and "1 test:" in output and "lapsed_gets_winback" in output
    code, output = campaign(str(folder), "-k", "nothing")
    assert code == 1 and "no rule test matches -k 'nothing'" in output


def test_user_errors_have_messages_and_exit_codes(tmp_path: Path) -> None:
    folder = write(tmp_path, PASSING)
    assert campaign(str(tmp_path / "missing"))[0] == 2
    code, output = campaign(str(folder), "--junit", str(tmp_path / "no" / "j.xml"))
    assert code == 2 and "does not exist" in output
    code, output = campaign(str(folder), "--min-coverage", "120")
    assert code == 2 and "not a percentage" in output
    (folder / "broken.yaml").write_text("tests: [\n", encoding="utf-8")
    assert campaign(str(folder))[0] == 2
    (folder / "broken.yaml").write_text("segments:\n  x:\n    where: nosuch > 1\n")
    code, output = campaign(str(folder))
    assert code == 1 and "expr-unknown-name" in output and "no test was run" in output
    assert "Traceback" not in output


def test_rules_without_tests_fail(tmp_path: Path) -> None:
    code, output = campaign(str(write(tmp_path)))
    assert code == 1 and "no rule test is defined" in output


# -- coverage -----------------------------------------------------------------------------------


def test_coverage_counts_what_the_tests_reach(tmp_path: Path) -> None:
    """By hand: segments lapsed and never_bought have members and non-members, loyal has no
    member; winback acts, thanks never; e-mail is used, SMS not; of the six reasons the rules
    can produce (cooldown, group_taken, no_address, consent, frequency_cap, budget; no
    entry, exit, lifecycle, blackout, min_gap, capacity or max_actions rule exists), only
    consent happens. 5 of 13: 38.5%."""
    folder = write(tmp_path, PASSING)
    checked = check([folder])
    cover = coverage_of(checked.rules, run_tests(checked.rules).exercised())
    assert [(i.kind, i.id, i.covered) for i in cover.items] == [
        ("segment", "lapsed", True),
        ("segment", "loyal", False),
        ("segment", "never_bought", True),
        ("offer", "winback", True),
        ("offer", "thanks", False),
        ("channel", "email", True),
        ("channel", "sms", False),
        ("reason", "cooldown", False),
        ("reason", "group_taken", False),
        ("reason", "no_address", False),
        ("reason", "consent", True),
        ("reason", "frequency_cap", False),
        ("reason", "budget", False),
    ]
    assert (cover.covered, cover.total, cover.percent) == (5, 13, 38.5)
    code, output = campaign(str(folder), "--coverage")
    assert code == 0
    assert (
        "Coverage: 38.5% (5 of 13): segments 2/3, offers 1/2, channels 1/2, reasons 1/6" in output
    )
    assert "  segment `loyal`: no test customer is in it" in output
    assert "  offer `thanks`: no test customer got an action from it" in output
    assert "segment `lapsed`" not in output
    assert campaign(str(folder), "--min-coverage", "38")[0] == 0
    code, output = campaign(str(folder), "--min-coverage", "40%")
    assert code == 1 and "coverage 38.5% is below --min-coverage 40%" in output


def test_a_segment_every_test_customer_is_in_is_not_covered(tmp_path: Path) -> None:
    only_lapsed = """\
    tests:
      one:
        as_of: "2026-11-15T08:00:00Z"
        customers: [{id: 1, email: a@example.cn, email_opt_in: true}]
        orders:
          - {customer_id: 1, ordered_at: "2026-09-01T12:00:00Z", amount: 80, status: completed}
        expect: [{customer: 1, segments: [lapsed]}]
    """
    folder = write(tmp_path, only_lapsed)
    checked = check([folder])
    cover = coverage_of(checked.rules, run_tests(checked.rules).exercised())
    (lapsed,) = [i for i in cover.items if i.id == "lapsed"]
    assert (lapsed.covered, lapsed.missing) == (False, "every test customer is in it")


def test_columns_a_store_section_declares_are_in_the_tests_store(tmp_path: Path) -> None:
    declared = """\
    store:
      customers: {vip_manager: text}
    segments:
      managed:
        where: vip_manager is not None
    tests:
      managed_customers:
        as_of: "2026-11-15T08:00:00Z"
        customers: [{id: 1, vip_manager: Li Na}, {id: 2}]
        expect:
          - {customer: 1, segments: [managed]}
          - {customer: 2, not_segments: [managed]}
    """
    folder = write(tmp_path, declared)
    (result,) = results_of(folder).results
    assert result.status == "passed", result.failures
    (folder / "tests_0.yaml").write_text(
        textwrap.dedent(declared).replace("vip_manager: Li Na", "vip_managr: Li Na")
    )
    (problem,) = check([folder]).problems
    assert (problem.code, problem.span.line, problem.hint) == (
        "unknown-column",
        9,
        "did you mean `vip_manager`?",
    )
