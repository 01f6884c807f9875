"""On DuckDB too, plan decides what it decides on SQLite and explain never contradicts it:
random small stores and rule sets (those of test_explain_plan: shared limits, groups,
holdouts, caps) are planned on a SQLite store and on its DuckDB copy, and every customer is
explained on the copy by the one-customer path and the Python reference allocator."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings

from rules_engine.execute import plan_store
from rules_engine.reference.explain import explain_store
from rules_engine.rules.check import load_rules
from rules_engine.storecopy import copy_store
from tests.test_explain_plan import _shape, shops
from tests.test_plan import AS_OF, store_with


@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(shops())
def test_duckdb_plans_as_sqlite_and_explains_its_own_plan(
    tmp_path_factory: pytest.TempPathFactory,
    shop: tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]],
) -> None:
    rules_doc, customers, contacts = shop
    tmp = tmp_path_factory.mktemp("shop")
    (tmp / "rules").mkdir()
    (tmp / "rules" / "rules.yaml").write_text(yaml.safe_dump(rules_doc))
    db = store_with(tmp / "store.db", customers=customers, contacts=contacts)
    duck = tmp / "store.duckdb"
    copy_store(db, duck)
    planned = {}
    for path in (db, duck):
        rules = load_rules([tmp / "rules"], db=path, as_of=AS_OF)
        decisions = plan_store(path, rules, AS_OF).decisions
        planned[path.suffix] = {(d.customer_id, d.offer_id): _shape(d) for d in decisions}
    assert planned[".duckdb"] == planned[".db"], rules_doc
    for customer in customers:
        explained = explain_store(duck, rules, AS_OF, customer["id"])
        got = {
            (customer["id"], line.id): _shape(line.decision)
            for line in explained.offers
            if line.decision is not None
        }
        expected = {k: v for k, v in planned[".duckdb"].items() if k[0] == customer["id"]}
        assert got == expected, (customer, rules_doc)
