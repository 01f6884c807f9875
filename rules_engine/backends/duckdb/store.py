"""DuckDB store files: the canonical tables in DuckDB types, and opening a file that another
process may hold.

Numbers and booleans are DuckDB's own types. The times and dates of the tables the shop
loads (customers, orders, events, contacts, channel_stats and declared tables) are TIMESTAMP
(the UTC instant, to the second) and DATE: read from text by the engine's reader (`times`,
the dialect's `epoch`) as they are written (`insert_columns`), once, instead of parsed by
every plan (parsing ten million order times costs about 4 s of CPU; reading them typed, a
few hundredths). A copy back to SQLite writes them in the engine's spelling
(`2026-11-20T02:00:00Z`), the same instants. The tables runs write (runs, actions, audit,
channel_exits) keep the text the engine writes. The large related tables (orders, events,
contacts) carry no primary-key index: DuckDB scans them, and `campaign load` checks their
ids itself.

DuckDB lets one process open a file read-write, or several read-only, and refuses the others
at open (not at the first write); `connect` waits for the file up to `wait` seconds.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...errors import StoreError
from ...store import CANONICAL_TABLES, LOCK_NOTICE, LOCK_WAIT, RuleType, TableSpec

if TYPE_CHECKING:
    import duckdb
else:
    # The engine talks SQL to DuckDB's native module, which the `duckdb` package re-exports.
    # The package's own start builds its Python API of relations and expressions and reads
    # its version from the installed metadata: about 0.1 s of every command, a fifth of an
    # explanation. Whatever needs that API imports the package itself.
    try:
        import _duckdb as duckdb
    except ImportError:  # pragma: no cover - a package laid out otherwise
        import duckdb

TYPES: dict[RuleType, str] = {
    "integer": "BIGINT",
    "real": "DOUBLE",
    "text": "VARCHAR",
    "boolean": "BOOLEAN",
    "date": "DATE",
    "datetime": "TIMESTAMP",
}
# The tables runs write keep their times as the text the engine writes.
ENGINE_TYPES: dict[RuleType, str] = {**TYPES, "date": "VARCHAR", "datetime": "VARCHAR"}
TYPED_TIMES = {"DATE": "date", "TIMESTAMP": "datetime", "TIMESTAMP WITH TIME ZONE": "datetime"}
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


def column_sql(name: str, kind: RuleType, *, engine: bool = False) -> str:
    return f"{quote(name)} {(ENGINE_TYPES if engine else TYPES)[kind]}"


def create_table_sql(spec: TableSpec) -> str:
    engine = spec.written_by_engine
    columns = [column_sql(name, kind, engine=engine) for name, kind in spec.columns]
    if spec.name not in UNKEYED:
        columns.append(f"PRIMARY KEY ({', '.join(quote(c) for c in spec.pk)})")
    columns += [f"UNIQUE ({', '.join(quote(c) for c in cols)})" for cols in spec.unique_indexes]
    return f"CREATE TABLE {quote(spec.name)} ({', '.join(columns)})"


def init_store(path: str | Path) -> list[str]:
    """Create the canonical tables in a new or existing DuckDB file, or add missing columns,
    and type the times and dates that a store made before they were typed keeps as text."""
    created: list[str] = []
    with closing(path, read_only=False, wait=LOCK_WAIT.get()) as conn:
        present = table_columns(conn)
        conn.execute("BEGIN TRANSACTION")
        for spec in CANONICAL_TABLES:
            if spec.name not in present:
                conn.execute(create_table_sql(spec))
                created.append(f"table {spec.name}")
                continue
            have = dict(present[spec.name])
            engine = spec.written_by_engine
            for name, kind in spec.columns:
                if name not in have:
                    column = column_sql(name, kind, engine=engine)
                    conn.execute(f"ALTER TABLE {quote(spec.name)} ADD COLUMN {column}")
                    created.append(f"column {spec.name}.{name}")
            texts: list[tuple[str, RuleType]] = [
                (name, kind)
                for name, kind in spec.columns
                if not engine and kind in ("date", "datetime") and have.get(name) == "VARCHAR"
            ]
            if texts:
                _type_times(conn, path, spec, texts)
                created += [
                    f"{kind}s of {spec.name}.{name} typed {TYPES[kind]}" for name, kind in texts
                ]
        conn.execute("COMMIT")
    return created


def text_times(conn: Connection, wanted: dict[str, dict[str, RuleType]]) -> list[str]:
    """`table.column` of each time or date in `wanted` that a DuckDB store made before times
    were typed keeps as text (`init_store` types them)."""
    engine = {spec.name for spec in CANONICAL_TABLES if spec.written_by_engine}
    present = {t: dict(cols) for t, cols in table_columns(conn).items()}
    return [
        f"{table}.{column}"
        for table, columns in sorted(wanted.items())
        if table not in engine
        for column, kind in sorted(columns.items())
        if kind in ("date", "datetime") and present.get(table, {}).get(column) == "VARCHAR"
    ]


def _type_times(
    conn: Connection, path: str | Path, spec: TableSpec, texts: list[tuple[str, RuleType]]
) -> None:
    """A table whose `texts` columns hold times or dates as text, made again with them typed
    (read as the engine reads text; DuckDB cannot change a key column's type in place), rows
    in their order; refused, naming the first value in no accepted spelling, unchanged."""
    table = quote(spec.name)
    reads = {name: typed_value(quote(name), kind) for name, kind in texts}
    for name, kind in texts:
        found = conn.execute(  # fetched to the end: DuckDB keeps a result open
            f"SELECT {quote(name)} FROM {table} "
            f"WHERE {quote(name)} IS NOT NULL AND {reads[name]} IS NULL ORDER BY rowid LIMIT 1"
        ).fetchall()
        if found:
            conn.execute("ROLLBACK")
            raise StoreError(
                f"{path}: {spec.name}.{name} holds {found[0][0]!r}, which is not a {kind} in "
                "an accepted ISO-8601 spelling, so its values cannot be typed; correct it and "
                "run `campaign init-store` again (nothing was changed)"
            )
    columns = table_columns(conn)[spec.name]
    typed = quote(spec.name + "__typed")
    conn.execute(create_table_sql(replace(spec, name=spec.name + "__typed")))
    canonical = {name for name, _ in spec.columns}
    for name, declared in columns:
        if name not in canonical:
            conn.execute(f"ALTER TABLE {typed} ADD COLUMN {quote(name)} {declared}")
    names = ", ".join(quote(name) for name, _ in columns)
    values = ", ".join(reads.get(name, quote(name)) for name, _ in columns)
    conn.execute(f"INSERT INTO {typed} ({names}) SELECT {values} FROM {table} ORDER BY rowid")
    conn.execute(f"DROP TABLE {table}")
    conn.execute(f"ALTER TABLE {typed} RENAME TO {table}")


def typed_value(text_sql: str, kind: RuleType) -> str:
    """Text as a TIMESTAMP or DATE, read exactly as the engine reads a time or date (NULL for
    text in no accepted spelling)."""
    from .dialect import DUCKDB

    if kind == "datetime":
        return f"CAST(to_timestamp({DUCKDB.epoch(text_sql)}) AS TIMESTAMP)"
    return f"CAST({DUCKDB.date(text_sql)} AS DATE)"


def _as_text(table: str, name: str, values: tuple[Any, ...], first: int) -> tuple[Any, ...]:
    """A time or date column's values as text to read: Python times and dates (Parquet) in
    the engine's spelling; a number is no time (SQLite may hold one), as for the SQLite
    check, and raises `UnreadableValue`."""
    from ...store import as_stored

    out = []
    for n, value in enumerate(values, start=first):
        if isinstance(value, date):
            value = as_stored(value)
        elif value is not None and not isinstance(value, str):
            raise UnreadableValue(
                f"{table}.{name}: row {n} holds {value!r}, which is not a time or date "
                "(ISO-8601 text)"
            )
        out.append(value)
    return tuple(out)


class UnreadableValue(StoreError):
    """A value given for a time or date column in no accepted spelling (nothing written)."""


def insert_columns(
    conn: Connection,
    table: str,
    names: list[str],
    columns: list[tuple[Any, ...]],
    *,
    first: int = 1,
) -> None:
    """Append rows given as columns of Python values, each cast to its column's type; a time
    or date goes through `typed_value` (DuckDB's own cast would ignore a `+08:00` offset),
    and one that does not read raises `UnreadableValue` naming the first such row (the rows
    numbered from `first`) before anything is written."""
    import numpy as np

    types = dict(table_columns(conn)[table])
    columns = [
        _as_text(table, name, values, first) if types[name] in TYPED_TIMES else values
        for name, values in zip(names, columns, strict=True)
    ]
    data = {f"c{i}": np.array(values, dtype=object) for i, values in enumerate(columns)}
    casts, checks = [], []
    for i, name in enumerate(names):
        kind = TYPED_TIMES.get(types[name])
        if kind is None:
            casts.append(f"CAST(c{i} AS {types[name]}) AS v{i}")
            continue
        read = typed_value(f"CAST(c{i} AS VARCHAR)", kind)  # type: ignore[arg-type]
        casts.append(f"{read} AS v{i}, CAST(c{i} AS VARCHAR) AS t{i}")
        checks.append((i, name, kind))
    conn.register("insert_batch", data)
    try:  # each value read once, into a staging table the check and the insert both use
        conn.execute(
            f"CREATE OR REPLACE TEMP TABLE insert_typed AS SELECT row_number() OVER () AS n, "
            f"{', '.join(casts)} FROM insert_batch"
        )
    finally:
        conn.unregister("insert_batch")
    try:
        for i, name, kind in checks:
            bad = conn.execute(  # fetched to the end: DuckDB keeps a result open
                f"SELECT n + {int(first) - 1}, t{i} FROM insert_typed "
                f"WHERE t{i} IS NOT NULL AND v{i} IS NULL ORDER BY n LIMIT 1"
            ).fetchall()
            if bad:
                raise UnreadableValue(
                    f"{table}.{name}: row {bad[0][0]} holds {bad[0][1]!r}, which is not a "
                    f"{kind} in an accepted ISO-8601 spelling"
                )
        conn.execute(
            f"INSERT INTO {quote(table)} ({', '.join(quote(n) for n in names)}) "
            f"SELECT {', '.join(f'v{i}' for i in range(len(names)))} FROM insert_typed ORDER BY n"
        )
    finally:
        conn.execute("DROP TABLE IF EXISTS temp.insert_typed")


def quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'
