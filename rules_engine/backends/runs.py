"""The `runs` table read by run key, on either engine (the same SQL): what the run writer checks
a reused key against, what `campaign runs --show` prints and what `campaign results` measures."""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

RUN_FIELDS = (
    "run_key",
    "run_id",
    "as_of",
    "status",
    "started_at",
    "finished_at",
    "rules_digest",
    "git_commit",
    "counts",
    "timezone",
)


@dataclass(frozen=True)
class RunRecord:
    """One row of `runs`, its counts decoded."""

    run_key: str
    run_id: str
    as_of: str
    status: str
    started_at: str | None
    finished_at: str | None
    rules_digest: str | None
    git_commit: str | None
    counts: dict[str, int]
    timezone: str | None  # the rules' calendar time zone (None: recorded before it was)


class Reader(Protocol):
    """A store connection of either engine, or a run's session."""

    def execute(self, sql: str, params: Sequence[Any] = ..., /) -> Any: ...


def select_runs(present: Collection[str] | None = None, where: str = "") -> str:
    """`runs` as RUN_FIELDS; those not `present` (a store from before runs recorded their time
    zone) as NULL. None: the store has them all (a run's session, which writes them)."""
    names = ", ".join(
        f'"{f}"' if present is None or f in present else f'NULL AS "{f}"' for f in RUN_FIELDS
    )
    return f'SELECT {names} FROM "runs" {where} ORDER BY "started_at", rowid'


def record_of(row: Sequence[Any]) -> RunRecord:
    values = dict(zip(RUN_FIELDS, row, strict=True))
    values["counts"] = json.loads(values["counts"] or "{}")
    return RunRecord(**values)


def run_by_key(
    conn: Reader,
    run_key: str,
    *,
    present: Collection[str] | None = None,
    committed: bool = False,
) -> RunRecord | None:
    """The run with this key (a committed one only, with `committed`), or None."""
    where, params = ('WHERE "run_key" = ?', [run_key])
    if committed:
        where, params = (where + ' AND "status" = ?', [run_key, "committed"])
    row = conn.execute(select_runs(present, where), params).fetchone()
    return None if row is None else record_of(row)
