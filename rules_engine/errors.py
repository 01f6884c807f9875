"""One shape for every problem the engine reports, from YAML loading to planning.

Every stage (load, schema, expressions, cross-checks, store) turns what it finds into
`Problem`s with a 1-based source span, so `validate` has one reporting path and tests can
compare `(code, line, col)` instead of wording.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass, replace
from enum import StrEnum


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, order=True)
class Span:
    """A 1-based region of a source file; `end_*` is exclusive and may equal the start."""

    file: str
    line: int = 0
    col: int = 0
    end_line: int = 0
    end_col: int = 0

    def shifted(self, line_delta: int, col: int, end_col: int | None = None) -> Span:
        """A span inside this one (used to point into an expression inside a scalar)."""
        line = self.line + line_delta
        return Span(self.file, line, col, line, end_col if end_col is not None else col)

    def __str__(self) -> str:
        if self.line:
            return f"{self.file}:{self.line}:{self.col}"
        return self.file


@dataclass(frozen=True)
class Problem:
    """A finding about the rules or the store: where, what (a stable code), and how to fix it."""

    span: Span
    code: str
    message: str
    hint: str | None = None
    severity: Severity = Severity.ERROR

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR

    def sort_key(self) -> tuple[str, int, int, str, str]:
        return (self.span.file, self.span.line, self.span.col, self.code, self.message)

    def as_warning(self) -> Problem:
        return replace(self, severity=Severity.WARNING)

    def to_dict(self) -> dict[str, object]:
        return {
            "file": self.span.file,
            "line": self.span.line,
            "col": self.span.col,
            "end_line": self.span.end_line,
            "end_col": self.span.end_col,
            "code": self.code,
            "severity": self.severity.value,
            "message": self.message,
            "hint": self.hint,
        }


# Every problem code, by the stage that reports it; docs/problems/<stage>.md explains each one
# with an example and its fix.
PROBLEM_CODES: dict[str, tuple[str, ...]] = {
    "load": (
        "file-unreadable",
        "file-too-large",
        "file-not-utf8",
        "yaml-syntax",
        "yaml-multiple-documents",
        "yaml-too-many-aliases",
        "file-empty",
        "not-a-mapping",
        "yaml-tag",
        "yaml-complex-key",
        "duplicate-key",
    ),
    "schema": (
        "schema-unknown-key",
        "schema-type",
        "schema-enum",
        "schema-pattern",
        "schema-required",
        "schema-range",
        "schema-invalid",
    ),
    "expressions": (
        "expr-syntax",
        "expr-unsupported",
        "expr-too-complex",
        "expr-unknown-name",
        "expr-unknown-function",
        "expr-arity",
        "expr-type",
        "expr-context",
        "expr-not-boolean",
        "expr-not-numeric",
        "expr-compare-none",
    ),
    "rules": (
        "duplicate-id",
        "unknown-reference",
        "unknown-table",
        "unknown-column",
        "name-conflict",
        "cycle",
        "metric-type",
        "channel-no-address",
        "window-order",
        "unknown-timezone",
        "ambiguous-priority",
        "variant-weights",
        "holdout-contaminated",
        "test-reference",
        "calendar-cadence",
        "calendar-sync",
        "calendar-unapproved",
        "calendar-incentive",
    ),
}

# Problems that mean a file could not be read at all: the command ends with exit 2, as for a
# missing file. Any other error ends it with 1; warnings only under --strict.
UNREADABLE = frozenset(
    {
        "file-not-utf8",
        "file-too-large",
        "file-unreadable",
        "yaml-syntax",
        "yaml-multiple-documents",
        "yaml-too-many-aliases",
    }
)


def exit_code(problems: Iterable[Problem], *, strict: bool = False) -> int:
    """The exit code for these problems: 2 when a file could not be read, 1 for any error (or,
    with `strict`, any warning), else 0."""
    found = list(problems)
    if any(p.code in UNREADABLE for p in found):
        return 2
    if any(p.is_error for p in found) or (strict and found):
        return 1
    return 0


def did_you_mean(
    name: str, known: Iterable[str], *, form: str = "`{}`", otherwise: str | None = None
) -> str | None:
    """The hint for a name that is not one of `known`: "did you mean `x`?" with the closest
    known name (`form` shows it), or `otherwise` when none is close."""
    close = difflib.get_close_matches(name, list(known), n=1)
    return f"did you mean {form.format(close[0])}?" if close else otherwise


def sorted_problems(problems: list[Problem]) -> list[Problem]:
    return sorted(problems, key=Problem.sort_key)


class CampaignError(Exception):
    """Base of the errors the engine raises; the CLI turns them into messages, not tracebacks."""

    exit_code = 1


class InputError(CampaignError):
    """Input that cannot be read at all: a missing file, not a store, bad options (exit 2)."""

    exit_code = 2


class StoreError(InputError):
    """The store is missing, is not a SQLite database, or is not a campaign store."""


class RulesInvalid(CampaignError):
    """The rules have errors; carries every problem found so the caller can report them all."""

    exit_code = 1

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted_problems(problems)
        errors = sum(1 for p in self.problems if p.is_error)
        super().__init__(f"{errors} problem(s) in the rules; run `campaign validate` for details")
