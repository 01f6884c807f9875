"""The DuckDB run: the file held by this process, then the rows every engine writes
(`backends/writer.py`) in one DuckDB transaction.

DuckDB lets one process open a file read-write and refuses every other opener, read-only
ones too, at open: so the run's lock is the open itself. `run` opens the store read-write,
waiting up to `--wait` seconds while another process holds it (another run, a plan, a copy),
and keeps it until the run has committed; a run or plan started meanwhile waits at its own
open, then sees this run's actions. Rows are appended in bulk (columns of a few hundred
thousand rows at a time, scanned by DuckDB from numpy arrays), never a statement per row.
Until `COMMIT` nothing is in the store's write-ahead log, so a kill at any moment before it
leaves the store as it was; DuckDB replays a committed transaction from the log on the next
open.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np

from ... import store
from ...execute import Progress
from ...execute import plan as make_plan
from ...rules.model import RuleSet
from ..writer import Row, RunResult, check_run_key, commit_once, write_plan
from .fingerprint import store_fingerprint
from .store import ENGINE_TYPES, TYPES, Connection, connect, quote

BATCH_ROWS = 250_000  # rows per bulk insert: their columns are held in memory once more
STAGED = "campaign_rows"  # the name the columns of one batch are scanned under


class DuckDBSession:
    """A run's connection to a DuckDB store its process holds: one transaction, rows
    appended a batch of columns at a time."""

    lock_wait: str | None = None  # opening the file read-write was the lock (`connect` waited)

    def __init__(self, conn: Connection, name: str) -> None:
        self.conn, self.name = conn, name
        self.open = False  # a transaction is open (DuckDB refuses a ROLLBACK without one)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Fetched:
        """The statement's rows, fetched to the end (DuckDB refuses other work on a connection
        while a result is left open)."""
        return Fetched(self.conn.execute(sql, list(params)).fetchall())

    def begin(self) -> None:
        self.conn.execute("BEGIN TRANSACTION")
        self.open = True

    def commit(self) -> None:
        self.conn.execute("COMMIT")
        self.open = False

    def rollback(self) -> None:
        if self.open:
            self.open = False
            self.conn.execute("ROLLBACK")

    def insert(self, table: str, columns: Sequence[str], rows: Iterable[Row]) -> None:
        spec = store.TABLES[table]
        types = ENGINE_TYPES if spec.written_by_engine else TYPES
        casts = ", ".join(f"CAST({quote(c)} AS {types[spec.column_types[c]]})" for c in columns)
        sql = (
            f"INSERT INTO {quote(table)} ({', '.join(quote(c) for c in columns)}) "
            f"SELECT {casts} FROM {STAGED}"
        )
        source = iter(rows)
        while batch := list(islice(source, BATCH_ROWS)):
            self.conn.register(STAGED, _columns(batch, columns))
            try:
                self.conn.execute(sql)
            finally:
                self.conn.unregister(STAGED)

    def prepare(self) -> None:
        """DuckDB stores keep no index on the tables a run writes beyond their keys."""

    def fingerprint(self) -> dict[str, Any]:
        return store_fingerprint(self.conn)


class Fetched:
    """Rows already fetched, read as a cursor is."""

    def __init__(self, rows: list[Any]) -> None:
        self.rows = rows

    def fetchone(self) -> Any:
        return self.rows[0] if self.rows else None


def _columns(batch: list[Row], columns: Sequence[str]) -> dict[str, np.ndarray[Any, Any]]:
    """One array per column; object arrays keep Python's None as NULL, and the insert casts
    each column to the table's type."""
    found: dict[str, np.ndarray[Any, Any]] = {}
    for name in columns:
        values = np.empty(len(batch), dtype=object)
        values[:] = [row[name] for row in batch]
        found[name] = values
    return found


@contextmanager
def session(path: str | Path, wait: float) -> Iterator[DuckDBSession]:
    """The store at `path` opened read-write, held by this process until the block ends;
    waits up to `wait` seconds while another process holds it."""
    conn = connect(path, read_only=False, wait=wait)
    try:
        store.ensure_is_store(conn, path)
        yield DuckDBSession(conn, str(path))
    finally:
        conn.close()


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
    """Decide and commit one run on a DuckDB store, or nothing (as SQLite's `run`)."""
    from .backend import prepare

    check_run_key(run_key)
    with (
        session(path, wait) as held,
        tempfile.TemporaryDirectory(prefix="campaign-duckdb-") as spill,
    ):
        prepare(held.conn, cache_mb, spill)  # as a plan is: the same memory limit and spill

        def decide_and_write() -> RunResult:
            started = datetime.now(UTC)
            plan = make_plan(held.conn, rules, as_of, progress=progress)
            return write_plan(held, rules, plan, run_key, started, progress=progress)

        return commit_once(held, rules, as_of, run_key, decide_and_write, progress)
