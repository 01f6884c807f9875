"""`campaign diff`: check both rule sets, plan both on one store, compare the plans.

The base rules come from Git (`--base REF`: the same paths at REF, read by `rules.git`, the
working tree untouched) or from a folder (`--base-rules DIR`); the head rules are the files
given. Both sides are checked against the store before anything is planned, and a side with
errors is reported as that side.

Both plans run on one read-only connection, one after the other, and share what they can:
the values program of each side (`compile_values`: the metrics' aggregates over each related
table, then metrics and segments in layers) builds one table after another, and the head
builds again only the tables whose statements differ from the base's or that read a table it
built again (`still_to_run`): the same statements over the same store and the same tables
build the same rows. An offer-only change shares every metric and segment; a changed segment
shares every aggregate and every metric; a changed metric over events still shares the
aggregates over orders and contacts.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np

from . import store
from .backends import backend_for, engine_of
from .backends.readers import streamed
from .diff import Diff, Membership, SideInfo, diff_plans
from .errors import CampaignError, InputError
from .execute import Plan, Progress, plan
from .expr.sqlgen import quote
from .rules.check import CheckResult, check, check_sources
from .rules.files import discover
from .rules.git import digest_of, rules_at
from .rules.model import RuleSet
from .sql.compile import Statement, ValuesProgram, compile_values
from .times import instant_of

SideName = Literal["base", "head"]


@dataclass
class Side:
    """One side's rules: checked, with where they came from and their digest."""

    name: SideName
    info: SideInfo
    checked: CheckResult
    where: str  # the ref, folder or files, as given

    @property
    def label(self) -> str:
        return f"the {self.name} rules ({self.where})"


class SidesInvalid(CampaignError):
    """One side's rules or both have errors; each side keeps its problems and sources."""

    def __init__(self, sides: Sequence[Side]) -> None:
        self.sides = list(sides)
        parts = [f"{s.label}: {len(s.checked.errors)} problem(s)" for s in self.sides]
        super().__init__("; ".join(parts) + "; nothing was planned")


def _file_digest(paths: Sequence[str | Path], checked: CheckResult) -> str:
    """The digest of the rule files, once they all could be read ("" until then)."""
    if checked.errors:
        return ""
    return digest_of([(str(p), Path(p).read_bytes()) for p in discover(paths)])


def head_side(paths: Sequence[str | Path], db: str | Path, as_of: datetime | date) -> Side:
    checked = check(paths, db=db, as_of=as_of)
    where = " ".join(str(p) for p in paths)
    return Side("head", SideInfo(_file_digest(paths, checked), None), checked, where)


def base_at(paths: Sequence[str | Path], ref: str, db: str | Path, as_of: datetime | date) -> Side:
    """The base rules: the same paths at the Git commit `ref` names."""
    commit, files = rules_at(paths, ref)
    checked = check_sources(files, db=db, as_of=as_of)
    return Side("base", SideInfo(digest_of(files), ref, commit), checked, ref)


def base_in(folder: str | Path, db: str | Path, as_of: datetime | date) -> Side:
    """The base rules: the rule files under `folder`."""
    if not Path(folder).is_dir():
        raise InputError(f"{folder}: no such folder; --base-rules takes a folder of rule files")
    checked = check([folder], db=db, as_of=as_of)
    info = SideInfo(_file_digest([folder], checked), str(folder))
    return Side("base", info, checked, str(folder))


def ensure_valid(base: Side, head: Side) -> None:
    """SidesInvalid with every side that has errors."""
    invalid = [s for s in (base, head) if s.checked.errors]
    if invalid:
        raise SidesInvalid(invalid)


# -- planning both sides, sharing work -----------------------------------------------------------


def _cleanup_start(statements: Sequence[Statement]) -> int:
    """Where the program's cleanup starts: the drops of its intermediate tables at the end
    (plain `DROP TABLE`; a table's own statements start with `DROP ... IF EXISTS`)."""
    at = len(statements)
    while at and _is_cleanup(statements[at - 1]):
        at -= 1
    return at


def _is_cleanup(statement: Statement) -> bool:
    return statement.sql.startswith("DROP TABLE ") and "IF EXISTS" not in statement.sql


# a table's statements start by dropping it, the view's likewise: `DROP ... IF EXISTS NAME`
_STARTS = re.compile(r'^DROP (?:TABLE|VIEW) IF EXISTS (?:temp\.)?"?([A-Za-z0-9_]+)"?$')


@dataclass(frozen=True)
class TableStatements:
    """The statements that build one table (or view) of a values program."""

    table: str  # "" for statements before the first table (none, as compiled)
    statements: tuple[Statement, ...]

    @property
    def key(self) -> tuple[tuple[str, tuple[object, ...]], ...]:
        return tuple((s.sql, s.params) for s in self.statements)

    def reads(self, tables: Sequence[str]) -> set[str]:
        """Which of `tables` (other than its own) its statements name."""
        text = "\n".join(s.sql for s in self.statements)
        return {
            t
            for t in tables
            if t != self.table and re.search(rf"(?<![A-Za-z0-9_]){t}(?![A-Za-z0-9_])", text)
        }


def by_table(statements: Sequence[Statement]) -> list[TableStatements]:
    found: list[TableStatements] = []
    for statement in statements:
        start = _STARTS.match(statement.sql)
        if start or not found:
            found.append(TableStatements(start.group(1) if start else "", (statement,)))
        else:
            found[-1] = replace(found[-1], statements=(*found[-1].statements, statement))
    return found


def still_to_run(base: Sequence[Statement], head: Sequence[Statement]) -> list[Statement]:
    """The head's statements that the base's leave to do, once the base's have run: a table
    the base built with the same statements from tables that hold the same rows holds the
    same rows (the store is the same), so it is built again only when its statements differ
    or it reads a table that was built again."""
    built = {t.table: t.key for t in by_table(base)}
    tables = by_table(head)
    names = [t.table for t in tables if t.table]
    rebuilt: set[str] = set()
    found: list[Statement] = []
    for table in tables:
        if not table.table or built.get(table.table) != table.key or table.reads(names) & rebuilt:
            rebuilt.add(table.table)
            found += table.statements
    return found


def membership(conn: Any, program: ValuesProgram) -> Membership:
    """Each segment's members as a mask over every customer, read 62 segments to an integer."""
    names = program.segments
    words = [
        " | ".join(
            f"(CASE WHEN {quote(n)} THEN {1 << i} ELSE 0 END)"
            for i, n in enumerate(names[at : at + 62])
        )
        for at in range(0, len(names), 62)
    ]
    sql = (
        f"SELECT customer_id{''.join(', ' + w for w in words)} "
        f"FROM temp.{program.ns.customer_values} ORDER BY customer_id"
    )
    rows = streamed(conn, Statement("diff", "segment members", sql))
    found = np.fromiter(itertools.chain.from_iterable(rows), dtype=np.int64)
    found = found.reshape(-1, 1 + len(words))
    masks = {n: ((found[:, 1 + i // 62] >> (i % 62)) & 1).astype(bool) for i, n in enumerate(names)}
    return Membership(found[:, 0], masks)


def _labelled(progress: Progress | None, name: str) -> Progress | None:
    if progress is None:
        return None
    return lambda line: progress(f"{name}: {line}")


def plan_both(
    conn: Any,
    base: RuleSet,
    head: RuleSet,
    as_of: datetime,
    *,
    progress: Progress | None = None,
) -> tuple[Plan, Plan, tuple[Membership, Membership] | None]:
    """Both plans on one connection, the head's values built only where they differ from the
    base's; each side's segment membership, or None when the two computed the same values."""
    dialect = engine_of(conn).dialect
    programs = (
        compile_values(base, as_of, dialect=dialect),
        compile_values(head, as_of, dialect=dialect),
    )
    base_program, head_program = programs
    base_work = base_program.statements[: _cleanup_start(base_program.statements)]
    head_work = head_program.statements[: _cleanup_start(head_program.statements)]
    head_rest = still_to_run(base_work, head_work)
    same_values = not head_rest and len(base_work) == len(head_work)
    base_plan = plan(
        conn,
        base,
        as_of,
        progress=_labelled(progress, "base"),
        program=replace(base_program, statements=base_work),
    )
    was = None if same_values else membership(conn, base_program)
    if progress is not None:
        shared = len(head_work) - len(head_rest)
        progress(f"head: {shared} of {len(head_work)} value statement(s) shared with the base")
    head_plan = plan(
        conn,
        head,
        as_of,
        progress=_labelled(progress, "head"),
        program=replace(head_program, statements=tuple(head_rest)),
    )
    now = None if same_values else membership(conn, head_program)
    cleanup = [s for p in programs for s in p.statements[_cleanup_start(p.statements) :]]
    for sql in dict.fromkeys(s.sql for s in cleanup):
        conn.execute(sql)
    return base_plan, head_plan, None if was is None or now is None else (was, now)


def diff_store(
    path: str | Path,
    base: Side,
    head: Side,
    as_of: datetime,
    *,
    cache_mb: int = 256,
    progress: Progress | None = None,
) -> Diff:
    """Plan both sides on the store opened read-only and compare the plans."""
    with backend_for(path).planning(path, cache_mb) as conn:
        base_plan, head_plan, members = plan_both(
            conn, base.checked.rules, head.checked.rules, as_of, progress=progress
        )
    return diff_plans(
        base_plan, head_plan, base_side=base.info, head_side=head.info, members=members
    )


def diff_rules(
    path: str | Path,
    rules: Sequence[str | Path],
    as_of: datetime | date,
    *,
    base_ref: str | None = None,
    base_rules: str | Path | None = None,
    cache_mb: int = 256,
    progress: Progress | None = None,
) -> Diff:
    """`campaign diff`: the head rules against the base (`base_ref` in Git or the folder
    `base_rules`), both checked against the store, planned on it as of `as_of`, compared.
    Raises SidesInvalid when either side has errors, InputError for input that cannot be
    read (a missing store or file, a ref Git does not know, rules outside a repository). A
    date alone is midnight in the head rules' calendar time zone."""
    if (base_ref is None) == (base_rules is None):
        raise InputError("give the base rules: --base GIT_REF or --base-rules DIR (one of them)")
    store.ensure_complete(path)
    head = head_side(rules, path, as_of)
    if base_ref is not None:
        base = base_at(rules, base_ref, path, as_of)
    else:
        assert base_rules is not None
        base = base_in(base_rules, path, as_of)
    ensure_valid(base, head)
    moment = instant_of(as_of, head.checked.rules.calendar.timezone)
    return diff_store(path, base, head, moment, cache_mb=cache_mb, progress=progress)
