"""Campaign rules engine: YAML campaign rules, checked, planned and run against a customer store.

Every `campaign` command is one of these calls (each has its own docstring):

- `check(paths, db=, as_of=)`: check rule files (against a store's schema with `db`); a
  `CheckResult` with every problem and the rule set. `load_rules`: the rule set, or
  `RulesInvalid` carrying the errors.
- `plan(db, rules, as_of)`: the dry run on a store opened read-only, a `Plan`;
  `plan_on(conn, rules, as_of, namespace=)` the same on an open connection, where plans in
  different namespaces run side by side.
- `run(db, rules, as_of, run_key)`: decide and commit one run, a `RunResult`.
- `explain(db, rules, as_of, customer_id)`: why one customer gets what they get.
- `metrics(db, rules, as_of, out)`: every customer's metrics and segments to CSV or JSONL.
- `diff_rules(db, rules, as_of, base_ref= | base_rules=)`: two rule sets planned and compared;
  `results_store(db, run_key)`: a committed run measured against its control groups.
- `init_store(path)`, `demo_store(path, customers=, seed=)`, `schema_text()`.
- `plan_text(plan, digest=)`, `plan_json(plan, digest=)` with `rules_digest(rules.files)`,
  and `parse_as_of(text)` for the as-of instant.

The package follows the pipeline: `rules/` (rule files to a checked rule set), `expr/` (the
expression language, in Python and SQL), `sql/` (the rule set as SQL), `decide/` (records,
send times, the allocation), `reference/` (the rules in Python: the oracle, explain),
`measure/` (a committed run against its control groups),
`backends/` (the stores), `report/` (what people and machines read), `cli` (the command).
Importing this package loads none of them; each name loads its module on first use.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name → (module, name in that module)
_EXPORTS: dict[str, tuple[str, str]] = {
    "check": (".rules.check", "check"),
    "load_rules": (".rules.check", "load_rules"),
    "CheckResult": (".rules.check", "CheckResult"),
    "RuleSet": (".rules.model", "RuleSet"),
    "plan": (".execute", "plan_store"),
    "plan_on": (".execute", "plan"),
    "Plan": (".execute", "Plan"),
    "run": (".backends.writer", "run_store"),
    "rules_digest": (".backends.writer", "rules_digest"),
    "explain": (".reference.explain", "explain_store"),
    "metrics": (".execute", "values_store"),
    "diff_rules": (".diff_run", "diff_rules"),
    "results_store": (".measure.results", "results_store"),
    "init_store": (".store", "init_store"),
    "demo_store": (".demo", "build_demo_store"),
    "schema_text": (".rules.schema", "schema_text"),
    "plan_text": (".report.render", "plan_text"),
    "plan_json": (".report.render", "plan_json"),
    "parse_as_of": (".times", "parse_as_of"),
    "Problem": (".errors", "Problem"),
    "CampaignError": (".errors", "CampaignError"),
    "RulesInvalid": (".errors", "RulesInvalid"),
}

__all__ = [
    "CampaignError",
    "CheckResult",
    "Plan",
    "Problem",
    "RuleSet",
    "RulesInvalid",
    "check",
    "demo_store",
    "diff_rules",
    "explain",
    "init_store",
    "load_rules",
    "metrics",
    "parse_as_of",
    "plan",
    "plan_json",
    "plan_on",
    "plan_text",
    "results_store",
    "rules_digest",
    "run",
    "schema_text",
]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'rules_engine' has no attribute {name!r}")
    module, attribute = _EXPORTS[name]
    value = getattr(import_module(module, __name__), attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})


if TYPE_CHECKING:
    from .backends.writer import rules_digest
    from .backends.writer import run_store as run
    from .demo import build_demo_store as demo_store
    from .diff_run import diff_rules
    from .errors import CampaignError, Problem, RulesInvalid
    from .execute import Plan
    from .execute import plan as plan_on
    from .execute import plan_store as plan
    from .execute import values_store as metrics
    from .measure.results import results_store
    from .reference.explain import explain_store as explain
    from .report.render import plan_json, plan_text
    from .rules.check import CheckResult, check, load_rules
    from .rules.model import RuleSet
    from .rules.schema import schema_text
    from .store import init_store
    from .times import parse_as_of
