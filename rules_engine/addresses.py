"""Addresses are personal data: where the engine would show or write them, and how not to.

An address column is one a channel reaches customers by (its `address:`) or a canonical one
(`email`, `phone`, `push_token`, `wechat_openid`). `explain` masks their values unless asked
(`--show-addresses`); `metrics --out` refuses a metric whose value is an address unless asked
(`--with-addresses`), and files that hold addresses are created readable by their owner only.
"""

from __future__ import annotations

import re

from .errors import CampaignError
from .expr.nodes import Name, walk
from .rules.model import RuleSet

CANONICAL = frozenset({"email", "phone", "push_token", "wechat_openid"})
HIDDEN = "(address hidden: --show-addresses shows it)"


class AddressesRefused(CampaignError):
    """Addresses would be written without being asked for."""

    exit_code = 1


def address_columns(rules: RuleSet) -> frozenset[str]:
    return CANONICAL | {c.address for c in rules.channels.values() if c.address}


def address_metrics(rules: RuleSet) -> list[str]:
    """Text metrics whose value is read from an address column (directly or through other
    metrics), in rule-file order."""
    columns = address_columns(rules)
    found: set[str] = set()
    for name in rules.metric_order:
        metric = rules.metrics[name]
        if metric.type != "text":
            continue
        for node in walk(metric.value.node):
            if isinstance(node, Name) and (
                (node.kind in ("column", "related") and node.name in columns)
                or (node.kind == "metric" and node.name in found)
            ):
                found.add(name)
                break
    return [name for name in rules.metrics if name in found]


def refuse_unasked(rules: RuleSet, with_addresses: bool) -> bool:
    """Whether the metrics export holds addresses; refused when they were not asked for."""
    holding = address_metrics(rules)
    if holding and not with_addresses:
        raise AddressesRefused(
            f"metric(s) {', '.join(holding)} hold addresses; add --with-addresses to write "
            "them (the file is then readable by you only), or leave them out of the rules"
        )
    return bool(holding)


def mentions(text: str, columns: frozenset[str]) -> bool:
    """Whether an expression's text reads an address column."""
    return any(re.search(rf"(?<![\w.]){re.escape(c)}(?!\w)", text) for c in columns)
