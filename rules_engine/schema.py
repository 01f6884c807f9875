"""The published JSON Schema of rule files, and its errors in a marketer's words.

`schemas/rules.schema.json` is what editors use for autocompletion and hover help; the same file
validates every document here, and each jsonschema error becomes a Problem at the offending
key or value, with "did you mean" for misspelt keys and the allowed values for enums.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

from jsonschema import Draft202012Validator

from .errors import Problem, Span

SCHEMA_FILE = Path(__file__).with_name("rules.schema.json")

CODES: dict[str, str] = {
    "schema-unknown-key": "a key the format does not have (often a typo)",
    "schema-type": "a value of the wrong type (text where a number belongs...)",
    "schema-enum": "a word that is not one of the allowed values",
    "schema-pattern": "a value in the wrong form (a duration, time, date, percentage or id)",
    "schema-required": "a required key is missing",
    "schema-range": "a number, list or text out of its allowed range",
    "schema-invalid": "any other structural mistake",
}

JsonPath = tuple[str | int, ...]

_SECTION_ITEMS = {
    "metrics": "metric",
    "segments": "segment",
    "channels": "channel",
    "offers": "offer",
    "tests": "test",
    "store": "store table",
}
_TYPE_WORDS = {
    "integer": "a whole number",
    "number": "a number",
    "string": "text",
    "boolean": "true or false",
    "object": "a mapping of keys",
    "array": "a list",
    "null": "empty",
}
_RANGE = {
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "minItems",
    "maxItems",
    "minLength",
    "uniqueItems",
}


class Document(Protocol):
    path: str
    data: object

    def span(self, path: JsonPath) -> Span: ...

    def key_span(self, path: JsonPath) -> Span: ...


@lru_cache(maxsize=1)
def schema() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    return loaded


@lru_cache(maxsize=1)
def validator() -> Draft202012Validator:
    """A validator over the schema with its `$ref`s inlined: the same rules, but no reference
    lookups while validating, which made up a third of the time on large rule sets."""
    published = schema()
    inlined = _inline(published, published.get("$defs", {}))
    return Draft202012Validator(inlined)


def _inline(node: Any, defs: dict[str, Any]) -> Any:
    if isinstance(node, list):
        return [_inline(item, defs) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target = defs[node["$ref"].removeprefix("#/$defs/")]
        siblings = {k: v for k, v in node.items() if k != "$ref"}
        return _inline({**target, **siblings}, defs)
    return {k: _inline(v, defs) for k, v in node.items() if k != "$defs"}


def schema_text() -> str:
    return SCHEMA_FILE.read_text(encoding="utf-8")


def check_document(doc: Document) -> list[Problem]:
    """Every schema error of one document, one problem per location, in file order."""
    seen: set[tuple[Span, str, str]] = set()
    problems: list[Problem] = []
    for error in validator().iter_errors(doc.data):
        for problem in _problems(doc, error):
            key = (problem.span, problem.code, problem.message)
            if key not in seen:
                seen.add(key)
                problems.append(problem)
    return sorted(problems, key=Problem.sort_key)


def _problems(doc: Document, error: Any) -> Iterable[Problem]:
    path: JsonPath = tuple(error.absolute_path)
    kind = error.validator
    if kind == "additionalProperties":
        yield from _unknown_keys(doc, error, path)
    elif "propertyNames" in error.schema_path:
        yield _problem(
            doc.key_span((*path, error.instance)),
            "schema-pattern",
            f"`{error.instance}` is not a valid id",
            "ids use letters, digits and _ and do not start with a digit",
        )
    elif kind == "required":
        missing = [r for r in error.validator_value if r not in error.instance]
        span = doc.key_span(path) if path else doc.span(path)
        for name in missing:
            yield _problem(span, "schema-required", f"{_what(path)} needs `{name}`")
    elif kind in ("oneOf", "anyOf"):
        yield _alternatives(doc, error, path)
    else:
        yield _single(doc, error, path)


def _unknown_keys(doc: Document, error: Any, path: JsonPath) -> Iterable[Problem]:
    allowed = sorted(error.schema.get("properties", {}))
    for key in error.instance:
        if key in allowed:
            continue
        close = difflib.get_close_matches(str(key), allowed, n=1)
        hint = f"did you mean `{close[0]}`?" if close else None
        listed = "allowed: " + ", ".join(allowed)
        where = f" in {_what(path)}" if path else ""
        yield _problem(
            doc.key_span((*path, key)),
            "schema-unknown-key",
            f"unknown key `{key}`{where}",
            f"{hint} ({listed})" if hint else listed,
        )


def _single(doc: Document, error: Any, path: JsonPath) -> Problem:
    span = doc.span(path)
    name = _what(path)
    kind = error.validator
    if kind == "type":
        wanted = error.validator_value
        words = " or ".join(
            _TYPE_WORDS.get(str(w), str(w))
            for w in (wanted if isinstance(wanted, list) else [wanted])
        )
        return _problem(
            span,
            "schema-type",
            f"{name} must be {words}, got {_describe(error.instance)}",
            _quote_hint(error.instance),
        )
    if kind in ("enum", "const"):
        allowed = error.validator_value if kind == "enum" else [error.validator_value]
        values = ", ".join(json.dumps(v, ensure_ascii=False) for v in allowed)
        return _problem(
            span, "schema-enum", f"{name} must be one of {values}, got {_describe(error.instance)}"
        )
    if kind == "pattern":
        words = error.schema.get("description", "the expected form")
        return _problem(
            span,
            "schema-pattern",
            f"{name} is not in the right form: {_describe(error.instance)}",
            words,
        )
    if kind in _RANGE:
        return _problem(span, "schema-range", f"{name}: {error.message}")
    return _problem(span, "schema-invalid", f"{name}: {error.message}")


def _alternatives(doc: Document, error: Any, path: JsonPath) -> Problem:
    span = doc.span(path)
    patterns = [alt.get("pattern", "") for alt in error.schema.get("oneOf", [])]
    if any("%" in pattern for pattern in patterns):
        return _problem(
            span,
            "schema-pattern",
            f"{_what(path)} is not a percentage: {_describe(error.instance)}",
            'write a percentage like "10%", or a fraction from 0 to 1',
        )
    if isinstance(error.instance, dict) and "max" in error.instance:
        return _problem(
            span,
            "schema-invalid",
            "a frequency cap names either `channel` or `group`, not both or neither",
        )
    if isinstance(error.instance, dict):
        return _problem(
            span,
            "schema-required",
            "a constraint needs one of: `channel` (with min_per_week, max_per_day or "
            "max_per_week), `campaign` with `sync_within`, `approved_before`, or "
            "`campaign` with `same_incentive: true`",
        )
    return _problem(span, "schema-invalid", f"{_what(path)}: {error.message}")


def _problem(span: Span, code: str, message: str, hint: str | None = None) -> Problem:
    return Problem(span, code, message, hint)


def _what(path: JsonPath) -> str:
    """`offer `winback`'s `priority``-style words for a JSON path."""
    if not path:
        return "the file"
    if len(path) >= 2 and path[0] in _SECTION_ITEMS:
        head = f"{_SECTION_ITEMS[str(path[0])]} `{path[1]}`"
        rest = path[2:]
    else:
        head, rest = f"`{path[0]}`", path[1:]
    keys = [str(p) for p in rest if isinstance(p, str)]
    return f"`{keys[-1]}` of {head}" if keys else head


def _describe(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "an empty value"
    if isinstance(value, str):
        return f'text "{value}"'
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, list):
        return "a list"
    return "a mapping"


def _quote_hint(value: object) -> str | None:
    """Times written without quotes were once read as numbers (10:00 as 600) by YAML 1.1."""
    if isinstance(value, dict | list):
        return "check the indentation: a value is nested where a single value belongs"
    return None
