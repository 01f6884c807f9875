"""`campaign run` on the same demo store in both formats: CPU, wall and peak RSS of each.

    .venv/bin/python bench/runs.py [--customers N] [--folder DIR]

Builds the SQLite demo store (`campaign demo-data`, seed 1) and its DuckDB copy (`campaign store
copy`) in DIR once (default bench/cache/, where the logs go), then runs `campaign run` of the
example rules once per format on a fresh copy of each (a run writes), in a fresh process, and
checks that both committed the same actions, audit rows and channel exits. Results go to
DIR/runs-<size>.json.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from plan import AS_OF, CACHE, campaign_command, machine, measure  # type: ignore[import-not-found]  # noqa: E402

ENGINE_TABLES = {
    "actions": ("customer_id", "offer_id"),
    "audit": ("customer_id", "offer_id"),
    "channel_exits": ("customer_id", "channel", "exited_at"),
}


def digest(path: Path) -> dict[str, str]:
    """A digest of each engine table's rows in key order (booleans as 0/1), either format."""
    from rules_engine import store

    found = {}
    with store.closing_any(path) as conn:
        for table, keys in ENGINE_TABLES.items():
            order = ", ".join(f'"{k}"' for k in keys)
            rows = conn.execute(f'SELECT * FROM "{table}" ORDER BY {order}').fetchall()
            clean = [tuple(int(v) if isinstance(v, bool) else v for v in r) for r in rows]
            found[table] = (
                f"{len(clean)} rows, {hashlib.sha256(repr(clean).encode()).hexdigest()[:16]}"
            )
    return found


def ensure(command: list[str], target: Path) -> None:
    if target.exists():
        return
    result = measure(command, CACHE / f"{target.name}.log")
    if result["exit"] != 0:
        sys.exit(f"{' '.join(command)} failed; see {result['log']}")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--folder", type=Path, default=CACHE)
    args = parser.parse_args()
    folder: Path = args.folder.resolve()
    folder.mkdir(parents=True, exist_ok=True)
    CACHE.mkdir(parents=True, exist_ok=True)  # the logs
    size = f"{args.customers // 1000}k"
    sqlite_path, duck_path = folder / f"runs-{size}.db", folder / f"runs-{size}.duckdb"
    campaign = campaign_command()
    ensure(
        [*campaign, "demo-data", str(sqlite_path), "--customers", str(args.customers), "--quiet"],
        sqlite_path,
    )
    ensure([*campaign, "store", "copy", str(sqlite_path), str(duck_path)], duck_path)
    results: dict[str, Any] = {"customers": args.customers, "machine": machine()}
    for engine, source in (("sqlite", sqlite_path), ("duckdb", duck_path)):
        target = folder / f"run-target{source.suffix}"
        shutil.copyfile(source, target)
        command = [*campaign, "run", "rules", "--db", str(target), "--run-key", "bench"]
        log = CACHE / f"runs-{engine}.log"
        results[engine] = measure([*command, "--as-of", AS_OF, "--quiet"], log)
        if results[engine]["exit"] != 0:
            sys.exit(f"the {engine} run failed; see {log}")
        results[engine]["rows"] = digest(target)
        target.unlink()
    same = results["sqlite"]["rows"] == results["duckdb"]["rows"]
    results["same_rows"] = same
    (folder / f"runs-{size}.json").write_text(json.dumps(results, indent=2))
    print(f"campaign run at {args.customers:,} customers (load {os.getloadavg()[0]:.1f})")
    for engine in ("sqlite", "duckdb"):
        r = results[engine]
        print(
            f"  {engine}: {r['wall']:.1f} s wall, {r['cpu']:.1f} s CPU, peak {r['rss_mb']:.0f} MB"
            f" (load {r['load_before']:.1f} before, {r['load_after']:.1f} after)"
        )
    print(f"  rows: {results['sqlite']['rows']}; the same in both formats: {same}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
