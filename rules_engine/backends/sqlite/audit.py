"""Audit: what a run records, and the only code that writes decisions to the store.

`run` takes the store's write lock first (`BEGIN IMMEDIATE`), so a second run waits and then
counts the first one's actions against its caps, capacity and budgets; it decides everything
inside that transaction and commits `runs`, `actions`, `audit` and `channel_exits` together.
A crash or a kill before the commit leaves the store as it was, and the same run key can be
run again; a run key that already committed changes nothing.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ... import store
from ...decide.records import ACTION_COLUMNS, AUDIT_COLUMNS, Decision
from ...errors import CampaignError, InputError, StoreError
from ...execute import Plan, Progress
from ...execute import plan as make_plan
from ...rules.model import RuleSet
from ...rules.provenance import digest_of, git_commit_of
from ...sql.compile import ValuesProgram
from ...times import utc_text
from .connection import prepare


class StoreBusy(CampaignError):
    """Another run held the store's write lock for longer than we were willing to wait."""

    exit_code = 1


# -- what identifies a run ------------------------------------------------------------------------


def rules_digest(files: Iterable[str | Path]) -> str:
    """SHA-256 over rule files as they are on disk now (`provenance.digest_of`); a loaded rule
    set carries the digest of what was loaded as `RuleSet.digest`."""
    paths = [str(f) for f in files]
    return digest_of([(name, Path(name).read_bytes()) for name in paths])


@dataclass(frozen=True)
class GitState:
    """The commit rules are at, `+dirty` when a file differs from it (None outside Git)."""

    commit: str | None


def git_state(files: Sequence[str | Path]) -> GitState:
    """The Git state of rule files as they are on disk now (`provenance.git_commit_of`); a
    loaded rule set carries the state of what was loaded as `RuleSet.git_commit`."""
    return GitState(git_commit_of([(str(f), Path(f).read_bytes()) for f in files]))


def run_id_for(run_key: str) -> str:
    """Runs are named by their key: a killed run, run again, is the same run."""
    return hashlib.sha256(run_key.encode()).hexdigest()[:16]


# -- rows ------------------------------------------------------------------------------------------


def action_row(rules: RuleSet, run_id: str | None, d: Decision) -> dict[str, Any]:
    offer = rules.offers[d.offer_id]
    variant = next((v for v in offer.variants if v.id == d.variant), None)
    return {
        "run_id": run_id,
        "customer_id": d.customer_id,
        "offer_id": d.offer_id,
        "channel": d.channel,
        "send_at": utc_text(d.send_at) if d.send_at else None,
        "content": variant.content if variant else offer.content,
        "incentive": incentive_text(variant.incentive if variant else offer.incentive),
        "cost": d.cost,
        "variant": d.variant,
    }


def incentive_text(incentive: dict[str, Any] | None) -> str | None:
    if incentive is None:
        return None
    return json.dumps(incentive, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def audit_row(rules: RuleSet, run_id: str | None, d: Decision) -> dict[str, Any]:
    offer = rules.offers[d.offer_id]
    return {
        "run_id": run_id,
        "customer_id": d.customer_id,
        "offer_id": d.offer_id,
        "outcome": d.outcome,
        "reason": d.reason,
        "channel": d.channel,
        "rule_file": rules.file_name(offer.span.file),
        "rule_line": offer.span.line,
        "detail": d.detail,
        "variant": d.variant,
    }


def counts(plan: Plan) -> dict[str, int]:
    outcomes: Counter[str] = Counter()
    for decided in plan.by_offer:
        outcomes.update(decided.outcomes_counted())
    return {
        "customers": plan.customers,
        "actions": outcomes["action"],
        "holdouts": outcomes["holdout"],
        "suppressed": outcomes["suppressed"],
        "exits": len(plan.exits),
    }


# -- the run ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunResult:
    run_id: str
    run_key: str
    reused: bool  # the key had already committed: nothing changed
    counts: dict[str, int]
    plan: Plan | None = None


def connect_for_run(path: str | Path, wait: float) -> sqlite3.Connection:
    """A read-write connection to an existing store; waits up to `wait` seconds for a lock."""
    path = Path(path)
    with store.closing_read_only(path) as probe:
        store.ensure_is_store(probe, path)
    # a plain file name, not a URI: nothing in the name is read as an option
    conn = sqlite3.connect(path, timeout=wait, isolation_level=None)
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


class RunKeyConflict(CampaignError):
    """A run key that committed with other rules or another as-of: reusing it is refused."""

    exit_code = 1


def committed_run(
    conn: sqlite3.Connection,
    run_key: str,
    rules: RuleSet | None = None,
    as_of: datetime | None = None,
) -> RunResult | None:
    """The run a key committed, if any. With `rules` and `as_of`, the key must have committed
    with the same rules digest and as-of: a key names one set of decisions, never two."""
    row = conn.execute(
        'SELECT "run_id", "counts", "rules_digest", "as_of" FROM "runs" '
        'WHERE "run_key" = ? AND "status" = ?',
        (run_key, "committed"),
    ).fetchone()
    if row is None:
        return None
    run_id, tally, digest, earlier = row
    if rules is not None and as_of is not None:
        differs = []
        if digest != rules.digest:
            differs.append(f"rules {str(digest)[:12]} then, {rules.digest[:12]} now")
        if earlier != utc_text(as_of):
            differs.append(f"as-of {earlier} then, {utc_text(as_of)} now")
        if differs:
            raise RunKeyConflict(
                f"run key {run_key!r} was committed as run {run_id} with other inputs "
                f"({'; '.join(differs)}); nothing was written: use a new run key"
            )
    return RunResult(run_id, run_key, True, json.loads(tally or "{}"))


def check_run_key(run_key: str) -> None:
    """A run key names a run: it must have something in it besides spaces."""
    if not run_key.strip():
        raise InputError("--run-key is empty: give the run a name, e.g. --run-key 2026-11-20")


def run(
    path: str | Path,
    rules: RuleSet,
    as_of: datetime,
    run_key: str,
    *,
    wait: float = 60.0,
    cache_mb: int = 256,
    progress: Progress | None = None,
) -> RunResult:
    """Decide and commit one run, or nothing; a key that already committed with the same
    rules and as-of changes nothing, and one that committed with others is refused."""
    check_run_key(run_key)
    conn = connect_for_run(path, wait)
    try:
        prepare(conn, cache_mb)
        return run_on(
            conn, rules, as_of, run_key, store_name=str(path), wait=wait, progress=progress
        )
    finally:
        conn.close()


def run_on(
    conn: sqlite3.Connection,
    rules: RuleSet,
    as_of: datetime,
    run_key: str,
    *,
    store_name: str = "the store",
    wait: float = 60.0,
    progress: Progress | None = None,
    program: ValuesProgram | None = None,
    git: GitState | None = None,
) -> RunResult:
    """`run` on an open read-write connection in autocommit mode (the rule tests' in-memory
    stores run their steps with it): the lock, the decisions and one commit, or nothing.
    `program`: the rules' values program for `as_of`, and `git`: the rules' Git state, when the
    caller already has them (rule tests commit many runs of one rule set; otherwise the commit
    read when the rules were loaded, `RuleSet.git_commit`)."""
    check_run_key(run_key)
    if (done := committed_run(conn, run_key, rules, as_of)) is not None:
        return done
    if progress is not None:
        progress("lock: waiting for other runs on this store")
    begin_write(conn, store_name, wait)
    try:
        if (done := committed_run(conn, run_key, rules, as_of)) is not None:
            conn.execute("ROLLBACK")
            return done
        store.ensure_engine_indexes(conn)
        result = _decide_and_write(conn, rules, as_of, run_key, progress, program, git)
        if progress is not None:
            progress("commit")
        conn.execute("COMMIT")
        return result
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def begin_write(conn: sqlite3.Connection, path: str | Path, wait: float) -> None:
    """Take the store's write lock (`BEGIN IMMEDIATE`), waiting up to `wait` seconds."""
    try:
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc) or "busy" in str(exc):
            raise StoreBusy(
                f"{path}: another run has held the store for over {wait:g} s; "
                "try again when it has finished, or wait longer with --wait SECONDS"
            ) from None
        raise StoreError(f"{path}: cannot start a run: {exc}") from None


def _decide_and_write(
    conn: sqlite3.Connection,
    rules: RuleSet,
    as_of: datetime,
    run_key: str,
    progress: Progress | None,
    program: ValuesProgram | None = None,
    git: GitState | None = None,
) -> RunResult:
    started = datetime.now(UTC)
    run_id = run_id_for(run_key)
    plan = make_plan(conn, rules, as_of, progress=progress, program=program)
    if progress is not None:
        progress(f"writing: {len(plan.decisions):,} audit rows")
    write_rows(conn, "audit", AUDIT_COLUMNS, (audit_row(rules, run_id, d) for d in plan.audit))
    write_rows(
        conn, "actions", ACTION_COLUMNS, (action_row(rules, run_id, d) for d in plan.actions)
    )
    write_rows(
        conn,
        "channel_exits",
        ("customer_id", "channel", "exited_at", "until", "reason", "run_id"),
        (
            {
                "customer_id": e.customer_id,
                "channel": e.channel,
                "exited_at": utc_text(e.exited_at),
                "until": utc_text(e.until) if e.until else None,
                "reason": e.reason,
                "run_id": run_id,
            }
            for e in plan.exits
        ),
    )
    tally = counts(plan)
    record_run(conn, rules, run_key, utc_text(as_of), started, tally, git)
    return RunResult(run_id, run_key, False, tally, plan)


def record_run(
    conn: sqlite3.Connection,
    rules: RuleSet,
    run_key: str,
    as_of: str,
    started: datetime,
    tally: dict[str, int],
    git: GitState | None = None,
) -> None:
    """The run's row in `runs`, committed with its actions, audit and exits: the rules digest
    and Git commit of the rules as loaded, unless the caller gives the Git state."""
    commit = git.commit if git is not None else rules.git_commit
    conn.execute(
        'INSERT INTO "runs" ("run_id", "run_key", "as_of", "started_at", "finished_at", '
        '"status", "rules_digest", "git_commit", "counts") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
        (
            run_id_for(run_key),
            run_key,
            as_of,
            utc_text(started),
            utc_text(datetime.now(UTC)),
            "committed",
            rules.digest,
            commit,
            json.dumps(tally, sort_keys=True),
        ),
    )


def write_rows(
    conn: sqlite3.Connection, table: str, columns: Sequence[str], rows: Iterable[dict[str, Any]]
) -> None:
    names = ", ".join(f'"{c}"' for c in columns)
    marks = ", ".join("?" * len(columns))
    conn.executemany(
        f'INSERT INTO "{table}" ({names}) VALUES ({marks})',
        ([row[c] for c in columns] for row in rows),
    )
