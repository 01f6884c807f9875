"""Plan files: save a reviewed plan, then commit exactly it, or refuse when its inputs changed.

`campaign plan --out PLAN.json` writes the plan JSON with a `fingerprint`
(backends/sqlite/fingerprint.py) taken on the read-only connection before anything is decided.
`campaign run --plan PLAN.json` takes the store's write lock, fingerprints the rules and the
store again inside that transaction and, when nothing changed, writes the plan file's audit rows,
actions and channel exits as they are: the rows a plain `run` of the same rules, store and as-of
would write. When anything changed it refuses, names what changed, and writes nothing.
"""

from __future__ import annotations

import io
import json
import sqlite3
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from . import store
from .backends.sqlite.audit import (
    RunResult,
    begin_write,
    committed_run,
    connect_for_run,
    record_run,
    run_id_for,
    write_rows,
)
from .backends.sqlite.connection import prepare
from .backends.sqlite.fingerprint import Fingerprint, changes, engine_version, store_fingerprint
from .decide.records import ACTION_COLUMNS, AUDIT_COLUMNS
from .errors import CampaignError, InputError
from .execute import Plan, Progress, plan
from .report.render import write_plan_json
from .rules.model import RuleSet
from .times import parse_instant, utc_text

PLAN_FORMAT = "campaign-plan/1"
EXIT_COLUMNS = ("customer_id", "channel", "exited_at", "until", "reason", "run_id")


class PlanStale(CampaignError):
    """The plan file's inputs changed since it was made: applying it is refused (exit 1)."""

    exit_code = 1


@dataclass(frozen=True)
class PlanFile:
    """A saved plan: what it was decided from, and the rows a run of it writes."""

    path: Path
    fingerprint: Fingerprint
    customers: int
    actions: list[dict[str, Any]]
    audit: list[dict[str, Any]]
    exits: list[dict[str, Any]]

    def counts(self) -> dict[str, int]:
        """The run's counts, as `run` records them."""
        outcomes = Counter(row["outcome"] for row in self.audit)
        return {
            "customers": self.customers,
            "actions": outcomes["action"],
            "holdouts": outcomes["holdout"],
            "suppressed": outcomes["suppressed"],
            "exits": len(self.exits),
        }


def plan_with_fingerprint(
    path: str | Path,
    rules: RuleSet,
    as_of: datetime,
    *,
    cache_mb: int = 256,
    progress: Progress | None = None,
) -> tuple[Plan, Fingerprint]:
    """`campaign plan --out`: the plan, and the fingerprint of what it was decided from, taken
    before deciding (a write during planning makes the plan stale, as it should)."""
    with store.closing_read_only(path) as conn:
        store.ensure_is_store(conn, path)
        prepare(conn, cache_mb)
        fingerprint = Fingerprint(
            rules.digest,
            utc_text(as_of),
            engine_version(),
            store_fingerprint(conn, path),
        )
        return plan(conn, rules, as_of, progress=progress), fingerprint


def plan_file_json(planned: Plan, fingerprint: Fingerprint) -> str:
    """The plan JSON (as `--json` writes it) with its fingerprint."""
    text = io.StringIO()
    write_plan_file(text, planned, fingerprint)
    return text.getvalue()


def write_plan_file(out: IO[str], planned: Plan, fingerprint: Fingerprint) -> None:
    """`plan_file_json` written to `out` row by row."""
    extra = {"fingerprint": fingerprint.to_dict()}
    write_plan_json(out, planned, digest=fingerprint.rules_digest, extra=extra)


def read_plan_file(path: str | Path) -> PlanFile:
    """A plan file written by `campaign plan --out`; anything else is an input error."""
    path = Path(path)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(
            f"{path}: no such plan file; write one with `campaign plan --out`"
        ) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: not a plan file ({exc})") from None
    try:
        if document["format"] != PLAN_FORMAT:
            raise TypeError("format")
        return PlanFile(
            path,
            Fingerprint.from_dict(document["fingerprint"]),
            int(document["customers"]),
            list(document["actions"]),
            list(document["audit"]),
            list(document["exits"]),
        )
    except (KeyError, TypeError, ValueError, AttributeError):
        raise InputError(
            f"{path}: not a plan file with a fingerprint; write one with "
            "`campaign plan --db STORE --out PLAN.json` (a `--json` file has no fingerprint)"
        ) from None


def apply_plan(
    path: str | Path,
    rules: RuleSet,
    planned: PlanFile,
    run_key: str,
    *,
    as_of: datetime | None = None,
    wait: float = 60.0,
) -> RunResult:
    """Commit the plan file's decisions as run `run_key`, or refuse (`PlanStale`) if the rules,
    the as-of (when given), the engine or the store differ from the plan's fingerprint; a key
    that already committed with the same rules and as-of changes nothing, and one that
    committed with others is refused (`RunKeyConflict`)."""
    moment = planned.fingerprint.as_of if as_of is None else utc_text(as_of)
    digest = rules.digest
    instant = parse_instant(moment)
    conn = connect_for_run(path, wait)
    try:
        if (done := committed_run(conn, run_key, rules, instant)) is not None:
            return done
        begin_write(conn, path, wait)
        try:
            if (done := committed_run(conn, run_key, rules, instant)) is not None:
                conn.execute("ROLLBACK")
                return done
            now = Fingerprint(digest, moment, engine_version(), store_fingerprint(conn, path))
            found = changes(planned.fingerprint, now)
            if found:
                raise PlanStale(
                    f"{planned.path}: the plan no longer matches, so nothing was written: "
                    + "; ".join(found)
                    + f"; plan again (`campaign plan --db {path} --out {planned.path}`), "
                    "review it, then apply the new plan"
                )
            result = _write(conn, rules, planned, run_key)
            conn.execute("COMMIT")
            return result
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
    finally:
        conn.close()


def _write(conn: sqlite3.Connection, rules: RuleSet, planned: PlanFile, run_key: str) -> RunResult:
    started = datetime.now(UTC)
    run_id = run_id_for(run_key)
    store.ensure_engine_indexes(conn)
    write_rows(conn, "audit", AUDIT_COLUMNS, ({**r, "run_id": run_id} for r in planned.audit))
    write_rows(conn, "actions", ACTION_COLUMNS, ({**r, "run_id": run_id} for r in planned.actions))
    write_rows(
        conn, "channel_exits", EXIT_COLUMNS, ({**r, "run_id": run_id} for r in planned.exits)
    )
    tally = planned.counts()
    record_run(conn, rules, run_key, planned.fingerprint.as_of, started, tally)
    return RunResult(run_id, run_key, False, tally)
