"""Plan files: save a reviewed plan, then commit exactly it, or refuse when its inputs changed.

`campaign plan --out PLAN.json` writes the plan JSON with a `fingerprint` (the store's by its
backend: backends/sqlite/fingerprint.py, backends/duckdb/fingerprint.py) taken on the read-only
connection before anything is decided. `campaign run --plan PLAN.json` takes the store's write
lock, fingerprints the rules and the store again inside that transaction and, when nothing
changed, writes the plan file's audit rows,
actions and channel exits as they are: the rows a plain `run` of the same rules, store and as-of
would write. When anything changed it refuses, names what changed, and writes nothing.
"""

from __future__ import annotations

import io
import json
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from .backends import backend_for
from .backends.sqlite.fingerprint import Fingerprint, changes, engine_version
from .decide.records import PERIOD_NAMES, LifecycleState
from .errors import CampaignError, InputError
from .rules.model import RuleSet
from .times import parse_instant, utc_text

if TYPE_CHECKING:  # what plans and writes runs is loaded by what uses it, not by reading a file
    from .backends.writer import RunResult
    from .execute import Plan, Progress

PLAN_FORMAT = "campaign-plan/1"


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
    # the channels' lifecycle states as the plan decided them, so `explain --plan` need not
    # read the channel stats again (the fingerprint proves they are the same); None when the
    # file holds no channel list
    lifecycle: dict[str, LifecycleState] | None = None

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
    before deciding on the same read-only connection (a write during planning makes the plan
    stale, as it should)."""
    from .execute import plan

    backend = backend_for(path)
    with backend.planning(path, cache_mb) as conn:
        fingerprint = Fingerprint(
            rules.digest,
            utc_text(as_of),
            engine_version(),
            backend.fingerprint(conn, path),
        )
        return plan(conn, rules, as_of, progress=progress), fingerprint


def plan_file_json(planned: Plan, fingerprint: Fingerprint) -> str:
    """The plan JSON (as `--json` writes it) with its fingerprint."""
    text = io.StringIO()
    write_plan_file(text, planned, fingerprint)
    return text.getvalue()


def write_plan_file(out: IO[str], planned: Plan, fingerprint: Fingerprint) -> None:
    """`plan_file_json` written to `out` row by row."""
    from .report.render import write_plan_json

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
    return plan_file_of(path, document)


def plan_file_of(path: Path, document: Any) -> PlanFile:
    """The plan file read from `path` as `document` (its JSON), or an input error when it is
    not one (`read_plan_file`, and `plan_lookup` for the parts it reads)."""
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
            _lifecycle_of(document.get("channels")),
        )
    except (KeyError, TypeError, ValueError, AttributeError):
        raise InputError(
            f"{path}: not a plan file with a fingerprint; write one with "
            "`campaign plan --db STORE --out PLAN.json` (a `--json` file has no fingerprint)"
        ) from None


def _lifecycle_of(channels: Any) -> dict[str, LifecycleState] | None:
    """The lifecycle states in a plan file's channel list (`report.render._channel_json`);
    a TypeError or KeyError when it is not one."""
    if channels is None:
        return None
    if not isinstance(channels, list):
        raise TypeError("channels")
    states = {}
    for row in channels:
        life = row["lifecycle"]
        if life is not None:
            numbers = {name: life.get(name) for name in PERIOD_NAMES}
            states[row["id"]] = LifecycleState(
                row["id"],
                str(life["state"]),
                dict(life["gates"]),
                numbers,
                life.get("period"),
                int(life.get("periods", 0)),
            )
    return states


def refusal(
    planned: PlanFile,
    rules: RuleSet,
    as_of: str,
    store: dict[str, Any],
    db_path: str | Path,
    *,
    so: str,
    then: str,
) -> PlanStale | None:
    """Why the plan file no longer holds for `rules`, the instant `as_of` and the store whose
    fingerprint is `store` (at `db_path`), naming everything that changed; None when it holds.
    `so` says what was therefore not done, `then` what to do with the new plan."""
    now = Fingerprint(rules.digest, as_of, engine_version(), store)
    found = changes(planned.fingerprint, now, rules.calendar.timezone)
    if not found:
        return None
    return PlanStale(
        f"{planned.path}: the plan no longer matches, so {so}: "
        + "; ".join(found)
        + f"; plan again (`campaign plan --db {db_path} --out {planned.path}`), "
        f"review it, then {then}"
    )


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
    from .backends.writer import commit_once, write_planned_rows

    moment = planned.fingerprint.as_of if as_of is None else utc_text(as_of)
    with backend_for(path).session(path, wait) as session:

        def check_and_write() -> RunResult:
            stale = refusal(
                planned,
                rules,
                moment,
                session.fingerprint(),
                path,
                so="nothing was written",
                then="apply the new plan",
            )
            if stale is not None:
                raise stale
            rows = {"audit": planned.audit, "actions": planned.actions, "exits": planned.exits}
            as_planned = planned.fingerprint.as_of
            return write_planned_rows(session, rules, run_key, as_planned, rows, planned.counts())

        return commit_once(session, rules, parse_instant(moment), run_key, check_and_write)
