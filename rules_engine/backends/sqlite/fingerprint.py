"""Fingerprints: what a saved plan was decided from, so that applying it can refuse a stale one.

A plan file records the rules' digest, the as-of, the engine's version and the store's
fingerprint. The store's fingerprint is cheap (no table is scanned: at most a few hundred rows
are read per table) and has two parts:

- per table (every table of the store: those the rules read and those the engine writes), the
  table's definition, its lowest and highest rowid and a digest of its last `TAIL_ROWS` rows by
  rowid. Rows appended (orders, contacts, a committed run), the latest rows deleted or changed
  show here, and say which table changed;
- the file: the database file's size, modification time and header, and the write-ahead log's
  size and header. Every committed write changes one of these (a write in WAL mode appends
  frames or restarts the log with new salts, and moving them into the database file
  changes its modification time), so a row updated in place anywhere is seen too, though not
  which table it is in.

The file part also changes when SQLite moves committed frames of the log into the database
without a new write (a checkpoint, done by the last connection to close when a log was left
behind). A plan is then refused although no row changed; planning again is the remedy, and
the message says so.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...times import shown

TAIL_ROWS = 100  # rows read from the end of each table
_HEADER = 100  # bytes of the SQLite database header
_WAL_HEADER = 32  # bytes of the write-ahead log header


def engine_version() -> str:
    """The engine's version (`rules_engine.__version__`, which the package's metadata is
    made from): read without `importlib.metadata`, which costs a command 20 ms to load."""
    from ... import __version__

    return __version__


def _sha(value: object) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=repr)
    return hashlib.sha256(text.encode()).hexdigest()


def _tables(conn: sqlite3.Connection) -> list[tuple[str, str]]:
    return conn.execute(
        "SELECT name, coalesce(sql, '') FROM main.sqlite_master "
        "WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
    ).fetchall()


def table_digest(conn: sqlite3.Connection, name: str, definition: str) -> str:
    """A table's definition, rowid range and last rows; tables without rowids are digested
    whole (such tables are declared by hand and small)."""
    quoted = '"' + name.replace('"', '""') + '"'
    if "WITHOUT ROWID" in definition.upper():
        rows = conn.execute(f"SELECT * FROM main.{quoted} ORDER BY 1").fetchall()
        return _sha([definition, rows])
    # Separate statements: SQLite reads one end of the b-tree for a lone min() or max() only.
    (low,) = conn.execute(f"SELECT min(rowid) FROM main.{quoted}").fetchone()
    (high,) = conn.execute(f"SELECT max(rowid) FROM main.{quoted}").fetchone()
    tail = conn.execute(
        f"SELECT rowid, * FROM main.{quoted} ORDER BY rowid DESC LIMIT {TAIL_ROWS}"
    ).fetchall()
    return _sha([definition, low, high, tail])


def file_digest(
    path: str | Path, *, header: int = _HEADER, log: str = "-wal", log_header: int = _WAL_HEADER
) -> str:
    """The database file's size, modification time and first `header` bytes, and those of its
    write-ahead log (the file named `log` after it; DuckDB's is `.wal`)."""
    path = Path(path)
    parts: list[object] = []
    for file, size in ((path, header), (path.with_name(path.name + log), log_header)):
        try:
            status = file.stat()
            with file.open("rb") as handle:
                head = handle.read(size)
        except FileNotFoundError:
            head = b""
        if len(head) < size:  # no log, or an empty one (a connection just opened it)
            parts.append(None)
            continue
        parts.append([status.st_size, status.st_mtime_ns, head.hex()])
    return _sha(parts)


def store_fingerprint(conn: sqlite3.Connection, path: str | Path) -> dict[str, Any]:
    """`{"tables": {name: digest}, "file": digest}` of the store open on `conn` at `path`."""
    tables = {name: table_digest(conn, name, sql) for name, sql in _tables(conn)}
    return {"tables": tables, "file": file_digest(path)}


@dataclass(frozen=True)
class Fingerprint:
    """What a plan was decided from."""

    rules_digest: str
    as_of: str
    engine_version: str
    store: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {
            "rules_digest": self.rules_digest,
            "as_of": self.as_of,
            "engine_version": self.engine_version,
            "store": self.store,
        }

    @classmethod
    def from_dict(cls, data: Any) -> Fingerprint:
        """Raises KeyError or TypeError on anything that is not a fingerprint."""
        store = data["store"]
        if not isinstance(store.get("tables"), dict) or not isinstance(store.get("file"), str):
            raise TypeError("store")
        return cls(
            str(data["rules_digest"]), str(data["as_of"]), str(data["engine_version"]), store
        )


def changes(planned: Fingerprint, now: Fingerprint, zone: str = "UTC") -> list[str]:
    """What differs between the fingerprint a plan was made with and the current one, each
    as a sentence (times also in the calendar time zone `zone`); empty when the plan still
    holds."""
    found = []
    if planned.rules_digest != now.rules_digest:
        found.append(
            f"the rules changed (digest {planned.rules_digest[:12]} in the plan, "
            f"{now.rules_digest[:12]} now)"
        )
    if planned.as_of != now.as_of:
        then, given = shown(planned.as_of, zone), shown(now.as_of, zone)
        found.append(f"the as-of differs (the plan is as of {then}, not {given})")
    if planned.engine_version != now.engine_version:
        found.append(
            f"the engine changed (version {planned.engine_version} made the plan, "
            f"{now.engine_version} applies it)"
        )
    made_on, applied_on = (f.store.get("format", "sqlite") for f in (planned, now))
    if made_on != applied_on:  # each format digests its tables its own way
        found.append(f"the plan was made on a {made_on} store, this one is {applied_on}")
        return found
    before, after = planned.store["tables"], now.store["tables"]
    for name in sorted(before.keys() | after.keys()):
        if name not in after:
            found.append(f"table {name} of the store was dropped")
        elif name not in before:
            found.append(f"table {name} was added to the store")
        elif before[name] != after[name]:
            found.append(f"table {name} of the store changed")
    if planned.store["file"] != now.store["file"] and before == after:
        found.append(
            "the store file was written since the plan (no table's latest rows differ: a row "
            "was changed in place, or SQLite moved committed writes into the file)"
        )
    return found
