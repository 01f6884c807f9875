"""Warnings a rule's author has looked at and accepts: `accept: [code, ...]` on a metric,
segment, channel or offer. An accepted warning is counted, not shown, and `--strict` passes
over it; an accepted code that no longer warns there is itself a warning, so that an
acceptance never outlives the reason it was written for (as linters treat an unused `noqa`)."""

from __future__ import annotations

from collections.abc import Sequence

from ..errors import Problem, Severity
from .load import Document

SECTIONS = ("metrics", "segments", "channels", "offers")
# The warnings a rule can accept (the schema lists the same codes); errors cannot be accepted.
ACCEPTABLE = ("ambiguous-priority", "expr-compare-none", "holdout-contaminated")


def apply_acceptances(
    documents: Sequence[Document], problems: Sequence[Problem]
) -> tuple[list[Problem], list[Problem]]:
    """The problems to show, and the warnings their rules accept."""
    accepted: set[int] = set()
    unused: list[Problem] = []
    for doc in documents:
        for section, rule_id, index, code in _acceptances(doc):
            found = [
                i
                for i, p in enumerate(problems)
                if not p.is_error
                and p.code == code
                and p.span.file == doc.path
                and doc.holds((section, rule_id), p.span)
            ]
            accepted.update(found)
            broken = any(  # not checked whole: whether it would warn is not known
                p.is_error and p.span.file == doc.path and doc.holds((section, rule_id), p.span)
                for p in problems
            )
            if not found and not broken:
                unused.append(
                    Problem(
                        doc.span((section, rule_id, "accept", index)),
                        "accept-unused",
                        f"`{rule_id}` accepts `{code}`, but no `{code}` warning is raised here",
                        f"remove `{code}` from the `accept` list of `{rule_id}`",
                        Severity.WARNING,
                    )
                )
    shown = [p for i, p in enumerate(problems) if i not in accepted] + unused
    return shown, [problems[i] for i in sorted(accepted)]


def _acceptances(doc: Document) -> list[tuple[str, str, int, str]]:
    data = doc.data if isinstance(doc.data, dict) else {}
    found = []
    for section in SECTIONS:
        rules = data.get(section)
        if not isinstance(rules, dict):
            continue
        for rule_id, body in rules.items():
            codes = body.get("accept") if isinstance(body, dict) else None
            if isinstance(codes, list):
                found += [
                    (section, str(rule_id), i, code)
                    for i, code in enumerate(codes)
                    if code in ACCEPTABLE
                ]
    return found
