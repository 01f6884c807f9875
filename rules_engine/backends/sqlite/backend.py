"""The SQLite backend: a store is one SQLite file."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ... import store
from .connection import prepare

if TYPE_CHECKING:
    import sqlite3

    from ...rules.model import RuleSet
    from ..base import Progress
    from .audit import RunResult, SQLiteSession

HEADER = b"SQLite format 3\x00"


class SQLiteBackend:
    name = "sqlite"

    def recognises(self, path: Path) -> bool:
        try:
            with path.open("rb") as f:
                return f.read(len(HEADER)) == HEADER
        except OSError:
            return False

    @contextmanager
    def planning(self, path: str | Path, cache_mb: int) -> Iterator[sqlite3.Connection]:
        with store.closing_read_only(path) as conn:
            store.ensure_is_store(conn, path)
            prepare(conn, cache_mb)
            yield conn

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
        from .audit import run

        return run(path, rules, as_of, run_key, wait=wait, cache_mb=cache_mb, progress=progress)

    def session(self, path: str | Path, wait: float) -> AbstractContextManager[SQLiteSession]:
        from .audit import session

        return session(path, wait)

    def fingerprint(self, conn: Any, path: str | Path) -> dict[str, Any]:
        from .fingerprint import store_fingerprint

        return store_fingerprint(conn, path)

    def unchanged(self, path: str | Path, store: dict[str, Any]) -> bool:
        return False  # the fingerprint itself takes milliseconds: take it


SQLITE = SQLiteBackend()
