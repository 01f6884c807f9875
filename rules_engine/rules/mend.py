"""A schema error hides nothing else: the problems of a broken rule that do not depend on it.

A rule with a schema error is left out of the rule set (later checks need the shapes the schema
guarantees), and so is a calendar with one. To still report everything else wrong in them (an
offer missing `content` and naming an unknown channel, a channel with a mistyped `cost` and an
unknown segment in `entry`, a blackout missing `until` beside a frequency cap on an unknown
channel, a rule test missing `as_of` that expects an unknown offer), each such part is mended
and checked again beside the rest: the broken keys and list items are taken out, the required
keys they leave missing are stood in for by values that raise no problem of their own, and
the list items after a removed one keep their places in the file. Problems at a broken key or a
stand-in are not reported again: the schema error says them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from ..errors import Problem, Span
from ..store import StoreSchema
from .load import Document, JsonPath
from .resolve import resolve
from .schema import SCHEMA, _compiled, check_document

if TYPE_CHECKING:  # loaded only to mend a file with schema errors
    from jsonschema import Draft202012Validator

# Values for required keys, by the schema's name of the object that requires them: each is
# valid and names nothing, so it raises no problem of its own.
STAND_INS: dict[str, dict[str, object]] = {
    "metric": {"value": "0"},
    "segment": {"where": "True"},
    "offer": {"audience": "True", "channels": ["_"], "content": "-"},
    "test": {"as_of": "1900-01-01T00:00:00Z", "expect": [{"customer": 0}]},
    "test_step": {"as_of": "1900-01-01T00:00:00Z", "expect": [{"customer": 0}]},
    "frequency_cap": {"max": 1, "per": "1d"},
    "blackout": {"from": "1900-01-01", "until": "1900-01-01"},
}

# Problems that compare a key with others of its rule, by the keys they read: where such a key
# was taken out or stood in for, the comparison would be with a value the rule does not have.
DEPENDS: dict[str, frozenset[str]] = {
    key: frozenset(codes)
    for codes, keys in (
        (("metric-type",), ("value", "type", "default")),
        (("ambiguous-priority",), ("priority", "group")),
        (("variant-weights",), ("variants", "weight")),
        (("holdout-contaminated",), ("holdout", "incentive", "variants", "group")),
        (("window-order",), ("from", "until")),
        (
            ("calendar-cadence", "calendar-sync", "calendar-unapproved", "calendar-incentive"),
            ("schedule", "at", "channel", "campaign", "status", "promotes", "incentive"),
        ),
    )
    for key in keys
}

# The parts mended apart: a rule of these sections, and the calendar as a whole.
RULE_SECTIONS = ("metrics", "segments", "channels", "offers", "tests")
WHOLE_SECTIONS = ("calendar",)

_DROP = object()


def problems_beside_schema_errors(
    documents: Sequence[Document],
    good: Sequence[Document],
    errors: Sequence[Problem],
    schema: StoreSchema,
    as_of: datetime | date | None,
) -> list[Problem]:
    """The problems, in the parts with schema errors, that do not depend on a broken key."""
    mended: list[Document] = []
    repairs: list[_Repair] = []
    for doc, kept in zip(documents, good, strict=True):
        repair = _Repair(doc, [p for p in errors if p.span.file == doc.path])
        fixed = repair.mended()
        mended.append(fixed or kept)
        if fixed is not None:
            repairs.append(repair)
    if not repairs:
        return []
    _, found = resolve(mended, schema, as_of=as_of)
    seen = {(p.code, p.span) for p in errors}
    return [p for p in found if (p.code, p.span) not in seen and any(r.owns(p) for r in repairs)]


@dataclass
class _Repair:
    """One document's broken parts, mended."""

    doc: Document
    errors: list[Problem]
    parts: list[JsonPath] = field(default_factory=list)  # the parts mended and checked again
    skipped: set[tuple[int, int]] = field(default_factory=set)  # positions not reported again
    moves: dict[JsonPath, dict[int, int]] = field(default_factory=dict)  # list: old → new index
    touched: dict[JsonPath, set[str]] = field(default_factory=dict)  # part → keys taken out
    _keys: set[str] = field(default_factory=set)  # those of the part being mended

    def mended(self) -> Document | None:
        data = self.doc.data if isinstance(self.doc.data, dict) else {}
        out: dict[object, object] = {}
        for section, body in data.items():
            name = str(section)
            if not self._broken((name,)):
                out[section] = body
            elif name in RULE_SECTIONS and isinstance(body, dict):
                out[section] = self._rules(name, body)
            elif name in WHOLE_SECTIONS:
                part = self._part((name,), body, _section_schema(name), {name: None})
                if part is not _DROP:
                    out[section] = part
        if not self.parts:
            return None
        for problem in self.errors:
            self.skipped.add((problem.span.line, problem.span.col))
        return self._moved(replace(self.doc, data=out))

    def owns(self, problem: Problem) -> bool:
        """Whether a problem of the mended check is one of the mended parts' own, and does not
        read a key that was taken out or stood in for."""
        span = problem.span
        if span.file != self.doc.path or (span.line, span.col) in self.skipped:
            return False
        for part in self.parts:
            if self.doc.holds(part, span):
                keys = self.touched.get(part, set())
                return not any(problem.code in DEPENDS.get(key, ()) for key in keys)
        return False

    def _rules(self, section: str, body: dict[Any, Any]) -> dict[Any, Any]:
        node = _section_schema(section).get("additionalProperties", {})
        rules: dict[Any, Any] = {}
        for rule_id, rule in body.items():
            path = (section, str(rule_id))
            if not self._broken(path):
                rules[rule_id] = rule
                continue
            mended = self._part(path, rule, node, {section: {rule_id: None}})
            if mended is not _DROP:
                rules[rule_id] = mended
        return rules

    def _part(self, path: JsonPath, value: object, node: Any, frame: dict[str, Any]) -> object:
        """A broken rule or section mended, if what is left passes the schema (checked within
        `frame`, the document around it, so that ids and sections are checked as in place)."""
        self._keys = self.touched.setdefault(path, set())
        mended = self._mend(path, value, node)
        if mended is _DROP:
            return _DROP
        _fill(frame, mended)
        if check_document(self._moved(replace(self.doc, data=frame))):
            return _DROP
        self.parts.append(path)
        self.skipped.add(_start(self.doc.key_span(path)))
        return mended

    def _mend(self, path: JsonPath, value: object, node: Any) -> object:
        if not self._broken(path):
            return value
        node, name = _resolved(node)
        if not isinstance(value, dict | list) or self._broken_itself(path, value):
            return _DROP
        if isinstance(value, dict):
            out = {}
            for key, child in value.items():
                mended = self._mend((*path, str(key)), child, _child(node, str(key)))
                if mended is not _DROP:
                    out[key] = mended
                else:
                    self._keys.add(str(key))
            for key in node.get("required", ()):
                if key not in out:
                    self._keys.add(key)
                    stand_in = STAND_INS.get(name or "", {})
                    if key not in stand_in:
                        return _DROP
                    out[key] = stand_in[key]
                    self.skipped.add(_start(self.doc.span((*path, key))))
            return out if _valid(node, out) else _DROP
        items: list[object] = []
        kept: dict[int, int] = {}
        for i, child in enumerate(value):
            mended = self._mend((*path, i), child, _child(node, i))
            if mended is not _DROP:
                kept[i] = len(items)
                items.append(mended)
        if len(items) < len(value):
            self._keys.add(str(path[-1]))  # the list lacks an item
            self.moves[path] = kept
        return items

    def _broken(self, path: JsonPath) -> bool:
        return any(self.doc.holds(path, p.span) for p in self.errors)

    def _broken_itself(self, path: JsonPath, value: dict[Any, Any] | list[Any]) -> bool:
        """An error of the object or list as a whole (its type, its length), not of a key or
        item in it; a missing key is stood in for."""
        keys = value.keys() if isinstance(value, dict) else range(len(value))
        children = [(*path, key if isinstance(key, int) else str(key)) for key in keys]
        return any(
            p.code != "schema-required"
            and self.doc.holds(path, p.span)
            and not any(self.doc.holds(child, p.span) for child in children)
            for p in self.errors
        )

    def _moved(self, doc: Document) -> Document:
        """The document with the positions of list items that moved up in their list."""
        if not self.moves:
            return doc
        return replace(
            doc,
            nodes=_renamed(doc.nodes, self.moves),
            key_nodes=_renamed(doc.key_nodes, self.moves),
            scalars=_renamed(doc.scalars, self.moves),
        )


def _renamed(by_path: Mapping[JsonPath, Any], moves: dict[JsonPath, dict[int, int]]) -> Any:
    out = {}
    for path, node in by_path.items():
        steps: list[str | int] = []
        for i, step in enumerate(path):
            moved = moves.get(path[:i])
            if moved is not None and isinstance(step, int):
                if step not in moved:
                    break
                step = moved[step]
            steps.append(step)
        else:
            out[tuple(steps)] = node
    return out


def _fill(frame: dict[str, Any], value: object) -> None:
    """Put `value` at the one leaf (None) of `frame`."""
    for key, inner in frame.items():
        if inner is None:
            frame[key] = value
        else:
            _fill(inner, value)


def _section_schema(section: str) -> Any:
    return _resolved(SCHEMA["properties"].get(section, {}))[0]


def _resolved(node: Any) -> tuple[Any, str | None]:
    """A schema node with its `$ref`s followed, and the name of the definition it is."""
    name = None
    while isinstance(node, dict) and "$ref" in node:
        name = str(node["$ref"]).rsplit("/", 1)[-1]
        node = SCHEMA["$defs"][name]
    return (node if isinstance(node, dict) else {}), name


_VALIDATORS: dict[int, Draft202012Validator] = {}


def _valid(node: dict[str, Any], value: object) -> bool:
    """Whether `value` passes the schema node (its alternatives and conditions too)."""
    from jsonschema import Draft202012Validator

    checker = _VALIDATORS.get(id(node))
    if checker is None:
        checker = _VALIDATORS[id(node)] = Draft202012Validator(_compiled(node, SCHEMA["$defs"]))
    return bool(checker.is_valid(value))


def _child(node: Any, key: str | int) -> Any:
    if isinstance(key, int):
        return node.get("items", {})
    for holder in (node, node.get("then", {}), node.get("else", {})):
        properties = holder.get("properties", {}) if isinstance(holder, dict) else {}
        if key in properties:
            return properties[key]
    more = node.get("additionalProperties")
    return more if isinstance(more, dict) else {}


def _start(span: Span) -> tuple[int, int]:
    return span.line, span.col
