"""`campaign load`: CSV, JSON Lines or Parquet rows into a table of a store, checked first.

The whole file is read and checked before anything is written: its columns against the table's
(unknown names refused, with a suggestion; the key columns required), every value against its
column's type, keys unique within the file and, when appending, against the rows already there.
The first problems are reported by line (CSV, JSON Lines) or row (Parquet) and column name.
Only a good file is written, in one transaction; `--replace` empties the table in the same
transaction, so a failed load leaves the old rows in place.
"""

from __future__ import annotations

import csv
import difflib
import json
import math
import re
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from . import store, storeformat
from .errors import CampaignError, InputError
from .expr.sqlgen import quote
from .times import parse_instant

Mode = Literal["new", "append", "replace"]
FILE_FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}
SHOWN = 10  # problems listed before "and N more"
INTEGER = re.compile(r"[+-]?[0-9]+")
TRUE, FALSE = {"1", "true", "t", "yes"}, {"0", "false", "f", "no"}


class LoadRefused(CampaignError):
    """The file's rows do not fit the table, or the table holds rows (exit 1; nothing written)."""


@dataclass(frozen=True)
class Row:
    where: str  # "line 7" or "row 7"
    values: dict[str, Any]


def load_file(db: str | Path, table: str, path: str | Path, mode: Mode = "new") -> int:
    """Load every row of `path` into `table` of the store `db`; the number of rows loaded."""
    db, path = Path(db), Path(path)
    kind = _file_format(path)
    columns = _table_types(db, table)
    rows = list(_read(path, kind))
    values = _checked(path, table, columns, rows)
    return _write(db, table, columns, values, mode, path)


def _file_format(path: Path) -> str:
    kind = FILE_FORMATS.get(path.suffix.lower())
    if kind is None:
        raise InputError(
            f"{path}: unknown file format {path.suffix or '(no extension)'!r}; "
            f"load a .csv, .jsonl (JSON Lines) or .parquet file"
        )
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    return kind


def _table_types(db: Path, table: str) -> dict[str, store.RuleType]:
    schema = store.read_schema(db)
    if table not in schema.tables:
        tables = sorted(schema.tables)
        close = difflib.get_close_matches(table, tables, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else f"; it has {', '.join(tables)}"
        raise InputError(f"{db}: no table {table!r} in the store{hint}")
    return schema.tables[table]


# -- reading -----------------------------------------------------------------------------------


def _read(path: Path, kind: str) -> Iterator[Row]:
    try:
        if kind == "csv":
            yield from _read_csv(path)
        elif kind == "jsonl":
            yield from _read_jsonl(path)
        else:
            yield from _read_parquet(path)
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc.strerror or exc})") from None


def _read_csv(path: Path) -> Iterator[Row]:
    with path.open(newline="", encoding="utf-8-sig") as file:
        reader = csv.reader(file, strict=True)
        try:
            header = next(reader, None)
            if header is None:
                raise InputError(f"{path}: empty file; the first line names the columns")
            header = [name.strip() for name in header]
            repeated = sorted({name for name in header if header.count(name) > 1})
            if repeated:
                raise LoadRefused(f"{path}:1: the header names {', '.join(repeated)} twice")
            start = reader.line_num + 1
            for record in reader:
                line, start = start, reader.line_num + 1
                if not record:
                    continue
                if len(record) != len(header):
                    raise LoadRefused(
                        f"{path}:{line}: {len(record)} field(s), but the header names "
                        f"{len(header)} column(s)"
                    )
                yield Row(
                    f"line {line}",
                    {h: (v if v != "" else None) for h, v in zip(header, record, strict=True)},
                )
        except csv.Error as exc:
            raise InputError(f"{path}:{reader.line_num}: not valid CSV ({exc})") from None


def _read_jsonl(path: Path) -> Iterator[Row]:
    with path.open(encoding="utf-8") as file:
        for number, line in enumerate(file, start=1):
            if not line.strip():
                continue
            try:
                value = json.loads(line.rstrip("\r\n"))
            except json.JSONDecodeError as exc:
                raise InputError(
                    f"{path}:{number}:{exc.colno}: not valid JSON ({exc.msg})"
                ) from None
            if not isinstance(value, dict):
                raise LoadRefused(f"{path}:{number}: each line must be a JSON object")
            yield Row(f"line {number}", value)


def _read_parquet(path: Path) -> Iterator[Row]:
    import duckdb

    conn = duckdb.connect()
    try:
        conn.execute("SET TimeZone = 'UTC'")
        cursor = conn.execute("SELECT * FROM read_parquet(?)", [str(path)])
        names = [d[0] for d in cursor.description or []]
        number = 0
        while batch := cursor.fetchmany(10_000):
            for record in batch:
                number += 1
                yield Row(f"row {number}", dict(zip(names, record, strict=True)))
    except duckdb.Error as exc:
        raise InputError(f"{path}: not a readable Parquet file ({exc})") from None
    finally:
        conn.close()


# -- checking ----------------------------------------------------------------------------------


def _checked(
    path: Path, table: str, columns: dict[str, store.RuleType], rows: list[Row]
) -> list[tuple[Any, ...]]:
    names = _file_columns(rows)
    _check_columns(path, table, columns, names)
    key = store.TABLES[table].pk if table in store.TABLES else ()
    problems: list[str] = []
    out: list[tuple[Any, ...]] = []
    seen: dict[tuple[Any, ...], str] = {}
    for row in rows:
        converted: dict[str, Any] = {}
        for name in names:
            value = row.values.get(name)
            try:
                converted[name] = convert(value, columns[name])
            except ValueError as exc:
                problems.append(f"{path}: {row.where}: column {name!r}: {exc}")
        for name in key:
            if converted.get(name) is None and name in converted:
                problems.append(f"{path}: {row.where}: column {name!r}: the key cannot be empty")
        if key and all(converted.get(k) is not None for k in key):
            ident = tuple(converted[k] for k in key)
            if ident in seen:
                problems.append(
                    f"{path}: {row.where}: the key {_key_text(key, ident)} repeats {seen[ident]}"
                )
            seen.setdefault(ident, row.where)
        out.append(tuple(converted.get(name) for name in columns))
        if len(problems) > 1000:
            break
    _refuse(path, problems)
    return out


def _file_columns(rows: list[Row]) -> list[str]:
    names: dict[str, None] = {}
    for row in rows:
        names.update(dict.fromkeys(row.values))
    return list(names)


def _check_columns(
    path: Path, table: str, columns: dict[str, store.RuleType], names: list[str]
) -> None:
    problems = []
    for name in names:
        if name not in columns:
            close = difflib.get_close_matches(name, list(columns), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            problems.append(f"{path}: column {name!r} is not a column of {table}{hint}")
    key = store.TABLES[table].pk if table in store.TABLES else ()
    for name in key:
        if names and name not in names:
            problems.append(f"{path}: the key column {name!r} of {table} is missing")
    _refuse(path, problems)


def _refuse(path: Path, problems: list[str]) -> None:
    if not problems:
        return
    shown = problems[:SHOWN]
    more = f"\n  ... and {len(problems) - SHOWN} more" if len(problems) > SHOWN else ""
    raise LoadRefused(f"{path}: not loaded, nothing was written:\n  " + "\n  ".join(shown) + more)


def _key_text(key: Sequence[str], ident: tuple[Any, ...]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in zip(key, ident, strict=True))


def convert(value: Any, kind: store.RuleType) -> Any:
    """A file's value as the store keeps a `kind` value (None stays None); ValueError says why."""
    if value is None:
        return None
    return _CONVERT[kind](value)


def _integer(value: Any) -> int:
    if isinstance(value, bool) or (isinstance(value, float | Decimal) and value != int(value)):
        raise ValueError(f"{value!r} is not an integer")
    textual = isinstance(value, str) and INTEGER.fullmatch(value.strip())
    if isinstance(value, int | float | Decimal) or textual:
        number = int(value)
    else:
        raise ValueError(f"{value!r} is not an integer")
    if not -(2**63) <= number < 2**63:
        raise ValueError(f"{value!r} is beyond 64-bit integers")
    return number


def _real(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal | str):
        raise ValueError(f"{value!r} is not a number")
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a number") from None
    if not math.isfinite(number):
        raise ValueError(f"{value!r} is not a finite number")
    return number


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise ValueError(f"{value!r} is not text")


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in TRUE | FALSE:
        return value.strip().lower() in TRUE
    raise ValueError(f"{value!r} is not a boolean (true/false or 1/0)")


def _date(value: Any) -> str:
    if isinstance(value, datetime):
        raise ValueError(f"{value!r} is a time, not a date")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip()).isoformat()
        except ValueError:
            pass
    raise ValueError(f"{value!r} is not a date (YYYY-MM-DD)")


def _datetime(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, str):
        try:
            parse_instant(value)
        except ValueError:
            pass
        else:
            return value
    raise ValueError(f"{value!r} is not an ISO-8601 time (e.g. 2026-09-01T12:00:00Z)")


_CONVERT = {
    "integer": _integer,
    "real": _real,
    "text": _text,
    "boolean": _boolean,
    "date": _date,
    "datetime": _datetime,
}


# -- writing -----------------------------------------------------------------------------------

# How long a load waits for a store another process is writing (or, DuckDB, holds at all).
WAIT_SECONDS = 10


def _write(
    db: Path,
    table: str,
    columns: dict[str, store.RuleType],
    rows: list[tuple[Any, ...]],
    mode: Mode,
    path: Path,
) -> int:
    if storeformat.detect(db) == "duckdb":
        from .backends.duckdb.store import closing

        with closing(db, read_only=False, wait=WAIT_SECONDS) as duck:
            return _write_with(duck, "duckdb", db, table, columns, rows, mode, path)
    conn = sqlite3.connect(db, isolation_level=None, timeout=WAIT_SECONDS)
    try:
        return _write_with(conn, "sqlite", db, table, columns, rows, mode, path)
    finally:
        conn.close()


def _write_with(
    conn: Any,
    fmt: str,
    db: Path,
    table: str,
    columns: dict[str, store.RuleType],
    rows: list[tuple[Any, ...]],
    mode: Mode,
    path: Path,
) -> int:
    target = quote(table)
    conn.execute("BEGIN IMMEDIATE" if fmt == "sqlite" else "BEGIN TRANSACTION")
    try:
        (existing,) = conn.execute(f"SELECT count(*) FROM {target}").fetchone()
        if mode == "new" and existing:
            raise LoadRefused(
                f"{db}: {table} already holds {existing:,} row(s); give --append to add the "
                f"file's rows or --replace to replace them"
            )
        if mode == "replace":
            conn.execute(f"DELETE FROM {target}")
        elif mode == "append":
            _check_existing_keys(conn, table, columns, rows, path)
        names = list(columns)
        if fmt == "sqlite":
            marks = ", ".join("?" for _ in names)
            values = [tuple(int(v) if isinstance(v, bool) else v for v in r) for r in rows]
            conn.executemany(
                f"INSERT INTO {target} ({', '.join(map(quote, names))}) VALUES ({marks})", values
            )
        else:
            _insert_duckdb(conn, table, names, rows)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return len(rows)


def _check_existing_keys(
    conn: Any,
    table: str,
    columns: dict[str, store.RuleType],
    rows: list[tuple[Any, ...]],
    path: Path,
) -> None:
    key = store.TABLES[table].pk if table in store.TABLES else ()
    if not key or not rows:
        return
    positions = [list(columns).index(k) for k in key]
    names = ", ".join(quote(k) for k in key)
    present = {tuple(r) for r in conn.execute(f"SELECT {names} FROM {quote(table)}").fetchall()}
    clashes = [
        f"{path}: the key {_key_text(key, ident)} is already in {table}"
        for ident in (tuple(r[p] for p in positions) for r in rows)
        if ident in present
    ]
    _refuse(path, clashes)


def _insert_duckdb(conn: Any, table: str, names: list[str], rows: list[tuple[Any, ...]]) -> None:
    from .backends.duckdb.store import insert_columns

    if rows:
        insert_columns(conn, table, names, list(zip(*rows, strict=True)))
