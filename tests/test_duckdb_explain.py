"""`campaign explain`, `campaign metrics --out` and `campaign diff` on a DuckDB store say what
they say on the same store in SQLite, byte for byte (the store's name aside)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from rules_engine.cli import main

ROOT = Path(__file__).parents[1]
AS_OF = "2026-11-20T10:00:00+08:00"


def campaign(db: Path, *args: str) -> str:
    result = CliRunner().invoke(main, [*args, "--db", str(db), "--as-of", AS_OF])
    assert result.exit_code == 0, result.output
    return result.output.replace(str(db), "<store>")


@pytest.mark.parametrize(
    "args",
    [
        ("1",),
        ("17", "--format", "json"),
        ("1999", "--population", "--format", "json"),
    ],
)
def test_explain_is_the_same_on_both_engines(
    small_demo: Path, small_duck_demo: Path, args: tuple[str, ...]
) -> None:
    on_sqlite = campaign(small_demo, "explain", str(ROOT / "rules"), *args)
    assert ("Offers" in on_sqlite) or ('"offers": [' in on_sqlite)
    assert campaign(small_duck_demo, "explain", str(ROOT / "rules"), *args) == on_sqlite


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_metrics_exports_are_the_same_on_both_engines(
    small_demo: Path, small_duck_demo: Path, tmp_path: Path, suffix: str
) -> None:
    written = []
    for db in (small_demo, small_duck_demo):
        out = tmp_path / f"{db.suffix[1:]}{suffix}"
        campaign(db, "metrics", str(ROOT / "rules"), "--out", str(out), "--quiet")
        written.append(out.read_bytes())
    assert written[0].count(b"\n") == 2_000 + (suffix == ".csv")
    assert written[1] == written[0]


def test_diff_is_the_same_on_both_engines(
    small_demo: Path, small_duck_demo: Path, tmp_path: Path
) -> None:
    base = tmp_path / "base"
    shutil.copytree(ROOT / "rules", base)
    segments = base / "segments.yaml"
    text = segments.read_text(encoding="utf-8")
    segments.write_text(text.replace("where: m_score >= 4 or", "where: m_score >= 3 or", 1))
    outputs = []
    for db in (small_demo, small_duck_demo):
        args = ("diff", str(ROOT / "rules"), "--base-rules", str(base), "--quiet")
        outputs.append((campaign(db, *args), campaign(db, *args, "--format", "json")))
    assert "moved between offers" in outputs[0][0]
    assert outputs[1] == outputs[0]
