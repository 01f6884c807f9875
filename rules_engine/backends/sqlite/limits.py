"""What SQLite can hold, checked by `validate` before a store is ever read.

A rule set can be valid and still compile to SQL that SQLite refuses: an expression nested
deeper than its parser's stack or its expression-depth limit (1,000), more metrics or segments
in one layer than a table has columns (2,000), a chain of derived metrics longer than a join
takes tables (64). Rather than mirror SQLite's limits in arithmetic, the check compiles the
whole rule set and runs it on an empty in-memory store of the same schema (no rows, so it
takes milliseconds), and when SQLite refuses, finds the rule that does not fit and names it
with the limit.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime

from ...errors import PROBLEM_CODES, Problem, Span
from ...expr.nodes import Call, Name, Node, children
from ...expr.sqlgen import FUNCTIONS, SqlContext, compile_expression, quote
from ...rules.model import Expression, RuleSet
from ...rules.overflow import rule_expressions
from ...sql.compile import ValuesProgram, compile_values
from ...store import StoreSchema
from .functions import register

CODES = PROBLEM_CODES["sqlite"]

_DEPTH = ("Expression tree is too large", "parser stack overflow")
_COLUMNS = re.compile(r"too many columns on cv_layer_(\d+)")
_AGGREGATES = re.compile(r"too many columns on cv_agg_(\w+)")
_JOINS = "tables in a join"
MAX_COLUMNS = 2000  # SQLite's SQLITE_MAX_COLUMN
MAX_JOIN = 64  # tables in one join
_MARGIN = 12  # levels of nesting the compiled program puts around an expression


def check_sqlite_limits(rules: RuleSet, as_of: datetime | None = None) -> list[Problem]:
    """Problems for the rules SQLite could not run, each at the rule that does not fit."""
    moment = as_of or datetime.now(UTC)
    program = compile_values(rules, moment)
    refusal = _dry_run(rules, program, moment)
    if refusal is None:
        return []
    found = _diagnose(rules, program, refusal)
    if found:
        return found
    longest = max((e for _, e in rule_expressions(rules)), key=lambda e: len(e.text), default=None)
    span = longest.span if longest is not None else Span(rules.files[0] if rules.files else "")
    return [
        Problem(
            span,
            "sql-too-deep",
            f"SQLite cannot run the SQL these rules compile to ({refusal})",
            "split long expressions into metrics and segments",
        )
    ]


def _dry_run(rules: RuleSet, program: ValuesProgram, as_of: datetime) -> str | None:
    from ...sql import audience

    conn = register(sqlite3.connect(":memory:"))
    try:
        for create in _schema_statements(rules.schema):
            conn.execute(create)
        offers = list(rules.offers.values())
        statements = [
            *program.statements,
            *audience.candidate_statements(rules, offers, as_of),
            *audience.channel_state_statements(rules, as_of, []),
        ]
        for statement in statements:
            conn.execute(statement.sql, statement.params)
    except sqlite3.OperationalError as exc:
        return str(exc)
    finally:
        conn.close()
    return None


def _schema_statements(schema: StoreSchema) -> Iterator[str]:
    kinds = {"integer": "INTEGER", "real": "REAL", "boolean": "INTEGER"}
    for table, columns in schema.tables.items():
        cols = ", ".join(f"{quote(c)} {kinds.get(t, 'TEXT')}" for c, t in columns.items())
        yield f"CREATE TABLE {quote(table)} ({cols or 'id INTEGER'})"


def _diagnose(rules: RuleSet, program: ValuesProgram, refusal: str) -> list[Problem]:
    aggregated = _AGGREGATES.search(refusal)
    if aggregated:
        return _too_many_aggregates(rules, aggregated.group(1))
    columns = _COLUMNS.search(refusal)
    if columns:
        layer = int(columns.group(1))
        members = [name for name, n in program.layers.items() if n == layer]
        name = members[min(MAX_COLUMNS - 1, len(members) - 1)]
        return [
            Problem(
                _span_of(rules, name),
                "sql-too-many-columns",
                f"`{name}` is one of {len(members):,} metrics and segments computed together; "
                f"a SQLite table holds at most {MAX_COLUMNS:,} columns",
                "fewer segments or metrics, or split the rule set into several",
            )
        ]
    if _JOINS in refusal and (found := _too_many_tables(rules)):
        return found
    if _JOINS in refusal:
        depth = dict(program.layers)
        # the layers are joined with the customers and one more table: 62 layers fit
        first_over = min(MAX_JOIN - 2, max(depth.values()))
        name = next(n for n, d in depth.items() if d >= first_over)
        return [
            Problem(
                _span_of(rules, name),
                "sql-too-many-joins",
                f"`{name}` is step {depth[name] + 1} of a chain of metrics each built on the one "
                f"before; SQLite joins at most {MAX_JOIN} tables, one a step",
                "compute the chain in fewer steps (one expression can use several metrics)",
            )
        ]
    if any(kind in refusal for kind in _DEPTH):
        return [
            Problem(
                expression.span,
                "sql-too-deep",
                f"the SQL of this expression nests deeper than SQLite takes ({refusal}: its "
                "parser holds about 100 nested levels, its expressions 1,000 terms deep)",
                "split it into metrics or segments, each a part of it",
            )
            for _, expression in rule_expressions(rules)
            if _too_deep(expression)
        ]
    return []


def _too_many_aggregates(rules: RuleSet, table: str) -> list[Problem]:
    """More metrics over one table than its aggregate table has columns (one a metric, and one
    for the customer)."""
    members = [m for m in rules.metric_order if rules.metrics[m].table == table]
    if not members:
        return []
    name = members[min(MAX_COLUMNS - 1, len(members) - 1)]
    return [
        Problem(
            _span_of(rules, name),
            "sql-too-many-columns",
            f"`{name}` is one of {len(members):,} metrics over `{table}`, computed together in "
            f"one table; a SQLite table holds at most {MAX_COLUMNS:,} columns",
            f"fewer metrics over `{table}` (those with the same `where` and value are computed "
            "once), or split the rule set into several",
        )
    ]


def _too_many_tables(rules: RuleSet) -> list[Problem]:
    """Metrics over more related tables than one query joins (each is joined with customers)."""
    first: dict[str, str] = {}  # related table → the first metric over it
    for name in rules.metric_order:
        table = rules.metrics[name].table
        if table is not None:
            first.setdefault(table, name)
    if len(first) < MAX_JOIN:
        return []
    table, name = list(first.items())[MAX_JOIN - 1]
    return [
        Problem(
            _span_of(rules, name),
            "sql-too-many-joins",
            f"`{name}` reads `{table}`, the {MAX_JOIN}th table metrics aggregate over; "
            f"SQLite joins at most {MAX_JOIN} tables in one query, the customers and "
            f"{MAX_JOIN - 1} of them",
            "aggregate over fewer tables (a view or a table that gathers the rows of several)",
        )
    ]


def _span_of(rules: RuleSet, name: str) -> Span:
    rule = rules.metrics.get(name) or rules.segments.get(name)
    span = getattr(rule, "span", None)
    return span if isinstance(span, Span) else Span(rules.files[0] if rules.files else "")


def _too_deep(expression: Expression) -> bool:
    """Whether SQLite refuses this expression alone, every name read as a plain column."""
    names = {name: '"n"' for name in _names(expression.node)}
    calls = {func: _placeholder for func in _calls(expression.node) if func not in FUNCTIONS}
    ctx = SqlContext(names, datetime(2026, 1, 1, tzinfo=UTC), calls=calls)
    sql = compile_expression(expression.node, ctx)
    conn = register(sqlite3.connect(":memory:"))
    try:
        conn.execute('CREATE TABLE t ("n")')
        conn.execute(f"SELECT {'(' * _MARGIN}{sql}{')' * _MARGIN} FROM t", ctx.params)
    except sqlite3.OperationalError as exc:
        return any(kind in str(exc) for kind in _DEPTH)
    finally:
        conn.close()
    return False


def _placeholder(node: Call, ctx: SqlContext) -> str:
    return '"n"'


def _walk(node: Node) -> Iterator[Node]:
    yield node
    for child in children(node):
        yield from _walk(child)


def _names(node: Node) -> set[str]:
    return {n.name for n in _walk(node) if isinstance(n, Name)}


def _calls(node: Node) -> set[str]:
    return {n.func for n in _walk(node) if isinstance(n, Call)}
