"""Results: what a committed run earned, per offer and variant, against the offer's control group.

Intent to treat: both arms are counted from the same moment, the run's as-of, over the same
window of N days, whatever happened to the messages afterwards. The treated arm of an offer is
its customers with an action (per variant where the offer has variants), the held-out arm its
control group; a conversion is a completed order in (as-of, as-of + N days]. The arithmetic is
in `lift.py` beside this module.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from .. import store
from ..backends import engine_of
from ..backends.runs import run_by_key
from ..errors import CampaignError
from ..expr.sqlgen import day_before
from ..times import both_zones, parse_instant
from .lift import Arm, Interval, Lift, measure

if TYPE_CHECKING:
    from ..store import AnyConnection


class RunNotFound(CampaignError):
    """The run key names no committed run in this store."""

    exit_code = 1


@dataclass(frozen=True)
class RunRecord:
    run_id: str
    run_key: str
    as_of: datetime
    timezone: str = "UTC"  # the rules' calendar: times are shown in it, next to UTC


@dataclass(frozen=True)
class ArmResult:
    """One offer (or one of its variants) against that offer's control group."""

    offer_id: str
    variant: str | None
    treated: Arm
    held_out: Arm
    lift: Lift


@dataclass(frozen=True)
class Results:
    run: RunRecord
    days: int
    window_end: datetime
    arms: list[ArmResult]
    contaminated: dict[str, int] = field(default_factory=dict)  # held out, yet sent another offer
    measured_at: datetime | None = None  # when the results were read (the window may be open)
    orders_after: int = 0  # completed orders of the run's customers in the window

    def time_text(self, moment: datetime) -> str:
        """A time of these results as every message shows one: UTC and the calendar's zone."""
        return both_zones(moment, self.run.timezone)

    def caveats(self) -> list[str]:
        """Why the figures may not be final: the window is still open, or no order came yet."""
        found = []
        if self.measured_at is not None and self.measured_at < self.window_end:
            found.append(
                f"the {self.days}-day window ends {self.time_text(self.window_end)}, after now "
                f"({self.time_text(self.measured_at)}): these are the orders so far, not the result"
            )
        if self.arms and self.orders_after == 0:
            found.append(
                "no completed order of the run's customers after its as-of is in the store yet: "
                "there is nothing to measure until the orders of those days are loaded"
            )
        return found


def find_run(conn: AnyConnection, run_key: str) -> RunRecord:
    present = store.columns_of(conn, "runs")
    found = run_by_key(conn, run_key, present=present, committed=True)
    if found is None:
        keys = [
            k
            for (k,) in conn.execute(
                'SELECT "run_key" FROM "runs" ORDER BY "as_of" DESC'
            ).fetchall()
        ]
        known = ", ".join(keys[:10]) if keys else "none yet"
        raise RunNotFound(f"no committed run has the key {run_key!r} (runs in this store: {known})")
    return RunRecord(found.run_id, run_key, parse_instant(found.as_of), found.timezone or "UTC")


def results(
    conn: AnyConnection, run_key: str, days: int = 14, *, now: datetime | None = None
) -> Results:
    """The run's arms and their lift over the `days` after its as-of; `now` (default: the
    clock) only tells whether that window has closed yet."""
    run = find_run(conn, run_key)
    end = run.as_of + timedelta(days=days)
    treated, held_out, cost = _arms(conn, run.run_id)
    bought = _purchases(conn, run, end)
    arms: list[ArmResult] = []
    for offer_id in sorted({o for o, _ in treated} | set(held_out)):
        control = _arm(held_out.get(offer_id, ()), bought)
        variants = sorted((v for o, v in treated if o == offer_id), key=lambda v: (v is None, v))
        for variant in variants or [None]:
            arm = _arm(treated.get((offer_id, variant), ()), bought)
            spent = cost.get((offer_id, variant), 0.0)
            arms.append(
                ArmResult(offer_id, variant, arm, control, measure(arm, control, round(spent, 2)))
            )
    return Results(
        run,
        days,
        end,
        arms,
        _contaminated(conn, run.run_id),
        now or datetime.now(UTC),
        sum(orders for orders, _ in bought.values()),
    )


def _arms(
    conn: AnyConnection, run_id: str
) -> tuple[
    dict[tuple[str, str | None], list[int]],
    dict[str, list[int]],
    dict[tuple[str, str | None], float],
]:
    treated: dict[tuple[str, str | None], list[int]] = defaultdict(list)
    cost: dict[tuple[str, str | None], float] = defaultdict(float)
    variant = '"variant"' if _has_column(conn, "actions", "variant") else "NULL"
    for customer_id, offer_id, chosen, spent in conn.execute(
        f'SELECT "customer_id", "offer_id", {variant}, "cost" FROM "actions" WHERE "run_id" = ?',
        (run_id,),
    ).fetchall():
        treated[(offer_id, chosen)].append(customer_id)
        cost[(offer_id, chosen)] += spent or 0.0
    held_out: dict[str, list[int]] = defaultdict(list)
    for customer_id, offer_id in conn.execute(
        'SELECT "customer_id", "offer_id" FROM "audit" WHERE "run_id" = ? AND "outcome" = ?',
        (run_id, "holdout"),
    ).fetchall():
        held_out[offer_id].append(customer_id)
    return treated, held_out, cost


def _has_column(conn: AnyConnection, table: str, column: str) -> bool:
    return any(row[1] == column for row in conn.execute(f'PRAGMA table_info("{table}")').fetchall())


def _purchases(conn: AnyConnection, run: RunRecord, end: datetime) -> dict[int, tuple[int, float]]:
    """Completed orders of the run's customers in (as-of, end]: (orders, revenue) a customer."""
    bought: dict[int, tuple[int, float]] = {}
    dialect = engine_of(conn).dialect
    rows = conn.execute(
        'SELECT o."customer_id", o."ordered_at", o."amount" FROM "orders" AS o '
        'WHERE o."status" = ? AND '
        + dialect.stored_not_dated_before('o."ordered_at"', "?")
        + ' AND o."customer_id" IN (SELECT "customer_id" FROM "audit" WHERE "run_id" = ? '
        'AND "outcome" IN (?, ?))',
        ("completed", day_before(run.as_of), run.run_id, "action", "holdout"),
    ).fetchall()
    for customer_id, ordered_at, amount in rows:
        at = _instant(ordered_at)
        if at is None or not run.as_of < at <= end:
            continue
        orders, revenue = bought.get(customer_id, (0, 0.0))
        bought[customer_id] = (orders + 1, revenue + float(amount or 0.0))
    return bought


def _instant(text: object) -> datetime | None:
    """An order's time as read from the store (text, or a DuckDB TIMESTAMP)."""
    text = store.as_stored(text)
    if not isinstance(text, str):
        return None
    try:
        return parse_instant(text)
    except ValueError:
        return None


def _arm(customers: Iterable[int], bought: dict[int, tuple[int, float]]) -> Arm:
    people = set(customers)
    mine = [bought[c] for c in people if c in bought]
    return Arm(
        customers=len(people),
        converters=len(mine),
        orders=sum(orders for orders, _ in mine),
        revenue=round(sum(revenue for _, revenue in mine), 2),
    )


def _contaminated(conn: AnyConnection, run_id: str) -> dict[str, int]:
    """Per offer: held-out customers who got an action from another offer in the same run."""
    rows = conn.execute(
        'SELECT h."offer_id", count(DISTINCT h."customer_id") FROM "audit" AS h '
        'JOIN "actions" AS a ON a."run_id" = h."run_id" AND a."customer_id" = h."customer_id" '
        'AND a."offer_id" != h."offer_id" WHERE h."run_id" = ? AND h."outcome" = ? '
        'GROUP BY h."offer_id" ORDER BY h."offer_id"',
        (run_id, "holdout"),
    ).fetchall()
    return {offer_id: count for offer_id, count in rows}


def results_document(found: Results) -> dict[str, object]:
    """The JSON form (`campaign-results/1`), keys sorted, numbers as measured."""
    return {
        "format": "campaign-results/1",
        "run": {
            "run_key": found.run.run_key,
            "run_id": found.run.run_id,
            "as_of": found.run.as_of.isoformat(),
        },
        "days": found.days,
        "window_end": found.window_end.isoformat(),
        "complete": found.measured_at is None or found.measured_at >= found.window_end,
        "orders_after": found.orders_after,
        "caveats": found.caveats(),
        "confidence": 0.95,
        "arms": [_arm_json(a, found.contaminated.get(a.offer_id, 0)) for a in found.arms],
    }


def _arm_json(a: ArmResult, contaminated: int) -> dict[str, object]:
    lift = a.lift
    return {
        "offer": a.offer_id,
        "variant": a.variant,
        "treated": _side(a.treated),
        "held_out": _side(a.held_out) | {"received_other_offers": contaminated},
        "lift": {
            "absolute": lift.absolute,
            "absolute_ci": [lift.absolute_ci.low, lift.absolute_ci.high]
            if lift.absolute_ci
            else None,
            "relative": lift.relative,
            "relative_ci": [lift.relative_ci.low, lift.relative_ci.high]
            if lift.relative_ci
            else None,
            "significant": lift.significant,
            "needed_per_arm": lift.needed_per_arm,
        },
        "incremental": {
            "converters": lift.incremental_converters,
            "orders": lift.incremental_orders,
            "revenue": lift.incremental_revenue,
        },
        "cost": lift.cost,
        "incremental_roi": lift.incremental_roi,
    }


def _side(arm: Arm) -> dict[str, object]:
    return {
        "customers": arm.customers,
        "converters": arm.converters,
        "conversion_rate": arm.rate,
        "orders": arm.orders,
        "revenue": arm.revenue,
        "revenue_per_customer": arm.revenue_per_customer,
    }


def results_json(found: Results) -> str:
    return json.dumps(results_document(found), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def results_text(found: Results) -> str:
    """The run's arms as a table, then what the numbers do and do not allow to conclude."""
    from ..report.render import table

    header = (
        f"Results of run {found.run.run_key} (as of {found.time_text(found.run.as_of)}): "
        f"completed orders within {found.days} days, until {found.time_text(found.window_end)}"
    )
    caveats = [f"  ! {c}" for c in found.caveats()]
    if not found.arms:
        return header + "\n  the run has no actions and no control group to measure\n"
    rows = [
        (
            a.offer_id,
            a.variant,
            a.treated.customers,
            _percent(a.treated.rate),
            a.held_out.customers,
            _percent(a.held_out.rate),
            _points(a.lift.absolute),
            _interval(a.lift.absolute_ci, _points),
            a.lift.significant if a.lift.absolute is not None else None,
            _percent(a.lift.relative),
            a.lift.incremental_revenue,
            a.lift.cost,
            _percent(a.lift.incremental_roi),
        )
        for a in found.arms
    ]
    columns = (
        "offer",
        "variant",
        "treated",
        "conv.",
        "held out",
        "conv.",
        "lift",
        "95% interval",
        "significant",
        "relative",
        "incr. revenue",
        "cost",
        "incr. ROI",
    )
    lines = [header, *caveats, table(columns, rows), *(f"  - {n}" for n in result_notes(found))]
    return "\n".join(lines) + "\n"


def result_notes(found: Results) -> list[str]:
    """What the numbers do not allow to conclude, arm by arm, then the contaminated groups."""
    notes = [note for a in found.arms for note in arm_notes(a)]
    if found.contaminated:
        counted = ", ".join(f"{o} {n:,}" for o, n in sorted(found.contaminated.items()))
        notes.append(
            f"held-out customers who received another offer in this run: {counted}; those "
            "control groups are contaminated (offers in one group keep them clean)"
        )
    return notes


def arm_notes(a: ArmResult) -> list[str]:
    """What an arm's numbers do not allow to conclude, in words."""
    name = a.offer_id if a.variant is None else f"{a.offer_id} ({a.variant})"
    if a.held_out.customers == 0:
        return [f"{name}: no control group, so no lift can be measured (give the offer a holdout)"]
    if a.treated.customers == 0:
        return [f"{name}: no customer was treated"]
    if a.lift.significant:
        return []
    needed = a.lift.needed_per_arm
    if needed is None:
        return [f"{name}: no difference between the arms; nothing to conclude"]
    smaller = min(a.treated.customers, a.held_out.customers)
    return [
        f"{name}: too few customers to conclude (the 95% interval includes no lift); a lift "
        f"of {_points(a.lift.absolute)} needs about {needed:,} customers per arm, "
        f"the smaller arm has {smaller:,}"
    ]


def _percent(value: float | None) -> str | None:
    return None if value is None else f"{100 * value:.2f}%"


def _points(value: float | None) -> str | None:
    if value is None:
        return None
    shown = round(100 * value, 2) or 0.0  # no "-0.00"
    return f"{shown:+.2f} pt"


def _interval(value: Interval | None, show: Callable[[float], str | None]) -> str | None:
    if value is None:
        return None
    return f"{show(value.low)} .. {show(value.high)}"


def results_store(path: str | Path, run_key: str, days: int = 14) -> Results:
    """`campaign results`: a committed run measured on a store opened read-only."""
    with store.closing_any(path) as conn:
        store.ensure_is_store(conn, path)
        return results(conn, run_key, days)
