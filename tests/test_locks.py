"""Waits apply to every lock on the store, whoever holds it and in whichever journal mode;
a wait that is not a number of seconds is a usage error."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from click.testing import CliRunner

from rules_engine import demo
from rules_engine.cli import main

AS_OF = "2026-11-20T10:00:00+08:00"
RULES = """\
segments:
  opted_in:
    where: email_opt_in
channels:
  email: {address: email, consent: email_opt_in}
offers:
  hello: {audience: opted_in, channels: [email], content: tpl}
"""
HOLD = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN EXCLUSIVE")
print("held", flush=True)
time.sleep(float(sys.argv[2]))
conn.execute("ROLLBACK")
"""


@pytest.fixture(scope="module")
def journal_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("locks") / "shop.db"
    demo.build_demo_store(path, customers=20, seed=6, progress=False)
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode = DELETE").fetchone() == ("delete",)
    conn.close()
    return path


@contextmanager
def held(path: Path, seconds: float) -> Iterator[None]:
    """Another process holding an exclusive lock on the store for `seconds`."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(path), str(seconds)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        yield
    finally:
        holder.kill()
        holder.wait()
        if holder.stdout is not None:
            holder.stdout.close()


def invoke(*args: str) -> tuple[int, str, float]:
    started = time.monotonic()
    result = CliRunner().invoke(main, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, result.output, time.monotonic() - started


@pytest.mark.parametrize("command", ["plan", "explain", "run"])
def test_a_lock_held_past_the_wait_is_reported_after_waiting(
    tmp_path: Path, journal_store: Path, command: str
) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    extra = {"plan": [], "explain": ["1"], "run": ["--run-key", "k"]}[command]
    with held(journal_store, 60):
        code, output, took = invoke(
            command, str(rules), "--db", str(journal_store), "--as-of", AS_OF, "--wait", "0.5",
            *extra,
        )  # fmt: skip
    assert code == 1
    assert "another process has held a lock on the store for over 0.5 s" in output
    assert "not a SQLite database" not in output
    assert took >= 0.5


def test_a_lock_released_within_the_wait_is_waited_for(tmp_path: Path, journal_store: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    with held(journal_store, 1.0):
        code, output, _ = invoke(
            "plan", str(rules), "--db", str(journal_store), "--as-of", AS_OF, "--wait", "60",
            "--quiet",
        )  # fmt: skip
    assert code == 0, output
    assert "action(s)" in output


@pytest.mark.parametrize("wait", ["inf", "nan", "1e308", "-1", "86401"])
@pytest.mark.parametrize("command", ["plan", "run"])
def test_a_wait_that_is_not_seconds_is_a_usage_error(
    tmp_path: Path, journal_store: Path, wait: str, command: str
) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    extra = ["--run-key", "k"] if command == "run" else []
    code, output, _ = invoke(
        command, str(rules), "--db", str(journal_store), "--wait", wait, *extra
    )
    assert code == 2
    assert "is not a wait: give seconds from 0 to 86,400 (a day)" in output
