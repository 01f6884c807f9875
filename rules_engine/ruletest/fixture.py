"""A rule test's own store: in memory, with the tables `init-store` creates, and its rows.

Each test gets a connection of its own, so nothing a test does (a committed run, its temp
tables) can reach another test or a real store.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from typing import Any

from .. import store
from ..backends.sqlite.functions import register
from ..rules.model import RuleSet


class EmptyStore:
    """The empty store of a rule set, made once with the canonical tables and those the rules
    declare; each test gets a copy (a page copy is far quicker than creating the tables)."""

    def __init__(self, rules: RuleSet) -> None:
        self._template = sqlite3.connect(":memory:", isolation_level=None)
        store.create_tables(self._template, rules.schema)

    def copy(self) -> sqlite3.Connection:
        """A store of its own, in autocommit mode with foreign keys on, as `campaign run`
        opens a store."""
        conn = register(sqlite3.connect(":memory:", isolation_level=None))
        self._template.backup(conn)
        conn.execute("PRAGMA foreign_keys = ON")
        return conn

    def close(self) -> None:
        self._template.close()


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
