# Two commands matter: `make demo` (set up, build the demo store, validate and plan the example
# rules on it) and `make test` (lint, types, the whole test suite). Both create .venv themselves.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
DEMO_DB ?= demo/demo.db
DEMO_CUSTOMERS ?= 100000
# The demo store's history ends 2026-11-20; plan and validate it as of that morning.
DEMO_AS_OF ?= 2026-11-20T10:00:00+08:00
STAMP := $(VENV)/.installed
# The YAML language server editors use, for tests/test_editor.py (needs Node.js and npm).
EDITOR_TOOLS := tools/editor
EDITOR_STAMP := $(EDITOR_TOOLS)/node_modules/.installed

.PHONY: demo test test-long golden lint fmt bench clean editor-tools

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "make: $(PYTHON) not found; install Python 3.11 or run 'make PYTHON=python3 ...'"; exit 2; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

$(DEMO_DB): $(STAMP) rules_engine/demo.py
	@mkdir -p $(dir $(DEMO_DB))
	$(BIN)/campaign demo-data $(DEMO_DB) --customers $(DEMO_CUSTOMERS) --seed 1

demo: $(DEMO_DB)
	$(BIN)/campaign validate rules/ --db $(DEMO_DB) --as-of $(DEMO_AS_OF)
	$(BIN)/campaign plan rules/ --db $(DEMO_DB) --as-of $(DEMO_AS_OF) --json demo/plan.json

# `campaign results` on the demo: a run on a copy of the demo store, then 14 days of simulated
# orders after it (treated customers buy more often), then the measured lift.
demo-results: $(DEMO_DB)
	cp $(DEMO_DB) demo/results.db
	$(BIN)/campaign init-store demo/results.db
	$(BIN)/campaign run rules/ --db demo/results.db --run-key demo-results --as-of $(DEMO_AS_OF) --quiet
	$(BIN)/python -m rules_engine.demo_outcomes demo/results.db demo-results --days 14
	$(BIN)/campaign results --db demo/results.db --run-key demo-results --days 14

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

fmt: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

test: lint editor-tools
	$(BIN)/python -m pytest -q

# yaml-language-server at the version tools/editor/package-lock.json pins, when Node is here;
# without Node the editor test is skipped (outside CI), so `make test` still runs everything else.
editor-tools:
	@if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then \
		$(MAKE) --no-print-directory $(EDITOR_STAMP); \
	else \
		echo "make: node or npm not found: tests/test_editor.py will be skipped"; \
	fi

$(EDITOR_STAMP): $(EDITOR_TOOLS)/package.json $(EDITOR_TOOLS)/package-lock.json
	npm ci --prefix $(EDITOR_TOOLS) --no-audit --no-fund --loglevel=error
	@touch $(EDITOR_STAMP)

# Rewrite the golden files (tests/golden/: generated SQL, plan text and JSON, explain, validate)
# from the code as it is; only for a change meant to change that output, and review the diff.
golden: $(STAMP)
	UPDATE_GOLDEN=1 $(BIN)/python -m pytest -q tests/test_golden.py

# The property tests with many more examples (minutes, not seconds): SQL against Python, and
# the allocation over arrays against the one-candidate-at-a-time allocator.
test-long: $(STAMP)
	DIFFERENTIAL_EXAMPLES=20000 $(BIN)/python -m pytest -q tests/test_differential.py
	ALLOCATE_EXAMPLES=5000 $(BIN)/python -m pytest -q tests/test_allocate_arrays.py
	RULETEST_EXAMPLES=500 $(BIN)/python -m pytest -q tests/test_ruletest_property.py
	HOSTILE_EXAMPLES=2000 $(BIN)/python -m pytest -q tests/test_hostile.py
	$(BIN)/python -m pytest -q -m slow

# Every benchmark (bench/run.py): validation of 500 rule files, 200 generated rule tests
# (`campaign test`, against 20 s), then `campaign plan` on a
# 1,000,000-customer demo store (built once into bench/cache/, ~3 min; the plan benchmark takes
# ~15 min). `make bench BENCH_CUSTOMERS=100000` for a quick run; results in bench/RESULTS.md.
bench: $(STAMP)
	BENCH_CUSTOMERS=$(BENCH_CUSTOMERS) BENCH_SAMPLE=$(BENCH_SAMPLE) $(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) demo .pytest_cache .mypy_cache .ruff_cache $(EDITOR_TOOLS)/node_modules
