"""Run history: the runs a store has committed (`campaign runs`), and one run's counts per offer.

Read from `runs`, `audit` and `actions` on a read-only connection to a store of either format
(the same SQL on both); rendered as text for people
and JSON for scripts.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from . import store
from .backends.runs import RunRecord, record_of, run_by_key, select_runs
from .errors import InputError
from .report.render import table
from .times import shown


@dataclass(frozen=True)
class OfferCounts:
    """One offer's outcomes in a run, from its audit rows and actions."""

    offer_id: str
    audience: int
    actions: int
    holdouts: int
    suppressed: int
    cost: float
    reasons: dict[str, int]  # suppression reason → customers


def list_runs(path: str | Path) -> list[RunRecord]:
    """Every run of the store, oldest first."""
    with store.closing_any(path) as conn:
        store.ensure_is_store(conn, path)
        present = store.columns_of(conn, "runs")
        return [record_of(row) for row in conn.execute(select_runs(present)).fetchall()]


def show_run(path: str | Path, run_key: str) -> tuple[RunRecord, list[OfferCounts]]:
    """One run by its key, with its counts per offer (offers by id)."""
    with store.closing_any(path) as conn:
        store.ensure_is_store(conn, path)
        record = run_by_key(conn, run_key, present=store.columns_of(conn, "runs"))
        if record is None:
            raise InputError(
                f"{path}: no run with key {run_key!r}; `campaign runs --db {path}` lists them"
            )
        return record, _offer_counts(conn, record.run_id)


def _tally(outcome: str) -> str:
    return f"sum(CASE WHEN outcome = '{outcome}' THEN 1 ELSE 0 END)"


def _offer_counts(conn: store.AnyConnection, run_id: str) -> list[OfferCounts]:
    """SQL both engines read alike (no SQLite-only `total`)."""
    outcomes = conn.execute(
        f"SELECT offer_id, count(*), {_tally('action')}, {_tally('holdout')}, "
        f"{_tally('suppressed')} FROM audit WHERE run_id = ? GROUP BY 1 ORDER BY 1",
        (run_id,),
    ).fetchall()
    costs = dict(
        conn.execute(
            "SELECT offer_id, coalesce(sum(cost), 0.0) FROM actions WHERE run_id = ? GROUP BY 1",
            (run_id,),
        ).fetchall()
    )
    reasons: dict[str, dict[str, int]] = {}
    for offer, reason, n in conn.execute(
        "SELECT offer_id, reason, count(*) FROM audit WHERE run_id = ? AND outcome = 'suppressed' "
        "GROUP BY 1, 2 ORDER BY 1, 3 DESC, 2",
        (run_id,),
    ).fetchall():
        reasons.setdefault(offer, {})[reason] = n
    return [
        OfferCounts(
            offer,
            audience,
            int(actions),
            int(holdouts),
            int(suppressed),
            round(costs.get(offer, 0.0), 2),
            reasons.get(offer, {}),
        )
        for offer, audience, actions, holdouts, suppressed in outcomes
    ]


# -- rendering --------------------------------------------------------------------------------


def runs_text(path: str | Path, runs: list[RunRecord]) -> str:
    if not runs:
        return f"{path}: no runs committed yet"
    rows = [
        (
            r.run_key,
            shown(r.as_of, r.timezone),
            r.status,
            r.counts.get("actions"),
            r.counts.get("holdouts"),
            r.counts.get("suppressed"),
            r.counts.get("exits"),
            (r.rules_digest or "")[:12] or None,
            r.git_commit[:12] + ("+dirty" if r.git_commit.endswith("+dirty") else "")
            if r.git_commit
            else None,
        )
        for r in runs
    ]
    header = [
        "key",
        "as of",
        "status",
        "actions",
        "holdouts",
        "suppressed",
        "exits",
        "rules digest",
        "git commit",
    ]
    return f"{path}: {len(runs)} run(s), oldest first\n" + table(header, rows)


def runs_json(runs: list[RunRecord]) -> str:
    body = {"format": "campaign-runs/1", "runs": [asdict(r) for r in runs]}
    return json.dumps(body, ensure_ascii=False, sort_keys=True, indent=1)


def run_text(record: RunRecord, offers: list[OfferCounts]) -> str:
    fields = [
        ("run key", record.run_key),
        ("run id", record.run_id),
        ("as of", shown(record.as_of, record.timezone)),
        ("status", record.status),
        ("started", shown(record.started_at, record.timezone)),
        ("finished", shown(record.finished_at, record.timezone)),
        ("rules digest", record.rules_digest),
        ("git commit", record.git_commit),
        ("counts", ", ".join(f"{k} {v:,}" for k, v in sorted(record.counts.items()))),
    ]
    lines = [f"Run {record.run_key}"]
    lines += [f"  {name:<13} {value if value is not None else '-'}" for name, value in fields]
    lines += ["", "Offers"]
    if not offers:
        lines.append("  no audit rows (no offer was in play)")
        return "\n".join(lines)
    lines.append(
        table(
            ["offer", "audience", "actions", "holdouts", "suppressed", "cost", "top reasons"],
            [
                (
                    o.offer_id,
                    o.audience,
                    o.actions,
                    o.holdouts,
                    o.suppressed,
                    o.cost,
                    ", ".join(f"{r} {n:,}" for r, n in list(o.reasons.items())[:3]) or None,
                )
                for o in offers
            ],
        )
    )
    return "\n".join(lines)


def run_json(record: RunRecord, offers: list[OfferCounts]) -> str:
    body = {
        "format": "campaign-run/1",
        "run": asdict(record),
        "offers": [asdict(o) for o in offers],
    }
    return json.dumps(body, ensure_ascii=False, sort_keys=True, indent=1)
