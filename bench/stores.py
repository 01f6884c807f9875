"""Stores in both formats: moving the demo store to DuckDB, and its metrics pass in each engine.

    .venv/bin/python bench/stores.py [--customers N]     (BENCH_CUSTOMERS does the same)

Reuses the SQLite demo store of bench/plan.py (bench/cache/demo-<size>.db, built once), copies
it once into bench/cache/demo-<size>.duckdb with `campaign store copy` (timed), then runs the
pass that dominates a plan (PERF.md) in a fresh process per engine: every aggregate the example
rules take over orders, one GROUP BY customer_id with FILTER clauses, its SQL compiled from the
rules' own expressions through each engine's dialect. Prints wall time, CPU and peak RSS of
each; results also go to bench/cache/stores-<size>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from plan import (  # type: ignore[import-not-found]  # noqa: E402
    AS_OF,
    CACHE,
    DEFAULT_CUSTOMERS,
    ROOT,
    campaign_command,
    ensure_store,
    machine,
    measure,
    store_path,
)


def orders_pass(engine: str) -> tuple[str, list[Any]]:
    """The orders GROUP BY of the example rules' metrics, through `engine`'s dialect."""
    from rules_engine.expr.nodes import walk
    from rules_engine.expr.sqlgen import SqlContext, compile_expression, quote
    from rules_engine.rules.check import check
    from rules_engine.sql.compile import calendar_offset, is_aggregate
    from rules_engine.sql.dialect import dialect_named
    from rules_engine.times import parse_instant

    as_of = parse_instant(AS_OF)
    rules = check([ROOT / "rules"], as_of=as_of).rules
    columns = {c: f"t.{quote(c)}" for c in rules.schema.columns("orders")}
    ctx = SqlContext(columns, as_of, calendar_offset(rules, as_of), dialect=dialect_named(engine))
    selects = []
    for metric in rules.metrics.values():
        if metric.table != "orders":
            continue
        simple = [
            node
            for node in walk(metric.value.node)
            if is_aggregate(node) and node.func in ("count", "sum", "avg", "min", "max")
        ]
        if not simple:
            continue  # DuckDB refuses parameters a statement does not read
        where = compile_expression(metric.where.node, ctx) if metric.where else None
        condition = f" FILTER (WHERE {where})" if where else ""
        for node in simple:
            args = [compile_expression(a, ctx) for a in node.args]
            selects.append(f"{node.func}({args[0] if args else '*'}){condition}")
    sql = (
        f"SELECT count(*), sum(n) FROM (SELECT t.customer_id, count(*) AS n, "
        f"{', '.join(selects)} FROM orders AS t GROUP BY t.customer_id)"
    )
    return sql, ctx.params


def child(engine: str, path: str) -> None:
    """Run the orders pass once (in its own process, for its own peak RSS)."""
    sql, params = orders_pass(engine)
    if engine == "duckdb":
        from rules_engine.backends.duckdb.store import connect

        conn: Any = connect(path)
    else:
        from rules_engine.store import connect_read_only

        conn = connect_read_only(path)
        conn.execute("PRAGMA cache_size = -262144")
    print(engine, conn.execute(sql, params).fetchone())


def main() -> int:
    parser = argparse.ArgumentParser()
    default = int(os.environ.get("BENCH_CUSTOMERS") or DEFAULT_CUSTOMERS)
    parser.add_argument("--customers", type=int, default=default)
    parser.add_argument("--child", nargs=2, metavar=("ENGINE", "STORE"))
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return 0
    sqlite_path = store_path(args.customers)
    duck_path = sqlite_path.with_suffix(".duckdb")
    ensure_store(sqlite_path, args.customers)
    results: dict[str, Any] = {"customers": args.customers, "machine": machine()}
    if not duck_path.exists():
        command = [*campaign_command(), "store", "copy", str(sqlite_path), str(duck_path)]
        results["copy"] = measure([*command, "--quiet"], duck_path.with_suffix(".copy.log"))
    results["sizes_mb"] = {p.suffix[1:]: p.stat().st_size / 2**20 for p in (sqlite_path, duck_path)}
    for engine, path in (("sqlite", sqlite_path), ("duckdb", duck_path)):
        command = [sys.executable, str(Path(__file__)), "--child", engine, str(path)]
        results[engine] = measure(command, CACHE / f"stores-{engine}.log")
        if results[engine]["exit"] != 0:
            sys.exit(f"the {engine} pass failed; see {results[engine]['log']}")
    label = sqlite_path.stem.removeprefix("demo-")
    (CACHE / f"stores-{label}.json").write_text(json.dumps(results, indent=2))
    print(f"stores at {args.customers:,} customers (load {os.getloadavg()[0]:.1f})")
    if "copy" in results:
        copy = results["copy"]
        print(f"  store copy to DuckDB: {copy['wall']:.1f} s, peak {copy['rss_mb']:.0f} MB")
    print("  file sizes: " + ", ".join(f"{k} {v:,.0f} MB" for k, v in results["sizes_mb"].items()))
    for engine in ("sqlite", "duckdb"):
        r = results[engine]
        print(
            f"  orders pass, {engine}: {r['wall']:.2f} s wall, {r['cpu']:.2f} s CPU, "
            f"peak {r['rss_mb']:.0f} MB"
        )
    ratio = results["sqlite"]["wall"] / max(results["duckdb"]["wall"], 1e-9)
    print(f"  SQLite time / DuckDB time on this pass: {ratio:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
