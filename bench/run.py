"""Every benchmark of the project, one command: `make bench`."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

# validate.py: 500 rule files against 2 s; ruletest.py: 200 generated rule tests against
# 20 s; plan.py: `campaign plan` on a 1M-customer demo store
# (built once into bench/cache/, ~3 minutes; BENCH_CUSTOMERS=100000 for a quick run); diff.py:
# `campaign diff` of an offer-only change on the same store against one plan; stores.py: that
# store copied to DuckDB, and its orders pass in each engine; duckplan.py: `campaign plan` and
# `explain` on that DuckDB copy against SQLite, and plan on DuckDB stores of 100,000 and
# 1,000,000 customers (BENCH_DUCKDB_SIZES=100000,1000000,10000000 adds 10M, built once).
BENCHMARKS = ["validate.py", "ruletest.py", "plan.py", "diff.py", "stores.py", "duckplan.py"]

if __name__ == "__main__":
    failed = 0
    for name in BENCHMARKS:
        print(f"== {name}")
        try:
            runpy.run_path(str(Path(__file__).with_name(name)), run_name="__main__")
        except SystemExit as exc:
            failed += bool(exc.code)
    sys.exit(1 if failed else 0)
