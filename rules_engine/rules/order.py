"""Dependency order of metrics and segments: each rule after the rules it uses.

Validation orders the rules as they are resolved (and reports any circle), the compiler and the
Python oracle order the checked rule set: all with `topological`, so they agree.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from ..expr.nodes import Name, Node, walk
from .model import RuleSet


def topological(
    deps: Mapping[str, Iterable[str]],
    on_cycle: Callable[[list[str]], None] | None = None,
) -> list[str]:
    """Every key of `deps` after the keys it depends on (names that are not keys are left out),
    depth first in the order of `deps`, each rule's dependencies by name. A circle is given to
    `on_cycle` (from the rule where it closes back to that rule) and otherwise passed over."""
    order: list[str] = []
    state: dict[str, int] = {}  # 1: on the path, 2: done
    stack: list[str] = []

    def visit(name: str) -> None:
        state[name] = 1
        stack.append(name)
        for dep in sorted(deps.get(name, ())):
            if dep not in deps:
                continue
            if state.get(dep) == 1:
                if on_cycle is not None:
                    on_cycle([*stack[stack.index(dep) :], dep])
            elif dep not in state:
                visit(dep)
        stack.pop()
        state[name] = 2
        order.append(name)

    for name in deps:
        if name not in state:
            visit(name)
    return order


def dependencies(rules: RuleSet) -> dict[str, tuple[str, ...]]:
    """The metrics and segments each metric or segment uses (aggregates use none: a `from:`
    rule sees only columns)."""
    nodes: dict[str, Node] = {m.id: m.value.node for m in rules.metrics.values() if not m.table}
    nodes.update({s.id: s.where.node for s in rules.segments.values()})
    known = rules.metrics.keys() | rules.segments.keys()
    found: dict[str, tuple[str, ...]] = dict.fromkeys(rules.metrics, ())
    for name, node in nodes.items():
        names = {n.name for n in walk(node) if isinstance(n, Name)}
        found[name] = tuple(sorted(names & known))
    return found


def dependency_order(rules: RuleSet) -> list[str]:
    """Every metric and segment of a checked rule set, each after the rules it uses."""
    return topological(dependencies(rules))
