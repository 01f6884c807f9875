"""`campaign plan` and `explain` on DuckDB stores, against SQLite, and DuckDB's scale curve.

    .venv/bin/python bench/duckplan.py [--sizes 100000,1000000,10000000] [--no-sqlite]

(`BENCH_DUCKDB_SIZES` does what `--sizes` does; the default is 100,000 and 1,000,000.)

For each size, a DuckDB demo store in bench/cache/: at 1M the copy of bench/plan.py's SQLite
store (`campaign store copy`, built once, timed); at a multiple of 1M (10M) that store tiled:
its customers and their rows that many times over, each copy's ids shifted past the last
(the same shop per customer, built in minutes where generating 10M customers takes over an
hour); at other sizes built directly with `campaign demo-data --format duckdb` (once,
timed). Then, one process at a time:
`campaign plan rules/` on it (wall, CPU, peak RSS, the load average before and after, each
stage's time), at 1M the same on the SQLite store (the ratio DuckDB/SQLite), and on the 1M
DuckDB store `campaign explain` of customer 1 (which decides the whole store), `plan --out`
and `explain --plan` of the same customer from that plan file: once with nothing remembered,
then `EXPLAIN_RUNS` times as an operator explaining one customer after another meets it
(modules compiled, the checked rules remembered), the target checked on their median.
Results are printed as Markdown and saved to bench/cache/duckplan.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from plan import (  # type: ignore[import-not-found]  # noqa: E402
    AS_OF,
    CACHE,
    ROOT,
    RULES,
    campaign_command,
    ensure_store,
    machine,
    measure,
    resident_mb,
    run_command,
    store_path,
)

DEFAULT_SIZES = "100000,1000000"
TARGETS = {1_000_000: (10.0, 1536.0), 10_000_000: (120.0, 6144.0)}  # seconds, peak MB
EXPLAIN_TARGET = 0.5


def duck_path(customers: int) -> Path:
    return store_path(customers).with_suffix(".duckdb")


def ensure_duck(customers: int) -> dict[str, Any] | None:
    """The DuckDB store of `customers`, made once: a copy of the SQLite store where it exists
    (1M: bench/plan.py builds it), else built directly."""
    path = duck_path(customers)
    if path.exists():
        return None
    CACHE.mkdir(parents=True, exist_ok=True)
    source = store_path(customers)
    if customers > ONE_MILLION and customers % ONE_MILLION == 0:
        ensure_duck(ONE_MILLION)
        print(f"tiling {duck_path(ONE_MILLION).name} {customers // ONE_MILLION} times")
        command = [sys.executable, str(Path(__file__)), "--tile", str(customers // ONE_MILLION)]
    elif source.exists():
        print(f"copying {source.name} to {path.name}")
        command = [*campaign_command(), "store", "copy", str(source), str(path)]
    else:
        print(f"building {path.name} ({customers:,} customers)")
        command = [*campaign_command(), "demo-data", str(path), "--customers", str(customers)]
        command += ["--seed", "1", "--format", "duckdb", "--quiet"]
    result = measure(command, path.with_suffix(".build.log"))
    if result["exit"] != 0:
        sys.exit(f"making {path.name} failed; see {result['log']}")
    return result


ONE_MILLION = 1_000_000
TILED = ("customers", "orders", "events", "contacts")  # the rest hold nothing per customer


def child_tile(times: int) -> None:
    """`duck_path(times M)`: the 1M DuckDB store `times` over, every id of copy k shifted by
    k times one past the table's largest id (customer ids in every table alike)."""
    import duckdb

    from rules_engine import store

    source, path = duck_path(ONE_MILLION), duck_path(times * ONE_MILLION)
    building = path.with_name(path.stem + ".tiling.duckdb")
    building.unlink(missing_ok=True)
    store.init_store(building)
    with duckdb.connect(str(building)) as conn:
        conn.execute(f"ATTACH '{source}' AS one (READ_ONLY)")
        people = _next_id(conn, "customers")
        for table in (*TILED, "channel_stats"):
            names = [name for name, _ in store.TABLES[table].columns]
            columns = ", ".join(f'"{n}"' for n in names)
            step = {"id": people if table == "customers" else _next_id(conn, table)}
            step["customer_id"] = people
            for k in range(times if table in TILED else 1):
                shifted = [f'"{n}" + {k * step[n]}' if n in step else f'"{n}"' for n in names]
                conn.execute(
                    f'INSERT INTO main."{table}" ({columns}) SELECT {", ".join(shifted)} '
                    f"FROM one.{table} ORDER BY rowid"
                )
            print(f"{table}: {conn.execute(f'SELECT count(*) FROM main.{table}').fetchall()}")
    building.rename(path)


def _next_id(conn: Any, table: str) -> int:
    """One past the largest id of a table of the 1M store (0 for one without ids)."""
    names = {row[0] for row in conn.execute(f"DESCRIBE one.{table}").fetchall()}
    if "id" not in names:
        return 0
    return int(conn.execute(f'SELECT coalesce(max("id"), 0) + 1 FROM one.{table}').fetchall()[0][0])


# `--cache-mb` past the default where DuckDB needs it: its limit is four times that, and 1 GB
# does not hold the intermediate tables of 10M customers (the plan stops, out of memory).
CACHE_MB = {10_000_000: 1024}


def cache_flag(db: str) -> list[str]:
    customers = next((n for n in CACHE_MB if Path(db) == duck_path(n)), None)
    return ["--cache-mb", str(CACHE_MB[customers])] if customers else []


def child_plan(db: str, out: str) -> None:
    """`campaign plan` through its click entry point, recording Plan.timings and the RSS as
    each stage starts (nothing else: the decisions are not made into objects)."""
    import rules_engine.execute as execute

    found: dict[str, Any] = {"memory": []}
    original = execute.plan_store

    def mark(line: str) -> None:
        found["memory"].append((line.split(":", 1)[0], resident_mb()))

    def recording(*args: Any, **kwargs: Any) -> Any:
        kwargs["progress"] = mark
        plan = original(*args, **kwargs)
        found["timings"] = dict(plan.timings)
        found["customers"] = plan.customers
        found["actions"] = sum(o.outcomes_counted()["action"] for o in plan.by_offer)
        return plan

    execute.plan_store = recording
    command = ["plan", str(RULES), "--db", db, "--as-of", AS_OF, "--quiet", *cache_flag(db)]
    run_command(command, found, out)


def plan_once(db: Path) -> dict[str, Any]:
    out = db.with_suffix(db.suffix + ".plan.json")
    command = [sys.executable, str(Path(__file__)), "--child", "--db", str(db), "--out", str(out)]
    result = measure(command, db.with_suffix(db.suffix + ".plan.log"))
    if result["exit"] != 0:
        sys.exit(f"plan on {db.name} failed; see {result['log']}")
    result.update(json.loads(out.read_text()))
    return result


def explain_once(db: Path, plan_file: Path | None = None) -> dict[str, Any]:
    """`campaign explain` of customer 1: deciding the whole store (the example rules' limits
    tie every customer to the others), or reading the decision from a plan file."""
    command = [*campaign_command(), "explain", str(RULES), "--db", str(db), "1", "--as-of", AS_OF]
    if plan_file is not None:
        command += ["--plan", str(plan_file)]
    suffix = ".explain-plan.log" if plan_file else ".explain.log"
    return measure(command, db.with_suffix(db.suffix + suffix))


EXPLAIN_RUNS = 7  # explain --plan runs after the first, for the median


def explain_again(db: Path, plan_file: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """`explain --plan` of customer 1 the first time (a cache folder of its own, so nothing
    is remembered: the rules are checked), then as an operator asking about one customer
    after another sees it: the engine's modules compiled (as an installed package has them;
    this machine sets PYTHONDONTWRITEBYTECODE), the checked rules remembered by the first
    run; the median of `EXPLAIN_RUNS` runs, with their range."""
    folder = CACHE / "explain-cache"
    shutil.rmtree(folder, ignore_errors=True)
    given = os.environ.get("CAMPAIGN_CACHE_DIR")
    os.environ["CAMPAIGN_CACHE_DIR"] = str(folder)
    try:
        first = explain_once(db, plan_file)
        environment = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        subprocess.run(
            [sys.executable, "-m", "compileall", "-q", str(ROOT / "rules_engine")],
            check=True,
            env=environment,
        )
        runs = sorted((explain_once(db, plan_file) for _ in range(EXPLAIN_RUNS)), key=_wall)
    finally:
        if given is None:
            del os.environ["CAMPAIGN_CACHE_DIR"]
        else:
            os.environ["CAMPAIGN_CACHE_DIR"] = given
    median = dict(runs[len(runs) // 2])
    median["walls"] = [r["wall"] for r in runs]
    return first, median


def _wall(result: dict[str, Any]) -> float:
    return float(result["wall"])


def plan_file_once(db: Path) -> tuple[dict[str, Any], Path]:
    """`campaign plan --out`: the plan file `explain --plan` reads."""
    out = db.with_suffix(db.suffix + ".plan-file.json")
    command = [*campaign_command(), "plan", str(RULES), "--db", str(db), "--as-of", AS_OF]
    result = measure([*command, "--out", str(out), "--quiet"], out.with_suffix(".log"))
    if result["exit"] != 0:
        sys.exit(f"plan --out on {db.name} failed; see {result['log']}")
    return result, out


def row(label: str, r: dict[str, Any]) -> str:
    stages = ", ".join(
        f"{k} {v:.1f}" for k, v in sorted(r.get("timings", {}).items(), key=lambda i: -i[1])
    )
    return (
        f"| {label} | {r['wall']:.1f} s | {r['cpu']:.1f} s | {r['rss_mb']:,.0f} MB | "
        f"{r['load_before']:.1f} → {r['load_after']:.1f} | {stages} |"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=os.environ.get("BENCH_DUCKDB_SIZES") or DEFAULT_SIZES)
    parser.add_argument("--no-sqlite", action="store_true", help="skip the SQLite plan at 1M")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--tile", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.tile:
        child_tile(args.tile)
        return 0
    if args.child:
        child_plan(args.db, args.out)
        return 0
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    info = machine()
    print(f"machine: {info['cpu']}, {info['cores']} cores, {info['ram_gb']} GB")
    results: dict[str, Any] = {"machine": info, "sizes": {}}
    lines = [
        "| run | wall | CPU | peak RSS | load before → after | stages (s) |",
        "|---|---:|---:|---:|---:|---|",
    ]
    failed = False
    for customers in sizes:
        made = ensure_duck(customers)
        entry: dict[str, Any] = {"made": made, "duckdb": plan_once(duck_path(customers))}
        lines.append(row(f"plan, DuckDB, {customers:,}", entry["duckdb"]))
        if made is not None:
            lines.append(row(f"· making the DuckDB store, {customers:,}", made))
        if customers == 1_000_000:
            if not args.no_sqlite:
                ensure_store(store_path(customers), customers)
                entry["sqlite"] = plan_once(store_path(customers))
                lines.append(row(f"plan, SQLite, {customers:,}", entry["sqlite"]))
                ratio = entry["duckdb"]["wall"] / entry["sqlite"]["wall"]
                entry["ratio_wall"] = ratio
                lines.append(f"| · DuckDB / SQLite wall | {ratio:.2f} | | | | |")
            entry["explain"] = explain_once(duck_path(customers))
            lines.append(row("explain 1, DuckDB, 1,000,000", entry["explain"]))
            entry["plan_file"], saved = plan_file_once(duck_path(customers))
            lines.append(row("plan --out, DuckDB, 1,000,000", entry["plan_file"]))
            first, again = explain_again(duck_path(customers), saved)
            entry["explain_plan_first"], entry["explain_plan"] = first, again
            lines.append(row("explain 1 --plan, DuckDB, 1,000,000, first", first))
            lines.append(
                row(f"explain 1 --plan, DuckDB, 1,000,000, median of {EXPLAIN_RUNS}", again)
            )
            walls = again["walls"]
            met = again["wall"] <= EXPLAIN_TARGET
            lines.append(
                f"| · target explain --plan ≤ {EXPLAIN_TARGET} s (median; runs "
                f"{walls[0]:.2f}–{walls[-1]:.2f} s) | {'met' if met else 'missed'} | | | | |"
            )
            failed |= not met
        if customers in TARGETS:
            seconds, peak = TARGETS[customers]
            ok = entry["duckdb"]["wall"] <= seconds and entry["duckdb"]["rss_mb"] <= peak
            lines.append(
                f"| · target ≤ {seconds:g} s, ≤ {peak:,.0f} MB | {'met' if ok else 'missed'} "
                "| | | | |"
            )
            failed |= not ok
        results["sizes"][str(customers)] = entry
    print("\n".join(lines))
    (CACHE / "duckplan.json").write_text(json.dumps(results, indent=1))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
