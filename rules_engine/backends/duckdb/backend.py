"""The DuckDB backend: a store is one DuckDB file (`store.py`), planned read-only.

duckdb is imported only when a DuckDB store is opened: commands on SQLite stores start
without it.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ... import store, storeformat

if TYPE_CHECKING:
    from ...rules.model import RuleSet
    from ..base import Progress
    from ..writer import RunResult
    from .writer import DuckDBSession

# DuckDB's memory limit while planning, as a multiple of `--cache-mb` (and at least
# `MEMORY_FLOOR_MB`): past it DuckDB spills intermediate results to a temporary folder.
MEMORY_PER_CACHE_MB = 4
MEMORY_FLOOR_MB = 1024


class DuckDBBackend:
    name = "duckdb"

    def recognises(self, path: Path) -> bool:
        try:
            with path.open("rb") as f:
                head = f.read(16)
        except OSError:
            return False
        at = storeformat.DUCKDB_MAGIC_AT
        return head[at : at + len(storeformat.DUCKDB_MAGIC)] == storeformat.DUCKDB_MAGIC

    @contextmanager
    def planning(self, path: str | Path, cache_mb: int) -> Iterator[Any]:
        from .store import connect

        with tempfile.TemporaryDirectory(prefix="campaign-duckdb-") as spill:
            conn = connect(path, wait=store.LOCK_WAIT.get())
            try:
                store.ensure_is_store(conn, path)
                prepare(conn, cache_mb, spill)
                yield conn
            finally:
                conn.close()

    def schema(self, path: str | Path) -> store.StoreSchema:
        return store.read_schema(path)

    def run(
        self,
        path: str | Path,
        rules: RuleSet,
        as_of: datetime,
        run_key: str,
        *,
        wait: float,
        cache_mb: int,
        progress: Progress | None,
    ) -> RunResult:
        from .writer import run

        return run(path, rules, as_of, run_key, wait=wait, cache_mb=cache_mb, progress=progress)

    def session(self, path: str | Path, wait: float) -> AbstractContextManager[DuckDBSession]:
        from .writer import session

        return session(path, wait)

    def fingerprint(self, conn: Any, path: str | Path) -> dict[str, Any]:
        from .fingerprint import file_state, store_fingerprint

        return {**store_fingerprint(conn), "state": file_state(path)}

    def unchanged(self, path: str | Path, store: dict[str, Any]) -> bool:
        from .fingerprint import unchanged

        return unchanged(path, store)


def prepare(conn: Any, cache_mb: int, spill: str) -> None:
    """DuckDB's memory limit for the plan's intermediate tables, and where it spills past it
    (a folder of its own: a read-only store's folder may not be writable)."""
    limit = max(MEMORY_FLOOR_MB, MEMORY_PER_CACHE_MB * int(cache_mb))
    conn.execute(f"SET memory_limit = '{limit}MB'")
    conn.execute(f"SET temp_directory = '{spill.replace(chr(39), chr(39) * 2)}'")
    conn.execute("SET preserve_insertion_order = false")


DUCKDB = DuckDBBackend()
