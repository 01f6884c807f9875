"""The published JSON Schema: valid, documented, and its errors in plain words at their place.

Regression cases are files: `fixtures/schema/valid/` must pass, `fixtures/schema/invalid/*.yaml`
start with `# expect: CODE LINE:COL` lines, and `check-jsonschema` must agree on every one.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import zlib
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from rules_engine.errors import Problem, Span
from rules_engine.rules.load import load_file, load_text
from rules_engine.rules.schema import (
    CODES,
    SCHEMA,
    Shapes,
    _keyword_steps,
    check_document,
    schema_text,
    validator,
)

ROOT = Path(__file__).parents[1]
PUBLISHED = ROOT / "schemas" / "rules.schema.json"
FIXTURES = Path(__file__).parent / "fixtures"
SPEC_EXAMPLE = FIXTURES / "spec_example.yaml"
VALID = sorted((FIXTURES / "schema" / "valid").iterdir())
INVALID = sorted((FIXTURES / "schema" / "invalid").iterdir())
CHECK_JSONSCHEMA = Path(sys.executable).with_name("check-jsonschema")

OFFER = "offers:\n  a:\n    audience: x\n    channels: [email]\n    content: t\n"


def checked(text: str) -> list[Problem]:
    doc, found = load_text(text, "rules.yaml")
    assert found == [] and doc is not None
    return check_document(doc)


def problems(text: str) -> list[tuple[str, int, int]]:
    return [(p.code, p.span.line, p.span.col) for p in checked(text)]


def _nodes(node: Any, path: str = "#") -> list[tuple[str, dict[str, Any]]]:
    """Every schema node (mappings that are schemas, not the names in `properties`)."""
    found: list[tuple[str, dict[str, Any]]] = []
    if isinstance(node, dict):
        found.append((path, node))
        for key, sub in node.items():
            if key in ("properties", "$defs"):
                for name, child in sub.items():
                    found += _nodes(child, f"{path}/{key}/{name}")
            elif key not in ("examples", "enum", "const", "required"):
                found += _nodes(sub, f"{path}/{key}")
    elif isinstance(node, list):
        for i, sub in enumerate(node):
            found += _nodes(sub, f"{path}/{i}")
    return found


# -- the schema itself ---------------------------------------------------------------


def test_is_a_valid_2020_12_schema_and_the_package_reads_the_published_file() -> None:
    Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema_text() == PUBLISHED.read_text(encoding="utf-8")
    assert (ROOT / "rules_engine" / "rules" / "rules.schema.json").resolve() == PUBLISHED.resolve()


def test_every_property_has_a_description_for_editors() -> None:
    missing = [
        f"{path}/properties/{name}"
        for path, node in _nodes(SCHEMA)
        for name, sub in node.get("properties", {}).items()
        if sub is not False and "description" not in sub  # `false`: the key must not be there
    ]
    assert missing == []


def test_every_property_has_a_title_that_names_it() -> None:
    """Hover headings in editors: the key's own name and where it belongs, `holdout (offer)`."""
    untitled = [
        f"{path}/properties/{name}"
        for path, node in _nodes(SCHEMA)
        for name, sub in node.get("properties", {}).items()
        if sub is not False and not str(sub.get("title", "")).startswith(f"{name} (")
    ]
    assert untitled == []


def test_every_object_is_closed_except_store_rows() -> None:
    """Every node that lists keys allows no others (a node that only forbids keys, with
    `false`, adds to the keys of its object)."""
    open_objects = [
        path
        for path, node in _nodes(SCHEMA)
        if "properties" in node
        and node.get("additionalProperties") is not False
        and any(sub is not False for sub in node["properties"].values())
    ]
    assert open_objects == []


def test_every_pattern_says_in_words_what_it_means() -> None:
    bare = [p for p, n in _nodes(SCHEMA) if "pattern" in n and "patternErrorMessage" not in n]
    assert bare == []


def _snippets() -> list[tuple[str, dict[str, Any]]]:
    return [(path, s) for path, node in _nodes(SCHEMA) for s in node.get("defaultSnippets", [])]


def _owner(path: str) -> dict[str, Any]:
    """The schema a snippet at `path` fills in: its property's, else its definition's (a
    snippet in a branch fills in the whole object the branch belongs to)."""
    steps = path.split("/")[1:]
    cut = max((i for i, step in enumerate(steps) if step == "properties"), default=None)
    steps = steps[: cut + 2] if cut is not None else steps[:2]
    node: Any = SCHEMA
    for step in steps:
        node = node[int(step)] if isinstance(node, list) else node[step]
    return {"$defs": SCHEMA["$defs"], **node}


def _inserted(body: object) -> str:
    """The text yaml-language-server inserts for a snippet body, its placeholders filled in
    with their defaults: strings as written (`^` marks a value written raw), keys one a line."""
    assert isinstance(body, str | dict), "a snippet body here is text or a flat mapping"
    if isinstance(body, dict):
        assert all(isinstance(v, str) for v in body.values())
        body = "\n".join(f"{key}: {value.removeprefix('^')}" for key, value in body.items())
    return re.sub(r"\$\{\d+:([^}]*)\}|\$\d+", r"\1", body)


def test_every_snippet_numbers_its_placeholders_apart_and_fills_in_a_valid_value() -> None:
    assert len(_snippets()) >= 8
    for path, snippet in _snippets():
        text = json.dumps(snippet["body"])
        numbers = re.findall(r"\$\{?(\d+)", text)
        assert len(numbers) == len(set(numbers)), (path, snippet["label"])
        value = yaml.safe_load(_inserted(snippet["body"]))
        errors = [e.message for e in Draft202012Validator(_owner(path)).iter_errors(value)]
        assert errors == [], (path, snippet["label"])


def test_alternatives_carry_their_own_words() -> None:
    """yaml-language-server ignores `errorMessage` on oneOf / anyOf / not and reports the
    closest alternative's own error: so no oneOf or not, and each alternative of an anyOf has
    its words (one inside an `if` only decides a branch and is never reported)."""
    assert [path for path, node in _nodes(SCHEMA) if {"oneOf", "not"} & set(node)] == []
    unworded = [
        path
        for path, node in _nodes(SCHEMA)
        if "anyOf" in node and "/if" not in path
        for alternative in node["anyOf"]
        if "errorMessage" not in alternative
    ]
    assert unworded == []


def test_top_level_sections_and_keys_are_the_contract() -> None:
    assert set(SCHEMA["properties"]) == {
        "metrics",
        "segments",
        "channels",
        "offers",
        "calendar",
        "tests",
        "store",
    }
    defs = SCHEMA["$defs"]
    assert set(defs["offer"]["properties"]) == {
        "description",
        "audience",
        "exclude",
        "priority",
        "group",
        "channels",
        "content",
        "incentive",
        "cost",
        "rank",
        "budget",
        "max_actions",
        "holdout",
        "cooldown",
        "window",
        "send_at",
        "variants",
        "accept",  # an extension: the warnings a rule accepts (README)
    }
    assert set(defs["variant"]["properties"]) == {
        "weight",
        "content",
        "incentive",
        "cost",
        "description",
    }
    assert set(defs["metric"]["properties"]) == {
        "description",
        "from",
        "where",
        "value",
        "default",
        "type",
        "accept",
    }


def test_audit_reasons_are_those_of_the_spec() -> None:
    spec = ROOT.parent / "shared" / "SPEC.md"  # the contract, next to the checkout
    if not spec.exists():
        pytest.skip("the product contract is not next to this checkout")
    reasons = SCHEMA["$defs"]["expectation"]["properties"]["reason"]["enum"]
    record = spec.read_text(encoding="utf-8").split("## What a run records")[1]
    listed = re.findall(r"`([a-z_]+)`", record.split("`reason` one of")[1].split("\n- ")[0])
    assert set(reasons) == set(listed)


# -- documents -----------------------------------------------------------------------


def test_spec_example_is_accepted() -> None:
    doc, found = load_file(SPEC_EXAMPLE)
    assert found == [] and doc is not None
    assert check_document(doc) == []


@pytest.mark.parametrize("path", VALID, ids=[p.name for p in VALID])
def test_valid_fixture(path: Path) -> None:
    doc, found = load_file(path)
    assert found == [] and doc is not None
    assert check_document(doc) == []


YAML_INVALID = [p for p in INVALID if p.suffix == ".yaml"]


@pytest.mark.parametrize("path", YAML_INVALID, ids=[p.name for p in YAML_INVALID])
def test_invalid_fixture_problems_at_their_place(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    expected = [
        (code, int(line), int(col))
        for code, line, col in re.findall(r"^# expect: (\S+) (\d+):(\d+)$", text, re.M)
    ]
    assert expected, f"{path.name} needs `# expect: CODE LINE:COL` lines"
    assert problems(text) == expected


def test_unknown_key_suggests_the_closest_and_lists_the_allowed() -> None:
    [problem] = checked(OFFER + "    prority: 5\n")
    assert (problem.code, problem.span.line, problem.span.col) == ("schema-unknown-key", 6, 5)
    assert problem.message == "unknown key `prority` in offer `a`"
    assert problem.hint is not None and problem.hint.startswith("did you mean `priority`?")
    assert "max_actions" in problem.hint


CASES: dict[str, tuple[str, tuple[str, int, int]]] = {
    "unknown-key": (OFFER + "    prority: 5\n", ("schema-unknown-key", 6, 5)),
    "type": (OFFER + "    priority: high\n", ("schema-type", 6, 15)),
    "enum": (OFFER + "    incentive: {type: cash}\n", ("schema-enum", 6, 23)),
    "duration": (OFFER + "    cooldown: 30 days\n", ("schema-pattern", 6, 15)),
    "time": (OFFER + "    send_at: 25:00\n", ("schema-pattern", 6, 14)),
    "percentage": (OFFER + "    holdout: ten\n", ("schema-pattern", 6, 14)),
    "id": ("segments:\n  1abc: {where: x}\n", ("schema-pattern", 2, 3)),
    "required": ("offers:\n  a:\n    audience: x\n    content: t\n", ("schema-required", 2, 3)),
    "cap-target": (
        "calendar:\n  frequency_caps:\n    - {max: 1, per: 7d}\n",
        ("schema-required", 3, 7),
    ),
    "range": (OFFER + "    max_actions: -1\n", ("schema-range", 6, 18)),
    "fraction": (OFFER + "    holdout: 1.5\n", ("schema-range", 6, 14)),
    "cap-both": (
        "calendar:\n  frequency_caps:\n    - {channel: sms, group: g, max: 1, per: 7d}\n",
        ("schema-invalid", 3, 8),
    ),
}


@pytest.mark.parametrize(("text", "expected"), CASES.values(), ids=CASES.keys())
def test_each_code_at_its_position(text: str, expected: tuple[str, int, int]) -> None:
    assert problems(text) == [expected]


def test_every_code_has_a_case_and_a_doc_section() -> None:
    assert {code for _, (code, _, _) in CASES.values()} == set(CODES)
    doc = (ROOT / "docs" / "problems" / "schema.md").read_text(encoding="utf-8")
    for code in CODES:
        assert f"## {code}" in doc


def test_messages_say_what_and_where_in_words() -> None:
    extra = "    priority: high\n    incentive: {type: cash}\n    cooldown: 1 day\n"
    found = checked(OFFER + extra)
    assert [p.message for p in found] == [
        '`priority` of offer `a` must be a whole number, got text "high"',
        '`incentive.type` of offer `a` must be one of "coupon", "discount", "points", "gift", '
        '"free_shipping", "none", got text "cash"',
        "`cooldown` of offer `a` must be a duration like 30d or 24h "
        '(m minutes, h hours, d days, w weeks), got text "1 day"',
    ]


def test_missing_keys_of_one_rule_are_one_problem() -> None:
    [problem] = checked("offers:\n  a:\n    audience: x\n")
    assert problem.message == "offer `a` needs `channels` and `content`"


def test_alternatives_report_the_real_mistake() -> None:
    [problem] = checked(OFFER + "    budget: {total: 5, reserve: 150}\n")
    assert problem.code == "schema-range"
    assert "percentage like" in problem.message and "not valid under" not in problem.message


def test_constraint_keys_that_do_not_go_together() -> None:
    text = "calendar:\n  constraints:\n    - {channel: douyin, max_per_day: 2, sync_within: 24h}\n"
    [problem] = checked(text)
    assert (problem.code, problem.span.line, problem.span.col) == ("schema-unknown-key", 3, 41)
    assert problem.message == "`sync_within` does not go with the other keys of constraint 1"


SHARE = 'a percentage like "10%" (0% to 100%) or a fraction from 0 to 1 (0.1)'
CAPS = "calendar:\n  frequency_caps:\n    - "
CONSTRAINTS = "calendar:\n  constraints:\n    - "
SHAPES: dict[str, tuple[str, list[tuple[str, str]]]] = {
    "share over 100%": (
        OFFER + "    holdout: 150%\n",
        [("schema-pattern", f'`holdout` of offer `a` must be {SHARE}, got text "150%"')],
    ),
    "fraction over 1": (
        OFFER + "    holdout: 10\n",
        [("schema-range", f"`holdout` of offer `a` must be {SHARE}, got the number 10")],
    ),
    "share of another type": (
        OFFER + "    holdout: true\n",
        [("schema-type", f"`holdout` of offer `a` must be {SHARE}, got true")],
    ),
    "cap without a target": (
        CAPS + "{per: 7d}\n",
        [
            (
                "schema-required",
                "frequency cap 1 needs `max`; "
                'a frequency cap needs `channel` (a channel id or "*") or `group`',
            )
        ],
    ),
    "cap with both targets": (
        CAPS + "{group: g, channel: sms, max: 1, per: 7d}\n",
        [
            (
                "schema-invalid",
                "a frequency cap names `channel` or `group`, not both; write two caps",
            )
        ],
    ),
    "campaign constraint of no kind": (
        CONSTRAINTS + "{campaign: double11}\n",
        [
            (
                "schema-required",
                "a campaign constraint needs `sync_within` or `same_incentive: true`",
            )
        ],
    ),
    "cadence without a limit": (
        CONSTRAINTS + "{channel: douyin}\n",
        [
            (
                "schema-required",
                "a cadence constraint needs `min_per_week`, `max_per_day` or `max_per_week`",
            )
        ],
    ),
    "typo in a constraint": (
        CONSTRAINTS + "{channel: douyin, max_per_dya: 2}\n",
        [
            (
                "schema-required",
                "a cadence constraint needs `min_per_week`, `max_per_day` or `max_per_week`",
            ),
            ("schema-unknown-key", "unknown key `max_per_dya` in constraint 1"),
        ],
    ),
    "sync without its campaign": (
        CONSTRAINTS + "{sync_within: 24h}\n",
        [("schema-required", "constraint 1 needs `campaign`")],
    ),
    "empty constraint": (
        CONSTRAINTS + "{}\n",
        [
            (
                "schema-required",
                "a constraint starts with `channel` (a cadence), `campaign` (with `sync_within` "
                "or `same_incentive: true`) or `approved_before`",
            )
        ],
    ),
}


@pytest.mark.parametrize(("text", "expected"), SHAPES.values(), ids=SHAPES.keys())
def test_each_shape_mistake_in_the_words_of_its_kind(
    text: str, expected: list[tuple[str, str]]
) -> None:
    assert [(p.code, p.message) for p in checked(text)] == expected


def test_a_typo_in_a_constraint_gets_the_closest_key_of_its_kind() -> None:
    [_, typo] = checked(CONSTRAINTS + "{channel: douyin, max_per_dya: 2}\n")
    assert typo.hint is not None and typo.hint.startswith("did you mean `max_per_day`?")


def test_branches_are_told_from_keys_named_like_them() -> None:
    """A key may be called `then` (a rule test's later runs): only keywords are branches."""
    steps: list[str | int] = ["properties", "tests", "additionalProperties"]
    steps += ["properties", "then", "items"]
    assert [steps[i] for i in _keyword_steps(steps)] == [
        "properties",
        "additionalProperties",
        "properties",
        "items",
    ]
    branch: list[str | int] = ["properties", "properties", "anyOf", 0, "then", "required"]
    assert [branch[i] for i in _keyword_steps(branch)] == [
        "properties",
        "anyOf",
        "then",
        "required",
    ]


def test_a_time_written_as_a_number_gets_a_quoting_hint() -> None:
    [problem] = checked(OFFER + "    send_at: 10\n")
    assert problem.code == "schema-type"
    assert problem.hint == 'put it in quotes to make it text: "10"'


# -- agreement with an independent validator -----------------------------------------


def test_check_jsonschema_agrees() -> None:
    files = [SPEC_EXAMPLE, *VALID, *INVALID]
    run = subprocess.run(
        [CHECK_JSONSCHEMA, "-o", "json", "--schemafile", str(PUBLISHED), *map(str, files)],
        capture_output=True,
        text=True,
        check=False,
    )
    report = json.loads(run.stdout)
    assert report["parse_errors"] == []
    theirs = {Path(e["filename"]).name for e in report["errors"]}
    ours = set()
    for path in files:
        doc, found = load_file(path)
        assert found == [] and doc is not None
        if check_document(doc):
            ours.add(path.name)
    assert ours == theirs == {p.name for p in INVALID}
    assert run.returncode == 1


@pytest.mark.parametrize(("files", "status"), [([SPEC_EXAMPLE], 0), (INVALID[:1], 1)])
def test_check_jsonschema_exit_status(files: list[Path], status: int) -> None:
    run = subprocess.run(
        [CHECK_JSONSCHEMA, "--schemafile", str(PUBLISHED), *map(str, files)],
        capture_output=True,
        check=False,
    )
    assert run.returncode == status


# -- any document --------------------------------------------------------------------

NAMES = [
    *SCHEMA["properties"],
    *{name for _, node in _nodes(SCHEMA) for name in node.get("properties", {})},
    "a",
    "1x",
]
# what YAML can carry: no control characters, surrogates or characters outside the BMP
words = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0xFFFD, exclude_categories=("Cs", "Cc")),
    max_size=8,
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    words,
    st.sampled_from(["10%", "150%", "30d", "21:00", "2026-11-01", "*", "coupon", "x > 1"]),
)
documents = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(NAMES) | words, inner, max_size=4)
    ),
    max_leaves=25,
)


class DataOnly:
    """A document without source positions: every span is the file's first character."""

    path = "fuzz.yaml"

    def __init__(self, data: object) -> None:
        self.data = data

    def span(self, path: tuple[str | int, ...]) -> Span:
        return Span(self.path, 1, 1, 1, 1)

    def key_span(self, path: tuple[str | int, ...]) -> Span:
        return Span(self.path, 1, 1, 1, 1)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents)
def test_any_json_like_document_gives_problems_never_an_exception(data: object) -> None:
    found = check_document(DataOnly(data))
    assert all(isinstance(p, Problem) and p.code in CODES for p in found)
    assert bool(found) == (not validator().is_valid(data))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(NAMES), documents, max_size=4))
def test_loaded_documents_problems_are_sorted_and_one_per_place(data: dict[str, Any]) -> None:
    doc, found = load_text(json.dumps(data, ensure_ascii=False), "fuzz.json")
    assert doc is not None, found
    result = check_document(doc)
    assert result == sorted(result, key=Problem.sort_key)
    places = [(p.span, p.code) for p in result]
    assert len(places) == len(set(places))
    assert all(p.span.line >= 1 and p.span.col >= 1 for p in result)


# -- rules of a shape already seen valid -------------------------------------------------


def test_every_rule_section_can_skip_shapes_already_seen() -> None:
    """A schema edit that turns the shortcut off (a keyword `Shapes` does not know) fails here,
    so the slowdown is a decision, not an accident."""
    assert set(Shapes().sections) == {"metrics", "segments", "channels", "offers", "tests", "store"}


def test_a_rule_like_one_seen_valid_still_has_its_own_mistakes() -> None:
    shapes = Shapes()
    good = OFFER + "    cooldown: 30d\n    holdout: 10%\n    priority: 2\n"
    doc, _ = load_text(good, "a.yaml")
    assert doc is not None and check_document(doc, shapes) == []
    for bad, expected in [
        ("    cooldown: 30x\n    holdout: 10%\n    priority: 2\n", ("schema-pattern", 6, 15)),
        ("    cooldown: 30d\n    holdout: 1.5\n    priority: 2\n", ("schema-range", 7, 14)),
        ("    cooldown: 30d\n    holdout: 10%\n    priority: 2.5\n", ("schema-type", 8, 15)),
        ("    cooldown: 30d\n    holdout: 10%\n    priority: -2\n", None),
    ]:
        doc, _ = load_text(OFFER + bad, "b.yaml")
        assert doc is not None
        found = [(p.code, p.span.line, p.span.col) for p in check_document(doc, shapes)]
        assert found == [expected] if expected else found == []
        assert check_document(doc, shapes) == check_document(doc)


def test_whole_floats_and_unique_items_are_part_of_a_shape() -> None:
    shapes = Shapes()
    for text, codes in [
        ("channels:\n  c:\n    exit_days: 2.0\n", []),  # "integer" takes 2.0
        ("channels:\n  c:\n    exit_days: 2.5\n", ["schema-type"]),
        (OFFER.replace("[email]", "[email, sms]"), []),
        (OFFER.replace("[email]", "[sms, sms]"), ["schema-range"]),
    ]:
        doc, _ = load_text(text, "c.yaml")
        assert doc is not None
        assert [p.code for p in check_document(doc, shapes)] == codes


rule_values = st.one_of(
    scalars,
    st.lists(st.sampled_from(["email", "sms", "1x", "", 3, True]), max_size=3),
    st.dictionaries(
        st.sampled_from(["total", "reserve", "start", "end", "type", "x"]),
        scalars | st.sampled_from(["09:00", "coupon"]),
        max_size=2,
    ),
)


MORE_EXAMPLES: dict[str, list[Any]] = {
    "description": ["高价值", ""],
    "type": ["integer", "real"],
    "budget": [{"total": 100, "reserve": "10%"}, {"total": 2.0}],
    "window": [{"from": "2026-11-01"}, {}],
    "quiet_hours": [{"start": "21:00", "end": "09:00"}],
    "capacity": [{"per_day": 10}],
    "lifecycle": [{"admit": "roi > 1"}, {}],
    "send_at": ["10:00", "23:59"],
}


def _examples(name: str, schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    target = SCHEMA["$defs"].get(schema.get("$ref", "").split("/")[-1], {})
    return st.sampled_from(schema.get("examples") or target.get("examples") or MORE_EXAMPLES[name])


def _rule(kind: str) -> st.SearchStrategy[dict[str, Any]]:
    """A rule of the schema's examples (valid), sometimes with one key set to any value."""
    schema = SCHEMA["$defs"][kind]
    fields = {name: _examples(name, sub) for name, sub in schema["properties"].items()}
    required = schema.get("required", [])
    valid = st.fixed_dictionaries(
        {name: fields[name] for name in required},
        optional={name: fields[name] for name in fields if name not in required},
    )
    changed = st.tuples(valid, st.sampled_from(sorted(fields)), rule_values)
    return valid | changed.map(lambda change: {**change[0], change[1]: change[2]})


rule_ids = st.sampled_from(["a", "b", "c_1", "1x", "é"])
rule_documents = st.fixed_dictionaries(
    {},
    optional={
        section: st.dictionaries(rule_ids, _rule(section[:-1]), max_size=3)
        for section in ("metrics", "segments", "channels", "offers")
    },
)


class PlacedData(DataOnly):
    """A document whose values and keys each stand at their own place, as in a real file (where
    two problems of one code at one place are reported once, the first jsonschema yields)."""

    def span(self, path: tuple[str | int, ...]) -> Span:
        return self._place(("value", *path))

    def key_span(self, path: tuple[str | int, ...]) -> Span:
        return self._place(("key", *path))

    def _place(self, path: tuple[str | int, ...]) -> Span:
        line = zlib.crc32(repr(path).encode()) + 1
        return Span(self.path, line, 1, line, 2)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(rule_documents, min_size=1, max_size=6))
def test_skipping_shapes_seen_valid_gives_the_same_problems(docs: list[dict[str, Any]]) -> None:
    shapes = Shapes()
    for data in docs:
        assert check_document(PlacedData(data), shapes) == check_document(PlacedData(data))
