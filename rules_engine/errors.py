"""One shape for every problem the engine reports, from YAML loading to planning.

Every stage (load, schema, expressions, cross-checks, store) turns what it finds into
`Problem`s with a 1-based source span, so `validate` has one reporting path and tests can
compare `(code, line, col)` instead of wording.
"""

from __future__ import annotations

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
