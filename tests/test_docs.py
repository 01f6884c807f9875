"""The docs keep up with the code: every command in the README, every plan key documented."""

from __future__ import annotations

import doctest
import re
import shutil
from pathlib import Path

import pytest

from rules_engine.cli import main

ROOT = Path(__file__).parents[1]


def test_every_command_is_in_the_readme_table() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = [line for line in readme.splitlines() if line.startswith("| `campaign ")]
    documented = {re.match(r"\| `campaign ([a-z-]+)", line).group(1) for line in table}  # type: ignore[union-attr]
    assert set(main.commands) <= documented


def test_every_key_of_the_plan_json_is_documented(tmp_path: Path) -> None:
    from rules_engine.report.render import plan_document
    from tests.test_plan import plan_of

    document = plan_document(plan_of(tmp_path), digest="d")
    decisions = (ROOT / "docs" / "decisions.md").read_text(encoding="utf-8")
    section = decisions.split("## The plan as JSON")[1].split("\n## ")[0]
    rows = {m for m in re.findall(r"^\| `([a-z_]+)` \|", section, flags=re.M)}
    assert set(document) == rows


def test_the_python_example_in_the_readme_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.copytree(ROOT / "rules", tmp_path / "rules")
    monkeypatch.chdir(tmp_path)
    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    result = doctest.testfile(
        str(ROOT / "README.md"), module_relative=False, optionflags=flags, report=False
    )
    assert result.attempted >= 10
    assert result.failed == 0


def test_the_library_exports_what_it_lists() -> None:
    import rules_engine

    assert rules_engine.__all__ == sorted(rules_engine.__all__)
    for name in rules_engine.__all__:
        assert getattr(rules_engine, name).__doc__, name


def test_the_store_page_lists_every_canonical_table_and_column() -> None:
    from rules_engine.store import CANONICAL_TABLES

    page = (ROOT / "docs" / "store.md").read_text(encoding="utf-8")
    for spec in CANONICAL_TABLES:
        assert f"`{spec.name}`" in page or f"### {spec.name}" in page, spec.name
        for column, kind in spec.columns:
            if not spec.written_by_engine:
                assert f"| `{column}` | {kind} |" in page, (spec.name, column)
            else:
                assert f"`{column}`" in page, (spec.name, column)


DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def _named_commands(text: str) -> set[str]:
    """`campaign WORD` in inline code, and command lines in code blocks."""
    inline = re.findall(r"`(?:\.venv/bin/)?campaign ([a-z][a-z-]*)", text)
    blocks = re.findall(r"^\s*(?:- run: )?(?:\.venv/bin/)?campaign ([a-z][a-z-]*)", text, re.M)
    return set(inline) | set(blocks)


def test_every_command_named_in_the_docs_exists_or_is_announced_as_to_come() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    to_come = next((line for line in readme.splitlines() if line.startswith("Still to come")), "")
    announced = _named_commands(to_come)
    for page in DOCS:
        named = _named_commands(page.read_text(encoding="utf-8"))
        assert named - set(main.commands) - announced == set(), page.name


def test_no_doc_sends_users_to_the_contract() -> None:
    for page in DOCS:
        assert "SPEC" not in page.read_text(encoding="utf-8"), page.name


def test_every_commands_help_has_an_example() -> None:
    from click.testing import CliRunner

    for name in main.commands:
        result = CliRunner().invoke(main, [name, "--help"])
        assert result.exit_code == 0
        assert "Example" in result.output, name
        example = result.output.split("Example", 1)[1]
        assert f"campaign {name}" in example, name
