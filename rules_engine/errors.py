"""One shape for every problem the engine reports, from YAML loading to planning.

Every stage (load, schema, expressions, cross-checks, store) turns what it finds into
`Problem`s with a 1-based source span, so `validate` has one reporting path and tests can
compare `(code, line, col)` instead of wording.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from enum import StrEnum

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """Text safe to show on a terminal: control characters (an escape sequence in a rule's
    key, a NUL in a store value) are shown as `\\x1b`, never sent raw."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


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


# Every problem code and what it means, by the stage that reports it (the stages' `CODES` are
# these entries); docs/problems/<stage>.md explains each one with an example and its fix (the
# calendar's are in rules.md).
PROBLEM_CODES: dict[str, dict[str, str]] = {
    "load": {
        "file-unreadable": "the file cannot be read (permissions, or it is a directory)",
        "file-too-large": "the file is over 5 MB; rule files are small, split it or check the path",
        "file-not-utf8": "the file is not UTF-8 text",
        "file-empty": "the file holds no rules (empty or only comments)",
        "yaml-syntax": "the file is not valid YAML",
        "yaml-multiple-documents": "the file holds several YAML documents (`---`); use one per "
        "file",
        "yaml-tag": "an explicit YAML tag such as `!!python/object`; rule files use plain values",
        "yaml-complex-key": "a mapping key that is a list or a mapping",
        "yaml-too-many-aliases": "anchors and aliases expand to too many values (an alias bomb)",
        "duplicate-key": "the same key twice in one mapping; YAML would silently keep only one",
        "not-a-mapping": "the top level of a rule file must be a mapping of sections",
        "number-out-of-range": "a number that is NaN or infinite (or too large for a double)",
    },
    "schema": {
        "schema-unknown-key": "a key the format does not have (often a typo), or one that does not "
        "go with the keys beside it",
        "schema-type": "a value of the wrong type (text where a number belongs, a list for a "
        "value...)",
        "schema-enum": "a word that is not one of the allowed values",
        "schema-pattern": "a value in the wrong form: a duration, time, date, percentage or id",
        "schema-required": "a required key is missing",
        "schema-range": "a number, list or text out of its allowed range (negative, empty, "
        "twice...)",
        "schema-invalid": "any other structural mistake, such as a frequency cap with both "
        "`channel` and `group`",
    },
    "expressions": {
        "expr-syntax": "the expression is not valid syntax",
        "expr-unsupported": "a construct the rule language leaves out (`a.b`, `**`, `x = 1`...)",
        "expr-too-complex": "an expression over 10,000 characters or nested over 100 levels",
        "expr-too-large": "a number literal beyond what the store holds (whole numbers: 64 bits)",
        "expr-unknown-name": "a name that is not a column, metric or segment in scope",
        "expr-unknown-function": "a function that is not in the catalogue",
        "expr-arity": "a function called with the wrong number of arguments",
        "expr-type": "an operator or function applied to values of the wrong type",
        "expr-context": "a function or name used where it is not allowed (e.g. sum() in a segment)",
        "expr-not-boolean": "a condition that is not true/false",
        "expr-not-numeric": "a `rank` that is not a number",
        "expr-compare-none": "`== None` is never true under three-valued logic (warning)",
    },
    "rules": {
        "duplicate-id": "the same id is defined twice in one section, in one file or across files",
        "unknown-reference": "a channel, offer, group, segment or metric that no rule defines",
        "unknown-table": "a metric's `from:` names a table the store does not have",
        "unknown-column": "a channel's `address` names a column customers do not have",
        "name-conflict": "a metric or segment has the name of a store column or of another rule",
        "cycle": "metrics or segments that depend on each other in a circle",
        "metric-type": "a metric's declared `type` or `default` does not match its value",
        "channel-no-address": "an offer sends on a channel that has no `address` (a broadcast "
        "channel)",
        "window-order": "a window or blackout that ends before it starts",
        "unknown-timezone": "a timezone that is not an IANA name",
        "ambiguous-priority": "two offers of one group with the same priority (warning)",
        "variant-weights": "an offer's variant weights do not add up to 100%",
        "holdout-contaminated": "a customer held out of an offer can get another offer with the "
        "same kind of incentive in the same run (warning)",
        "accept-unused": "a rule's `accept` lists a warning it no longer raises (warning)",
        "store-value-type": "a store column the rules read holds values that are not of its "
        "type (with a store: validate --db, plan, run, explain, metrics)",
    },
    "calendar": {
        "calendar-cadence": "a channel publishes more or less often than a cadence constraint "
        "allows",
        "calendar-sync": "the channels of a campaign do not go out within `sync_within` of each "
        "other",
        "calendar-unapproved": "a schedule item due soon (within `approved_before`) is not "
        "approved",
        "calendar-incentive": "one campaign promotes different incentives on different channels",
    },
    "tests": {
        "test-reference": "a rule test names a customer it does not define (in `expect` or in a "
        "row's `customer_id`)",
        "test-row": "a rule test's row has a value of the wrong type for its column, or repeats "
        "a customer id or row id",
        "test-as-of": "a rule test's `as_of` is not a real date and time, or a `then:` step does "
        "not come after the step before it",
        "test-expectation": "an expectation that cannot be checked as written (a `channel` "
        "without an `offer`, a reason that does not go with its outcome, a metric value of the "
        "wrong type, nothing to check)",
    },
    "limits": {
        "impossible-date": "a date or time that does not exist (`2026-02-30`, hour 25)",
        "value-too-large": "a duration over 100 years, a whole number beyond 64 bits, or a time "
        "outside the years the engine plans for",
        "store-retype": "a `store:` section gives a canonical column another type",
        "id-line-break": "an id or a store name ending in a line break (a quoted key with `\\n`)",
        "store-missing": "a table or column a `store:` section declares is not in the store given "
        "with --db",
        "integer-overflow": "arithmetic on whole numbers written in the rules whose result is "
        "beyond 64 bits",
        "store-overflow": "with --db: arithmetic on the store's whole numbers, or a sum of them, "
        "that the store's values can take beyond 64 bits (a warning)",
    },
    "sqlite": {
        "sql-too-deep": "an expression compiles to SQL nested deeper than SQLite takes",
        "sql-too-many-columns": "more metrics or segments in one layer than a SQLite table has "
        "columns (2,000)",
        "sql-too-many-joins": "a chain of derived metrics longer than SQLite joins tables (64)",
    },
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


class OutputError(InputError):
    """A file the command writes could not be written (a full disk, no permission)."""


class StoreError(InputError):
    """The store is missing, is not a SQLite database, or is not a campaign store."""


class RulesInvalid(CampaignError):
    """The rules have errors; carries every problem found so the caller can report them all."""

    exit_code = 1

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted_problems(problems)
        errors = sum(1 for p in self.problems if p.is_error)
        super().__init__(f"{errors} problem(s) in the rules; run `campaign validate` for details")
