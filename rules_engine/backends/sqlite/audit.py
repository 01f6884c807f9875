"""The SQLite run: the store's write lock, then the rows every engine writes (`writer.py`).

`run` takes the store's write lock first (`BEGIN IMMEDIATE`, waiting up to `--wait` seconds
through SQLite's busy timeout), so a second run waits and then counts the first one's actions
against its caps, capacity and budgets; it decides everything inside that transaction and
commits `runs`, `actions`, `audit` and `channel_exits` together. A crash or a kill before the
commit leaves the store as it was (SQLite's journal), and the same run key can be run again;
a run key that already committed changes nothing.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ... import store
from ...errors import StoreError
from ...execute import Progress
from ...execute import plan as make_plan
from ...rules.model import RuleSet
from ...sql.compile import ValuesProgram
from ..writer import (
    GitState,
    Row,
    RunKeyConflict,
    RunResult,
    StoreBusy,
    action_row,
    audit_row,
    check_run_key,
    commit_once,
    committed_run,
    counts,
    git_state,
    incentive_text,
    record_run,
    rules_digest,
    run_id_for,
    write_plan,
)
from .connection import prepare
from .fingerprint import store_fingerprint
from .functions import register

__all__ = [
    "GitState",
    "RunKeyConflict",
    "RunResult",
    "SQLiteSession",
    "StoreBusy",
    "action_row",
    "audit_row",
    "check_run_key",
    "committed_run",
    "connect_for_run",
    "counts",
    "git_state",
    "incentive_text",
    "record_run",
    "rules_digest",
    "run",
    "run_id_for",
    "run_on",
    "session",
]


class SQLiteSession:
    """A run's connection to a SQLite store: `BEGIN IMMEDIATE` waits up to `wait` seconds for
    another writer; rows go in with `executemany`."""

    lock_wait: str | None = "waiting for other runs on this store"

    def __init__(self, conn: sqlite3.Connection, name: str, wait: float) -> None:
        self.conn, self.name, self.wait = conn, name, wait

    def execute(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        return self.conn.execute(sql, params)

    def begin(self) -> None:
        begin_write(self.conn, self.name, self.wait)

    def commit(self) -> None:
        self.conn.execute("COMMIT")

    def rollback(self) -> None:
        if self.conn.in_transaction:
            self.conn.execute("ROLLBACK")

    def insert(self, table: str, columns: Sequence[str], rows: Iterable[Row]) -> None:
        names = ", ".join(f'"{c}"' for c in columns)
        marks = ", ".join("?" * len(columns))
        self.conn.executemany(
            f'INSERT INTO "{table}" ({names}) VALUES ({marks})',
            ([row[c] for c in columns] for row in rows),
        )

    def prepare(self) -> None:
        store.ensure_engine_indexes(self.conn)

    def fingerprint(self) -> dict[str, Any]:
        return store_fingerprint(self.conn, self.name)


@contextmanager
def session(path: str | Path, wait: float) -> Iterator[SQLiteSession]:
    """A run's read-write connection to the store at `path`, closed when the block ends."""
    conn = connect_for_run(path, wait)
    try:
        yield SQLiteSession(conn, str(path), wait)
    finally:
        conn.close()


def connect_for_run(path: str | Path, wait: float) -> sqlite3.Connection:
    """A read-write connection to an existing store; waits up to `wait` seconds for a lock."""
    path = Path(path)
    with store.closing_read_only(path) as probe:
        store.ensure_is_store(probe, path)
    # a plain file name, not a URI: nothing in the name is read as an option
    conn = register(sqlite3.connect(path, timeout=wait, isolation_level=None))
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


def run(
    path: str | Path,
    rules: RuleSet,
    as_of: datetime,
    run_key: str,
    *,
    wait: float = 60.0,
    cache_mb: int = 256,
    progress: Progress | None = None,
) -> RunResult:
    """Decide and commit one run, or nothing; a key that already committed with the same
    rules and as-of changes nothing, and one that committed with others is refused."""
    check_run_key(run_key)
    conn = connect_for_run(path, wait)
    try:
        prepare(conn, cache_mb)
        return run_on(
            conn, rules, as_of, run_key, store_name=str(path), wait=wait, progress=progress
        )
    finally:
        conn.close()


def run_on(
    conn: sqlite3.Connection,
    rules: RuleSet,
    as_of: datetime,
    run_key: str,
    *,
    store_name: str = "the store",
    wait: float = 60.0,
    progress: Progress | None = None,
    program: ValuesProgram | None = None,
    git: GitState | None = None,
) -> RunResult:
    """`run` on an open read-write connection in autocommit mode (the rule tests' in-memory
    stores run their steps with it): the lock, the decisions and one commit, or nothing.
    `program`: the rules' values program for `as_of`, and `git`: the rules' Git state, when the
    caller already has them (rule tests commit many runs of one rule set; otherwise the commit
    read when the rules were loaded, `RuleSet.git_commit`)."""
    session = SQLiteSession(conn, store_name, wait)

    def decide_and_write() -> RunResult:
        started = datetime.now(UTC)
        plan = make_plan(conn, rules, as_of, progress=progress, program=program)
        return write_plan(session, rules, plan, run_key, started, git, progress)

    return commit_once(session, rules, as_of, run_key, decide_and_write, progress)


def begin_write(conn: sqlite3.Connection, path: str | Path, wait: float) -> None:
    """Take the store's write lock (`BEGIN IMMEDIATE`), waiting up to `wait` seconds."""
    try:
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc) or "busy" in str(exc):
            raise StoreBusy(
                f"{path}: another run has held the store for over {wait:g} s; "
                "try again when it has finished, or wait longer with --wait SECONDS"
            ) from None
        raise StoreError(f"{path}: cannot start a run: {exc}") from None
