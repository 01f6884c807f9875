"""Readers: what a plan reads from a SQLite store and its temp tables, into Python and numpy.

Each reads what the compiled statements (sql/) left in the program's temp tables, or what
earlier runs left in the store, in as few values as possible: Python builds an object for
every value SQLite returns.
"""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from ...decide.records import CHANNEL_REASONS
from ...rules.model import Offer, RuleSet
from ...sql import audience, history
from ...sql.namespace import DEFAULT, Namespace
from ..base import Engine
from ..readers import (
    candidates_of,
    channel_lifecycle,
    count_segments,
    history_statements,
    read_candidates,
    read_capacity,
    read_exits,
    read_history,
    read_runs_at,
    read_totals,
)
from .dialect import SQLITE

if TYPE_CHECKING:  # numpy loads only when a whole store is planned: explain starts without it
    from ...decide.allocate_arrays import Audiences, History


def read_messages(
    conn: sqlite3.Connection,
    rules: RuleSet,
    as_of: datetime,
    audiences: Audiences,
    ns: Namespace = DEFAULT,
) -> History:
    """The same messages as `read_history`, as arrays by position in the audiences; their
    channel and offer as one code SQLite computes (a channel no rule names is "", an offer
    no rule names None: neither can match a cap)."""
    import numpy as np

    from ...decide.allocate_arrays import History

    kind, kinds = history.message_kinds(rules)
    statements = history_statements(conn, rules, as_of, kind, ns)
    found = np.fromiter(
        itertools.chain.from_iterable(
            row for s in statements for row in conn.execute(s.sql, s.params)
        ),
        dtype=np.int64,
    ).reshape(-1, 3)
    return History(
        np.searchsorted(audiences.customer_ids, found[:, 0]),
        np.ascontiguousarray(found[:, 1]),
        found[:, 2].astype(np.int32),
        kinds,
    )


def read_audiences(
    conn: sqlite3.Connection, rules: RuleSet, offers: Sequence[Offer], ns: Namespace = DEFAULT
) -> Audiences:
    """`candidates` and `channel_state` as arrays, and each offer's members in allocation
    order (rank high first, missing last, then customer id), unpivoted from the bits of
    `candidates` with numpy.

    Python builds an object for every value SQLite returns, so few values cross: each
    customer's channel reasons packed 4 bits a channel into integers (SQLite's `<<` and `|`
    bind equally tight: each shift is in parentheses), the zone a code by its position among
    the candidates' zones, the ranks' missing values as bits."""
    import numpy as np

    from ...decide.allocate_arrays import REASON_CODE, Audiences

    cols = audience.audience_columns(offers)
    channels = audience.channel_columns(rules)
    reasons = [
        " | ".join(
            f"((CASE s.{c.reason} "
            + " ".join(f"WHEN '{r}' THEN {REASON_CODE[r]}" for r in CHANNEL_REASONS)
            + f" ELSE 0 END) << {4 * i})"
            for i, c in enumerate(channels[start : start + 15])
        )
        for start in range(0, len(channels), 15)
    ]
    missing = [
        " | ".join(
            f"((k.r{j} IS NULL) << {j - start})" for j in range(start, min(start + 62, cols.ranks))
        )
        for start in range(0, cols.ranks, 62)
    ]
    zones = conn.execute(f"SELECT DISTINCT timezone FROM temp.{ns.candidates}")
    zone_names = [z for (z,) in zones]
    named = [(i, z) for i, z in enumerate(zone_names) if z is not None]
    unnamed = zone_names.index(None) if None in zone_names else 0
    zone = " ".join(f"WHEN ?{n} THEN {i}" for n, (i, _) in enumerate(named, start=1))
    zone = f"CASE k.timezone {zone} ELSE {unnamed} END" if named else str(unnamed)
    ints = ["k.customer_id", zone, *reasons, *(f"k.m{w}" for w in range(cols.words)), *missing]
    floats = [f"coalesce(k.r{j}, 0)" for j in range(cols.ranks)]
    found = np.fromiter(
        conn.execute(
            f"SELECT {', '.join(ints + floats)} FROM temp.{ns.candidates} AS k "
            f"LEFT JOIN temp.{ns.channel_state} AS s ON s.customer_id = k.customer_id "
            "ORDER BY k.customer_id",
            [z for _, z in named],
        ),
        dtype=[(f"i{n}", np.int64) for n in range(len(ints))]
        + [(f"f{n}", np.float64) for n in range(len(floats))],
    )
    column = [found[f"i{n}"] for n in range(len(ints))]
    ranks = [found[f"f{n}"] for n in range(len(floats))]
    blocked = {}
    for i, c in enumerate(channels):
        blocked[c.channel] = ((column[2 + i // 15] >> (4 * (i % 15))) & 15).astype(np.int8)
    words = column[2 + len(reasons) : 2 + len(reasons) + cols.words]
    gaps = column[2 + len(reasons) + cols.words :]
    result = Audiences(column[0], column[1].astype(np.int32), zone_names, blocked)
    cooling = np.fromiter(
        itertools.chain.from_iterable(
            conn.execute(f"SELECT offer, customer_id FROM temp.{ns.cooldowns}")
        ),
        dtype=np.int64,
    ).reshape(-1, 2)
    unknown = [(gaps[at // 62] >> (at % 62)) & 1 for at in range(cols.ranks)]
    result.add_members(offers, cols.rank_of, words, ranks, unknown, cooling)
    return result


ENGINE = Engine(SQLITE, read_audiences, read_messages)

__all__ = [
    "ENGINE",
    "candidates_of",
    "channel_lifecycle",
    "count_segments",
    "read_audiences",
    "read_candidates",
    "read_capacity",
    "read_exits",
    "read_history",
    "read_messages",
    "read_runs_at",
    "read_totals",
]
