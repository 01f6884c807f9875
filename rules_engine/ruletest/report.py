"""Rule test results for people (text), machines (JSON), pull requests (GitHub annotations)
and CI systems (JUnit XML). Formatting only: what failed and why comes from the runner.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import Any

from ..times import both_zones, shown, utc_text
from .coverage import KINDS, Coverage
from .runner import Failure, Mismatch, RuleTestResult, RuleTestRun

FORMAT = "campaign-test/1"
_MARK = {"passed": "ok", "failed": "FAIL", "error": "ERROR"}


# -- words -------------------------------------------------------------------------------


def _value(value: Any) -> str:
    if value is None:
        return "missing"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def mismatch_text(m: Mismatch, offer: str | None, zone: str = "UTC") -> str:
    """One key's expected and actual value, as a marketer reads it (a send time in UTC and in
    the calendar time zone `zone`)."""
    if m.key == "segments":
        return f"segment `{m.name}`: expected a member, is not a member"
    if m.key == "not_segments":
        return f"segment `{m.name}`: expected not a member, is a member"
    if m.key == "metrics":
        return f"metric `{m.name}`: expected {_value(m.expected)}, got {_value(m.actual)}"
    if m.key == "offer" and m.expected is None:
        got = ", ".join(f"`{o}`" for o in m.actual)
        return f"offer: expected no action, got an action from {got}"
    if m.key == "offer":
        got = "no decision: not a candidate" if m.actual is None else m.actual
        return f"offer `{offer}`: expected an action, got {got}"
    if m.key == "outcome":
        got = "no decision: not a candidate" if m.actual is None else m.actual
        return f"outcome of `{offer}`: expected {m.expected}, got {got}"
    if m.key == "send_at":
        wanted, sent = shown(str(m.expected), zone), shown(m.actual and str(m.actual), zone)
        return f"send_at of `{offer}`: expected {wanted}, got {'none' if sent == '-' else sent}"
    got = "none" if m.actual is None else m.actual
    return f"{m.key} of `{offer}`: expected {m.expected}, got {got}"


def failure_lines(result: RuleTestResult, failure: Failure) -> list[str]:
    """Where the expectation is, each mismatch at its own line, and the decisions."""
    e = failure.expectation
    lines = [f"{e.span.file}:{e.span.line}: {_heading(result, failure)}"]
    for m in failure.mismatches:
        lines.append(
            f"  {e.span.file}:{m.span.line}: {mismatch_text(m, e.offer, failure.timezone)}"
        )
    lines += [f"  decided: {words}" for words in failure.decided]
    return lines


def _heading(result: RuleTestResult, failure: Failure) -> str:
    steps = len(result.test.steps)
    when = f"as of {both_zones(failure.as_of, failure.timezone)}"
    if steps > 1:
        when = f"step {failure.step} of {steps}, {when}"
    return f"customer {failure.expectation.customer} ({when})"


def error_line(result: RuleTestResult) -> str:
    step = f" at step {result.error_step}" if result.error_step else ""
    return f"{result.test.span.file}:{result.test.span.line}: the test could not run{step}: " + (
        result.error or "unknown error"
    )


# -- text --------------------------------------------------------------------------------


def summary(run: RuleTestRun) -> str:
    n = len(run.results)
    return (
        f"{n} test{'s' if n != 1 else ''}: {run.count('passed')} passed, "
        f"{run.count('failed')} failed, {run.count('error')} error(s) in {run.seconds:.2f} s"
    )


def text(run: RuleTestRun, cover: Coverage | None = None) -> str:
    lines: list[str] = []
    for file, results in _by_file(run):
        lines.append(file)
        for r in results:
            lines.append(f"  {_MARK[r.status]:<5} {r.test.id}")
    for r in run.results:
        if r.status == "passed":
            continue
        lines += ["", f"{_MARK[r.status]} {r.test.id} ({r.file}:{r.test.span.line})"]
        for failure in r.failures:
            lines += ["  " + line for line in failure_lines(r, failure)]
        if r.error is not None:
            lines.append("  " + error_line(r))
    if cover is not None:
        lines += ["", *coverage_text(cover)]
    lines += ["", summary(run)]
    return "\n".join(lines)


def coverage_text(cover: Coverage) -> list[str]:
    parts = []
    for kind in KINDS:
        items = cover.of_kind(kind)
        parts.append(f"{kind}s {sum(i.covered for i in items)}/{len(items)}")
    lines = [
        f"Coverage: {cover.percent:.1f}% ({cover.covered} of {cover.total}): {', '.join(parts)}"
    ]
    missing = cover.not_covered
    if missing:
        lines.append("Not covered:")
        lines += [f"  {item.kind} `{item.id}`: {item.missing}" for item in missing]
    return lines


def _by_file(run: RuleTestRun) -> Iterator[tuple[str, list[RuleTestResult]]]:
    files: dict[str, list[RuleTestResult]] = {}
    for r in run.results:
        files.setdefault(r.file, []).append(r)
    yield from files.items()


# -- JSON --------------------------------------------------------------------------------


def document(run: RuleTestRun, cover: Coverage | None = None) -> dict[str, Any]:
    """The results for machines (docs/testing.md); no timings, so the same rules give the
    same bytes."""
    body: dict[str, Any] = {
        "format": FORMAT,
        "summary": {
            "tests": len(run.results),
            "passed": run.count("passed"),
            "failed": run.count("failed"),
            "errors": run.count("error"),
        },
        "tests": [_test_json(r) for r in run.results],
    }
    if cover is not None:
        body["coverage"] = {
            "percent": cover.percent,
            "covered": cover.covered,
            "total": cover.total,
            "items": [
                {"kind": i.kind, "id": i.id, "covered": i.covered, "missing": i.missing}
                for i in cover.items
            ],
        }
    return body


def json_text(run: RuleTestRun, cover: Coverage | None = None) -> str:
    return json.dumps(document(run, cover), ensure_ascii=False, sort_keys=True, indent=1)


def _test_json(r: RuleTestResult) -> dict[str, Any]:
    return {
        "id": r.test.id,
        "file": r.file,
        "line": r.test.span.line,
        "description": r.test.description,
        "status": r.status,
        "steps": len(r.test.steps),
        "error": r.error,
        "error_step": r.error_step,
        "failures": [_failure_json(f) for f in r.failures],
    }


def _failure_json(f: Failure) -> dict[str, Any]:
    e = f.expectation
    return {
        "step": f.step,
        "as_of": utc_text(f.as_of),
        "customer": e.customer,
        "offer": e.offer,
        "file": e.span.file,
        "line": e.span.line,
        "col": e.span.col,
        "mismatches": [
            {
                "key": m.key,
                "name": m.name,
                "expected": m.expected,
                "actual": m.actual,
                "line": m.span.line,
                "col": m.span.col,
                "message": mismatch_text(m, e.offer, f.timezone),
            }
            for m in f.mismatches
        ],
        "decided": list(f.decided),
    }


# -- GitHub ------------------------------------------------------------------------------


def github(run: RuleTestRun, cover: Coverage | None = None) -> str:
    """An error annotation on each failing expectation's line (and on the test's line for a
    test that could not run), then the summary."""
    lines = []
    for r in run.results:
        for f in r.failures:
            e = f.expectation
            message = [_heading(r, f)]
            message += [
                f"line {m.span.line}: {mismatch_text(m, e.offer, f.timezone)}" for m in f.mismatches
            ]
            message += [f"decided: {words}" for words in f.decided]
            title = f"campaign test: {r.test.id}"
            lines.append(
                _annotation(e.span.file, e.span.line, e.span.col, title, "\n".join(message))
            )
        if r.error is not None:
            span = r.test.span
            title = f"campaign test: {r.test.id}"
            lines.append(_annotation(span.file, span.line, span.col, title, error_line(r)))
    if cover is not None:
        lines += coverage_text(cover)
    lines.append(summary(run))
    return "\n".join(lines)


def _annotation(file: str, line: int, col: int, title: str, message: str) -> str:
    where = f"file={_escape_property(file)},line={line},col={col}"
    return f"::error {where},title={_escape_property(title)}::{_escape_data(message)}"


def _escape_data(value: str) -> str:
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(value: str) -> str:
    return _escape_data(value).replace(":", "%3A").replace(",", "%2C")


# -- JUnit -------------------------------------------------------------------------------


def junit(run: RuleTestRun) -> str:
    """JUnit XML: a testsuite per rule file, a testcase per test; a test fails when any of
    its steps fails, with the first failure as the message and every one in the body."""
    root = ET.Element(
        "testsuites",
        name="campaign test",
        tests=str(len(run.results)),
        failures=str(run.count("failed")),
        errors=str(run.count("error")),
        time=f"{run.seconds:.3f}",
    )
    for file, results in _by_file(run):
        suite = ET.SubElement(
            root,
            "testsuite",
            name=file,
            tests=str(len(results)),
            failures=str(sum(r.status == "failed" for r in results)),
            errors=str(sum(r.status == "error" for r in results)),
            skipped="0",
            time=f"{sum(r.seconds for r in results):.3f}",
        )
        for r in results:
            _testcase(suite, r)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, "unicode") + "\n"


def _testcase(suite: ET.Element, r: RuleTestResult) -> None:
    case = ET.SubElement(
        suite,
        "testcase",
        name=r.test.id,
        classname=r.file,
        file=r.file,
        line=str(r.test.span.line),
        time=f"{r.seconds:.3f}",
    )
    if r.failures:
        detail = [line for f in r.failures for line in failure_lines(r, f)]
        first = r.failures[0]
        more = len(r.failures) - 1
        message = f"{first.span.file}:{first.span.line}: " + mismatch_text(
            first.mismatches[0], first.expectation.offer, first.timezone
        )
        if more:
            message += f" (and {more} more failing expectation{'s' if more > 1 else ''})"
        failure = ET.SubElement(case, "failure", message=message, type="expectation")
        failure.text = "\n".join(detail)
    if r.error is not None:
        error = ET.SubElement(case, "error", message=error_line(r), type="error")
        error.text = error_line(r)


REPORTERS = {"text": text, "json": json_text, "github": github}
