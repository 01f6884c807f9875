"""Rule files → plain data that remembers where every value came from.

YAML is composed with PyYAML's safe loader (so marks survive) and turned into data by our own
walk, which reads values the way marketers mean them rather than by YAML 1.1's guesses:
`10:00` stays the text "10:00" (not 600), `2026-11-01` stays text (not a date object),
`yes`/`no`/`on`/`off` stay text, and only `true`/`false` are booleans. Duplicate keys, unknown
tags and alias bombs become Problems with file, line and column; nothing here raises for a
user's mistake.
"""

from __future__ import annotations

import bisect
import math
import os
import re
import stat
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from ..errors import PROBLEM_CODES, Problem, Span
from ..expr.parse import FULL_WIDTH
from .files import discover

JsonPath = tuple[str | int, ...]

MAX_BYTES = 5 * 1024 * 1024
MAX_NODES = 100_000

CODES = PROBLEM_CODES["load"]

_YAML = "tag:yaml.org,2002:"
_PLAIN_TAGS = {_YAML + t for t in ("str", "int", "float", "bool", "null", "timestamp", "value")}
_STANDARD_TAGS = _PLAIN_TAGS | {_YAML + t for t in ("map", "seq", "merge")}


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """libyaml's safe loader when PyYAML was built with it (about ten times faster); the same
    marks. A tag the file does not write is only ever read by the walk for two things: that it
    is one of YAML's own, and whether a key is the merge key `<<`. So the resolver answers just
    that, and does not guess each scalar's type with regular expressions (a sixth of loading):
    the walk reads values itself (`_plain_value`)."""

    def resolve(self, kind: type[Node], value: str | None, implicit: tuple[bool, bool]) -> str:
        if kind is ScalarNode:
            return _YAML + "merge" if implicit[0] and value == "<<" else _YAML + "str"
        return _YAML + ("seq" if kind is SequenceNode else "map")

    def descend_resolver(self, current_node: object, current_index: object) -> None:
        pass  # no path resolvers (the safe loader has none)

    def ascend_resolver(self) -> None:
        pass


_INT = re.compile(r"^[-+]?(0|[1-9][0-9]*)$")
_INT_BASE = re.compile(r"^(0x[0-9a-fA-F]+|0o[0-7]+)$")
_FLOAT = re.compile(r"^[-+]?(\.[0-9]+|(0|[1-9][0-9]*)\.[0-9]*|(0|[1-9][0-9]*))([eE][-+]?[0-9]+)?$")
_INF = re.compile(r"^[-+]?\.(inf|Inf|INF)$")
_NAN = re.compile(r"^\.(nan|NaN|NAN)$")


_MAYBE_NOT_TEXT = frozenset("-+.0123456789tTfFnN~")


def _plain_value(text: str) -> object:
    """YAML 1.2 core schema for plain scalars; everything else stays the marketer's text."""
    if text and text[0] not in _MAYBE_NOT_TEXT:
        return text
    lowered = text.lower()
    if text in ("", "~") or lowered == "null":
        return None
    if lowered in ("true", "false"):
        return lowered == "true"
    if _INT.match(text):
        return int(text)
    if _INT_BASE.match(text):
        return int(text, 0)
    if _FLOAT.match(text):
        return float(text)
    if _INF.match(text):
        return float("-inf") if text.startswith("-") else float("inf")
    if _NAN.match(text):
        return float("nan")
    return text


def _in_range(value: object) -> bool:
    """No NaN or infinity (whole numbers beyond 64 bits are `value-too-large`)."""
    return not isinstance(value, float) or math.isfinite(value)


@dataclass
class Document:
    """One rule file: its data, and the source span of every value and key in it."""

    path: str
    text: str
    data: object
    nodes: dict[JsonPath, Node] = field(default_factory=dict, repr=False)
    key_nodes: dict[JsonPath, Node] = field(default_factory=dict, repr=False)
    scalars: dict[JsonPath, ScalarNode] = field(default_factory=dict, repr=False)
    _line_starts: list[int] = field(default_factory=list, repr=False)
    raw: bytes = field(default=b"", repr=False)  # the file's bytes as read (the rules digest)

    def span(self, path: JsonPath) -> Span:
        """The value's span, or the nearest ancestor's when the path does not exist."""
        for cut in range(len(path), -1, -1):
            found = self.nodes.get(path[:cut])
            if found is not None:
                return self.span_of(found)
        return Span(self.path, 1, 1, 1, 1)

    def key_span(self, path: JsonPath) -> Span:
        node = self.key_nodes.get(path)
        return self.span_of(node) if node is not None else self.span(path)

    def holds(self, path: JsonPath, span: Span) -> bool:
        """Whether `span` starts at the key of the value at `path` or inside the value."""
        key, body = self.key_span(path), self.span(path)
        at = (span.line, span.col)
        return (key.line, key.col) <= at < (body.end_line, body.end_col) or at == (
            key.line,
            key.col,
        )

    def span_of(self, node: Node) -> Span:
        start, end = node.start_mark, node.end_mark
        return Span(self.path, start.line + 1, start.column + 1, end.line + 1, end.column + 1)

    def style(self, path: JsonPath) -> str | None:
        node = self.scalars.get(path)
        return (node.style or None) if node is not None else None

    def origin(self, path: JsonPath) -> tuple[str, int, int] | None:
        """(file, line, col) of a one-line unquoted value: offsets in it are plain columns."""
        node = self.scalars.get(path)
        if node is None or node.style or node.start_mark.line != node.end_mark.line:
            return None
        return self.path, node.start_mark.line + 1, node.start_mark.column + 1

    def locate(self, path: JsonPath, start: int, end: int) -> Span:
        """Character offsets inside the string value at `path` → a span in the file."""
        node = self.scalars.get(path)
        if node is None:
            return self.span(path)
        mark = node.start_mark
        if (
            node.style in (None, "", "'")
            and mark.line == node.end_mark.line
            and "''" not in node.value
        ):
            col = mark.column + 1 + (node.style == "'")  # one line: offsets are columns
            return Span(self.path, mark.line + 1, col + start, mark.line + 1, col + max(end, start))
        first = self._source_index(node, start)
        last = self._source_index(node, max(end - 1, start)) + (1 if end > start else 0)
        line, col = self._line_col(first)
        end_line, end_col = self._line_col(last)
        return Span(self.path, line, col, end_line, end_col)

    def _source_index(self, node: ScalarNode, offset: int) -> int:
        """Align the loaded value with its source text (quotes, folding, indentation)."""
        begin, stop = node.start_mark.index, node.end_mark.index
        if not node.style and node.start_mark.line == node.end_mark.line:
            return min(begin + offset, stop)
        value, source = node.value, self.text
        j = begin + (1 if node.style in ("'", '"') else 0)
        if node.style in ("|", ">"):
            j = source.find("\n", begin, stop) + 1 or begin
        for i, char in enumerate(value):
            while j < stop and source[j] != char:
                j += 1
            if i == offset or j >= stop:
                return min(j, stop)
            j += 1
        return min(j, stop)

    def _line_col(self, index: int) -> tuple[int, int]:
        if not self._line_starts:
            self._line_starts = [0] + [m.end() for m in re.finditer("\n", self.text)]
        line = bisect.bisect_right(self._line_starts, index) - 1
        return line + 1, index - self._line_starts[line] + 1


class _Walker:
    """Builds plain data and the span tables in one walk of the composed node graph."""

    def __init__(self, doc: Document) -> None:
        self.doc = doc
        self.problems: list[Problem] = []
        self.nodes = 0
        self.exhausted = False

    def span_of(self, node: Node) -> Span:
        return self.doc.span_of(node)

    def problem(self, node: Node, code: str, message: str, hint: str | None = None) -> None:
        self.problems.append(Problem(self.span_of(node), code, message, hint))

    def walk(self, node: Node, path: JsonPath) -> object:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            if not self.exhausted:
                self.exhausted = True
                self.problem(
                    node,
                    "yaml-too-many-aliases",
                    f"anchors and aliases expand to more than {MAX_NODES:,} values",
                    "write the values out, or use fewer nested aliases",
                )
            return None
        self.doc.nodes[path] = node
        if node.tag not in _STANDARD_TAGS:
            tag = node.tag.replace(_YAML, "!!")
            negation = tag.startswith("!") and not tag.startswith("!!") and len(tag) > 1
            self.problem(
                node,
                "yaml-tag",
                f"the tag `{tag}` is not allowed in rule files",
                f"to negate, write `not {tag[1:]}` (in YAML a value starting with `!` is a tag)"
                if negation
                else "remove the tag; rule files hold plain values",
            )
            return None
        if isinstance(node, ScalarNode):
            self.doc.scalars[path] = node
            value = node.value if node.style else _plain_value(node.value)
            if not _in_range(value):
                self.problem(
                    node,
                    "number-out-of-range",
                    f"`{node.value}` is not a number the rules can use: numbers are finite "
                    "(no NaN or infinity)",
                    "write the number out; to leave a value unset, leave the key out",
                )
                return node.value
            return value
        if isinstance(node, SequenceNode):
            return [self.walk(item, (*path, i)) for i, item in enumerate(node.value)]
        assert isinstance(node, MappingNode)
        return self.mapping(node, path)

    def mapping(
        self, node: MappingNode, path: JsonPath, taken: frozenset[object] = frozenset()
    ) -> dict[object, object]:
        """`taken`: keys the mapping that merges this one (`<<`) sets itself; their values and
        positions stay that mapping's, so problems point at the line that is in force."""
        result: dict[object, object] = {}
        seen: dict[object, Node] = {}
        merges: list[Node] = []
        for key_node, value_node in node.value:
            if key_node.tag == _YAML + "merge":
                merges.append(value_node)
                continue
            if not isinstance(key_node, ScalarNode):
                self.problem(key_node, "yaml-complex-key", "a key must be a plain word or number")
                continue
            key = key_node.value if key_node.style else _plain_value(key_node.value)
            if not isinstance(key, str | int):
                key = key_node.value
            if key in taken:
                continue
            if key in seen:
                first = seen[key].start_mark.line + 1
                self.problem(
                    key_node,
                    "duplicate-key",
                    f"`{key}` is already set on line {first} of this mapping",
                    "remove one of them: YAML would silently keep only the last",
                )
                continue
            seen[key] = key_node
            child = (*path, key)
            self.doc.key_nodes[child] = key_node
            result[key] = self.walk(value_node, child)
        for merge in merges:
            self.merge(result, merge, path, taken)
        return result

    def merge(
        self, result: dict[object, object], node: Node, path: JsonPath, taken: frozenset[object]
    ) -> None:
        sources = node.value if isinstance(node, SequenceNode) else [node]
        for source in sources:
            if not isinstance(source, MappingNode):
                self.problem(source, "yaml-syntax", "`<<` merges only mappings")
                continue
            merged = self.mapping(source, path, taken | frozenset(result))
            for key, value in merged.items():
                result.setdefault(key, value)


def load_text(text: str, path: str = "<string>") -> tuple[Document | None, list[Problem]]:
    """Parse one rule file's text; problems instead of exceptions."""
    if text.startswith("\ufeff"):
        text = text[1:]
    doc = Document(path, text, None)
    try:
        root = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        return None, [_syntax_problem(path, exc, text)]
    except yaml.YAMLError as exc:
        return None, [Problem(Span(path, 1, 1, 1, 1), "yaml-syntax", f"not valid YAML: {exc}")]
    except RecursionError:
        return None, [Problem(Span(path, 1, 1, 1, 1), "yaml-syntax", "the YAML nests too deeply")]
    if root is None:
        return None, [
            Problem(
                Span(path, 1, 1, 1, 1),
                "file-empty",
                "the file holds no rules (it is empty or only comments)",
                "add a section such as `segments:`, or delete the file",
            )
        ]
    walker = _Walker(doc)
    if "*" in text and _expanded_size(root, {}) > MAX_NODES:  # aliases are written `*name`
        walker.nodes = MAX_NODES
    try:
        doc.data = walker.walk(root, ())
    except RecursionError:
        return None, [Problem(walker.span_of(root), "yaml-syntax", "the YAML nests too deeply")]
    problems = walker.problems
    if not isinstance(doc.data, dict) and not walker.exhausted:
        kind = "a list" if isinstance(doc.data, list) else "a single value"
        problems.append(
            Problem(
                doc.span(()),
                "not-a-mapping",
                f"a rule file holds a mapping of sections, not {kind}",
                "start with a section such as `segments:` or `offers:`",
            )
        )
        return None, problems
    return doc, problems


def _expanded_size(node: Node, memo: dict[int, int]) -> int:
    """How many values the document has once every alias is expanded (counted, not built)."""
    known = memo.get(id(node))
    if known is not None:
        return known
    memo[id(node)] = MAX_NODES + 1  # a node that contains itself expands without end
    size = 1
    if isinstance(node, SequenceNode):
        size += sum(_expanded_size(item, memo) for item in node.value)
    elif isinstance(node, MappingNode):
        size += sum(_expanded_size(k, memo) + _expanded_size(v, memo) for k, v in node.value)
    memo[id(node)] = min(size, MAX_NODES + 1)
    return memo[id(node)]


def full_width_hint(source: str) -> tuple[int, str] | None:
    """The first full-width punctuation mark in a line, and a hint naming its ASCII twin."""
    wide = next((c for c in source if c in FULL_WIDTH), None)
    if wide is None:
        return None
    name = unicodedata.name(wide, "a full-width character")
    return source.index(wide), (
        f"`{wide}` ({name}) is full-width punctuation, as a Chinese input method types it; "
        f"type the ASCII `{FULL_WIDTH[wide]}`"
    )


def _syntax_problem(path: str, exc: yaml.MarkedYAMLError, text: str = "") -> Problem:
    mark = exc.problem_mark or exc.context_mark
    line, col = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
    if "expected a single document" in str(exc):
        return Problem(
            Span(path, line, col, line, col),
            "yaml-multiple-documents",
            "the file holds more than one YAML document",
            "remove the `---` separator, or split the file",
        )
    what = exc.problem or "not valid YAML"
    context = f" ({exc.context})" if exc.context else ""
    hint = None
    if "mapping values are not allowed" in what:
        hint = "a value containing `: ` must be quoted"
    elif "found character '\\t'" in what:
        hint = "indent with spaces, not tabs"
    lines = text.splitlines()
    near = lines[max(line - 2, 0) : line] if lines else []  # the line and the one before
    if any("\t" in ln[: len(ln) - len(ln.lstrip())] for ln in near):
        hint = "indent with spaces, not tabs"  # libyaml's message does not name the tab
    for offset, source in enumerate(near):
        wide = full_width_hint(source)
        if wide is not None:
            line, col, hint = max(line - 2, 0) + 1 + offset, wide[0] + 1, wide[1]
            break
    return Problem(
        Span(path, line, col, line, col), "yaml-syntax", f"not valid YAML: {what}{context}", hint
    )


def load_file(path: str | Path) -> tuple[Document | None, list[Problem]]:
    """Read and parse one file; unreadable, oversized and non-UTF-8 files become problems.
    Only regular files are read (a pipe or a device could block or never end), and never more
    than the size limit, whatever the file claims its size is."""
    name = str(path)
    where = Span(name, 1, 1, 1, 1)
    try:
        with open(path, "rb", opener=_open_regular) as handle:
            raw = handle.read(MAX_BYTES + 1)
    except _NotRegular:
        return None, [
            Problem(
                where,
                "file-unreadable",
                "not a regular file (a pipe, a device or a socket); rule files are plain files",
                "give the path of a rule file or of a folder of rule files",
            )
        ]
    except OSError as exc:
        return None, [Problem(where, "file-unreadable", f"cannot read the file: {exc.strerror}")]
    if len(raw) > MAX_BYTES:  # read no further: the file may not end (or lie about its size)
        return None, [
            Problem(
                where,
                "file-too-large",
                f"the file is over {MAX_BYTES // 1024 // 1024} MB; rule files are smaller",
                "split it into several files, or check that this is a rule file",
            )
        ]
    return load_bytes(raw, name)


def load_bytes(raw: bytes, name: str) -> tuple[Document | None, list[Problem]]:
    """Parse one rule file's bytes, read from disk or elsewhere (a Git commit), as `name`."""
    if len(raw) > MAX_BYTES:
        return None, [_too_large(Span(name, 1, 1, 1, 1), len(raw))]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        return None, [
            Problem(
                Span(name, line, col, line, col),
                "file-not-utf8",
                f"the file is not UTF-8 text (byte 0x{raw[exc.start]:02x})",
                "save it as UTF-8 in your editor",
            )
        ]
    doc, problems = load_text(text, name)
    if doc is not None:
        doc.raw = raw
    return doc, problems


def _too_large(where: Span, size: int) -> Problem:
    return Problem(
        where,
        "file-too-large",
        f"the file is {size / 1024 / 1024:.1f} MB; rule files are at "
        f"most {MAX_BYTES // 1024 // 1024} MB",
        "split it into several files, or check that this is a rule file",
    )


class _NotRegular(Exception):
    pass


def _open_regular(path: str, flags: int) -> int:
    """Open without blocking (a FIFO with no writer would wait for ever), then make sure it is
    a regular file before anything is read."""
    fd = os.open(path, flags | os.O_NONBLOCK)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise _NotRegular(path)
    return fd


def load_paths(paths: Sequence[str | Path]) -> tuple[list[Document], list[Problem]]:
    """Every rule file under the paths; all problems of all files, in file order."""
    documents: list[Document] = []
    problems: list[Problem] = []
    for path in discover(paths):
        doc, found = load_file(path)
        problems += found
        if doc is not None:
            documents.append(doc)
    return documents, problems
