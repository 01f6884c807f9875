"""`campaign test` as one library call: check the rules, run the selected tests, and measure
coverage when asked."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..rules import check as checking
from .coverage import Coverage, coverage_of
from .runner import Progress, RuleTestRun, run_tests


@dataclass(frozen=True)
class RuleTestSession:
    """The check of the rules; when they have no errors, the tests' results and coverage."""

    check: checking.CheckResult
    run: RuleTestRun | None = None
    coverage: Coverage | None = None


def run_rule_files(
    paths: Sequence[str | Path] = (),
    *,
    pattern: str | None = None,
    with_coverage: bool = False,
    progress: Progress | None = None,
) -> RuleTestSession:
    """Check the rule files (tests included) and, only if they are valid, run their tests.

    No paths: the default rules folder. Raises `InputError` for input that cannot be read at
    all (as `check` does)."""
    checked = checking.check(paths or checking.DEFAULT_RULES)
    if checked.errors:
        return RuleTestSession(checked)
    run = run_tests(checked.rules, pattern=pattern, progress=progress)
    found = coverage_of(checked.rules, run.exercised()) if with_coverage else None
    return RuleTestSession(checked, run, found)
