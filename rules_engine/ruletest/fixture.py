"""A rule test's own store: in memory, with the tables `init-store` creates, and its rows.

Each test gets a connection of its own, so nothing a test does (a committed run, its temp
tables) can reach another test or a real store.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from typing import Any

from .. import store
from ..rules.model import RuleSet


def open_store(rules: RuleSet) -> sqlite3.Connection:
    """An empty in-memory store with the canonical tables and those the rules declare, in
    autocommit mode with foreign keys on, as `campaign run` opens a store."""
    conn = sqlite3.connect(":memory:", isolation_level=None)
    conn.execute("PRAGMA foreign_keys = ON")
    store.create_tables(conn, rules.schema)
    return conn


def add_rows(conn: sqlite3.Connection, rows: Mapping[str, Sequence[Mapping[str, Any]]]) -> None:
    """Rows as the test writes them (checked by `ruletest.checks`), customers first, in one
    transaction; booleans are stored as 1/0, times as the text written."""
    conn.execute("BEGIN")
    try:
        for table in sorted(rows, key=lambda name: name != "customers"):
            for row in rows[table]:
                names = ", ".join(f'"{column}"' for column in row)
                marks = ", ".join("?" * len(row))
                conn.execute(
                    f'INSERT INTO "{table}" ({names}) VALUES ({marks})', list(row.values())
                )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
