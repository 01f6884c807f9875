"""What a run writes, the same on every engine: `runs`, `actions`, `audit` and `channel_exits`
rows made from the decided `Plan` (or from a plan file), and the procedure that commits them
once per run key.

A backend brings a `Session`: its transaction (SQLite's `BEGIN IMMEDIATE` with a busy wait,
DuckDB's transaction on a file its process holds), its bulk insert, and whatever its tables
need before a run writes. `commit_once` is the run: a key that committed changes nothing, one
that committed with other rules or another as-of is refused; otherwise the session's lock, the
rows, one commit, or nothing at all.

No engine is imported here: the SQLite path loads neither DuckDB nor numpy through it.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from ..decide.records import ACTION_COLUMNS, AUDIT_COLUMNS, ChannelExit, Decision
from ..errors import CampaignError, InputError
from ..rules.model import RuleSet
from ..rules.provenance import digest_of, git_commit_of
from ..times import both_zones, shown, utc_text
from .runs import run_by_key

if TYPE_CHECKING:
    from ..execute import Plan

Progress = Callable[[str], None]
Row = Mapping[str, Any]
EXIT_COLUMNS = ("customer_id", "channel", "exited_at", "until", "reason", "run_id")
RUN_COLUMNS = (
    "run_id",
    "run_key",
    "as_of",
    "started_at",
    "finished_at",
    "status",
    "rules_digest",
    "git_commit",
    "counts",
    "timezone",
)


class StoreBusy(CampaignError):
    """Another run held the store for longer than we were willing to wait."""

    exit_code = 1


class RunKeyConflict(CampaignError):
    """A run key that committed with other rules or another as-of: reusing it is refused."""

    exit_code = 1


@dataclass(frozen=True)
class RunResult:
    run_id: str
    run_key: str
    reused: bool  # the key had already committed: nothing changed
    counts: dict[str, int]
    plan: Plan | None = None


class Cursor(Protocol):
    def fetchone(self) -> Any: ...


class Session(Protocol):
    """A read-write connection to one store for the length of a run, as a backend opens it."""

    name: str  # the store, as messages name it
    # What `begin` may wait for, for the progress line (None: the store is held already).
    lock_wait: str | None

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor: ...

    def begin(self) -> None:
        """Take the store's write lock and start the run's transaction."""
        ...

    def commit(self) -> None: ...

    def rollback(self) -> None:
        """Undo the open transaction, if one is open."""
        ...

    def insert(self, table: str, columns: Sequence[str], rows: Iterable[Row]) -> None:
        """Append rows (mappings holding at least `columns`) to `table`."""
        ...

    def prepare(self) -> None:
        """What the engine's tables need before a run writes to them (indexes...)."""
        ...

    def fingerprint(self) -> dict[str, Any]:
        """The store's fingerprint as it is now, inside the run's transaction (plan files)."""
        ...


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


def check_run_key(run_key: str) -> None:
    """A run key names a run: it must have something in it besides spaces."""
    if not run_key.strip():
        raise InputError("--run-key is empty: give the run a name, e.g. --run-key 2026-11-20")


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


def exit_row(run_id: str, e: ChannelExit) -> dict[str, Any]:
    return {
        "customer_id": e.customer_id,
        "channel": e.channel,
        "exited_at": utc_text(e.exited_at),
        "until": utc_text(e.until) if e.until else None,
        "reason": e.reason,
        "run_id": run_id,
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


def committed_run(
    session: Session,
    run_key: str,
    rules: RuleSet | None = None,
    as_of: datetime | None = None,
) -> RunResult | None:
    """The run a key committed, if any. With `rules` and `as_of`, the key must have committed
    with the same rules digest and as-of: a key names one set of decisions, never two."""
    found = run_by_key(session, run_key, committed=True)
    if found is None:
        return None
    run_id, digest, earlier = found.run_id, found.rules_digest, found.as_of
    if rules is not None and as_of is not None:
        differs = []
        if digest != rules.digest:
            differs.append(f"rules {str(digest)[:12]} then, {rules.digest[:12]} now")
        if earlier != utc_text(as_of):
            zone = rules.calendar.timezone
            then, now = shown(earlier, zone), both_zones(as_of, zone)
            differs.append(f"as-of {then} then, {now} now")
        if differs:
            raise RunKeyConflict(
                f"run key {run_key!r} was committed as run {run_id} with other inputs "
                f"({'; '.join(differs)}); nothing was written: use a new run key"
            )
    return RunResult(run_id, run_key, True, found.counts)


def commit_once(
    session: Session,
    rules: RuleSet,
    as_of: datetime,
    run_key: str,
    write: Callable[[], RunResult],
    progress: Progress | None = None,
) -> RunResult:
    """The run `write` makes, committed once: a key that already committed with the same
    rules and as-of changes nothing (asked before the lock and again inside it, where another
    process may just have committed it), one that committed with others is refused; anything
    raised, or a kill, before the commit leaves the store as it was."""
    check_run_key(run_key)
    if (done := committed_run(session, run_key, rules, as_of)) is not None:
        return done
    if progress is not None and session.lock_wait is not None:
        progress(f"lock: {session.lock_wait}")
    session.begin()
    try:
        if (done := committed_run(session, run_key, rules, as_of)) is not None:
            session.rollback()
            return done
        session.prepare()
        result = write()
        if progress is not None:
            progress("commit")
        session.commit()
        return result
    except BaseException:
        session.rollback()
        raise


def write_plan(
    session: Session,
    rules: RuleSet,
    plan: Plan,
    run_key: str,
    started: datetime,
    git: GitState | None = None,
    progress: Progress | None = None,
) -> RunResult:
    """A decided plan's audit rows, actions and channel exits, and its row in `runs`."""
    run_id = run_id_for(run_key)
    if progress is not None:
        progress(f"writing: {len(plan.decisions):,} audit rows")
    session.insert("audit", AUDIT_COLUMNS, (audit_row(rules, run_id, d) for d in plan.audit))
    session.insert("actions", ACTION_COLUMNS, (action_row(rules, run_id, d) for d in plan.actions))
    session.insert("channel_exits", EXIT_COLUMNS, (exit_row(run_id, e) for e in plan.exits))
    tally = counts(plan)
    record_run(session, rules, run_key, utc_text(plan.as_of), started, tally, git)
    return RunResult(run_id, run_key, False, tally, plan)


def write_planned_rows(
    session: Session,
    rules: RuleSet,
    run_key: str,
    as_of: str,
    rows: Mapping[str, Sequence[Row]],
    tally: dict[str, int],
) -> RunResult:
    """A plan file's rows (`audit`, `actions`, `exits`, without their run id) as run
    `run_key`, and its row in `runs`."""
    started = datetime.now(UTC)
    run_id = run_id_for(run_key)
    for table, columns, key in (
        ("audit", AUDIT_COLUMNS, "audit"),
        ("actions", ACTION_COLUMNS, "actions"),
        ("channel_exits", EXIT_COLUMNS, "exits"),
    ):
        session.insert(table, columns, ({**r, "run_id": run_id} for r in rows[key]))
    record_run(session, rules, run_key, as_of, started, tally)
    return RunResult(run_id, run_key, False, tally)


def record_run(
    session: Session,
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
    row = {
        "run_id": run_id_for(run_key),
        "run_key": run_key,
        "as_of": as_of,
        "started_at": utc_text(started),
        "finished_at": utc_text(datetime.now(UTC)),
        "status": "committed",
        "rules_digest": rules.digest,
        "git_commit": commit,
        "counts": json.dumps(tally, sort_keys=True),
        "timezone": rules.calendar.timezone,  # the run's times are shown in it, next to UTC
    }
    session.insert("runs", RUN_COLUMNS, [row])


def run_store(
    path: str | Path,
    rules: RuleSet,
    as_of: datetime,
    run_key: str,
    *,
    wait: float = 60.0,
    cache_mb: int = 256,
    progress: Progress | None = None,
) -> RunResult:
    """`campaign run` on a store of either format, by the backend that recognises it."""
    from . import backend_for

    check_run_key(run_key)
    return backend_for(path).run(
        path, rules, as_of, run_key, wait=wait, cache_mb=cache_mb, progress=progress
    )
