"""The part of resolving every section shares: the rules gathered by section, problems
reported, and expressions parsed once per text and typed once per meaning (`Resolving`); the
shapes a rule and an expression have while they are resolved (`Entry`, `Parsed`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import available_timezones

from ..errors import Problem, Severity, Span, did_you_mean
from ..expr import (
    Context,
    Node,
    Scope,
    literal_expression,
    parse_expression,
    referenced_names,
    typecheck,
)
from ..expr.functions import NUMERIC, TEMPORAL
from ..expr.parse import OFFSETS, Locate, anchored
from ..expr.typecheck import names_in_scope
from ..store import RuleType, StoreSchema
from .load import Document, JsonPath
from .model import Expression, Offer, Window

SECTIONS = ("metrics", "segments", "channels", "offers", "tests")


@dataclass(frozen=True)
class Entry:
    """One rule as written: its id, body and where it stands."""

    doc: Document
    id: str
    body: dict[str, Any]

    def path(self, section: str, *rest: str | int) -> JsonPath:
        return (section, self.id, *rest)


@dataclass(frozen=True)
class Parsed:
    """An expression as written: its text and the names it uses; its tree, parsed on one line
    from column `shift` (see `expr.parse.anchored`), and where the text stands. `here`: the tree
    is already in place; `place` is None for a YAML scalar used as an expression."""

    text: str
    names: tuple[str, ...]
    tree: Node
    shift: int
    place: Locate | None
    here: bool


class Resolving:
    """What the sections of `resolve._Resolver` share."""

    def __init__(
        self,
        documents: Sequence[Document],
        schema: StoreSchema,
        as_of: datetime | date | None,
        broken: Sequence[Document],
    ) -> None:
        self.documents = documents
        self._broken_docs = broken
        self.problems: list[Problem] = []
        self.entries = {section: self._gather(section) for section in SECTIONS}
        self.broken = {
            # ids as text: a rule the schema refused may have a number for an id (`123:`)
            section: {str(rule_id) for doc in broken for rule_id in _mapping(doc.data, section)}
            for section in SECTIONS
        }
        self.schema = schema.with_declared(self._declared_store())
        self.as_of = as_of
        self.metric_types: dict[str, RuleType] = {}
        self._known: dict[str, set[str]] = {}
        self.failed: set[str] = self.broken["metrics"] | self.broken["segments"]
        self.failed |= {  # declared columns the schema refused: reported there
            str(column)
            for doc in broken
            for columns in _mapping(doc.data, "store").values()
            if isinstance(columns, dict)
            for column in columns
        }
        self.segment_names = frozenset(self.known("segments"))
        # rules repeat their conditions: each distinct text is parsed once (False: it has
        # problems), and typed once per meaning of its names, then placed at each occurrence
        self._texts: dict[str, tuple[Node, int, tuple[str, ...]] | bool] = {}
        self._typed: dict[tuple[object, ...], tuple[Node, int]] = {}

    def known(self, section: str) -> set[str]:
        """Ids defined in a section, including those of rules that failed the schema."""
        if section not in self._known:
            self._known[section] = set(self.entries[section]) | self.broken[section]
        return self._known[section]

    def report(
        self,
        span: Span,
        code: str,
        message: str,
        hint: str | None = None,
        severity: Severity = Severity.ERROR,
    ) -> None:
        self.problems.append(Problem(span, code, message, hint, severity))

    def unknown(self, span: Span, kind: str, name: str, known: Iterable[str]) -> None:
        names = list(known)
        listed = ", ".join(f"`{n}`" for n in names)
        few = f"the {kind}s defined: {listed}" if len(names) <= 10 else None
        hint = did_you_mean(name, names, otherwise=few)
        if not names:
            hint = f"no {kind} is defined in the files checked"
        self.report(span, "unknown-reference", f"unknown {kind} `{name}`", hint)

    def _gather(self, section: str) -> dict[str, Entry]:
        seen: dict[str, Entry] = {}
        for doc in self.documents:
            items = _mapping(doc.data, section)
            for rule_id, body in items.items():
                if rule_id in seen:
                    first = seen[rule_id].doc.key_span((section, rule_id))
                    self.report(
                        doc.key_span((section, rule_id)),
                        "duplicate-id",
                        f"{section[:-1]} `{rule_id}` is already defined at {first}",
                        "rename one of them; ids are unique across all rule files",
                    )
                    continue
                seen[rule_id] = Entry(doc, rule_id, body if isinstance(body, dict) else {})
        return seen

    def _declared_store(self) -> dict[str, dict[str, RuleType]]:
        declared: dict[str, dict[str, RuleType]] = {}
        for doc in self.documents:
            for table, columns in _mapping(doc.data, "store").items():
                declared.setdefault(table, {}).update(columns or {})
        return declared

    def parse(self, doc: Document, path: JsonPath) -> Parsed | None:
        value = _get(doc.data, path)
        if isinstance(value, str):
            origin = doc.origin(path)

            def locate(start: int, end: int) -> Span:
                return doc.locate(path, start, end)

            place = locate if origin is None else _on_line(*origin)
            known = self._texts.get(value)
            if known is None and origin is not None:  # parsed in place, kept for the next ones
                tree, problems = parse_expression(value, locate, file=doc.path, origin=origin)
                self.problems += problems
                if tree is None:
                    self._texts[value] = False
                    return None
                names = tuple(sorted(referenced_names(tree)))
                self._texts[value] = (tree, origin[2], names)
                return Parsed(value, names, tree, origin[2], place, here=True)
            if known is None:  # quoted or on several lines: offsets in the text are kept
                tree, _ = parse_expression(value, origin=OFFSETS)
                known = self._texts[value] = (
                    (tree, 0, tuple(sorted(referenced_names(tree)))) if tree is not None else False
                )
            if known is False:  # parsed again where it stands, for the problems' positions
                _, problems = parse_expression(value, locate, file=doc.path, origin=origin)
                self.problems += problems
                return None
            assert known is not True
            tree, shift, names = known
            return Parsed(value, names, tree, shift, place, here=False)
        if value is None or isinstance(value, bool | int | float):
            literal = literal_expression(value, doc.span(path))
            return Parsed(str(value), (), literal, 0, None, here=True)
        return None

    def check(
        self, doc: Document, path: JsonPath, parsed: Parsed | None, scope: Scope
    ) -> Expression | None:
        if parsed is None:
            return None
        if self.failed and not self.failed.isdisjoint(parsed.names):
            return None  # the rule it uses is already reported; don't cascade
        typed, problems = self.typecheck(parsed, scope)
        self.problems += problems
        if typed is None or any(p.is_error for p in problems):
            return None
        return Expression(parsed.text, typed, _type_of(typed), doc.span(path))

    def typecheck(self, parsed: Parsed, scope: Scope) -> tuple[Node | None, list[Problem]]:
        """`typecheck` of the tree in place; a result without problems is kept for the next
        occurrence of the text whose names mean the same things (`names_in_scope`)."""
        if parsed.place is None:
            return typecheck(parsed.tree, scope)
        key = (parsed.text, scope.context, scope.expect, names_in_scope(parsed.names, scope))
        known = self._typed.get(key)
        if known is None:
            typed, problems = typecheck(parsed.tree, scope)
            if problems or typed is None:
                if parsed.here:
                    return typed, problems
                # checked again in place, for the problems' positions
                return typecheck(anchored(parsed.tree, parsed.place, parsed.shift), scope)
            known = self._typed[key] = (typed, parsed.shift)
            if parsed.here:
                return typed, []
        tree, shift = known
        return anchored(tree, parsed.place, shift), []

    def expression(self, doc: Document, path: JsonPath, scope: Scope) -> Expression | None:
        return self.check(doc, path, self.parse(doc, path), scope)

    def scope(
        self,
        context: Context,
        expect: RuleType | str | None = "boolean",
        table: str | None = None,
    ) -> Scope:
        # metric types are shared, not copied: a metric's type is known before anything that
        # uses it is checked (dependency order), and copying per expression is quadratic
        return Scope(
            columns=self.schema.columns("customers"),
            metrics=self.metric_types,
            segments=self.segment_names,
            related=self.schema.columns(table) if table else None,
            related_table=table,
            context=context,
            expect=expect,  # type: ignore[arg-type]
        )


# -- small helpers ---------------------------------------------------------------------


def _mapping(data: object, key: str) -> dict[str, Any]:
    value = data.get(key) if isinstance(data, dict) else None
    return value if isinstance(value, dict) else {}


def _get(data: object, path: JsonPath) -> object:
    for key in path:
        data = data[key]  # type: ignore[index]
    return data


def _on_line(file: str, line: int, col: int) -> Locate:
    """Where offsets of a one-line plain value stand: plain columns from `col`."""

    def place(start: int, end: int) -> Span:
        return Span(file, line, col + start, line, col + end)

    return place


def _type_of(typed: Any) -> RuleType | None:
    return getattr(typed, "type", None)


def _in_file_order(built: Mapping[str, Any], entries: Mapping[str, Entry]) -> dict[str, Any]:
    return {rule_id: built[rule_id] for rule_id in entries if rule_id in built}


def _compatible(declared: str, inferred: str) -> bool:
    if declared == inferred or inferred == "null":
        return True
    return (declared == "real" and inferred == "integer") or {declared, inferred} <= TEMPORAL


def _value_fits(value: object, rule_type: str) -> bool:
    if rule_type in NUMERIC:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if rule_type == "boolean":
        return isinstance(value, bool)
    return isinstance(value, str)


def _date(text: str | None) -> date | None:
    return date.fromisoformat(text) if text else None


_ZONES: set[str] = set()


def _zones() -> set[str]:
    if not _ZONES:
        _ZONES.update(available_timezones())
    return _ZONES


def incentive_kinds(offer: Offer) -> set[str]:
    """The incentive types an offer can hand out (its own and its variants')."""
    found = {offer.incentive.get("type")} if offer.incentive else set()
    found |= {v.incentive.get("type") for v in offer.variants if v.incentive}
    return {str(kind) for kind in found if kind is not None}


def windows_overlap(a: Window | None, b: Window | None) -> bool:
    """Whether two offer windows (both ends inclusive, open ends unbounded) share a day."""
    if a is None or b is None:
        return True
    starts = [d for d in (a.start, b.start) if d is not None]
    ends = [d for d in (a.until, b.until) if d is not None]
    return not starts or not ends or max(starts) <= min(ends)
