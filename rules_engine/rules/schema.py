"""The published JSON Schema of rule files, and its errors in a marketer's words.

`schemas/rules.schema.json` is what editors use for autocompletion and hover help; the same file
validates every document here, so the editor, CI and `check-jsonschema` agree on what is valid.
Each jsonschema error becomes one Problem at the offending key or value. The wording of pattern
and alternative errors comes from the schema's `patternErrorMessage` and `errorMessage` (VS
Code's extensions), so editors and `campaign validate` say the same thing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from ..errors import PROBLEM_CODES, Problem, Span, did_you_mean

SCHEMA_FILE = Path(__file__).with_name("rules.schema.json")
SCHEMA: dict[str, Any] = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))

if TYPE_CHECKING:  # jsonschema is loaded when a file is validated (`known_valid`: not always)
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import ValidationError

CODES = PROBLEM_CODES["schema"]

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
    "then": "step",
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
_ANNOTATIONS = frozenset(
    {"description", "examples", "title", "$comment", "$schema", "$id"}
    | {"markdownDescription", "defaultSnippets", "default", "doNotSuggest"}
)


@lru_cache(maxsize=1)
def validator() -> Draft202012Validator:
    """One validator for the process, over a copy of the schema with `$ref`s inlined and
    annotations dropped: the same rules, but no reference lookups or idle keywords while
    validating (reference lookups were a third of the schema stage on large rule sets)."""
    from jsonschema import Draft202012Validator

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


def check_document(doc: Document, shapes: Shapes | None = None) -> list[Problem]:
    """Every schema error of one document, one problem per place, in file order.

    With `shapes` (one per check), rules of a shape already seen valid are not walked again;
    the problems are the same.
    """
    problems: dict[tuple[Span, str], Problem] = {}
    missing: dict[Span, _Missing] = {}
    data = doc.data if shapes is None else shapes.unseen(doc.data)
    for error in validator().iter_errors(data):
        if error.validator == "required":
            _collect_missing(doc, error, missing)
            continue
        for problem in _problems(doc, error):
            problems.setdefault((problem.span, problem.code), problem)
    for span, (path, names, own_words) in missing.items():
        listed = " and ".join(f"`{n}`" for n in names)
        message = "; ".join([f"{_what(path)} needs {listed}"] * bool(names) + own_words)
        problems.setdefault((span, "schema-required"), Problem(span, "schema-required", message))
    return sorted(problems.values(), key=Problem.sort_key)


_Missing = tuple[JsonPath, list[str], list[str]]  # where, the keys, the schema's own words


def _collect_missing(doc: Document, error: ValidationError, missing: dict[Span, _Missing]) -> None:
    """jsonschema reports each missing key apart; the marketer reads one line per rule.

    A node that only requires (no `properties`) and has an `errorMessage` says in its own words
    what is missing, such as a frequency cap's "`channel` or `group`"."""
    path: JsonPath = tuple(error.absolute_path)
    instance, required, node = _instance(error), _limit(error), _node(error)
    _, names, own_words = missing.setdefault(_object_span(doc, path), (path, [], []))
    words = node.get("errorMessage") if "properties" not in node else None
    if isinstance(words, str):
        own_words.extend([words] * (words not in own_words))
    elif isinstance(instance, dict) and isinstance(required, list):
        names.extend(n for n in required if n not in instance and n not in names)


def _object_span(doc: Document, path: JsonPath) -> Span:
    """A rule's problems as a whole point at its id, a list item's at the item."""
    return doc.key_span(path) if path else doc.span(path)


def _problems(doc: Document, error: ValidationError) -> Iterator[Problem]:
    path: JsonPath = tuple(error.absolute_path)
    kind, instance = str(error.validator), _instance(error)
    schema_path = error.absolute_schema_path
    if error.validator is None:  # a `false` schema: a key that must not be there
        yield from _forbidden_keys(doc, error, path)
    elif kind == "additionalProperties" and isinstance(instance, dict):
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
    """A key of no kind of this object is a typo; a key of another kind (calendar constraints
    are one kind each, told by their keys) does not go with the keys beside it."""
    allowed = sorted(_node(error).get("properties", {}))
    listed = "allowed: " + ", ".join(allowed)
    of_any_kind = _keys_of_every_kind(error.absolute_schema_path)
    for key in instance:
        if key in allowed:
            continue
        span = doc.key_span((*path, key))
        if key in of_any_kind:
            message = f"`{key}` does not go with the other keys of {_what(path)}"
            yield Problem(span, "schema-unknown-key", message, listed)
            continue
        close = did_you_mean(str(key), allowed or sorted(of_any_kind))
        hint = f"{close} ({listed})" if close else listed
        where = f" in {_what(path)}" if path else ""
        yield Problem(span, "schema-unknown-key", f"unknown key `{key}`{where}", hint)


def _keys_of_every_kind(schema_path: Iterable[str | int]) -> frozenset[str]:
    """The keys of every `then` / `else` branch of the object whose error this is, when the
    error is in such a branch (nothing otherwise)."""
    steps = list(schema_path)
    kinds = [i for i in _keyword_steps(steps) if steps[i] in ("then", "else")]
    if not kinds:
        return frozenset()
    keys: set[str] = set()
    todo = [_schema_at(steps[: kinds[0]])]
    while todo:
        node = todo.pop()
        if isinstance(node, Mapping):
            keys.update(node.get("properties", {}))
            todo.extend(node.get(branch) for branch in ("then", "else"))
    return frozenset(keys)


_NAMES = frozenset({"properties", "patternProperties", "dependentSchemas", "$defs"})
_INDEXED = frozenset({"allOf", "anyOf", "oneOf", "prefixItems"})


def _keyword_steps(steps: list[str | int]) -> list[int]:
    """Which steps of a schema path are keywords, not property names or list indices: a
    property may be called `then`."""
    keywords, i = [], 0
    while i < len(steps):
        keywords.append(i)
        i += 2 if steps[i] in _NAMES or steps[i] in _INDEXED else 1
    return keywords


def _forbidden_keys(doc: Document, error: ValidationError, path: JsonPath) -> Iterator[Problem]:
    """Keys whose schema is `false` (a frequency cap's `channel` beside `group`), at the key,
    in the words of the schema node that forbids them."""
    steps = list(error.absolute_schema_path)
    forbidding, holder = _schema_at(steps), _schema_at(steps[:-1])
    value: Any = doc.data
    for step in path:
        value = value[step]
    if not isinstance(forbidding, Mapping) or not isinstance(value, dict):
        yield Problem(doc.span(path), "schema-invalid", f"{_what(path)}: {error.message}")
        return
    for key in value:
        if forbidding.get(key) is False:
            words = holder.get("errorMessage") if isinstance(holder, Mapping) else None
            message = words or f"`{key}` is not allowed in {_what(path)}"
            yield Problem(doc.key_span((*path, key)), "schema-invalid", message)


def _schema_at(steps: Iterable[str | int]) -> Any:
    """The node of the validator's schema at a schema path."""
    node: Any = validator().schema
    for step in steps:
        node = node[step]
    return node


def _limits_of_if(error: ValidationError) -> bool:
    """A type error in an `else` whose `if` takes values of this type: the value failed the
    `if` on its limits (a share of 1.5: a fraction over 1), not on its type."""
    steps = list(error.absolute_schema_path)
    if len(steps) < 2 or steps[-2] != "else" or len(steps) - 2 not in _keyword_steps(steps):
        return False
    condition = _schema_at(steps[:-2]).get("if")
    if not isinstance(condition, Mapping) or "type" not in condition:
        return False
    return bool(validator().evolve(schema={"type": condition["type"]}).is_valid(error.instance))


def _single(doc: Document, error: ValidationError, path: JsonPath) -> Problem:
    kind, instance, limit = str(error.validator), _instance(error), _limit(error)
    name, got = _what(path), _describe(instance)
    code = _CODE_OF.get(kind, "schema-invalid")
    span = doc.span(path)
    if kind == "type":
        words = _node(error).get("patternErrorMessage") or _type_words(limit)
        if _limits_of_if(error):
            return Problem(span, "schema-range", f"{name} must be {words}, got {got}")
        return Problem(span, code, f"{name} must be {words}, got {got}", _type_hint(error))
    if kind in ("enum", "const"):
        allowed = limit if kind == "enum" else [limit]
        values = ", ".join(json.dumps(v, ensure_ascii=False) for v in allowed)
        hint = did_you_mean(str(instance), [str(v) for v in allowed], form='"{}"')
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
    limit = _limit(error)
    alternatives = limit if isinstance(limit, list) else []
    own = {alt.get("errorMessage") for alt in alternatives if isinstance(alt, dict)}
    custom = (own.pop() if len(own) == 1 else None) or _node(error).get("errorMessage")
    if alternatives and all(
        isinstance(alt, dict) and "required" in alt and set(alt) <= {"required", "errorMessage"}
        for alt in alternatives
    ):
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
    from jsonschema.exceptions import best_match

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


# -- rules of a shape already seen valid -------------------------------------------------------
#
# Rule sets repeat themselves: offers with the same keys, conditions and kinds of value. jsonschema
# walks every rule anew (a third of a check's time); `Shapes` lets a check skip the rules whose
# *shape* it has already seen pass. A shape keeps exactly what this schema's keywords can look at:
#
# - every key the schema names (in `properties` or `required`) as written, other keys by their
#   features as text (all `propertyNames` reads);
# - the Python type of every value, and whether a float is whole (`type`: "integer" takes 2.0);
# - for text: whether it matches each of the schema's patterns (`re.search`, as jsonschema), each
#   minLength / maxLength verdict, and the text itself when it is one of the enum / const values
#   (`enum` compares text with `==` only; numbers, lists and mappings never equal text);
# - for numbers: each minimum / maximum / exclusive* verdict, and the number itself if some enum
#   or const holds numbers; booleans and None as they are;
# - for lists: every item's shape in order (so their length) and whether the items are unique.
#
# Every keyword's verdict is a function of these, so two values of one shape get the same verdict
# from every keyword, at every place, and so the same verdict overall. A schema that uses a keyword
# not listed in `_UNDERSTOOD` (or a `$ref`) turns the shortcut off: nothing is skipped.

_ONE_SCHEMA = frozenset({"additionalProperties", "items", "propertyNames", "not", "if"})
_SCHEMA_LISTS = frozenset({"allOf", "anyOf", "oneOf"})
_BOUNDS = frozenset({"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"})
_LENGTHS = frozenset({"minLength", "maxLength"})
_UNDERSTOOD = (
    _ONE_SCHEMA
    | _SCHEMA_LISTS
    | _BOUNDS
    | _LENGTHS
    | {"type", "properties", "required", "pattern", "enum", "const"}
    | {"minItems", "maxItems", "uniqueItems"}  # list length and uniqueness are in the shape
)
_RULE_MAP = frozenset({"type", "propertyNames", "additionalProperties"})


class _NoShape(Exception):
    """A value of a Python type the loader does not produce: always validated."""


@dataclass(frozen=True)
class _Features:
    """What the schema's keywords read of a value, gathered from the whole schema once."""

    names: frozenset[str]
    patterns: tuple[re.Pattern[str], ...]
    lengths: tuple[tuple[str, int], ...]
    bounds: tuple[tuple[str, float], ...]
    texts: frozenset[str]
    numbers_exact: bool


def _features(schema: object) -> _Features | None:
    names: set[str] = set()
    patterns: dict[str, None] = {}
    lengths: dict[tuple[str, int], None] = {}
    bounds: dict[tuple[str, float], None] = {}
    texts: set[str] = set()
    numbers_exact = False
    keywords = _keywords()
    todo = [schema]
    while todo:
        node = todo.pop()
        if isinstance(node, bool):
            continue
        if not isinstance(node, dict):
            return None
        for key, value in node.items():
            if key in keywords and key not in _UNDERSTOOD:
                return None
            if key in _ONE_SCHEMA or key in ("then", "else"):
                todo.append(value)
            elif key in _SCHEMA_LISTS:
                todo.extend(value)
            elif key == "properties":
                names.update(value)
                todo.extend(value.values())
            elif key == "required":
                names.update(value)
            elif key == "pattern":
                patterns[value] = None
            elif key in _LENGTHS:
                lengths[(key, value)] = None
            elif key in _BOUNDS:
                if isinstance(value, bool) or not isinstance(value, int | float):
                    return None
                bounds[(key, value)] = None
            elif key in ("enum", "const"):
                for member in value if key == "enum" else [value]:
                    if isinstance(member, str):
                        texts.add(member)
                    elif isinstance(member, int | float) and not isinstance(member, bool):
                        numbers_exact = True
                    elif member is not None and not isinstance(member, bool):
                        return None  # a list or mapping as an enum value: not kept in shapes
    return _Features(
        frozenset(names),
        tuple(re.compile(p) for p in patterns),
        tuple(lengths),
        tuple(bounds),
        frozenset(texts),
        numbers_exact,
    )


def _keywords() -> dict[str, Any]:
    """The keywords jsonschema's validator knows."""
    from jsonschema import Draft202012Validator

    return Draft202012Validator.VALIDATORS


@lru_cache(maxsize=1)
def _rule_sections() -> tuple[_Features | None, dict[str, Any]]:
    """The sections that are maps of rules, each with a validator for one `{id: rule}`.

    A section qualifies when the top level reaches it only through `properties` and its own
    schema is `type: object` with `propertyNames` and `additionalProperties`: then the section is
    valid exactly where each of its entries is, and an entry adds errors only where it is invalid.
    """
    compiled: dict[str, Any] = validator().schema  # type: ignore[assignment]
    features = _features(compiled)
    top = {k for k in compiled if k in _keywords()}
    if features is None or not top <= {"type", "properties", "additionalProperties", "required"}:
        return None, {}
    sections = {}
    for name, sub in compiled.get("properties", {}).items():
        own = {k for k in sub if k in _keywords()} if isinstance(sub, dict) else {}
        if (
            own == _RULE_MAP
            and sub["type"] == "object"
            and isinstance(sub["additionalProperties"], dict)
        ):
            sections[name] = validator().evolve(schema=sub)
    return features, sections


class Shapes:
    """The rule shapes one check has validated: which passed, which did not (see above)."""

    def __init__(self) -> None:
        self.features, self.sections = _rule_sections()
        self.verdicts: dict[object, bool] = {}
        self.texts: dict[str, tuple[object, ...]] = {}
        self.searches = [p.search for p in self.features.patterns] if self.features else []

    def unseen(self, data: object) -> object:
        """The document without the rules whose shape passed: the same errors, less to walk."""
        if not self.sections or not isinstance(data, dict):
            return data
        out = data
        for section, checker in self.sections.items():
            rules = data.get(section)
            if not isinstance(rules, dict):
                continue
            kept = {k: v for k, v in rules.items() if not self._passes(section, checker, k, v)}
            if len(kept) < len(rules):
                out = dict(out) if out is data else out
                out[section] = kept
        return out

    def _passes(self, section: str, checker: Any, key: object, body: object) -> bool:
        try:
            shape = (section, self._key(key), self._shape(body))
        except (_NoShape, RecursionError):
            return False
        verdict = self.verdicts.get(shape)
        if verdict is None:
            try:
                verdict = checker.is_valid({key: body})
            except RecursionError:
                return False  # the walk of the whole document reports what it can
            self.verdicts[shape] = verdict
        return verdict

    def _key(self, key: object) -> object:
        assert self.features is not None
        if type(key) is str and key in self.features.names:
            return key
        return ("key", self._shape(key))

    def _shape(self, value: Any) -> object:
        kind = type(value)
        if kind is str:
            found = self.texts.get(value)
            return found if found is not None else self._text(value)
        if kind is dict:
            return ("map", *((self._key(k), self._shape(v)) for k, v in value.items()))
        if kind is list:
            return ("list", _unique(value), *(self._shape(v) for v in value))
        if value is None or kind is bool:
            return value
        if kind is int or kind is float:
            return self._number(value)
        raise _NoShape(kind)

    def _text(self, text: str) -> tuple[object, ...]:
        features = self.features
        assert features is not None
        size = len(text)
        found = (
            "text",
            text if text in features.texts else None,
            *[size < n if kw == "minLength" else size > n for kw, n in features.lengths],
            *[search(text) is not None for search in self.searches],
        )
        self.texts[text] = found
        return found

    def _number(self, x: float) -> tuple[object, ...]:
        features = self.features
        assert features is not None
        return (
            "float" if type(x) is float else "int",
            isinstance(x, float) and x.is_integer(),
            x if features.numbers_exact else None,
            *(_BOUND_FAILS[kw](x, limit) for kw, limit in features.bounds),
        )


_BOUND_FAILS = {  # the comparisons jsonschema makes, in its words: the value fails when true
    "minimum": lambda x, limit: x < limit,
    "maximum": lambda x, limit: x > limit,
    "exclusiveMinimum": lambda x, limit: x <= limit,
    "exclusiveMaximum": lambda x, limit: x >= limit,
}


@lru_cache(maxsize=1)
def _unique_items() -> Draft202012Validator:
    from jsonschema import Draft202012Validator

    return Draft202012Validator({"uniqueItems": True})


def _unique(items: list[Any]) -> bool:
    if len(items) < 2:
        return True
    if all(type(item) is str for item in items):
        return len(set(items)) == len(items)
    return bool(_unique_items().is_valid(items))
