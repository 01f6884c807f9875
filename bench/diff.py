"""Diff benchmark: `campaign diff` of an offer-only change against one `campaign plan`.

Run: `make bench` (with the other benchmarks), or `.venv/bin/python bench/diff.py
[--customers N] [--runs N]` (`BENCH_CUSTOMERS`, `BENCH_RUNS`; default 1,000,000 customers and
one run). The demo store is the plan benchmark's (bench/cache/, built once, ~3 minutes at 1M).

- **plan**: `campaign plan rules/ --db STORE --as-of 2026-11-20T10:00:00+08:00 --quiet`.
- **diff, offer-only**: the rules with one offer added (a festival coupon at priority 92 in
  the win-back group, which takes customers from every win-back offer below it) against
  rules/ as they are: `campaign diff --db STORE HEAD --base-rules rules/ --format markdown`.
  Both sides share every metric and segment, so the diff pays for them once.
- **diff, segment change**: `churn_mid`'s window moved by ten days (informational): the
  aggregates are still shared, the layers of metrics and segments are not.

Each runs in a fresh process, plan and diffs alternating when `--runs` > 1 (the median of
each is reported). Target: the offer-only diff costs at most 1.5 x one plan, in wall time and in
CPU time. Exit 1 when it is missed or a command fails. Results are written to
bench/cache/diff-<size>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from plan import (  # type: ignore[import-not-found]  # noqa: E402
    AS_OF,
    CACHE,
    DEFAULT_CUSTOMERS,
    ROOT,
    RULES,
    campaign_command,
    ensure_store,
    measure,
    store_path,
    warm,
)

TARGET = 1.5
FESTIVAL = """
  festival_flash:
    description: "节日闪购 / Festival flash coupon"
    audience: lapsed
    priority: 92
    group: winback
    channels: [app_push, sms, email]
    content: tpl_festival_flash
    incentive: {type: coupon, value: 30, min_spend: 199, currency: CNY}
    cost: 3
    rank: monetary_365d
    max_actions: 8000
    holdout: "5%"
    cooldown: 14d
"""


def changed_rules(folder: Path) -> tuple[Path, Path]:
    """Two copies of rules/: one with an offer added, one with a segment's window moved."""
    offer = folder / "offer"
    shutil.copytree(RULES, offer)
    with (offer / "offers" / "seasonal.yaml").open("a", encoding="utf-8") as out:
        out.write(FESTIVAL)
    segment = folder / "segment"
    shutil.copytree(RULES, segment)
    segments = segment / "segments.yaml"
    text = segments.read_text(encoding="utf-8")
    moved = text.replace("30 < recency_days <= 90", "40 < recency_days <= 90", 1)
    if moved == text:
        sys.exit("bench/diff.py: churn_mid's condition is not in rules/segments.yaml any more")
    segments.write_text(moved, encoding="utf-8")
    return offer, segment


def median_of(runs: list[dict[str, Any]], key: str) -> float:
    return float(statistics.median(r[key] for r in runs))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    customers = int(os.environ.get("BENCH_CUSTOMERS") or DEFAULT_CUSTOMERS)
    parser.add_argument("--customers", type=int, default=customers)
    parser.add_argument("--runs", type=int, default=int(os.environ.get("BENCH_RUNS") or 1))
    args = parser.parse_args()
    db = store_path(args.customers)
    ensure_store(db, args.customers)
    print(f"store: {db.relative_to(ROOT)} ({args.customers:,} customers), as of {AS_OF}")
    print(f"  read once to warm the OS cache in {warm(db):.1f} s; load {os.getloadavg()[0]:.2f}")
    label = db.stem.removeprefix("demo-")
    campaign = campaign_command()
    common = ["--db", str(db), "--as-of", AS_OF, "--quiet"]
    runs: dict[str, list[dict[str, Any]]] = {"plan": [], "offer": [], "segment": []}
    with tempfile.TemporaryDirectory() as tmp:
        offer, segment = changed_rules(Path(tmp))
        commands = {"plan": [*campaign, "plan", str(RULES), *common]}
        for name, head in (("offer", offer), ("segment", segment)):
            out = ["--format", "markdown", "--out", str(CACHE / f"diff-{label}-{name}.md")]
            commands[name] = [
                *campaign,
                "diff",
                str(head),
                "--base-rules",
                str(RULES),
                *common,
                *out,
            ]
        for _ in range(max(1, args.runs)):
            for name, command in commands.items():
                print(f"  running {name} ...", flush=True)
                run = measure(command, CACHE / f"diff-{label}-{name}.log")
                if run["exit"] != 0:
                    print(f"  {name} failed (exit {run['exit']}); see {run['log']}")
                    return 1
                runs[name].append(run)
    plan_wall, plan_cpu = median_of(runs["plan"], "wall"), median_of(runs["plan"], "cpu")
    ok = True
    results: dict[str, Any] = {"customers": args.customers, "runs": runs}
    for name, what in (("offer", "an offer-only change"), ("segment", "a segment change")):
        wall, cpu = median_of(runs[name], "wall"), median_of(runs[name], "cpu")
        ratio_wall, ratio_cpu = wall / plan_wall, cpu / plan_cpu
        results[name] = {"wall_ratio": ratio_wall, "cpu_ratio": ratio_cpu}
        met = ratio_wall <= TARGET and ratio_cpu <= TARGET
        if name == "offer":
            ok = met
        print(
            f"diff of {what}: {wall:.1f} s wall, {cpu:.1f} s CPU = {ratio_wall:.2f}x / "
            f"{ratio_cpu:.2f}x one plan ({plan_wall:.1f} s wall, {plan_cpu:.1f} s CPU)"
            + (f"; target <= {TARGET}x: {'met' if met else 'MISSED'}" if name == "offer" else "")
        )
    (CACHE / f"diff-{label}.json").write_text(json.dumps(results, indent=1) + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
