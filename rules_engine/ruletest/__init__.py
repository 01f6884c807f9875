"""Rule unit tests: the `tests:` section of the rules, run by `campaign test`.

checks (tests validated like rules, for `campaign validate`), fixture (a test's own in-memory
store), runner (each step through the same `plan` as production, expectations compared),
coverage (what the tests reach), session (`campaign test` as one call), report (text, JSON,
GitHub annotations, JUnit XML).

The names below load on first use: `campaign validate` checks tests with `checks` alone and
never pays for importing the planner.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .coverage import Coverage, CoverageItem, coverage_of
    from .runner import Exercised, Failure, Mismatch, RuleTestResult, RuleTestRun, run_tests
    from .session import RuleTestSession, run_rule_files

_HOMES = {
    "Coverage": "coverage",
    "CoverageItem": "coverage",
    "coverage_of": "coverage",
    "Exercised": "runner",
    "Failure": "runner",
    "Mismatch": "runner",
    "RuleTestResult": "runner",
    "RuleTestRun": "runner",
    "run_tests": "runner",
    "RuleTestSession": "session",
    "run_rule_files": "session",
}

__all__ = [
    "Coverage",
    "CoverageItem",
    "Exercised",
    "Failure",
    "Mismatch",
    "RuleTestResult",
    "RuleTestRun",
    "RuleTestSession",
    "coverage_of",
    "run_rule_files",
    "run_tests",
]


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_HOMES[name]}", __name__), name)
