"""Simulated orders after a demo run, so that `campaign results` has something to measure.

The demo store's history ends at the demo as-of; a run as of then has no orders after it. This
adds the orders of the following days: every customer the run decided for (action or holdout)
buys with a base rate, treated customers more often (each later variant of an offer a little
more again), so the measured lift is known in advance and visible. Deterministic by seed.

    python -m rules_engine.demo_outcomes STORE RUN_KEY [--days 14] [--seed 1]
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
from contextlib import closing
from datetime import timedelta
from pathlib import Path

import numpy as np

from .measure.results import find_run
from .times import utc_text

BASE_RATE = 0.04  # a held-out customer's chance to buy within the window
LIFT = 0.30  # treated customers buy this much more often (relative), each variant 0.15 more


def simulate_outcomes(path: str | Path, run_key: str, *, days: int = 14, seed: int = 1) -> int:
    """Add completed orders in the `days` after the run's as-of; returns how many."""
    with closing(sqlite3.connect(path)) as conn, conn:
        run = find_run(conn, run_key)
        rows = conn.execute(
            'SELECT u."customer_id", u."offer_id", u."outcome", u."variant" FROM "audit" AS u '
            'WHERE u."run_id" = ? AND u."outcome" IN (?, ?) ORDER BY u."customer_id", u."offer_id"',
            (run.run_id, "action", "holdout"),
        ).fetchall()
        chance: dict[int, float] = {}
        variants: dict[str, list[str | None]] = {}
        for customer_id, offer_id, outcome, variant in rows:
            rate = BASE_RATE
            if outcome == "action":
                seen = variants.setdefault(offer_id, [])
                if variant not in seen:
                    seen.append(variant)
                rate *= 1 + LIFT + 0.15 * seen.index(variant)
            chance[customer_id] = max(chance.get(customer_id, 0.0), rate)
        rng = np.random.default_rng(seed)
        customers = np.array(sorted(chance), dtype=np.int64)
        buys = rng.random(len(customers)) < np.array([chance[c] for c in customers.tolist()])
        buyers = customers[buys]
        seconds = rng.integers(1, days * 86_400, len(buyers))
        amounts = np.round(rng.lognormal(5.5, 0.6, len(buyers)), 2)
        conn.executemany(
            'INSERT INTO "orders" ("customer_id", "ordered_at", "amount", "currency", "status", '
            '"channel") VALUES (?, ?, ?, ?, ?, ?)',
            (
                (c, utc_text(run.as_of + timedelta(seconds=s)), a, "CNY", "completed", "app")
                for c, s, a in zip(buyers.tolist(), seconds.tolist(), amounts.tolist(), strict=True)
            ),
        )
        return len(buyers)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("store", type=Path)
    parser.add_argument("run_key")
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    added = simulate_outcomes(args.store, args.run_key, days=args.days, seed=args.seed)
    print(f"{args.store}: {added:,} simulated orders in the {args.days} days after the run")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
