"""Reporters: the same problems as text for people, JSON for machines, annotations for CI.

Small classes chosen by name (`REPORTERS`); no checking logic here.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from .errors import Problem

Sources = Mapping[str, str]  # file path → its text, to quote the offending line


class TextReporter:
    """`path:line:col: error[code]: message`, the source line with a caret, then a total."""

    def __init__(self, show_source: bool = True) -> None:
        self.show_source = show_source

    def render(self, problems: Sequence[Problem], sources: Sources, checked: int) -> str:
        lines: list[str] = []
        for problem in problems:
            lines.append(self.line(problem))
            if problem.hint:
                lines.append(f"  hint: {problem.hint}")
            if self.show_source:
                lines += self.excerpt(problem, sources)
        lines.append(summary(problems, checked))
        return "\n".join(lines)

    @staticmethod
    def line(problem: Problem) -> str:
        return f"{problem.span}: {problem.severity.value}[{problem.code}]: {problem.message}"

    @staticmethod
    def excerpt(problem: Problem, sources: Sources) -> list[str]:
        text = sources.get(problem.span.file)
        if text is None or problem.span.line < 1:
            return []
        source_lines = text.splitlines()
        if problem.span.line > len(source_lines):
            return []
        source = source_lines[problem.span.line - 1]
        width = 1
        if problem.span.end_line == problem.span.line and problem.span.end_col > problem.span.col:
            width = problem.span.end_col - problem.span.col
        return [f"  | {source}", "  | " + " " * max(problem.span.col - 1, 0) + "^" * width]


class JsonReporter:
    """A JSON object with the problem list and counts; keys sorted, stable across runs."""

    def render(self, problems: Sequence[Problem], sources: Sources, checked: int) -> str:
        errors = sum(p.is_error for p in problems)
        body = {
            "files": checked,
            "errors": errors,
            "warnings": len(problems) - errors,
            "problems": [p.to_dict() for p in problems],
        }
        return json.dumps(body, ensure_ascii=False, indent=2, sort_keys=True)


class GithubReporter:
    """GitHub workflow annotations: the problems appear on the pull request's diff."""

    def render(self, problems: Sequence[Problem], sources: Sources, checked: int) -> str:
        lines = [self.annotation(p) for p in problems]
        lines.append(summary(problems, checked))
        return "\n".join(lines)

    @staticmethod
    def annotation(problem: Problem) -> str:
        level = "error" if problem.is_error else "warning"
        span = problem.span
        where = f"file={_escape_property(span.file)}"
        if span.line:
            where += f",line={span.line},col={span.col}"
            if span.end_line:
                where += f",endLine={span.end_line},endColumn={span.end_col}"
        message = problem.message + (f" (hint: {problem.hint})" if problem.hint else "")
        title = _escape_property(problem.code)
        return f"::{level} {where},title={title}::{_escape_data(message)}"


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def summary(problems: Sequence[Problem], checked: int) -> str:
    errors = sum(p.is_error for p in problems)
    warnings = len(problems) - errors
    files = f"{checked} file{'s' if checked != 1 else ''}"
    if not problems:
        return f"{files} checked: no problems"
    return f"{files} checked: {errors} error(s), {warnings} warning(s)"


REPORTERS = {"text": TextReporter, "json": JsonReporter, "github": GithubReporter}
