"""How commands reach a store and what a run records of its inputs: any file name opens that
very file read-only; reading leaves no file behind; the rules digest, Git commit and rule file
names are those of what was loaded; a run key names one set of inputs."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
from contextlib import closing
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rules_engine.cli import main
from rules_engine.errors import StoreError
from rules_engine.store import closing_read_only
from tests.test_plan import ALICE, AS_OF, BASE, store_with

SETTINGS = settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
# characters a SQLite URI gives a meaning to, and others a file name may hold
NAME_CHARS = st.sampled_from([*"%?#&=;:@+!$'()*, aA1-_.上海", "%41", "%2F", "?mode=rwc", "#x"])


def _rules(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "rules.yaml").write_text(yaml.safe_dump(BASE))
    return folder


def _invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, [*args, "--as-of", AS_OF.isoformat()])
    return result.exit_code, result.output


@SETTINGS
@given(st.lists(NAME_CHARS, min_size=1, max_size=6).map("".join))
def test_a_store_name_with_uri_characters_opens_that_file_read_only(
    tmp_path_factory: pytest.TempPathFactory, name: str
) -> None:
    """Percent escapes, `?` and `#` in a file name stay part of the name: the command reads
    that store (not the file the unescaped name would point to) and creates nothing."""
    folder = tmp_path_factory.mktemp("uri")
    db = store_with(folder / f"{name}.db", customers=[ALICE])
    decoy = folder / f"{name.replace('%41', 'A').replace('%2F', '_')}.db"
    if decoy != db:
        store_with(decoy, customers=[ALICE, {**ALICE, "id": 2}])
    rules = _rules(tmp_path_factory.mktemp("rules"))
    listing = sorted(os.listdir(folder))
    code, output = _invoke("plan", str(rules), "--db", str(db), "--quiet")
    assert code == 0, output
    assert "1 customer" in output
    assert sorted(os.listdir(folder)) == listing
    code, output = _invoke("validate", str(rules), "--db", str(db))
    assert code == 0, output
    assert sorted(os.listdir(folder)) == listing


def test_reading_commands_leave_no_file_beside_the_store(tmp_path: Path) -> None:
    (tmp_path / "shop").mkdir()
    db = store_with(tmp_path / "shop" / "store.db", customers=[ALICE])
    rules = _rules(tmp_path / "rules")
    with closing(sqlite3.connect(db)) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    listing = sorted(os.listdir(db.parent))
    out = tmp_path / "m.csv"
    for command in [
        ["plan", str(rules), "--db", str(db), "--quiet", "--json", str(tmp_path / "p.json")],
        ["explain", str(rules), "--db", str(db), "1"],
        ["metrics", str(rules), "--db", str(db), "--quiet", "--out", str(out)],
        ["validate", str(rules), "--db", str(db)],
    ]:
        code, output = _invoke(*command)
        assert code == 0, (command, output)
        assert sorted(os.listdir(db.parent)) == listing, command


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads and writes any folder")
def test_a_store_in_a_read_only_folder_can_be_planned(tmp_path: Path) -> None:
    (tmp_path / "shop").mkdir()
    db = store_with(tmp_path / "shop" / "store.db", customers=[ALICE])
    rules = _rules(tmp_path / "rules")
    (tmp_path / "shop").chmod(0o555)
    try:
        code, output = _invoke("plan", str(rules), "--db", str(db), "--quiet")
    finally:
        (tmp_path / "shop").chmod(0o755)
    assert code == 0, output


def test_a_store_changed_while_read_without_locks_is_not_decided_on(tmp_path: Path) -> None:
    db = store_with(tmp_path / "store.db", customers=[ALICE])
    with (
        pytest.raises(StoreError, match="changed while it was being read"),
        closing_read_only(db) as conn,
    ):
        assert conn.snapshot is not None
        with closing(sqlite3.connect(db)) as writer:
            writer.execute("PRAGMA journal_mode=DELETE")  # writes the main file itself
            writer.execute("INSERT INTO customers (id) VALUES (2)")
            writer.commit()


# -- what a run records -------------------------------------------------------------------------


def _git(folder: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(folder), *args], check=True, capture_output=True, text=True
    ).stdout.strip()


def _repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    rules = _rules(repo / "rules")
    _git(repo, "init", "-q")
    _git(repo, "-c", "user.email=t@example.cn", "-c", "user.name=t", "add", ".")
    _git(repo, "-c", "user.email=t@example.cn", "-c", "user.name=t", "commit", "-qm", "rules")
    return rules


def _runs(db: Path) -> list[tuple[str, str, str, str]]:
    with closing(sqlite3.connect(db)) as conn:
        return conn.execute(
            'SELECT "run_key", "as_of", "rules_digest", "git_commit" FROM "runs"'
        ).fetchall()


def test_the_run_records_the_digest_and_commit_of_what_it_loaded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rule file edited while the run decides does not change what the run records."""
    rules = _repo(tmp_path)
    head = _git(rules.parent, "rev-parse", "HEAD")
    db = store_with(tmp_path / "store.db", customers=[ALICE])
    from rules_engine.backends.sqlite import audit

    loaded_digest = audit.rules_digest(sorted(rules.glob("*.yaml")))
    real_plan = audit.make_plan

    def plan_then_edit(*args: object, **kwargs: object) -> object:
        decided = real_plan(*args, **kwargs)  # type: ignore[arg-type]
        (rules / "rules.yaml").write_text((rules / "rules.yaml").read_text() + "# edited\n")
        return decided

    monkeypatch.setattr(audit, "make_plan", plan_then_edit)
    code, output = _invoke("run", str(rules), "--db", str(db), "--run-key", "k", "--quiet")
    assert code == 0, output
    [(key, _, digest, commit)] = _runs(db)
    assert (key, digest, commit) == ("k", loaded_digest, head)
    assert audit.rules_digest(sorted(rules.glob("*.yaml"))) != digest  # the file did change


def test_a_run_of_rules_that_differ_from_the_commit_records_it_dirty(tmp_path: Path) -> None:
    rules = _repo(tmp_path)
    (rules / "rules.yaml").write_text((rules / "rules.yaml").read_text() + "# local\n")
    db = store_with(tmp_path / "store.db", customers=[ALICE])
    code, output = _invoke("run", str(rules), "--db", str(db), "--run-key", "k", "--quiet")
    assert code == 0, output
    [(_, _, _, commit)] = _runs(db)
    assert commit == _git(rules.parent, "rev-parse", "HEAD") + "+dirty"


@pytest.mark.parametrize("spelling", ["relative", "dotted", "absolute", "from_inside"])
def test_plan_json_and_audit_rows_name_rule_files_alike_from_any_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, spelling: str
) -> None:
    rules = _rules(tmp_path / "work" / "rules" / "sub")
    (rules.parent / "more.yaml").write_text("segments: {nobody: {where: id < 0}}\n")
    db = store_with(tmp_path / "store.db", customers=[ALICE])
    here, given = {
        "relative": (tmp_path / "work", "rules"),
        "dotted": (tmp_path / "work" / "rules", "../rules/./"),
        "absolute": (tmp_path, str(tmp_path / "work" / "rules")),
        "from_inside": (rules, ".."),
    }[spelling]
    monkeypatch.chdir(here)
    out = tmp_path / f"{spelling}.json"
    code, output = _invoke("plan", given, "--db", str(db), "--quiet", "--json", str(out))
    assert code == 0, output
    plan = json.loads(out.read_text())
    assert {row["rule_file"] for row in plan["audit"]} == {"sub/rules.yaml"}
    assert plan["rules"]["files"] == ["more.yaml", "sub/rules.yaml"]
    reference = tmp_path / "relative.json"
    if reference.exists() and spelling != "relative":
        assert out.read_bytes() == reference.read_bytes()


@pytest.fixture
def committed(tmp_path: Path) -> tuple[Path, Path]:
    rules = _rules(tmp_path / "rules")
    db = store_with(tmp_path / "store.db", customers=[ALICE])
    code, output = _invoke("run", str(rules), "--db", str(db), "--run-key", "k", "--quiet")
    assert code == 0, output
    return rules, db


def _pages(db: Path) -> bytes:
    with closing(sqlite3.connect(db)) as conn:
        return "\n".join(conn.iterdump()).encode()


def test_the_same_key_with_the_same_inputs_changes_nothing(committed: tuple[Path, Path]) -> None:
    rules, db = committed
    before = _pages(db)
    code, output = _invoke("run", str(rules), "--db", str(db), "--run-key", "k", "--quiet")
    assert code == 0 and "already committed" in output
    assert _pages(db) == before


def test_a_key_committed_with_other_rules_or_as_of_is_refused(
    committed: tuple[Path, Path],
) -> None:
    rules, db = committed
    before = _pages(db)
    [(_, _, digest, _)] = _runs(db)
    later = ["--as-of", "2026-11-16T10:00:00+08:00"]
    result = CliRunner().invoke(
        main, ["run", str(rules), "--db", str(db), "--run-key", "k", "--quiet", *later]
    )
    assert result.exit_code == 1, result.output
    assert "was committed as run" in result.output and "as-of" in result.output
    (rules / "rules.yaml").write_text((rules / "rules.yaml").read_text() + "# changed\n")
    code, output = _invoke("run", str(rules), "--db", str(db), "--run-key", "k", "--quiet")
    assert code == 1, output
    assert f"rules {digest[:12]} then" in output
    assert _pages(db) == before


@pytest.mark.parametrize("key", ["", " ", "\t", "  \n "])
def test_an_empty_run_key_is_refused(tmp_path: Path, key: str) -> None:
    rules = _rules(tmp_path / "rules")
    db = store_with(tmp_path / "store.db", customers=[ALICE])
    before = _pages(db)
    code, output = _invoke("run", str(rules), "--db", str(db), "--run-key", key, "--quiet")
    assert code == 2, output
    assert "--run-key is empty" in output
    assert _pages(db) == before
    shutil.rmtree(rules)
