"""Readers: what a plan reads from a DuckDB store's temp tables in many rows, as numpy arrays.

DuckDB hands a result over column by column (`fetchnumpy`), so nothing is read row by row in
Python: each customer's channel reasons, zone and audience words come as integer columns
computed in SQL, and the messages that count against caps as three integer columns. What
comes back in few rows is read by `backends.readers`, as on SQLite.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np

from ...decide.allocate_arrays import REASON_CODE, Audiences, History
from ...decide.records import CHANNEL_REASONS
from ...rules.model import Offer, RuleSet
from ...sql import audience, history
from ...sql.namespace import DEFAULT, Namespace
from ..base import Engine
from .dialect import DUCKDB


def _columns(conn: Any, sql: str, params: Sequence[Any] = ()) -> dict[str, np.ndarray]:
    found: dict[str, np.ndarray] = conn.execute(sql, list(params)).fetchnumpy()
    return {name: np.asarray(values) for name, values in found.items()}


def read_audiences(
    conn: Any, rules: RuleSet, offers: Sequence[Offer], ns: Namespace = DEFAULT
) -> Audiences:
    """`candidates` and `channel_state` as arrays (customers ascending), and each offer's
    members in allocation order (`Audiences.add_members`)."""
    cols = audience.audience_columns(offers)
    channels = audience.channel_columns(rules)
    zones = conn.execute(
        f"SELECT DISTINCT timezone FROM temp.{ns.candidates} ORDER BY timezone NULLS FIRST"
    ).fetchall()
    zone_names: list[str | None] = [z for (z,) in zones]
    params: list[Any] = []

    def bind(value: str) -> str:
        params.append(value)
        return DUCKDB.placeholder(len(params), value)

    unnamed = zone_names.index(None) if None in zone_names else 0
    named = " ".join(f"WHEN {bind(z)} THEN {i}" for i, z in enumerate(zone_names) if z is not None)
    zone = f"CASE k.timezone {named} ELSE {unnamed} END" if named else str(unnamed)
    codes = " ".join(f"WHEN '{r}' THEN {REASON_CODE[r]}" for r in CHANNEL_REASONS)
    selects = ["k.customer_id AS id", f"{zone} AS zone"]
    selects += [f"CASE s.{c.reason} {codes} ELSE 0 END AS c{i}" for i, c in enumerate(channels)]
    selects += [f"k.m{w} AS m{w}" for w in range(cols.words)]
    selects += [f"k.r{j} IS NULL AS g{j}, coalesce(k.r{j}, 0) AS f{j}" for j in range(cols.ranks)]
    found = _columns(
        conn,
        f"SELECT {', '.join(selects)} FROM temp.{ns.candidates} AS k "
        f"LEFT JOIN temp.{ns.channel_state} AS s ON s.customer_id = k.customer_id",
        params,
    )
    # customers ascending: sorted here, where only the ids are compared (DuckDB would sort
    # every column of the rows)
    ascending = np.argsort(found["id"], kind="stable")
    found = {name: values[ascending] for name, values in found.items()}
    blocked = {c.channel: found[f"c{i}"].astype(np.int8) for i, c in enumerate(channels)}
    result = Audiences(
        found["id"].astype(np.int64), found["zone"].astype(np.int32), zone_names, blocked
    )
    cooling = _columns(conn, f"SELECT offer, customer_id FROM temp.{ns.cooldowns}")
    result.add_members(
        offers,
        cols.rank_of,
        [found[f"m{w}"].astype(np.int64) for w in range(cols.words)],
        [found[f"f{j}"].astype(np.float64) for j in range(cols.ranks)],
        [found[f"g{j}"].astype(np.int8) for j in range(cols.ranks)],
        np.column_stack([cooling["offer"], cooling["customer_id"]]).astype(np.int64),
    )
    return result


def read_messages(
    conn: Any,
    rules: RuleSet,
    as_of: datetime,
    audiences: Audiences,
    ns: Namespace = DEFAULT,
) -> History:
    """The candidates' messages that count against caps and min_gap
    (`history.message_statements`), by position in the audiences."""
    kind, kinds = history.message_kinds(rules)
    statements = history.message_statements(
        rules, as_of, kind, few_candidates=False, ns=ns, dialect=DUCKDB
    )
    parts = [list(_columns(conn, s.sql, s.params).values()) for s in statements]
    who, at, code = (
        np.concatenate([p[n] for p in parts]).astype(np.int64) if parts else np.zeros(0, np.int64)
        for n in range(3)
    )
    return History(np.searchsorted(audiences.customer_ids, who), at, code.astype(np.int32), kinds)


ENGINE = Engine(DUCKDB, read_audiences, read_messages)
