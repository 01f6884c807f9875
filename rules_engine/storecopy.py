"""`campaign store copy`: a store into the other format, every table with every row.

Canonical tables get the destination's canonical definition (with the columns a `store:`
section declared added to them); other tables keep their columns, typed through the rule
language's types. Rows keep their order (SQLite's rowid order, DuckDB's insertion order), so the
copy decides exactly what the original does, tie-breaks included.

The copy is written beside the destination and moved into place only when complete: an
interrupted copy leaves no half store behind, and `--replace` replaces the old file only then.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from . import store, storeformat
from .errors import CampaignError, StoreError
from .expr.sqlgen import quote

BATCH = 50_000
WAIT_SECONDS = 10  # for a DuckDB source another process holds
# Declared types a SQLite store gets for columns outside the canonical tables.
SQLITE_TYPES: dict[store.RuleType, str] = {
    "integer": "INTEGER",
    "real": "REAL",
    "text": "TEXT",
    "boolean": "BOOLEAN",
    "date": "DATE",
    "datetime": "DATETIME",
}


class CopyRefused(CampaignError):
    """The destination exists and `--replace` was not given (exit 1: nothing was written)."""


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[tuple[str, store.RuleType], ...]


def copy_store(
    source: str | Path,
    destination: str | Path,
    *,
    fmt: str | None = None,
    replace: bool = False,
    progress: Callable[[str], None] | None = None,
) -> dict[str, int]:
    """Copy every table of `source` into a new store at `destination`; rows per table.

    The destination's format is `fmt`, else its name's (`.duckdb`), and a SQLite source with
    any other name goes to DuckDB: the copy is for moving a store into the other format.
    """
    source, destination = Path(source), Path(destination)
    src_format = storeformat.detect(source)
    dst_format = _destination_format(destination, src_format, fmt)
    if destination.exists() and not replace:
        raise CopyRefused(
            f"{destination}: already exists; give --replace to replace it with the copy"
        )
    if destination.resolve() == source.resolve():
        raise CopyRefused(f"{destination}: is the source store; copy it to another file")
    if not destination.parent.is_dir():
        raise StoreError(f"{destination}: the folder {destination.parent} does not exist")
    tables = _tables(source)
    building = destination.with_name(destination.name + ".copying")
    building.unlink(missing_ok=True)
    try:
        store.init_store(building, dst_format)
        counts = _copy_rows(source, src_format, building, dst_format, tables, progress)
    except BaseException:
        building.unlink(missing_ok=True)
        raise
    Path(str(building) + ".wal").unlink(missing_ok=True)
    os.replace(building, destination)
    return counts


def _destination_format(
    destination: Path, source_format: storeformat.Format, fmt: str | None
) -> storeformat.Format:
    if fmt is not None or destination.suffix.lower() == ".duckdb":
        return storeformat.for_new(destination, fmt)
    return "duckdb" if source_format == "sqlite" else "sqlite"


def _tables(source: Path) -> list[Table]:
    """The source's tables (not views), canonical ones first, with rule types."""
    with store.closing_any(source) as conn:
        store.ensure_is_store(conn, source)
        schema = store.introspect(conn)
        views = _views(conn)
    names = [t.name for t in store.CANONICAL_TABLES if t.name in schema.tables]
    names += sorted(n for n in schema.tables if n not in store.TABLES and n not in views)
    return [Table(n, tuple(schema.tables[n].items())) for n in names]


def _views(conn: store.AnyConnection) -> set[str]:
    if isinstance(conn, sqlite3.Connection):
        rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'view'").fetchall()
    else:
        rows = conn.execute(
            "SELECT view_name FROM duckdb_views() WHERE NOT internal "
            "AND database_name = current_database()"
        ).fetchall()
    return {row[0] for row in rows}


def _copy_rows(
    source: Path,
    src_format: storeformat.Format,
    building: Path,
    dst_format: storeformat.Format,
    tables: list[Table],
    progress: Callable[[str], None] | None,
) -> dict[str, int]:
    from .backends.duckdb.store import UnreadableValue

    counts: dict[str, int] = {}
    with _reader(source, src_format) as read, _writer(building, dst_format) as write:
        for table in tables:
            write.prepare(table)
            counts[table.name] = 0
            for batch in read(table):
                try:
                    write.rows(table, batch, first=counts[table.name] + 1)
                except UnreadableValue as exc:
                    raise StoreError(
                        f"{source}: {exc}; nothing was copied: correct it and copy again"
                    ) from None
                counts[table.name] += len(batch)
            if progress is not None:
                progress(f"{table.name}: {counts[table.name]:,} row(s)")
        write.commit()
    return counts


Reader = Callable[[Table], Iterator[list[tuple[Any, ...]]]]


class _reader:
    """Batches of a table's rows in stored order, with values as the other format takes them."""

    def __init__(self, path: Path, fmt: storeformat.Format) -> None:
        self.path, self.fmt = path, fmt

    def __enter__(self) -> Reader:
        if self.fmt == "sqlite":
            self.conn: Any = store.connect_read_only(self.path)
        else:
            from .backends.duckdb.store import connect

            self.conn = connect(self.path, wait=WAIT_SECONDS)  # a run may hold it a while
        return self.read

    def __exit__(self, *exc: object) -> None:
        self.conn.close()

    def read(self, table: Table) -> Iterator[list[tuple[Any, ...]]]:
        names = ", ".join(quote(c) for c, _ in table.columns) if table.columns else "*"
        cursor = self.conn.execute(f"SELECT {names} FROM {quote(table.name)} ORDER BY rowid")
        while batch := cursor.fetchmany(BATCH):
            yield batch if self.fmt == "sqlite" else [tuple(map(_plain, row)) for row in batch]


def _plain(value: Any) -> Any:
    """A DuckDB value as SQLite stores it (`store.as_stored`), a decimal as a real."""
    if isinstance(value, Decimal):
        return float(value)
    return store.as_stored(value)


class _writer:
    """Creates each table in the new store and appends batches. The file is a staging copy
    renamed only when complete, so it needs no transaction of its own: SQLite writes one
    (its journal is on disk), DuckDB commits every batch (it keeps an open transaction's rows
    in memory: 1.4 GB for a 100,000-customer store in one transaction)."""

    def __init__(self, path: Path, fmt: storeformat.Format) -> None:
        self.path, self.fmt = path, fmt

    def __enter__(self) -> _writer:
        if self.fmt == "sqlite":
            self.conn: Any = sqlite3.connect(self.path, isolation_level=None)
            self.conn.execute("PRAGMA synchronous=OFF")
            self.conn.execute("BEGIN")
        else:
            from .backends.duckdb.store import connect

            self.conn = connect(self.path, read_only=False)
        self.present = store.table_columns(self.conn)
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is not None and self.fmt == "sqlite":
            self.conn.execute("ROLLBACK")
        self.conn.close()

    def commit(self) -> None:
        if self.fmt == "sqlite":
            self.conn.execute("COMMIT")

    def prepare(self, table: Table) -> None:
        types: Mapping[store.RuleType, str] = SQLITE_TYPES
        if self.fmt == "duckdb":
            from .backends.duckdb.store import TYPES

            types = TYPES
        have = {name for name, _ in self.present.get(table.name, [])}
        missing = [(c, k) for c, k in table.columns if c not in have]
        if table.name not in self.present:
            columns = ", ".join(f"{quote(c)} {types[k]}" for c, k in missing)
            self.conn.execute(f"CREATE TABLE {quote(table.name)} ({columns})")
        else:
            for column, kind in missing:
                self.conn.execute(
                    f"ALTER TABLE {quote(table.name)} ADD COLUMN {quote(column)} {types[kind]}"
                )
        self.present = store.table_columns(self.conn)

    def rows(self, table: Table, batch: Sequence[tuple[Any, ...]], first: int) -> None:
        names = [c for c, _ in table.columns]
        quoted = ", ".join(quote(c) for c in names)
        try:
            if self.fmt == "sqlite":
                marks = ", ".join("?" for _ in names)
                self.conn.executemany(
                    f"INSERT INTO {quote(table.name)} ({quoted}) VALUES ({marks})", batch
                )
            else:
                from .backends.duckdb.store import insert_columns

                columns = list(zip(*batch, strict=True))
                insert_columns(self.conn, table.name, names, columns, first=first)
        except (sqlite3.Error, OverflowError) as exc:
            raise StoreError(f"{table.name}: a row cannot be copied ({exc})") from None
        except Exception as exc:
            import duckdb

            if isinstance(exc, duckdb.Error):
                raise StoreError(f"{table.name}: a row cannot be copied ({exc})") from None
            raise
