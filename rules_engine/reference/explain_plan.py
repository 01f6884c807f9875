"""`campaign explain --plan`: why a saved plan gives one customer what it gives them.

The customer's values, segments, channels and audience traces are computed as `explain`
computes them, on the customer's own rows; the offers' decisions are the plan file's audit
rows for the customer, not a new allocation of the whole store. That holds only for the
rules, as-of and store the plan was made from, so the plan file's fingerprint is checked first,
as `run --plan` checks it (`apply.refusal`), and a plan that no longer matches is refused. A
DuckDB store whose file is untouched since the plan is not hashed row by row again
(`Backend.unchanged`).

The fingerprint is taken on the connection the explanation then reads, in one read
transaction: what is explained is the store the fingerprint matched, even when a run commits
meanwhile. (A SQLite store read in WAL mode sees none of a write committed after the
transaction began; a SQLite store read without locks is checked unchanged at the end, as
`plan` checks it; a DuckDB store cannot be written while it is open for reading.)

Because the fingerprint proves the store is the one the plan was made from, and `plan` refuses
a store whose values break their types before it decides anything, explain --plan does not
scan the whole store for such values again (`check(..., scan_store=False)`); the customer's
own rows are still checked (`Explanation.wrong_types`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

from ..apply import PlanFile, refusal
from ..backends import backend_for
from ..plan_lookup import decisions
from ..rules.model import RuleSet
from ..times import parse_instant, utc_text
from .explain import Explanation, explain, masked


def explain_plan_file(
    path: str | Path,
    rules: RuleSet,
    part: PlanFile,
    customer_id: int,
    *,
    as_of: datetime | None = None,
    population: bool = False,
    cache_mb: int = 256,
    show_addresses: bool = False,
) -> Explanation:
    """The customer explained with the decisions of `part` (`plan_lookup.customer_part`: the
    customer's rows of a plan file), as of the plan's as-of; `PlanStale` when the rules, the
    as-of (when given), the engine or the store differ from the plan's fingerprint."""
    moment = part.fingerprint.as_of if as_of is None else utc_text(as_of)
    backend = backend_for(path)
    with backend.planning(path, cache_mb) as conn, _one_read(conn):
        planned = part.fingerprint.store
        store = planned if backend.unchanged(path, planned) else backend.fingerprint(conn, path)
        stale = refusal(
            part, rules, moment, store, path, so="it does not explain this store", then="explain"
        )
        if stale is not None:
            raise stale
        found = explain(
            conn,
            rules,
            parse_instant(moment),
            customer_id,
            population=population,
            planned=[d for d in decisions(part) if d.customer_id == customer_id],
            lifecycle=part.lifecycle,
        )
    found = replace(found, plan_file=str(part.path))
    return found if show_addresses else masked(found, rules)


@contextmanager
def _one_read(conn: Any) -> Iterator[None]:
    """One read transaction on `conn` (SQLite or DuckDB), rolled back after the block (it
    writes only temporary tables)."""
    conn.execute("BEGIN")
    try:
        yield
    finally:
        conn.execute("ROLLBACK")
