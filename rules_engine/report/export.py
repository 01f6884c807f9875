"""Exports: action lists for sending systems and every customer's metrics, as CSV or JSONL.

An action's `incentive` is JSON text in CSV and a JSON object in JSON Lines.

Rows are streamed from the store to a temporary file next to the target, which replaces the
target only when complete: a crash never leaves half a file where a sending system looks.
Addresses (e-mail, phone, push token...) leave the store only when asked for.
"""

from __future__ import annotations

import csv
import json
import os
import sqlite3
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from ..backends.readers import streamed
from ..decide.records import ACTION_COLUMNS
from ..errors import InputError, OutputError
from ..expr.sqlgen import quote
from ..rules.model import RuleSet
from ..sql.compile import Statement, ValueColumn
from ..sql.dialect import reported_real

FORMATS = (".csv", ".jsonl")


def format_of(path: str | Path) -> str:
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise InputError(f"{path}: write .csv or .jsonl (the format follows the file's suffix)")
    if not Path(path).parent.is_dir():
        raise InputError(f"{path}: the folder {Path(path).parent} does not exist")
    return suffix


@contextmanager
def replacing(path: str | Path, *, private: bool = False) -> Iterator[IO[str]]:
    """A text file that appears at `path` only once it is completely written. A device or a
    pipe (`/dev/stdout`) is written to directly. A failed write (a full disk, no permission)
    is an `OutputError` naming the file; nothing is left behind. `private` (addresses in it):
    readable by its owner only (0600). A file already at `path` keeps a mode as strict as it
    had: replacing it never opens it to more people."""
    target = Path(path)
    if target.exists() and not target.is_file():
        with _writing(target), target.open("w", encoding="utf-8", newline="") as out:
            yield out
        return
    with _writing(target):
        handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with _writing(target):
            with os.fdopen(handle, "w", encoding="utf-8", newline="") as out:
                yield out
            mode = 0o600 if private else 0o666 & ~_umask()  # mkstemp made it 0600
            if target.exists():
                mode &= target.stat().st_mode & 0o777
            os.chmod(temporary, mode)
            os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


@contextmanager
def _writing(target: Path) -> Iterator[None]:
    try:
        yield
    except OSError as exc:
        raise OutputError(f"{target}: cannot write the file: {exc.strerror or exc}") from None


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_rows(
    path: str | Path,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    json_columns: Sequence[str] = (),
    *,
    private: bool = False,
) -> int:
    """CSV with a header, or one JSON object per line; returns how many rows were written.
    `json_columns` hold JSON text: CSV keeps the text, JSON Lines carries the value itself.
    `private`: the rows hold addresses, so the file is its owner's only (0600)."""
    decoded = [columns.index(c) for c in json_columns]
    suffix = format_of(path)
    count = 0
    with replacing(path, private=private) as out:
        if suffix == ".csv":
            writer = csv.writer(out, lineterminator="\n")
            writer.writerow(columns)
            for row in rows:
                writer.writerow(["" if v is None else v for v in row])
                count += 1
        else:
            for row in rows:
                values = list(row)
                for i in decoded:
                    if values[i] is not None:
                        values[i] = json.loads(values[i])
                record = dict(zip(columns, values, strict=True))
                out.write(json.dumps(record, ensure_ascii=False, sort_keys=False) + "\n")
                count += 1
    return count


def export_actions(
    conn: sqlite3.Connection,
    rules: RuleSet,
    run_id: str,
    path: str | Path,
    *,
    with_addresses: bool = False,
) -> int:
    """A committed run's actions, in SPEC column order, sorted by customer id then offer id;
    with `with_addresses`, an `address` column from the chosen channel's address column."""
    columns = list(ACTION_COLUMNS)
    selects = [f"a.{quote(c)}" for c in columns]
    params: list[Any] = []
    join = ""
    if with_addresses:
        cases = ""
        for channel in rules.channels.values():
            if channel.address is not None:
                params.append(channel.id)
                cases += f" WHEN ? THEN c.{quote(channel.address)}"
        selects.append(f"CASE a.channel{cases} END" if cases else "NULL")
        columns.append("address")
        join = ' JOIN "customers" AS c ON c."id" = a."customer_id"'
    sql = (
        f'SELECT {", ".join(selects)} FROM "actions" AS a{join} WHERE a."run_id" = ? '
        'ORDER BY a."customer_id", a."offer_id"'
    )
    cursor = conn.execute(sql, (*params, run_id))  # DuckDB's result is read by fetchmany
    rows = (row for batch in iter(lambda: cursor.fetchmany(10_000), []) for row in batch)
    return write_rows(path, columns, rows, ["incentive"], private=with_addresses)


def export_run(
    path: str | Path, rules: RuleSet, run_id: str, out: str | Path, *, with_addresses: bool = False
) -> int:
    """`run --export`: a committed run's actions from the store at `path`, of either format."""
    from .. import storeformat

    if storeformat.is_duckdb(path):
        from .. import store

        with store.closing_any(path) as duck:
            return export_actions(duck, rules, run_id, out, with_addresses=with_addresses)  # type: ignore[arg-type]
    from ..backends.sqlite.audit import connect_for_run
    from ..store import LOCK_WAIT

    conn = connect_for_run(path, LOCK_WAIT.get())
    try:
        return export_actions(conn, rules, run_id, out, with_addresses=with_addresses)
    finally:
        conn.close()


def export_values(
    conn: Any,
    columns: Sequence[ValueColumn],
    path: str | Path,
    *,
    private: bool = False,
) -> int:
    """`customer_id`, every metric, every segment (0/1), from `customer_values`; datetimes as
    UTC ISO-8601 text."""
    selects = ["customer_id"]
    for column in columns:
        selects.append(quote(column.name))
    sql = f"SELECT {', '.join(selects)} FROM temp.customer_values ORDER BY customer_id"
    names = ["customer_id", *(c.name for c in columns)]
    found = streamed(conn, Statement("export", "customer values", sql))
    types = ["integer", *(c.type for c in columns)]
    return write_rows(path, names, _as_written(found, types), private=private)


def _as_written(rows: Iterable[Sequence[Any]], types: Sequence[str]) -> Iterator[list[Any]]:
    """Rows with epoch seconds as UTC text, reals as `reported_real` (the same digits from
    every engine) and booleans as 1/0 (as SQLite keeps them: DuckDB's are real booleans)."""
    times = [i for i, kind in enumerate(types) if kind == "datetime"]
    reals = [i for i, kind in enumerate(types) if kind == "real"]
    for row in rows:
        values = [int(v) if isinstance(v, bool) else v for v in row]
        for i in times:
            if values[i] is not None:
                values[i] = datetime.fromtimestamp(values[i], UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        for i in reals:
            values[i] = reported_real(values[i])
        yield values
