"""Store engines: each backend keeps its connection, locking, introspection, readers and run
writer in its folder (`sqlite/`, `duckdb/`), behind the `Backend` protocol (`base.py`)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .base import Backend, Engine
from .duckdb.backend import DUCKDB
from .sqlite.backend import SQLITE

if TYPE_CHECKING:
    from ..sql.dialect import Dialect

# Every backend, asked in this order which one a store file is; the last is the default (it
# also gives the messages for a missing file or one that is no store at all).
BACKENDS: tuple[Backend, ...] = (DUCKDB, SQLITE)


def backend_for(path: str | Path) -> Backend:
    """The backend of the store at `path`."""
    for backend in BACKENDS[:-1]:
        if backend.recognises(Path(path)):
            return backend
    return BACKENDS[-1]


def engine_of(conn: Any) -> Engine:
    """How a plan reads an open connection: its dialect and many-row readers."""
    if isinstance(conn, sqlite3.Connection):
        from .sqlite.readers import ENGINE
    else:
        from .duckdb.readers import ENGINE
    return ENGINE


def dialect_of(conn: Any) -> Dialect:
    """The SQL dialect of an open connection, without the many-row readers (and numpy, which
    they load): what explain, which reads one customer, needs."""
    if isinstance(conn, sqlite3.Connection):
        from .sqlite.dialect import SQLITE as SQLITE_SQL

        return SQLITE_SQL
    from .duckdb.dialect import DUCKDB as DUCKDB_SQL

    return DUCKDB_SQL


__all__ = ["BACKENDS", "Backend", "Engine", "backend_for", "dialect_of", "engine_of"]
