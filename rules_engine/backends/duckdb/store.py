"""DuckDB store files: the canonical tables in DuckDB types, and opening a file that another
process may hold.

Values are stored as a SQLite store holds them, so that a copy either way changes nothing:
times as ISO-8601 text (every spelling the SQLite store allows), booleans as BOOLEAN (0/1 in
SQLite). The large related tables (orders, events, contacts) carry no primary-key index:
DuckDB scans them, and `campaign load` checks their ids itself.

DuckDB lets one process open a file read-write, or several read-only, and refuses the others
at open (not at the first write); `connect` waits for the file up to `wait` seconds.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from ...errors import StoreError
from ...store import CANONICAL_TABLES, LOCK_NOTICE, RuleType, TableSpec

TYPES: dict[RuleType, str] = {
    "integer": "BIGINT",
    "real": "DOUBLE",
    "text": "VARCHAR",
    "boolean": "BOOLEAN",
    "date": "VARCHAR",
    "datetime": "VARCHAR",
}
# Scanned, never looked up by key: no index.
UNKEYED = frozenset({"orders", "events", "contacts"})
LOCKED = "Could not set lock"
RETRY_SECONDS = 0.1

Connection = duckdb.DuckDBPyConnection


class StoreHeld(StoreError):
    """Another process held the DuckDB file for longer than we were willing to wait: the
    store is fine, the command can be run again (exit 1, as for a SQLite store's lock)."""

    exit_code = 1


def connect(
    path: str | Path,
    *,
    read_only: bool = True,
    wait: float = 0.0,
    notice: Callable[[str], None] | None = None,
) -> Connection:
    """Open a DuckDB store, waiting up to `wait` seconds while another process holds it;
    `notice` (by default the command's, `store.LOCK_NOTICE`) is told once when it waits."""
    path = Path(path)
    deadline = time.monotonic() + wait
    notice = notice or LOCK_NOTICE.get()
    told = False
    while True:
        try:
            conn = duckdb.connect(str(path), read_only=read_only)
            break
        except duckdb.IOException as exc:
            if LOCKED not in str(exc):
                raise StoreError(f"{path}: cannot open the DuckDB store ({exc})") from None
            if time.monotonic() >= deadline:
                raise StoreHeld(
                    f"{path}: another process holds the store (a run, a plan, or a copy into "
                    f"it); waited {wait:g} s; try again when it has finished, or wait longer "
                    f"with --wait SECONDS"
                ) from None
            if notice is not None and not told:
                notice(
                    f"{path}: another process holds the store (a run, a plan, or a copy "
                    f"into it); waiting up to {wait:g} s for it"
                )
                told = True
            time.sleep(RETRY_SECONDS)
        except duckdb.Error as exc:
            raise StoreError(f"{path}: not a DuckDB database ({exc})") from None
    conn.execute("SET TimeZone = 'UTC'")
    return conn


@contextmanager
def closing(
    path: str | Path,
    *,
    read_only: bool = True,
    wait: float = 0.0,
    notice: Callable[[str], None] | None = None,
) -> Iterator[Connection]:
    conn = connect(path, read_only=read_only, wait=wait, notice=notice)
    try:
        yield conn
    finally:
        conn.close()


def table_columns(conn: Connection) -> dict[str, list[tuple[str, str]]]:
    """Each table's and view's columns with their declared types, tables by name."""
    rows = conn.execute(
        "SELECT table_name, column_name, data_type FROM information_schema.columns "
        "WHERE table_catalog = current_database() AND table_schema = 'main' "
        "ORDER BY table_name, ordinal_position"
    ).fetchall()
    found: dict[str, list[tuple[str, str]]] = {}
    for table, column, declared in rows:
        found.setdefault(table, []).append((column, declared))
    return found


def column_sql(name: str, kind: RuleType) -> str:
    return f"{quote(name)} {TYPES[kind]}"


def create_table_sql(spec: TableSpec) -> str:
    columns = [column_sql(name, kind) for name, kind in spec.columns]
    if spec.name not in UNKEYED:
        columns.append(f"PRIMARY KEY ({', '.join(quote(c) for c in spec.pk)})")
    columns += [f"UNIQUE ({', '.join(quote(c) for c in cols)})" for cols in spec.unique_indexes]
    return f"CREATE TABLE {quote(spec.name)} ({', '.join(columns)})"


def init_store(path: str | Path) -> list[str]:
    """Create the canonical tables in a new or existing DuckDB file, or add missing columns."""
    created: list[str] = []
    with closing(path, read_only=False) as conn:
        present = table_columns(conn)
        conn.execute("BEGIN TRANSACTION")
        for spec in CANONICAL_TABLES:
            if spec.name not in present:
                conn.execute(create_table_sql(spec))
                created.append(f"table {spec.name}")
                continue
            have = {name for name, _ in present[spec.name]}
            for name, kind in spec.columns:
                if name not in have:
                    conn.execute(
                        f"ALTER TABLE {quote(spec.name)} ADD COLUMN {column_sql(name, kind)}"
                    )
                    created.append(f"column {spec.name}.{name}")
        conn.execute("COMMIT")
    return created


def quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'
