"""The package's shape: no import cycle, records that import no stage, one registry of problem
codes that the docs explain, one dependency order."""

from __future__ import annotations

import ast
import importlib
import itertools
import re
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from rules_engine.errors import PROBLEM_CODES, UNREADABLE, Problem, Severity, Span, exit_code
from rules_engine.rules.order import topological

ROOT = Path(__file__).parents[1]
PACKAGE = ROOT / "rules_engine"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_at_load(path: Path) -> set[str]:
    """The package modules `path` imports when it is loaded (not those imported inside a
    function, nor under TYPE_CHECKING)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("rules_engine")}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            if target.startswith("rules_engine"):
                found.add(target)
                found |= {f"{target}.{a.name}" for a in node.names}
    return found


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}
GRAPH = {
    name: {m for m in imports_at_load(path) if m in MODULES and m != name}
    for name, path in MODULES.items()
}


def test_no_module_imports_itself_through_others() -> None:
    cycles = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(name: str) -> None:
        state[name] = 1
        stack.append(name)
        for dep in sorted(GRAPH[name]):
            if state.get(dep) == 1:
                cycles.append([*stack[stack.index(dep) :], dep])
            elif dep not in state:
                visit(dep)
        stack.pop()
        state[name] = 2

    for name in sorted(GRAPH):
        if name not in state:
            visit(name)
    assert cycles == []


def test_the_walk_sees_imports() -> None:
    assert "rules_engine.decide.records" in GRAPH["rules_engine.decide.allocate"]
    assert "rules_engine.rules.model" in GRAPH["rules_engine.rules.resolve"]


def test_the_records_import_no_stage() -> None:
    assert GRAPH["rules_engine.decide.records"] == set()


DOCS = {
    "load": "load",
    "schema": "schema",
    "expressions": "expressions",
    "limits": "limits",
    "sqlite": "limits",
}  # others: rules.md


def test_every_problem_code_is_registered_once_and_explained_in_the_docs() -> None:
    registered = [code for codes in PROBLEM_CODES.values() for code in codes]
    assert len(registered) == len(set(registered))
    documented: dict[str, list[str]] = {}
    for stage, codes in PROBLEM_CODES.items():
        documented.setdefault(DOCS.get(stage, "rules"), []).extend(codes)
    for name, codes in documented.items():
        text = (ROOT / "docs" / "problems" / f"{name}.md").read_text(encoding="utf-8")
        headings = re.findall(r"^## ([a-z][a-z0-9-]*)", text, flags=re.M)
        assert sorted(headings) == sorted(codes), name
    assert set(UNREADABLE) <= set(PROBLEM_CODES["load"])


def test_each_stage_reports_the_codes_of_its_entry() -> None:
    stages = {
        name: importlib.import_module(f"rules_engine.{name}")
        for name in ("rules.load", "rules.schema", "expr.typecheck", "rules.calendar_checks")
    }
    resolve = importlib.import_module("rules_engine.rules.resolve")
    load, schema = stages["rules.load"], stages["rules.schema"]
    typecheck, calendar_checks = stages["expr.typecheck"], stages["rules.calendar_checks"]

    assert load.CODES is PROBLEM_CODES["load"] and schema.CODES is PROBLEM_CODES["schema"]
    assert typecheck.CODES is PROBLEM_CODES["expressions"]
    assert calendar_checks.CODES is PROBLEM_CODES["calendar"]
    tests = importlib.import_module("rules_engine.ruletest.checks")
    assert tests.CODES is PROBLEM_CODES["tests"]
    merged = PROBLEM_CODES["rules"] | PROBLEM_CODES["calendar"] | PROBLEM_CODES["tests"]
    assert merged == resolve.CODES


def test_every_code_the_engine_reports_is_registered() -> None:
    """Problems are made with the code as a literal: every literal shaped like a code, in a
    module that makes problems, is one."""
    registered = {code for codes in PROBLEM_CODES.values() for code in codes}
    shaped = re.compile(
        r'"((?:expr|yaml|file|schema|calendar|unknown|duplicate|variant|holdout)-[a-z0-9-]+)"'
    )
    found = set()
    for path in PACKAGE.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        if "Problem(" in text or "self.report(" in text or "self.error(" in text:
            found |= set(shaped.findall(text))
    assert found and found - registered == set()


def problem(code: str, severity: Severity = Severity.ERROR) -> Problem:
    return Problem(Span("rules.yaml", 1, 1), code, "message", severity=severity)


def test_the_exit_code_policy() -> None:
    warning = problem("ambiguous-priority", Severity.WARNING)
    assert exit_code([]) == 0
    assert exit_code([warning]) == 0
    assert exit_code([warning], strict=True) == 1
    assert exit_code([problem("cycle"), warning]) == 1
    assert exit_code([problem("cycle"), problem("yaml-syntax")]) == 2


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from("abcdefgh"), st.sets(st.sampled_from("abcdefghxy"))))
def test_the_dependency_order_puts_each_rule_after_what_it_uses_or_reports_a_circle(
    deps: dict[str, set[str]],
) -> None:
    circles: list[list[str]] = []
    order = topological(deps, circles.append)
    assert sorted(order) == sorted(deps)
    position = {name: i for i, name in enumerate(order)}
    backwards = [
        (name, dep)
        for name, uses in deps.items()
        for dep in uses
        if dep in deps and position[dep] > position[name]
    ]
    for circle in circles:
        assert circle[0] == circle[-1]
        assert all(b in deps[a] for a, b in itertools.pairwise(circle))
    if not circles:
        assert backwards == []
