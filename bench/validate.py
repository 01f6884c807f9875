"""Validation speed: 500 generated rule files (about 5,000 rules), all checks, against a 2 s target.

Run: `make bench` (or `.venv/bin/python bench/validate.py`). Prints the time of each stage and
the ratio to the target; `bench/RESULTS.md` records results with the machine.
"""

from __future__ import annotations

import ast
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

from rules_engine.rules.check import check
from rules_engine.rules.load import load_paths
from rules_engine.rules.schema import Shapes, check_document

FILES = 500
TARGET_SECONDS = 2.0
RUNS = 3  # the median is reported: this machine's timings vary by a third from run to run

TEMPLATE = """\
# yaml-language-server: $schema=../schemas/rules.schema.json
metrics:
  f{i}_spend:
    description: 近一年消费 / Spend in the last 365 days
    from: orders
    where: status == "completed" and ordered_at >= days_ago(365)
    value: sum(amount)
    default: 0
  f{i}_last_order_at:
    from: orders
    where: status == "completed"
    value: max(ordered_at)
  f{i}_quintile:
    value: ntile(5, f{i}_spend)
segments:
  f{i}_high:
    description: 高价值 / High value
    where: f{i}_quintile >= 4 or member_tier in ("gold", "diamond")
  f{i}_lapsed:
    where: 30 < days_since(f{i}_last_order_at) <= 90
  f{i}_target:
    where: f{i}_high and f{i}_lapsed and city != "上海"
channels:
  f{i}_email:
    address: email
    consent: email_opt_in
    cost: 0.02
    quiet_hours: {{start: "21:00", end: "09:00"}}
offers:
  f{i}_winback:
    audience: f{i}_target
    exclude: f{i}_spend > 100000
    priority: {i}
    group: f{i}_group
    channels: [f{i}_email]
    content: tpl_{i}
    incentive: {{type: coupon, value: 50, min_spend: 300}}
    rank: f{i}_spend
    budget: {{total: 10000, reserve: "10%"}}
    holdout: "10%"
    cooldown: 30d
    send_at: "10:00"
  f{i}_nudge:
    audience: f{i}_lapsed and not f{i}_high
    channels: [f{i}_email]
    content: tpl_nudge_{i}
"""


def calibration() -> float:
    """Microseconds for Python to parse one typical expression: this machine's speed right now.

    The VM this project is measured on runs the same code at very different speeds from minute
    to minute (24.8 µs and 42.6 µs for this very call, minutes apart); print it beside results.
    """
    text = 'f1_quintile >= 4 or member_tier in ("gold", "diamond")'
    started = time.perf_counter()
    for _ in range(20_000):
        ast.parse(text)
    return (time.perf_counter() - started) / 20_000 * 1e6


def main() -> int:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        for i in range(FILES):
            (root / f"rules_{i:03}.yaml").write_text(TEMPLATE.format(i=i), encoding="utf-8")
        rules = FILES * 10
        started = time.perf_counter()
        documents, _ = load_paths([root])
        loaded = time.perf_counter()
        shapes = Shapes()  # as a check does: rules of a shape already seen valid are skipped
        for doc in documents:
            check_document(doc, shapes)
        schema_done = time.perf_counter()
        del documents
        runs = []
        for _ in range(RUNS):
            cpu = time.process_time()
            started_check = time.perf_counter()
            result = check([root])
            runs.append((time.perf_counter() - started_check, time.process_time() - cpu))
        total, cpu = sorted(runs)[RUNS // 2]
    assert not result.errors, result.errors[:3]
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    print(f"machine: {machine}; speed now: ast.parse of one expression {calibration():.1f} µs")
    print(f"{FILES} files, {rules} rules")
    print(f"  load only      {loaded - started:6.3f} s")
    print(f"  schema only    {schema_done - loaded:6.3f} s")
    ratio = total / TARGET_SECONDS
    print(
        f"  all checks     {total:6.3f} s   target {TARGET_SECONDS:.1f} s   {ratio:.2f}x the target"
    )
    print(f"  (median of {RUNS} runs: {', '.join(f'{w:.3f}' for w, _ in runs)} s; CPU {cpu:.3f} s)")
    return 0 if total <= TARGET_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main())
