"""Every number in a rule file is finite: NaN and infinity are refused where they are written,
and a budget never lets through a sum that is not a finite number."""

from __future__ import annotations

import copy

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rules_engine.rules.check import check
from rules_engine.rules.model import Budget
from tests.test_plan import BASE

NON_FINITE = st.sampled_from(
    [".nan", ".NaN", ".NAN", ".inf", ".Inf", "-.inf", "+.INF", "1e999", "-1e400", "1.5e309"]
)
TOO_BIG = st.integers(2**63, 10**30).map(str) | st.integers(-(10**30), -(2**63) - 1).map(str)
PLACES = [
    ("channels", "email", "cost"),
    ("offers", "hello", "cost"),
    ("offers", "hello", "priority"),
    ("offers", "hello", "max_actions"),
    ("offers", "hello", "holdout"),
]


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.one_of(NON_FINITE, TOO_BIG), st.sampled_from([*PLACES, ("budget",)]))
def test_numbers_a_rule_cannot_use_are_refused_where_written(
    tmp_path_factory: pytest.TempPathFactory, number: str, place: tuple[str, ...]
) -> None:
    rules = copy.deepcopy(BASE)
    if place == ("budget",):
        rules["offers"]["hello"]["budget"] = {"total": "NUMBER"}
    else:
        section, rule, key = place
        rules[section][rule][key] = "NUMBER"
    text = yaml.safe_dump(rules).replace("NUMBER", number)
    folder = tmp_path_factory.mktemp("nan")
    (folder / "rules.yaml").write_text(text)
    result = check([folder])
    line = next(i for i, row in enumerate(text.splitlines(), 1) if number in row)
    col = text.splitlines()[line - 1].index(number) + 1
    found = [(p.code, p.span.line, p.span.col) for p in result.errors]
    # NaN and infinity are number-out-of-range; whole numbers beyond 64 bits value-too-large
    code = "value-too-large" if number.lstrip("-").isdigit() else "number-out-of-range"
    assert (code, line, col) in found, found


@pytest.mark.parametrize("spent", [float("nan"), float("inf"), 1e308])
def test_a_sum_that_is_not_finite_never_fits_a_budget(spent: float) -> None:
    budget = Budget(total=100.0, reserve=0.1)
    assert budget.fits(0.0, 90.0) and not budget.fits(0.0, 90.5)
    assert not budget.fits(spent, 1e308 if spent == 1e308 else 1.0)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_the_model_refuses_money_that_is_not_finite(value: float) -> None:
    with pytest.raises(ValueError, match="finite"):
        Budget(total=value)
    with pytest.raises(ValueError, match="finite"):
        Budget(total=100.0, reserve=value)
