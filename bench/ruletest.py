"""Rule test speed: 200 generated rule tests on the example rules, against a 20 s target.

The tests are made from the example rule set's own tests (`rules/tests/`), each copied under
new ids until there are 200, so every one of them passes and they cover single runs and
time travel alike. Run: `make bench` (or `.venv/bin/python bench/ruletest.py`). Prints the
time to check the rules and to run the tests, the CPU time, and the ratio to the target.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import yaml

from rules_engine.rules.check import check
from rules_engine.ruletest import run_tests

ROOT = Path(__file__).parents[1]
TESTS = 200
TARGET_SECONDS = 20.0


def generate(folder: Path, count: int) -> int:
    """The example rules without their tests, and `count` copies of those tests."""
    shutil.copytree(ROOT / "rules", folder, ignore=shutil.ignore_patterns("tests"))
    templates: dict[str, object] = {}
    for path in sorted((ROOT / "rules" / "tests").glob("*.yaml")):
        templates.update(yaml.safe_load(path.read_text(encoding="utf-8"))["tests"])
    names = list(templates)
    generated = {
        f"{names[i % len(names)]}_{i}": templates[names[i % len(names)]] for i in range(count)
    }
    text = yaml.safe_dump({"tests": generated}, allow_unicode=True, sort_keys=False)
    (folder / "generated_tests.yaml").write_text(text, encoding="utf-8")
    return len(generated)


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "rules"
        count = generate(folder, TESTS)
        cpu = time.process_time()
        started = time.perf_counter()
        checked = check([folder])
        checking = time.perf_counter() - started
        if checked.errors:
            print(f"the generated rules have {len(checked.errors)} error(s)", file=sys.stderr)
            return 1
        run = run_tests(checked.rules)
        total = time.perf_counter() - started
        cpu = time.process_time() - cpu
    failed = len(run.results) - run.count("passed")
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
    print(
        f"{count} rule tests ({sum(len(r.test.steps) for r in run.results)} steps): "
        f"check {checking:.2f} s, tests {run.seconds:.2f} s "
        f"({1000 * run.seconds / count:.0f} ms a test), total {total:.2f} s, CPU {cpu:.2f} s"
    )
    print(f"target {TARGET_SECONDS:.0f} s: {total / TARGET_SECONDS:.2f}x; {failed} not passed")
    return 0 if failed == 0 and total <= TARGET_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main())
