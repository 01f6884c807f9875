"""The published JSON Schema: valid, documented, and its errors in plain words at their place."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from rules_engine.load import load_text
from rules_engine.schema import CODES, check_document, schema, schema_text

ROOT = Path(__file__).parents[1]
PUBLISHED = ROOT / "schemas" / "rules.schema.json"
FIXTURE = Path(__file__).parent / "fixtures" / "spec_example.yaml"


def problems(text: str) -> list[tuple[str, int, int]]:
    doc, found = load_text(text, "rules.yaml")
    assert found == [] and doc is not None
    return [(p.code, p.span.line, p.span.col) for p in check_document(doc)]


def test_is_a_valid_2020_12_schema_and_the_package_reads_the_published_file() -> None:
    Draft202012Validator.check_schema(schema())
    assert schema_text() == PUBLISHED.read_text(encoding="utf-8")


def _properties(node: Any, path: str = "") -> list[tuple[str, Any]]:
    found = []
    if isinstance(node, dict):
        for name, sub in node.get("properties", {}).items():
            found.append((f"{path}.{name}", sub))
        for key, sub in node.items():
            found += _properties(sub, f"{path}/{key}")
    elif isinstance(node, list):
        for i, sub in enumerate(node):
            found += _properties(sub, f"{path}[{i}]")
    return found


def test_every_property_has_a_description_for_editors() -> None:
    missing = [path for path, sub in _properties(schema()) if "description" not in sub]
    assert missing == []


def test_spec_example_is_accepted() -> None:
    doc, found = load_text(FIXTURE.read_text(encoding="utf-8"), str(FIXTURE))
    assert found == [] and doc is not None
    assert check_document(doc) == []


def test_unknown_key_suggests_the_closest() -> None:
    doc, _ = load_text(
        "offers:\n  a:\n    audience: x\n    channels: [email]\n    content: t\n    prority: 5\n"
    )
    assert doc is not None
    [problem] = check_document(doc)
    assert (problem.code, problem.span.line, problem.span.col) == ("schema-unknown-key", 6, 5)
    assert problem.hint is not None and problem.hint.startswith("did you mean `priority`?")


OFFER = "offers:\n  a:\n    audience: x\n    channels: [email]\n    content: t\n"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (OFFER + "    priority: high\n", ("schema-type", 6, 15)),
        (OFFER + "    incentive: {type: cash}\n", ("schema-enum", 6, 23)),
        (OFFER + "    cooldown: 30 days\n", ("schema-pattern", 6, 15)),
        (OFFER + "    send_at: 25:00\n", ("schema-pattern", 6, 14)),
        (OFFER + "    holdout: ten\n", ("schema-pattern", 6, 14)),
        (OFFER + "    max_actions: -1\n", ("schema-range", 6, 18)),
        ("offers:\n  a:\n    audience: x\n    content: t\n", ("schema-required", 2, 3)),
        ("calendar:\n  frequency_caps:\n    - {max: 1, per: 7d}\n", ("schema-invalid", 3, 7)),
        ("segments:\n  1abc: {where: x}\n", ("schema-pattern", 2, 3)),
    ],
    ids=["type", "enum", "duration", "time", "percentage", "range", "required", "cap", "id"],
)
def test_each_code_at_its_position(text: str, expected: tuple[str, int, int]) -> None:
    assert problems(text) == [expected]


def test_messages_say_what_and_where_in_words() -> None:
    doc, _ = load_text(OFFER + "    priority: high\n    incentive: {type: cash}\n")
    assert doc is not None
    messages = [p.message for p in check_document(doc)]
    assert messages[0] == '`priority` of offer `a` must be a whole number, got text "high"'
    assert '"coupon", "discount"' in messages[1]


def test_every_missing_key_is_reported() -> None:
    assert problems("offers:\n  a:\n    audience: x\n") == [
        ("schema-required", 2, 3),
        ("schema-required", 2, 3),
    ]


def test_every_code_is_documented() -> None:
    doc = (ROOT / "docs" / "problems" / "schema.md").read_text()
    for code in CODES:
        assert f"## {code}" in doc


AGREEMENT = {
    "valid_offer.json": {"offers": {"a": {"audience": "x", "channels": ["email"], "content": "t"}}},
    "valid_calendar.json": {"calendar": {"timezone": "UTC", "min_gap": "24h"}},
    "unknown_key.json": {
        "offers": {"a": {"audience": "x", "channels": ["e"], "content": "t", "x": 1}}
    },
    "bad_duration.json": {"calendar": {"min_gap": "1 day"}},
    "missing_required.json": {"segments": {"s": {}}},
    "bad_percentage.json": {
        "offers": {"a": {"audience": "x", "channels": ["e"], "content": "t", "holdout": 5}}
    },
    "bad_section.json": {"campaigns": {}},
}


def test_check_jsonschema_agrees(tmp_path: Path) -> None:
    for name, document in AGREEMENT.items():
        path = tmp_path / name
        path.write_text(json.dumps(document))
        doc, _ = load_text(path.read_text(), name)
        assert doc is not None
        ours = bool(check_document(doc))
        theirs = subprocess.run(
            [
                Path(sys.executable).with_name("check-jsonschema"),
                "--schemafile",
                str(PUBLISHED),
                str(path),
            ],
            capture_output=True,
            text=True,
        )
        assert theirs.returncode in (0, 1), theirs.stderr
        assert ours == (theirs.returncode == 1), name


KEYS = [
    "metrics",
    "segments",
    "channels",
    "offers",
    "calendar",
    "tests",
    "store",
    "where",
    "value",
    "audience",
    "channels",
    "content",
    "holdout",
    "budget",
    "total",
    "from",
    "per",
    "max",
]
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=10)
)
documents = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=5), inner, max_size=4)
    ),
    max_leaves=20,
)


class FakeDocument:
    path = "fuzz.yaml"

    def __init__(self, data: object) -> None:
        self.data = data

    def span(self, path: tuple[str | int, ...]) -> Any:
        from rules_engine.errors import Span

        return Span(self.path, 1, 1)

    key_span = span


@settings(max_examples=300, deadline=None)
@given(documents)
def test_any_json_like_document_gives_problems_never_an_exception(data: object) -> None:
    found = check_document(FakeDocument(data))
    assert isinstance(data, dict) or found
