"""`accept: [code]`: a rule's author accepts a warning of that rule; validate counts it instead
of showing it, `--strict` passes over it, and an acceptance that no longer matches warns."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from rules_engine.cli import main
from rules_engine.rules.accept import ACCEPTABLE
from rules_engine.rules.schema import SCHEMA_FILE
from tests.test_variants import CONTROL

AS_OF = "2026-11-20T10:00:00+08:00"

# The variant tests' control-group rules (`winback`'s control group can get `nudge`'s coupon
# later in the run: holdout-contaminated, at winback's `holdout`), and two offers of group
# `care` that share a priority (ambiguous-priority, at the second one).
RULES = (
    CONTROL
    + """\
  gift_a:
    audience: "True"
    channels: [email]
    content: tpl
    group: care
    priority: 3
  gift_b:
    audience: "True"
    channels: [email]
    content: tpl
    group: care
    priority: 3
"""
)


def validate(tmp_path: Path, text: str, *args: str) -> tuple[int, str]:
    path = tmp_path / "rules.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    result = CliRunner().invoke(main, ["validate", str(path), "--as-of", AS_OF, *args])
    return result.exit_code, result.output


def with_line(text: str, after: str, line: str) -> str:
    """`text` with `line` inserted after the first line holding `after`, at its indentation."""
    lines = text.splitlines()
    at = next(i for i, x in enumerate(lines) if after in x)
    indent = lines[at][: len(lines[at]) - len(lines[at].lstrip())]
    return "\n".join([*lines[: at + 1], indent + line, *lines[at + 1 :]]) + "\n"


def test_without_accept_both_warnings_are_shown_and_strict_fails(tmp_path: Path) -> None:
    code, output = validate(tmp_path, RULES)
    assert code == 0
    assert "warning[holdout-contaminated]" in output and "warning[ambiguous-priority]" in output
    assert output.strip().endswith("0 error(s), 2 warning(s)")
    assert validate(tmp_path, RULES, "--strict")[0] == 1


def test_an_accepted_warning_is_counted_not_shown(tmp_path: Path) -> None:
    rules = with_line(RULES, "holdout: 10%", "accept: [holdout-contaminated]")
    code, output = validate(tmp_path, rules)
    assert code == 0
    assert "holdout-contaminated" not in output
    assert "warning[ambiguous-priority]" in output  # another warning stays
    assert output.strip().endswith("0 error(s), 1 warning(s) (1 accepted warning(s) not shown)")
    assert validate(tmp_path, rules, "--strict")[0] == 1  # for the one not accepted

    both = rules.replace(
        "  gift_b:\n    audience", "  gift_b:\n    accept: [ambiguous-priority]\n    audience"
    )
    code, output = validate(tmp_path, both, "--strict")
    assert code == 0, output
    assert output.strip().endswith("no problems (2 accepted warning(s) not shown)")
    report = json.loads(validate(tmp_path, both, "--format", "json")[1])
    assert (report["accepted"], report["warnings"], report["problems"]) == (2, 0, [])


def test_accepting_on_one_rule_leaves_the_same_warning_of_another_shown(tmp_path: Path) -> None:
    """The acceptance is the rule's own: `gift_a` accepting ambiguous-priority does not hide it
    at `gift_b`, where it is raised; and unmatched at `gift_a`, it is accept-unused there."""
    rules = RULES.replace(
        "  gift_a:\n    audience", "  gift_a:\n    accept: [ambiguous-priority]\n    audience"
    )
    code, output = validate(tmp_path, rules)
    assert code == 0
    assert "warning[ambiguous-priority]" in output
    unused = [line for line in output.splitlines() if "warning[accept-unused]" in line]
    assert len(unused) == 1 and "`gift_a` accepts `ambiguous-priority`" in unused[0]
    line = rules.splitlines().index("    accept: [ambiguous-priority]") + 1
    assert unused[0].startswith(f"{tmp_path / 'rules.yaml'}:{line}:")


@pytest.mark.parametrize("code", ACCEPTABLE)
def test_an_acceptance_no_warning_needs_is_a_warning_of_its_own(tmp_path: Path, code: str) -> None:
    rules = RULES.replace("  nudge:\n    audience", f"  nudge:\n    accept: [{code}]\n    audience")
    exit_code, output = validate(tmp_path, rules)
    assert exit_code == 0
    assert f"warning[accept-unused]: `nudge` accepts `{code}`" in output
    assert f"remove `{code}` from the `accept` list of `nudge`" in output
    assert validate(tmp_path, rules, "--strict")[0] == 1


@pytest.mark.parametrize("listed", ["unknown-reference", "holdout_contaminated", "", 5])
def test_only_warning_codes_can_be_accepted(tmp_path: Path, listed: object) -> None:
    rules = RULES.replace(
        "  nudge:\n    audience", f"  nudge:\n    accept: [{json.dumps(listed)}]\n    audience"
    )
    code, output = validate(tmp_path, rules)
    assert code == 1, output
    assert "error[" in output and "accept" in output


def test_the_schema_lists_exactly_the_acceptable_codes() -> None:
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    for rule in ("metric", "segment", "channel", "offer"):
        accept = schema["$defs"][rule]["properties"]["accept"]
        assert sorted(accept["items"]["enum"]) == sorted(ACCEPTABLE)


def test_a_segment_accepts_its_expression_warning(tmp_path: Path) -> None:
    rules = RULES + "segments:\n  nobody:\n    where: member_tier == None\n"
    code, output = validate(tmp_path, rules)
    assert "warning[expr-compare-none]" in output
    accepted = rules.replace(
        "    where: member_tier == None",
        "    where: member_tier == None\n    accept: [expr-compare-none]",
    )
    code, output = validate(tmp_path, accepted)
    assert code == 0
    assert "expr-compare-none" not in output
    assert "2 warning(s) (1 accepted warning(s) not shown)" in output
