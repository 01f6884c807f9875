"""Every check before anything runs: load → JSON Schema → cross-checks and typed expressions.

`check()` is what `campaign validate` calls, and what plan, run and explain call first: rules
with errors never reach the store.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from . import store
from .errors import Problem, RulesInvalid, sorted_problems
from .load import Document, discover, load_paths
from .model import RuleSet
from .resolve import resolve
from .schema import check_document

DEFAULT_RULES = ("rules",)


@dataclass
class CheckResult:
    """The rule set (partial when there are errors), every problem, and the documents read."""

    rules: RuleSet
    problems: list[Problem] = field(default_factory=list)
    documents: list[Document] = field(default_factory=list)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.is_error]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if not p.is_error]

    def passed(self, strict: bool = False) -> bool:
        return not (self.problems if strict else self.errors)


def check(
    paths: Sequence[str | Path] = DEFAULT_RULES,
    *,
    db: str | Path | None = None,
    as_of: datetime | None = None,
) -> CheckResult:
    """Check rule files or directories; with `db`, against that store's real schema.

    Raises `InputError` only for input that cannot be read at all (a missing path, a missing
    store); everything wrong inside the rules comes back as problems.
    """
    files = discover(paths)
    schema = store.read_schema(db) if db is not None else store.canonical_schema()
    documents, problems = load_paths(files)
    good: list[Document] = []
    broken: list[Document] = []
    for doc in documents:
        found = check_document(doc)
        problems += found
        (broken if any(p.is_error for p in found) else good).append(doc)
    rules, more = resolve(good, schema, as_of=as_of, broken=broken)
    return CheckResult(rules, sorted_problems(problems + more), documents)


def load_rules(
    paths: Sequence[str | Path] = DEFAULT_RULES,
    *,
    db: str | Path | None = None,
    as_of: datetime | None = None,
) -> RuleSet:
    """The checked rule set, or `RulesInvalid` carrying every error (for plan, run, explain)."""
    result = check(paths, db=db, as_of=as_of)
    if result.errors:
        raise RulesInvalid(result.errors)
    return result.rules
