"""Every check before anything runs: load → JSON Schema → cross-checks and typed expressions.

`check()` is what `campaign validate` calls, and what plan, run and explain call first: rules
with errors never reach the store.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from .. import store, store_values
from ..backends import backend_for
from ..errors import InputError, Problem, RulesInvalid, sorted_problems
from ..storeformat import is_duckdb
from ..times import instant_of
from . import provenance, remembered
from .files import discover
from .model import RuleSet

if TYPE_CHECKING:
    from .load import Document

# The stages of checking (load, schema, resolve, ...) are imported when rules are checked,
# not when a remembered rule set is used (`remembered`): they and the YAML parser are a
# tenth of a second of an explanation's start.

DEFAULT_RULES = ("rules",)


@dataclass
class CheckResult:
    """The rule set (partial when there are errors), every problem, and the documents read."""

    rules: RuleSet
    problems: list[Problem] = field(default_factory=list)
    documents: list[Document] = field(default_factory=list)
    accepted: list[Problem] = field(default_factory=list)  # warnings their rules accept

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
    as_of: datetime | date | None = None,
    git: bool = False,
    scan_store: bool = True,
    remember: bool = False,
) -> CheckResult:
    """Check rule files or directories; with `db`, against that store's real schema and,
    once the rules are good, the store's values against their types (`store_values`) and
    the ranges of its whole numbers (`store_overflows`); without `scan_store`, only what
    needs no reading of the store's rows (explain --plan: a plan file's fingerprint proves
    the store is one a plan has checked). With
    `git`, the commit the loaded bytes are at is recorded too (`RuleSet.git_commit`, for
    `run`). With `remember` (and not `git`), a rule set an earlier clean check of the same
    files, schema and as-of made is used instead of checking again (`remembered`); it comes
    without `documents`.

    Raises `InputError` only for input that cannot be read at all (a missing path, a missing
    store); everything wrong inside the rules comes back as problems.
    """
    files = discover(paths)
    if not files:
        named = ", ".join(str(p) for p in paths)
        raise InputError(
            f"{named}: no rule files found (*.yaml or *.yml); there is nothing to check or "
            "plan: give the folder of your rule files"
        )
    schema = backend_for(db).schema(db) if db is not None else store.canonical_schema()
    key = remembered.key_of(files, schema, as_of) if remember and not git else None
    known = remembered.recall(key) if key is not None else None
    if known is not None:
        result = CheckResult(known[0], accepted=known[1])
    else:
        with _collector_paused():
            result = _check_files(files, schema, as_of)
        if key is not None and not result.problems:
            remembered.keep(key, result.rules, result.accepted)
    if db is not None and not result.errors:
        # A DuckDB store's check reads no rows (its columns are typed): it is always made.
        scans = scan_store or is_duckdb(db)
        found = store_values.problems(db, result.rules) if scans else []
        if scan_store:
            from .overflow import store_overflows

            found += store_overflows(result.rules, db)
        result.problems = sorted_problems(result.problems + found) if found else result.problems
    if git:
        loaded = [(doc.path, doc.raw) for doc in result.documents]
        result.rules = replace(result.rules, git_commit=provenance.git_commit_of(loaded))
    if result.problems:
        from .siblings import with_sibling_hints

        result.problems = with_sibling_hints(result.problems, paths, files)
        result.problems = _with_full_width_hints(result.problems, result.documents)
    return result


def _with_full_width_hints(problems: list[Problem], documents: list[Document]) -> list[Problem]:
    """A problem without a hint on a line with full-width punctuation gets one naming it."""
    from .load import full_width_hint

    texts = {doc.path: doc.text.splitlines() for doc in documents}
    hinted = []
    for problem in problems:
        lines = texts.get(problem.span.file, [])
        if problem.hint is None and 0 < problem.span.line <= len(lines):
            found = full_width_hint(lines[problem.span.line - 1])
            problem = replace(problem, hint=found[1]) if found else problem
        hinted.append(problem)
    return hinted


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Checking allocates a node per YAML value and per expression part, and keeps most of
    them; the cyclic garbage collector would scan them again and again (a fifth of the time on
    large rule sets). It resumes, as it was, when the check is done.

    Resuming, it would first scan everything the check allocated, at once (a tenth of a large
    check); instead that goes straight to the oldest generation (`freeze` then `unfreeze`), to be
    scanned with it, if ever: nothing is left uncollected, only collected later. Not done when
    the program keeps frozen objects of its own, which `unfreeze` would release."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            if gc.get_freeze_count() == 0:
                gc.freeze()
                gc.unfreeze()
            gc.enable()


def check_sources(
    sources: Sequence[tuple[str, bytes]],
    *,
    db: str | Path | None = None,
    as_of: datetime | date | None = None,
) -> CheckResult:
    """`check` over rule files already read, as (name, content) pairs: the rules at a Git
    commit, say. Problems name the files by these names."""
    from .load import load_bytes

    schema = backend_for(db).schema(db) if db is not None else store.canonical_schema()
    documents: list[Document] = []
    problems: list[Problem] = []
    for name, raw in sources:
        doc, found = load_bytes(raw, name)
        problems += found
        if doc is not None:
            documents.append(doc)
    with _collector_paused():
        return _check_documents(documents, problems, schema, as_of)


def _check_files(
    files: Sequence[Path], schema: store.StoreSchema, as_of: datetime | date | None
) -> CheckResult:
    from .load import load_paths

    documents, problems = load_paths(files)
    return _check_documents(documents, problems, schema, as_of)


def _check_documents(
    documents: list[Document],
    problems: list[Problem],
    schema: store.StoreSchema,
    as_of: datetime | date | None,
) -> CheckResult:
    from . import known_valid
    from . import schema as schema_check
    from .accept import apply_acceptances
    from .limits import check_declared, check_values
    from .mend import problems_beside_schema_errors
    from .overflow import integer_overflows, rule_expressions
    from .resolve import resolve

    good: list[Document] = []
    broken: list[Document] = []
    shapes: schema_check.Shapes | None = None  # made for the first file not known valid
    valid, newly_valid = known_valid.known(), []
    for doc in documents:
        key = known_valid.key_of(doc.raw or doc.text.encode())
        invalid: list[Problem] = []
        if key not in valid:
            shapes = shapes or schema_check.Shapes()
            invalid = [p for p in schema_check.check_document(doc, shapes) if p.is_error]
            newly_valid += [key] if not invalid else []
        found = invalid + check_values(doc)
        problems += found + check_declared(doc, schema)
        kept, dropped = split_broken(doc, found)
        good.append(kept)
        broken.append(dropped)
    if newly_valid:
        known_valid.remember_valid(newly_valid)
    rules, more = resolve(good, schema, as_of=as_of, broken=broken)
    more += problems_beside_schema_errors(documents, good, problems, schema, as_of)
    more += integer_overflows(e for _, e in rule_expressions(rules))
    if not any(p.is_error for p in problems + more):
        from ..backends.sqlite.limits import check_sqlite_limits

        moment = instant_of(as_of, rules.calendar.timezone) if as_of is not None else None
        more += check_sqlite_limits(rules, moment)
    rules = provenance.stamped(
        rules, [(doc.path, doc.raw or doc.text.encode()) for doc in documents]
    )
    shown, accepted = apply_acceptances(documents, problems + more)
    return CheckResult(rules, sorted_problems(shown), documents, accepted)


ID_SECTIONS = ("metrics", "segments", "channels", "offers", "tests")


def split_broken(doc: Document, errors: list[Problem]) -> tuple[Document, Document]:
    """The document without the rules that have schema errors, and those rules apart.

    Later checks need the shapes the schema guarantees, so a rule with a schema error is not
    checked further; the rest of its file is. The broken rules' ids still count as defined.
    """
    data = doc.data if isinstance(doc.data, dict) else {}
    kept: dict[object, object] = {}
    dropped: dict[object, object] = {}
    for section, body in data.items():
        if not any(doc.holds((section,), p.span) for p in errors):
            kept[section] = body
        elif section in ID_SECTIONS and isinstance(body, dict):
            fine = {
                k: v
                for k, v in body.items()
                if not any(doc.holds((section, k), p.span) for p in errors)
            }
            kept[section] = fine
            dropped[section] = {k: v for k, v in body.items() if k not in fine}
        elif section == "store" and isinstance(body, dict):
            kept[section], dropped[section] = _split_store(doc, body, errors)
    return replace(doc, data=kept), replace(doc, data=dropped)


def _split_store(
    doc: Document, body: dict[object, object], errors: list[Problem]
) -> tuple[dict[object, object], dict[object, object]]:
    """The declared columns without schema errors, and those with (which count as declared,
    so that the rules using them do not report them unknown)."""
    kept: dict[object, object] = {}
    dropped: dict[object, object] = {}
    for table, columns in body.items():
        path = ("store", str(table))
        if not isinstance(columns, dict) or any(
            doc.holds(path, p.span) and not doc.holds((*path, str(c)), p.span)
            for p in errors
            for c in columns
        ):
            dropped[table] = columns
            continue
        broken = {c for c in columns if any(doc.holds((*path, str(c)), p.span) for p in errors)}
        kept[table] = {c: kind for c, kind in columns.items() if c not in broken}
        if broken:
            dropped[table] = {c: kind for c, kind in columns.items() if c in broken}
    return kept, dropped


def load_rules(
    paths: Sequence[str | Path] = DEFAULT_RULES,
    *,
    db: str | Path | None = None,
    as_of: datetime | date | None = None,
) -> RuleSet:
    """The checked rule set, or `RulesInvalid` carrying every error (for plan, run, explain)."""
    result = check(paths, db=db, as_of=as_of)
    if result.errors:
        raise RulesInvalid(result.errors)
    return result.rules
