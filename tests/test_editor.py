"""The editor says what `campaign validate` says: the schema in a real yaml-language-server.

Marketers edit rules in VS Code, whose YAML support is yaml-language-server; `make test`
installs it into tools/editor/ (npm ci) when Node is there. One server process opens every
schema fixture (associated by the `yaml.schemas` setting, as a workspace would) and every file
under rules/ (associated by its `# yaml-language-server: $schema=` first line), and its
diagnostics must fall on exactly the lines where the schema check puts its problems. Hover and
completion are checked on the cases that used to read wrong.
"""

from __future__ import annotations

import os
import re
import shutil
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rules_engine.rules.load import load_file
from rules_engine.rules.schema import check_document
from tests.yaml_language_server import SERVER, YamlLanguageServer

ROOT = Path(__file__).parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "schema"
SCHEMA = ROOT / "schemas" / "rules.schema.json"
FILES = sorted(p for p in FIXTURES.rglob("*") if p.is_file()) + sorted(
    (ROOT / "rules").rglob("*.yaml")
)
OFFER = "offers:\n  a:\n    audience: x\n    channels: [email]\n    content: t\n"
SHARE = 'a percentage like "10%" (0% to 100%) or a fraction from 0 to 1 (0.1)'
CAPS = "calendar:\n  frequency_caps:\n    - "
CONSTRAINTS = "calendar:\n  constraints:\n    - "


def _node() -> str:
    node = shutil.which("node")
    if node is None:
        if os.environ.get("CI") == "true":
            pytest.fail("node is not installed; .ci/run installs nodejs and npm when missing")
        pytest.skip(
            "node is not installed, so yaml-language-server cannot run (apt-get install nodejs npm)"
        )
    if not SERVER.exists():
        pytest.fail(f"{SERVER.relative_to(ROOT)} is missing: `make editor-tools` installs it")
    return node


@pytest.fixture(scope="module")
def server() -> Iterator[YamlLanguageServer]:
    language_server = YamlLanguageServer(_node(), {SCHEMA: ["tests/fixtures/schema/**"]})
    try:
        yield language_server
    finally:
        language_server.close()


@pytest.fixture(scope="module")
def editor(server: YamlLanguageServer) -> dict[Path, list[dict[str, Any]]]:
    """The diagnostics of every file, all opened at once."""
    uris = {server.open(path): path for path in FILES}
    return {uris[uri]: found for uri, found in server.wait_for_diagnostics(uris).items()}


def _lines(diagnostics: list[dict[str, Any]]) -> list[int]:
    return sorted({d["range"]["start"]["line"] + 1 for d in diagnostics})


@pytest.mark.parametrize("path", FILES, ids=[str(p.relative_to(ROOT)) for p in FILES])
def test_the_editor_flags_the_lines_validate_flags(
    path: Path, editor: dict[Path, list[dict[str, Any]]]
) -> None:
    doc, found = load_file(path)
    assert found == [] and doc is not None
    ours = sorted({p.span.line for p in check_document(doc)})
    messages = [(d["range"]["start"]["line"] + 1, d["message"]) for d in editor[path]]
    assert _lines(editor[path]) == ours, messages
    assert all(d["severity"] <= 2 for d in editor[path])


def test_every_invalid_fixture_is_flagged_and_the_rules_are_clean(
    editor: dict[Path, list[dict[str, Any]]],
) -> None:
    invalid = [p for p in FILES if p.parent.name == "invalid"]
    assert invalid and all(editor[p] for p in invalid)
    assert not any(editor[p] for p in FILES if p.parent.name != "invalid")


def test_the_first_line_of_a_rule_file_associates_the_schema(server: YamlLanguageServer) -> None:
    """rules/ is clean because the schema applies, not because none does."""
    text = (ROOT / "rules" / "offers" / "winback.yaml").read_text(encoding="utf-8")
    assert text.startswith("# yaml-language-server: $schema=../../schemas/rules.schema.json")
    broken = text.replace("\n    audience:", "\n    prority: 1\n    audience:", 1)
    uri = server.open(ROOT / "rules" / "offers" / "unsaved.yaml", broken)
    found = server.wait_for_diagnostics([uri])[uri]
    assert [d["message"] for d in found] == ["Property prority is not allowed."]


# The cases of the schema that editors used to read wrong, with what the editor shows now.
CASES: dict[str, tuple[str, list[tuple[int, str]]]] = {
    "share over 100%": (OFFER + "    holdout: 150%\n", [(6, SHARE)]),
    "fraction over 1": (OFFER + "    holdout: 10\n", [(6, SHARE)]),
    "fraction 1.5": (OFFER + "    holdout: 1.5\n", [(6, SHARE)]),
    "share in words": (OFFER + "    budget: {total: 5, reserve: ten}\n", [(6, SHARE)]),
    "cap without a target": (
        CAPS + "{max: 1, per: 7d}\n",
        [(3, 'a frequency cap needs `channel` (a channel id or "*") or `group`')],
    ),
    "cap with both targets": (
        CAPS + "{channel: sms, group: winback, max: 1, per: 7d}\n",
        [(3, "a frequency cap names `channel` or `group`, not both; write two caps")],
    ),
    "cadence with a sync key": (
        CONSTRAINTS + "{channel: douyin, max_per_day: 2, sync_within: 24h}\n",
        [
            (
                3,
                "a cadence constraint has `channel` with `min_per_week`, `max_per_day` and/or "
                "`max_per_week`, and nothing else",
            )
        ],
    ),
    "campaign constraint of no kind": (
        CONSTRAINTS + "{campaign: double11}\n",
        [(3, "a campaign constraint needs `sync_within` or `same_incentive: true`")],
    ),
    "unknown key": (OFFER + "    prority: 5\n", [(6, "Property prority is not allowed.")]),
}


@pytest.mark.parametrize(("text", "expected"), CASES.values(), ids=CASES.keys())
def test_what_the_editor_says(
    server: YamlLanguageServer, text: str, expected: list[tuple[int, str]]
) -> None:
    uri = server.open(FIXTURES / f"unsaved_{zlib.crc32(text.encode())}.yaml", text)
    found = server.wait_for_diagnostics([uri])[uri]
    assert [(d["range"]["start"]["line"] + 1, d["message"]) for d in found] == expected


def test_an_unknown_key_gets_the_keys_it_may_mean_as_quick_fixes(
    server: YamlLanguageServer,
) -> None:
    uri = server.open(FIXTURES / "unsaved_2.yaml", OFFER + "    prority: 5\n")
    [diagnostic] = server.wait_for_diagnostics([uri])[uri]
    context = {"diagnostics": [diagnostic]}
    params = {"textDocument": {"uri": uri}, "range": diagnostic["range"], "context": context}
    fixes = [action["title"] for action in server.request("textDocument/codeAction", params)]
    assert "priority" in fixes
    assert "audience" not in fixes  # keys the offer already has are not offered


def test_hover_shows_the_key_and_its_example_as_typed(server: YamlLanguageServer) -> None:
    uri = server.open(
        FIXTURES / "unsaved_3.yaml", OFFER + '    holdout: 10%\n    send_at: "10:00"\n'
    )
    holdout = server.hover(uri, 6, 6)
    assert holdout.startswith("#### holdout (offer)\n")
    assert "Control group share" in holdout
    send_at = server.hover(uri, 7, 6)
    assert send_at.startswith("#### send\\_at (offer)\n")
    assert 'send_at: "10:00"' in send_at
    assert "\n10:00\n" not in send_at  # no unquoted example


def test_completion_inside_a_constraint_offers_only_keys_of_its_kind(
    server: YamlLanguageServer,
) -> None:
    uri = server.open(FIXTURES / "unsaved_4.yaml", CONSTRAINTS + "channel: douyin\n      \n")
    labels = {item["label"] for item in server.completion(uri, 4, 7)}
    assert labels == {"min_per_week", "max_per_day", "max_per_week"}


def test_completion_in_a_new_constraint_offers_each_kind(server: YamlLanguageServer) -> None:
    uri = server.open(FIXTURES / "unsaved_5.yaml", CONSTRAINTS + "\n")
    items = {item["label"]: item["insertText"] for item in server.completion(uri, 3, 7)}
    assert set(items) == {
        "cadence",
        "sync",
        "same incentive",
        "approval",
        "channel",
        "campaign",
        "approved_before",
    }
    assert items["sync"] == "campaign: ${1:double11}\n  sync_within: ${2:24h}"


def _placeholders(snippet: str) -> list[str]:
    return re.findall(r"\$\{?(\d+)", snippet)


def test_the_offer_skeleton_numbers_each_placeholder_apart(server: YamlLanguageServer) -> None:
    uri = server.open(FIXTURES / "unsaved_6.yaml", "offers:\n  vip:\n    \n")
    [skeleton] = [i for i in server.completion(uri, 3, 5) if i["label"] == "offer"]
    assert re.findall(r"^(\w+):", skeleton["insertText"], re.M) == [
        "audience",
        "channels",
        "content",
    ]
    numbers = _placeholders(skeleton["insertText"])
    assert len(numbers) == 3 and len(set(numbers)) == 3


def test_a_time_completes_in_quotes(server: YamlLanguageServer) -> None:
    uri = server.open(FIXTURES / "unsaved_7.yaml", OFFER + "    send_at: \n")
    inserts = [item["insertText"] for item in server.completion(uri, 6, 14)]
    assert '"${1:10:00}"' in inserts
