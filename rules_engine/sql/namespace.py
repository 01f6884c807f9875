"""The names of one program's intermediate tables.

Every stage hands its results to the next through tables in SQLite's temp schema (the values
of every customer, the audiences, the channel states, the recent contacts). A program's tables
carry its prefix, chosen when it is compiled, so two programs (say, the rules before and after
a change) run side by side on one connection without touching each other's tables. The empty
prefix is the default: a single plan names its tables as it always has.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_PREFIX = re.compile(r"[a-z][a-z0-9_]{0,30}_")


@dataclass(frozen=True)
class Namespace:
    """One program's intermediate tables: `prefix` + each table's own name."""

    prefix: str = ""

    def __post_init__(self) -> None:
        if self.prefix and not _PREFIX.fullmatch(self.prefix):
            raise ValueError(
                f"namespace {self.prefix!r}: use lower-case letters, digits and _, starting "
                "with a letter and ending with _ (for example 'base_')"
            )

    def name(self, table: str) -> str:
        """The program's name for `table` (a plain identifier: no quoting needed)."""
        return self.prefix + table

    @property
    def customer_values(self) -> str:
        return self.name("customer_values")

    @property
    def candidates(self) -> str:
        return self.name("candidates")

    @property
    def members(self) -> str:
        return self.name("members")

    @property
    def cooldowns(self) -> str:
        return self.name("cooldowns")

    @property
    def sent(self) -> str:
        return self.name("sent")

    @property
    def channel_state(self) -> str:
        return self.name("channel_state")


DEFAULT = Namespace()
