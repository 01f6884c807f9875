"""Rule files found valid by the schema check are remembered by their bytes, so that checking
them again does not walk them with jsonschema; anything else is checked every time."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from rules_engine.rules import known_valid
from rules_engine.rules import schema as schema_module
from rules_engine.rules.check import check

ROOT = Path(__file__).parents[1]


@pytest.fixture
def rules(copied_rules: Path) -> Path:
    return copied_rules


def _walked(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The files the schema check walks from now on."""
    walked: list[str] = []
    real = schema_module.check_document

    def counting(doc: Any, shapes: Any = None) -> Any:
        walked.append(Path(doc.path).name)
        return real(doc, shapes)

    monkeypatch.setattr(schema_module, "check_document", counting)
    return walked


def test_valid_files_are_walked_once_then_remembered(
    rules: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    walked = _walked(monkeypatch)
    first = check([rules])
    files = len(first.documents)
    assert not first.errors and len(walked) == files > 1
    again = check([rules])
    assert len(walked) == files  # none walked again
    assert again.problems == first.problems and again.rules.digest == first.rules.digest


def test_a_changed_file_is_checked_again_and_its_errors_reported_every_time(
    rules: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    check([rules])
    walked = _walked(monkeypatch)
    channels = rules / "channels.yaml"
    channels.write_text(channels.read_text(encoding="utf-8") + "\nbogus_section: 1\n")
    for _ in range(2):
        result = check([rules])
        assert [p.code for p in result.errors] == ["schema-unknown-key"]
    assert walked == ["channels.yaml", "channels.yaml"]  # the others stay known valid


def test_the_same_bytes_under_another_schema_or_engine_are_not_known(
    rules: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = (rules / "channels.yaml").read_bytes()
    key = known_valid.key_of(raw)
    known_valid._salt.cache_clear()
    monkeypatch.setattr(known_valid, "schema_text", lambda: "{}")
    try:
        assert known_valid.key_of(raw) != key
    finally:
        known_valid._salt.cache_clear()


def test_an_unwritable_cache_folder_checks_every_time(
    rules: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the folder would be")
    monkeypatch.setenv("CAMPAIGN_CACHE_DIR", str(blocked))
    walked = _walked(monkeypatch)
    assert not check([rules]).errors
    assert not check([rules]).errors
    assert len(walked) == 2 * len(list(rules.rglob("*.yaml")))
    assert os.path.isfile(blocked)
