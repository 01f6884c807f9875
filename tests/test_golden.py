"""Golden files: what the engine prints and the SQL it runs, pinned byte for byte.

A change that is meant to change any of it updates the files with `make golden` and says so;
any other change must leave them as they are. Pinned, at one as-of instant:

- `plan.sql`: every statement `plan` runs for `rules/` on a small demo store, parameters
  bound, in order (the SQL of every stage, and of the readers that follow);
- `plan.txt` and `plan.json`: `campaign plan` on that store (the JSON's action and audit lists
  are summarised by their row count, first rows and a digest of their exact text);
- `explain.txt`: `campaign explain` for a few of its customers;
- `validate.txt`: `campaign validate` (text and JSON) of every problem fixture.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from rules_engine import store
from rules_engine.backends.sqlite.connection import prepare
from rules_engine.cli import main
from rules_engine.execute import plan
from rules_engine.rules.check import load_rules
from rules_engine.times import parse_instant

ROOT = Path(__file__).parents[1]
GOLDEN = ROOT / "tests" / "golden"
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"
AS_OF = "2026-11-20T10:00:00+08:00"
CUSTOMERS = (1, 17, 1999)
PROBLEM_FIXTURES = sorted(
    [
        *(ROOT / "tests" / "fixtures" / "schema" / "invalid").iterdir(),
        ROOT / "tests" / "fixtures" / "repeated_expressions.yaml",
    ]
)


def matches_golden(name: str, text: str) -> None:
    """`text` equals the golden file `name` (with UPDATE_GOLDEN=1: becomes it)."""
    path = GOLDEN / name
    if UPDATE:
        GOLDEN.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return
    assert path.exists(), f"{path} is missing: `make golden` writes it"
    expected = path.read_text(encoding="utf-8")
    assert text == expected, f"{name} differs from its golden file (`make golden` if meant)"


@pytest.fixture(scope="module")
def demo(small_demo: Path) -> Path:
    return small_demo


@pytest.fixture
def at_root(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Paths in messages read as a user in the repository would see them."""
    monkeypatch.chdir(ROOT)
    yield


def campaign(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, [*args, "--as-of", AS_OF])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, result.output


def test_the_sql_of_every_stage(demo: Path) -> None:
    moment = parse_instant(AS_OF)
    rules = load_rules([ROOT / "rules"], db=demo, as_of=moment)
    statements: list[str] = []
    with store.closing_read_only(demo) as conn:
        prepare(conn, 256)
        conn.set_trace_callback(statements.append)
        plan(conn, rules, moment)
    assert len(statements) > 20
    matches_golden("plan.sql", "".join(f"{sql.strip()};\n\n" for sql in statements))


def _summarised(rows: list[Any]) -> dict[str, Any]:
    text = json.dumps(rows, ensure_ascii=False, sort_keys=True, indent=1)
    return {
        "rows": len(rows),
        "first": rows[:3],
        "sha256": hashlib.sha256(text.encode()).hexdigest(),
    }


def test_the_plan_as_text_and_json(demo: Path, tmp_path: Path, at_root: None) -> None:
    out = tmp_path / "plan.json"
    code, text = campaign("plan", "rules", "--db", str(demo), "--quiet", "--json", str(out))
    assert code == 0
    matches_golden("plan.txt", text.replace(str(out), "<plan.json>"))
    raw = out.read_bytes()
    document = json.loads(raw)
    assert document["actions"] and document["audit"]
    document["actions"] = _summarised(document["actions"])
    document["audit"] = _summarised(document["audit"])
    document["sha256_of_the_whole_file"] = hashlib.sha256(raw).hexdigest()
    matches_golden("plan.json", json.dumps(document, ensure_ascii=False, indent=1) + "\n")


def test_explain_of_a_few_customers(demo: Path, at_root: None) -> None:
    parts = []
    for customer in CUSTOMERS:
        code, text = campaign("explain", "rules", "--db", str(demo), str(customer))
        assert code == 0, text
        parts.append(f"$ campaign explain rules {customer}\n{text}")
    code, text = campaign("explain", "rules", "--db", str(demo), "1", "--format", "json")
    assert code == 0, text
    parts.append(f"$ campaign explain rules 1 --format json\n{text}")
    matches_golden("explain.txt", "\n".join(parts).replace(str(demo), "<demo.db>"))


def test_validate_of_every_problem_fixture(at_root: None) -> None:
    parts = []
    for fixture in PROBLEM_FIXTURES:
        name = str(fixture.relative_to(ROOT))
        for fmt in ("text", "json"):
            code, text = campaign("validate", name, "--format", fmt)
            assert code in (1, 2), text
            parts.append(f"$ campaign validate {name} --format {fmt}  (exit {code})\n{text}")
    matches_golden("validate.txt", "\n".join(parts))
