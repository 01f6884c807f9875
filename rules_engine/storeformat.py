"""Which engine a store file belongs to: SQLite (the default) or DuckDB.

A store's format is read from the file's first bytes, never from its name: a SQLite file starts
with `SQLite format 3\\0`, a DuckDB file has `DUCK` at byte 8. A name only chooses the format of
a store that does not exist yet (`.duckdb`: DuckDB, anything else: SQLite).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from .errors import StoreError

Format = Literal["sqlite", "duckdb"]
FORMATS: tuple[Format, ...] = ("sqlite", "duckdb")

SQLITE_MAGIC = b"SQLite format 3\x00"
DUCKDB_MAGIC = b"DUCK"
DUCKDB_MAGIC_AT = 8


def detect(path: str | Path) -> Format:
    """The format of an existing store file; an empty file is an empty SQLite database."""
    path = Path(path)
    if not path.exists():
        raise StoreError(f"{path}: no such store; create one with `campaign init-store {path}`")
    if path.is_dir():
        raise StoreError(f"{path}: is a directory, not a store file")
    try:
        with path.open("rb") as file:
            head = file.read(16)
    except OSError as exc:
        raise StoreError(f"{path}: cannot be read ({exc.strerror})") from None
    if not head or head.startswith(SQLITE_MAGIC):
        return "sqlite"
    if head[DUCKDB_MAGIC_AT : DUCKDB_MAGIC_AT + len(DUCKDB_MAGIC)] == DUCKDB_MAGIC:
        return "duckdb"
    raise StoreError(
        f"{path}: not a SQLite database (nor a DuckDB one); "
        f"create a store with `campaign init-store PATH`"
    )


def is_duckdb(path: str | Path) -> bool:
    """True for an existing DuckDB store file (missing files are left to the SQLite path,
    whose messages name the command that creates them)."""
    path = Path(path)
    return path.is_file() and detect(path) == "duckdb"


def for_new(path: str | Path, chosen: str | None = None) -> Format:
    """The format to write a new store in: the one asked for, else by the file's name."""
    if chosen is not None:
        if chosen not in FORMATS:
            raise StoreError(f"unknown store format {chosen!r}; use sqlite or duckdb")
        return "duckdb" if chosen == "duckdb" else "sqlite"
    return "duckdb" if Path(path).suffix.lower() == ".duckdb" else "sqlite"
