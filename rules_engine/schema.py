"""The published JSON Schema of rule files, and its errors in a marketer's words.

`schemas/rules.schema.json` is what editors use for autocompletion and hover help; the same file
validates every document here, so the editor, CI and `check-jsonschema` agree on what is valid.
Each jsonschema error becomes one Problem at the offending key or value. The wording of pattern
and alternative errors comes from the schema's `patternErrorMessage` and `errorMessage` (VS
Code's extensions), so editors and `campaign validate` say the same thing.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterator, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match

from .errors import Problem, Span

SCHEMA_FILE = Path(__file__).with_name("rules.schema.json")
SCHEMA: dict[str, Any] = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))

CODES: dict[str, str] = {
    "schema-unknown-key": "a key the format does not have (often a typo), or one that does not "
    "go with the keys beside it",
    "schema-type": "a value of the wrong type (text where a number belongs, a list for a value...)",
    "schema-enum": "a word that is not one of the allowed values",
    "schema-pattern": "a value in the wrong form: a duration, time, date, percentage or id",
    "schema-required": "a required key is missing",
    "schema-range": "a number, list or text out of its allowed range (negative, empty, twice...)",
    "schema-invalid": "any other structural mistake, such as a frequency cap with both "
    "`channel` and `group`",
}

JsonPath = tuple[str | int, ...]


class Document(Protocol):
    """What the loader gives: the data and the source span of every value and key."""

    path: str
    data: object

    def span(self, path: JsonPath) -> Span: ...

    def key_span(self, path: JsonPath) -> Span: ...


_SECTION_ITEMS = {
    "metrics": "metric",
    "segments": "segment",
    "channels": "channel",
    "offers": "offer",
    "tests": "test",
    "store": "store table",
}
_LIST_ITEMS = {
    "frequency_caps": "frequency cap",
    "blackouts": "blackout",
    "schedule": "schedule item",
    "constraints": "constraint",
    "expect": "expectation",
    "customers": "customer row",
    "orders": "order row",
    "events": "event row",
    "contacts": "contact row",
    "channel_stats": "channel_stats row",
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
_CODE_OF = {
    "type": "schema-type",
    "enum": "schema-enum",
    "const": "schema-enum",
    "pattern": "schema-pattern",
    "required": "schema-required",
    "minimum": "schema-range",
    "maximum": "schema-range",
    "exclusiveMinimum": "schema-range",
    "exclusiveMaximum": "schema-range",
    "minItems": "schema-range",
    "maxItems": "schema-range",
    "minLength": "schema-range",
    "maxLength": "schema-range",
    "uniqueItems": "schema-range",
}


# Words for people and editors only; dropped from the validator's copy of the schema because
# jsonschema looks at every keyword of every node it visits. The error wording keys stay.
_ANNOTATIONS = frozenset({"description", "examples", "title", "$comment", "$schema", "$id"})


@lru_cache(maxsize=1)
def validator() -> Draft202012Validator:
    """One validator for the process, over a copy of the schema with `$ref`s inlined and
    annotations dropped: the same rules, but no reference lookups or idle keywords while
    validating (reference lookups were a third of the schema stage on large rule sets)."""
    return Draft202012Validator(_compiled(SCHEMA, SCHEMA.get("$defs", {})))


def _compiled(node: Any, defs: dict[str, Any], names: bool = False) -> Any:
    """`names`: `node` maps property names to schemas (a property may be called `description`)."""
    if isinstance(node, list):
        return [_compiled(item, defs) for item in node]
    if not isinstance(node, dict):
        return node
    if names:
        return {k: _compiled(v, defs) for k, v in node.items()}
    if "$ref" in node:
        target = defs[node["$ref"].removeprefix("#/$defs/")]
        siblings = {k: v for k, v in node.items() if k != "$ref"}
        return _compiled({**target, **siblings}, defs)
    return {
        k: _compiled(v, defs, names=k == "properties")
        for k, v in node.items()
        if k != "$defs" and k not in _ANNOTATIONS
    }


def schema_text() -> str:
    """The published schema, byte for byte, for `campaign schema` and editor set-up."""
    return SCHEMA_FILE.read_text(encoding="utf-8")


def check_document(doc: Document) -> list[Problem]:
    """Every schema error of one document, one problem per place, in file order."""
    problems: dict[tuple[Span, str], Problem] = {}
    missing: dict[Span, tuple[JsonPath, list[str]]] = {}
    for error in validator().iter_errors(doc.data):
        if error.validator == "required":
            _collect_missing(doc, error, missing)
            continue
        for problem in _problems(doc, error):
            problems.setdefault((problem.span, problem.code), problem)
    for span, (path, names) in missing.items():
        listed = " and ".join(f"`{n}`" for n in names)
        message = f"{_what(path)} needs {listed}"
        problems.setdefault((span, "schema-required"), Problem(span, "schema-required", message))
    return sorted(problems.values(), key=Problem.sort_key)


def _collect_missing(
    doc: Document, error: ValidationError, missing: dict[Span, tuple[JsonPath, list[str]]]
) -> None:
    """jsonschema reports each missing key apart; the marketer reads one line per rule."""
    path: JsonPath = tuple(error.absolute_path)
    instance, required = _instance(error), _limit(error)
    entry = missing.setdefault(_object_span(doc, path), (path, []))
    if isinstance(instance, dict) and isinstance(required, list):
        entry[1].extend(n for n in required if n not in instance and n not in entry[1])


def _object_span(doc: Document, path: JsonPath) -> Span:
    """A rule's problems as a whole point at its id, a list item's at the item."""
    return doc.key_span(path) if path else doc.span(path)


def _problems(doc: Document, error: ValidationError) -> Iterator[Problem]:
    path: JsonPath = tuple(error.absolute_path)
    kind, instance = str(error.validator), _instance(error)
    schema_path = error.absolute_schema_path
    if kind == "additionalProperties" and isinstance(instance, dict):
        yield from _unknown_keys(doc, error, instance, path)
    elif len(schema_path) >= 2 and schema_path[-2] == "propertyNames":
        words = _node(error).get("patternErrorMessage", "an id: letters, digits and _")
        message = f"`{instance}` is not a valid name in {_what(path)}"
        yield Problem(doc.key_span((*path, instance)), "schema-pattern", message, f"write {words}")
    elif kind in ("anyOf", "oneOf", "not"):
        yield _alternatives(doc, error, path)
    else:
        yield _single(doc, error, path)


def _unknown_keys(
    doc: Document, error: ValidationError, instance: dict[Any, Any], path: JsonPath
) -> Iterator[Problem]:
    allowed = sorted(_node(error).get("properties", {}))
    listed = "allowed: " + ", ".join(allowed)
    in_branch = "then" in error.absolute_schema_path
    for key in instance:
        if key in allowed:
            continue
        span = doc.key_span((*path, key))
        if in_branch:  # a known key that does not go with the others (calendar constraints)
            message = f"`{key}` does not go with the other keys of {_what(path)}"
            yield Problem(span, "schema-unknown-key", message, listed)
            continue
        close = difflib.get_close_matches(str(key), allowed, n=1)
        hint = f"did you mean `{close[0]}`? ({listed})" if close else listed
        where = f" in {_what(path)}" if path else ""
        yield Problem(span, "schema-unknown-key", f"unknown key `{key}`{where}", hint)


def _single(doc: Document, error: ValidationError, path: JsonPath) -> Problem:
    kind, instance, limit = str(error.validator), _instance(error), _limit(error)
    name, got = _what(path), _describe(instance)
    code = _CODE_OF.get(kind, "schema-invalid")
    span = doc.span(path)
    if kind == "type":
        words = _node(error).get("patternErrorMessage") or _type_words(limit)
        return Problem(span, code, f"{name} must be {words}, got {got}", _type_hint(error))
    if kind in ("enum", "const"):
        allowed = limit if kind == "enum" else [limit]
        values = ", ".join(json.dumps(v, ensure_ascii=False) for v in allowed)
        close = difflib.get_close_matches(str(instance), [str(v) for v in allowed], n=1)
        hint = f'did you mean "{close[0]}"?' if close else None
        return Problem(span, code, f"{name} must be one of {values}, got {got}", hint)
    if kind == "pattern":
        words = _node(error).get("patternErrorMessage", f"text matching {limit}")
        return Problem(span, code, f"{name} must be {words}, got {got}")
    if kind == "uniqueItems" and isinstance(instance, list):
        return _duplicate(doc, instance, path)
    if kind == "required" and isinstance(instance, dict) and isinstance(limit, list):
        keys = " and ".join(f"`{k}`" for k in limit if k not in instance)
        return Problem(_object_span(doc, path), code, f"{name} needs {keys}")
    if code == "schema-range":
        return Problem(span, code, f"{name} {_range_words(error)}, got {got}")
    return Problem(span, code, f"{name}: {error.message}")


def _alternatives(doc: Document, error: ValidationError, path: JsonPath) -> Problem:
    """anyOf / oneOf / not: the schema's own words where it has them, else the closest branch."""
    custom = _node(error).get("errorMessage")
    limit = _limit(error)
    alternatives = limit if isinstance(limit, list) else []
    if alternatives and all(set(alt) == {"required"} for alt in alternatives):
        keys = " or ".join(f"`{alt['required'][0]}`" for alt in alternatives)
        message = custom or f"{_what(path)} needs {keys}"
        return Problem(_object_span(doc, path), "schema-required", message)
    if error.validator == "not":
        message = custom or f"{_what(path)}: {error.message}"
        return Problem(_object_span(doc, path), "schema-invalid", message)
    best = _closest(error.context or [])
    fallback = Problem(doc.span(path), "schema-invalid", f"{_what(path)}: {error.message}")
    if best is None:
        return fallback
    if custom is None:
        return next(iter(_problems(doc, best)), fallback)
    code = _CODE_OF.get(str(best.validator), "schema-invalid")
    message = f"{_what(path)} must be {custom}, got {_describe(_instance(error))}"
    return Problem(doc.span(path), code, message)


def _closest(errors: list[ValidationError]) -> ValidationError | None:
    """The branch meant for this kind of value: "ten" for a percentage is a malformed "10%",
    not a wrong type for the fraction branch, so type mismatches count only when all are."""
    fitting = [e for e in errors if e.validator != "type"]
    best: ValidationError | None = best_match(fitting or errors)
    return best


def _duplicate(doc: Document, items: list[Any], path: JsonPath) -> Problem:
    seen: list[Any] = []
    for i, item in enumerate(items):
        if item in seen:
            message = f"{_what(path)} lists {_describe(item)} twice"
            return Problem(doc.span((*path, i)), "schema-range", message, "remove the second one")
        seen.append(item)
    return Problem(doc.span(path), "schema-range", f"{_what(path)} lists a value twice")


def _range_words(error: ValidationError) -> str:
    limit = _limit(error)
    return {
        "minimum": f"must be at least {limit}",
        "maximum": f"must be at most {limit}",
        "exclusiveMinimum": f"must be more than {limit}",
        "exclusiveMaximum": f"must be less than {limit}",
        "minItems": "must not be empty" if limit == 1 else f"needs at least {limit} items",
        "maxItems": f"must have at most {limit} items",
        "minLength": "must not be empty" if limit == 1 else f"needs at least {limit} characters",
        "maxLength": f"must be at most {limit} characters",
    }.get(str(error.validator), str(error.message))


def _type_words(wanted: object) -> str:
    kinds = wanted if isinstance(wanted, list) else [wanted]
    return " or ".join(_TYPE_WORDS.get(str(kind), str(kind)) for kind in kinds)


def _type_hint(error: ValidationError) -> str | None:
    value, wanted = _instance(error), _limit(error)
    if isinstance(value, dict | list):
        return "check the indentation: a mapping or list is where a single value belongs"
    text_wanted = wanted == "string" or (isinstance(wanted, list) and "string" in wanted)
    if text_wanted and isinstance(value, int | float) and not isinstance(value, bool):
        return f'put it in quotes to make it text: "{_plain(value)}"'
    number_wanted = wanted in ("integer", "number")
    if number_wanted and isinstance(value, str) and _looks_numeric(value):
        return "remove the quotes: it is written as text"
    return None


def _node(error: ValidationError) -> Mapping[str, Any]:
    """The schema node that failed (jsonschema types it loosely)."""
    return error.schema if isinstance(error.schema, Mapping) else {}


def _limit(error: ValidationError) -> Any:
    return error.validator_value


def _instance(error: ValidationError) -> Any:
    return error.instance


def _looks_numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _what(path: JsonPath) -> str:
    """Where a value is, in words: "`budget.total` of offer `winback`", "`per` of frequency
    cap 2", "expectation 1 of test `vip`"."""
    if not path:
        return "the file"
    owner, rest = f"`{path[0]}`", list(path[1:])
    if len(path) >= 2 and path[0] in _SECTION_ITEMS:
        owner, rest = f"{_SECTION_ITEMS[str(path[0])]} `{path[1]}`", list(path[2:])
    for i in range(len(rest) - 1, 0, -1):
        item, holder = rest[i], rest[i - 1]
        if isinstance(item, int) and isinstance(holder, str) and holder in _LIST_ITEMS:
            outer = f" of {owner}" if path[0] in _SECTION_ITEMS else ""
            owner, rest = f"{_LIST_ITEMS[holder]} {item + 1}{outer}", rest[i + 1 :]
            break
    if not rest:
        return owner
    words = ".".join(str(p) for p in rest if isinstance(p, str))
    if isinstance(rest[-1], int):
        return f"`{words}` item {rest[-1] + 1} of {owner}" if words else owner
    return f"`{words}` of {owner}"


def _describe(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "an empty value"
    if isinstance(value, str):
        return f'text "{value}"' if len(value) <= 60 else f'text "{value[:57]}..."'
    if isinstance(value, int | float):
        return f"the number {_plain(value)}"
    if isinstance(value, list):
        return "a list"
    return "a mapping"


def _plain(value: object) -> str:
    return json.dumps(value, ensure_ascii=False) if isinstance(value, bool) else str(value)
