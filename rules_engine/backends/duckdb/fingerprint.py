"""The fingerprint of a DuckDB store, for plan files: one digest per table of its whole content.

DuckDB scans a table's columns fast enough to hash every row of every table (the orders of
100,000 customers in a fraction of a second), so a DuckDB store's fingerprint is exact where
SQLite's looks at the latest rows and the file: any row added, deleted or changed in place,
in any table, changes that table's digest, and the message names the table. Each digest is
of the table's definition, its row count and two order-free sums of its rows' hashes (rows in
any physical order give the same digest; a row twice counts twice). Checkpoints, which move
committed writes from the log into the file, change no digest.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from ..sqlite.fingerprint import file_digest
from .store import Connection, quote

FORMAT = "duckdb"
# The file's first blocks: its main header and the two database headers, one of which every
# checkpoint rewrites (with a new iteration count).
_HEADERS = 3 * 4096


def _tables(conn: Connection) -> list[tuple[str, str]]:
    return conn.execute(
        "SELECT table_name, sql FROM duckdb_tables() "
        "WHERE database_name = current_database() AND schema_name = 'main' AND NOT temporary "
        "ORDER BY table_name"
    ).fetchall()


def _columns(conn: Connection, table: str) -> list[str]:
    rows = conn.execute(
        "SELECT column_name FROM duckdb_columns() WHERE database_name = current_database() "
        "AND schema_name = 'main' AND table_name = ? ORDER BY column_index",
        [table],
    ).fetchall()
    return [name for (name,) in rows]


def table_digest(conn: Connection, table: str, definition: str) -> str:
    """A table's definition, row count and the sum and xor of its rows' hashes."""
    row = ", ".join(quote(c) for c in _columns(conn, table)) or "NULL"
    ((rows, total, xor),) = conn.execute(  # fetched to the end: DuckDB keeps a result open
        f"SELECT count(*), CAST(sum(CAST(h AS HUGEINT)) AS VARCHAR), CAST(bit_xor(h) AS VARCHAR) "
        f"FROM (SELECT hash({row}) AS h FROM {quote(table)})"
    ).fetchall()
    text = json.dumps([definition, rows, total, xor], separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def store_fingerprint(conn: Connection) -> dict[str, Any]:
    """`{"format": "duckdb", "tables": {name: digest}, "file": digest}`; the file digest is
    that of the tables' (a DuckDB store has no state outside its tables that a plan reads)."""
    tables = {name: table_digest(conn, name, sql or "") for name, sql in _tables(conn)}
    whole = json.dumps(tables, sort_keys=True, separators=(",", ":"))
    return {"format": FORMAT, "tables": tables, "file": hashlib.sha256(whole.encode()).hexdigest()}


def file_state(path: str | Path) -> str:
    """The store file's size, modification time and headers, and its write-ahead log's: every
    commit changes them (it appends to the log, or a checkpoint rewrites the file). A plan
    file records it as `state`, so that a store whose file has not been touched since need not
    be read row by row again (`unchanged`); a store whose file was touched (copied, or
    checkpointed with no row changed) is fingerprinted row by row, as without it."""
    return file_digest(path, header=_HEADERS, log=".wal", log_header=1)


def unchanged(path: str | Path, store: dict[str, Any]) -> bool:
    """Whether the store at `path` is, beyond doubt, the one whose fingerprint is `store`:
    its file's state is the one recorded with it. Only while the store is open for reading,
    when no other process can write it."""
    return store.get("state") is not None and store["state"] == file_state(path)
