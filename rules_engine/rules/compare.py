"""What changed between two checked rule sets, rule by rule.

Rules are compared as the engine read them, not as text: an expression is its parsed tree
without positions (`x>1` and `x > 1` are the same rule), a rule moved to another file or
re-indented is unchanged, and values that mean the same (`holdout: "10%"` and `0.1`) are
equal. A description is part of its rule: changing one changes the rule (not its decisions).
"""

from __future__ import annotations

from dataclasses import dataclass, fields, is_dataclass
from typing import Any, Literal

from ..expr.nodes import Node
from ..sql.compile import canonical
from .model import Calendar, Expression, RuleSet

Change = Literal["added", "removed", "changed"]
SECTIONS = ("metrics", "segments", "channels", "offers", "tests")


@dataclass(frozen=True)
class RuleChange:
    section: str
    id: str
    change: Change


def definition(value: Any) -> Any:
    """A value without where it was written: spans and expression texts left out."""
    if isinstance(value, Expression):
        return ("expression", canonical(value.node), value.type)
    if isinstance(value, Node):
        return canonical(value)
    if is_dataclass(value) and not isinstance(value, type):
        return (
            type(value).__name__,
            tuple(
                (f.name, definition(getattr(value, f.name)))
                for f in fields(value)
                if f.name != "span"
            ),
        )
    if isinstance(value, dict):
        return tuple(sorted((str(k), definition(v)) for k, v in value.items()))
    if isinstance(value, list | tuple):
        return tuple(definition(v) for v in value)
    return value


def _compared(base: dict[str, Any], head: dict[str, Any], section: str) -> list[RuleChange]:
    found = []
    for rule_id in sorted(base.keys() | head.keys()):
        if rule_id not in base:
            found.append(RuleChange(section, rule_id, "added"))
        elif rule_id not in head:
            found.append(RuleChange(section, rule_id, "removed"))
        elif definition(base[rule_id]) != definition(head[rule_id]):
            found.append(RuleChange(section, rule_id, "changed"))
    return found


def _settings(calendar: Calendar) -> dict[str, Any]:
    """The calendar's settings by name, those left at their default out (absent)."""
    default = Calendar()
    return {
        f.name: getattr(calendar, f.name)
        for f in fields(calendar)
        if getattr(calendar, f.name) != getattr(default, f.name)
    }


def rule_changes(base: RuleSet, head: RuleSet) -> list[RuleChange]:
    """Every rule that differs, per section (metrics, segments, channels, offers, tests, then
    each calendar setting and each declared store table), ids in order."""
    found: list[RuleChange] = []
    for section in SECTIONS:
        found += _compared(getattr(base, section), getattr(head, section), section)
    found += _compared(_settings(base.calendar), _settings(head.calendar), "calendar")
    found += _compared(base.schema.tables, head.schema.tables, "store")
    return found
