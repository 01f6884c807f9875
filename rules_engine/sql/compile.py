"""Compile: the checked rule set → the SQL that computes every customer's values in the store.

Set-based, inside SQLite, in temp tables keyed by customer id (PERF.md: aggregation dominates,
and a join to a plain keyed table never degrades into a scan per customer):

1. one `GROUP BY customer_id` per related table computes every aggregate the metrics use, each
   restricted to its metric's `where` with `FILTER (WHERE ...)`; identical aggregates are
   computed once. `first`/`last` and `mode` need the row that wins, so each gets a narrow
   helper table (DuckDB's `arg_max` finds `first`/`last` in the GROUP BY itself).
2. metrics and segments are computed in layers, each a temp table: a rule in the first layer
   after the rules it uses; a window (`ntile`) in a layer of windows only.
3. `customer_values` is a view with one column per metric and segment, in rule-file order:
   what plan, run, `campaign metrics` and `explain` read.

Values are kept in the engine's form of their type: a datetime as epoch seconds, a date as
`YYYY-MM-DD`, a boolean or segment membership as 1/0. No text a user wrote is formatted into
SQL: identifiers are quoted names from the checked rules and the store, values are bound.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field, fields, is_dataclass
from datetime import datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

from ..backends.sqlite.dialect import SQLITE
from ..expr.functions import Where, lookup
from ..expr.nodes import Call, Name, Node, walk
from ..expr.nodes import Literal as LiteralNode
from ..expr.sqlgen import CallHook, SqlContext, compile_expression, quote
from ..rules.model import Expression, Metric, RuleSet
from ..rules.order import dependencies, dependency_order
from ..times import epoch_seconds
from .dialect import Dialect
from .namespace import DEFAULT, Namespace

# Inlining a rule into the rules that use it is free until the SQL gets large; past this many
# characters a rule is read from the previous layer's table instead.
INLINE_LIMIT = 20000
AGGREGATES_BY_PICK = ("first", "last", "mode")


@dataclass(frozen=True)
class Statement:
    """One SQL statement of a program, with the stage it belongs to (for progress and timing;
    "setup" is bookkeeping such as creating a temp table, not worth a progress line, and so
    is a statement that is not `announced`)."""

    stage: str
    label: str
    sql: str
    params: tuple[Any, ...] = ()
    announced: bool = True


@dataclass(frozen=True)
class ValueColumn:
    """A computed value of every customer: a metric or a segment (membership as 1/0)."""

    name: str
    kind: Literal["metric", "segment"]
    type: str


@dataclass(frozen=True)
class ValuesProgram:
    statements: tuple[Statement, ...]
    columns: tuple[ValueColumn, ...]
    layers: dict[str, int] = field(default_factory=dict)  # metric or segment → its layer
    ns: Namespace = DEFAULT

    @property
    def segments(self) -> list[str]:
        return [c.name for c in self.columns if c.kind == "segment"]

    def tables(self) -> dict[str, list[str]]:
        """Each layer's temp table and the metrics and segments it holds."""
        found: dict[str, list[str]] = {}
        for name, layer in sorted(self.layers.items(), key=lambda item: item[1]):
            found.setdefault(f"temp.{quote(self.ns.name(f'cv_layer_{layer}'))}", []).append(name)
        return found


def calendar_offset(rules: RuleSet, as_of: datetime) -> int:
    """The calendar zone's UTC offset at as-of, in seconds (how a date meets a datetime)."""
    offset = as_of.astimezone(ZoneInfo(rules.calendar.timezone)).utcoffset()
    return int(offset.total_seconds()) if offset else 0


def canonical(node: Node) -> tuple[Any, ...]:
    """A node's content without positions: equal for the same expression written twice."""
    parts: list[Any] = [type(node).__name__]
    for f in fields(node):
        if f.name == "span":
            continue
        value = getattr(node, f.name)
        if isinstance(value, Node):
            value = canonical(value)
        elif isinstance(value, tuple):
            value = tuple(canonical(v) if isinstance(v, Node) else v for v in value)
        parts.append(value)
    return tuple(parts)


def is_aggregate(node: Node) -> bool:
    if not isinstance(node, Call):
        return False
    function = lookup(node.func, len(node.args))
    return function is not None and function.where is Where.AGGREGATE


def uses_window(node: Node) -> bool:
    return any(isinstance(n, Call) and n.func == "ntile" for n in walk(node))


def customer_names(rules: RuleSet, alias: str = "c") -> dict[str, str]:
    return {name: f"{alias}.{quote(name)}" for name in rules.schema.columns("customers")}


# -- aggregates over related tables ------------------------------------------------------------


@dataclass
class _Aggregate:
    """One aggregate to compute: its SQL column, or its helper table for first/last/mode."""

    column: str
    sql: str = ""
    type: str = "integer"
    pick: str | None = None  # helper table name, for first/last/mode
    counts: bool = False  # count()/count_distinct(): 0, not missing, for a customer without rows
    picked: str = "v"  # the helper table's column


@dataclass
class _ValuePicks:
    """The modes and distinct counts of one value over one table, in one statement
    (`Dialect.VALUE_PICKS_TOGETHER`): one pass over the pairs of customer and value."""

    name: str
    ctx: SqlContext
    value: str  # its SQL
    kind: str  # its rule type
    picks: list[tuple[str, str]] = field(default_factory=list)  # (mode|count_distinct, where)


@dataclass(frozen=True)
class _Where:
    """A metric's `where`: its canonical form (a key), its node, its SQL in the GROUP BY."""

    key: tuple[Any, ...]
    node: Node | None
    sql: str


def count_of(metric: Metric) -> Call:
    """The count of a metric's matching rows: how its `default` knows there were none."""
    return Call(span=metric.span, func="count", args=(), type="integer")


@dataclass
class _TablePlan:
    """Everything computed over one related table."""

    table: str
    alias: str
    ctx: SqlContext
    aggregates: dict[tuple[Any, ...], _Aggregate] = field(default_factory=dict)
    wheres: dict[tuple[Any, ...], str] = field(default_factory=dict)  # canonical where → SQL
    ns: Namespace = DEFAULT
    picks: list[Statement] = field(default_factory=list)
    value_picks: dict[tuple[Any, ...], _ValuePicks] = field(default_factory=dict)
    joins_customers: bool = False

    @property
    def name(self) -> str:
        return self.ns.name("cv_agg_" + self.table)

    @property
    def temp(self) -> str:
        return f"temp.{quote(self.name)}"


class _AggregateCompiler:
    """Builds the GROUP BY statement of each related table and the helper tables."""

    def __init__(
        self,
        rules: RuleSet,
        as_of: datetime,
        offset: int,
        customer: int | None,
        ns: Namespace,
        dialect: Dialect,
    ):
        self.rules, self.as_of, self.offset, self.customer = rules, as_of, offset, customer
        self.ns, self.dialect = ns, dialect
        self.zone = rules.calendar.timezone
        self.tables: dict[str, _TablePlan] = {}
        self.pick_count = 0

    def plan(self, metric: Metric) -> None:
        assert metric.table is not None
        table = self.table(metric.table)
        where = self.where(table, metric)
        for node in walk(metric.value.node):
            if is_aggregate(node):
                self.aggregate(table, node, where)  # type: ignore[arg-type]
        if metric.default is not None:
            self.aggregate(table, count_of(metric), where)

    def table(self, name: str) -> _TablePlan:
        if name not in self.tables:
            related = {col: f"t.{quote(col)}" for col in self.rules.schema.columns(name)}
            names = {**customer_names(self.rules), **related}
            ctx = SqlContext(
                names, self.as_of, self.offset, dialect=self.dialect, calendar_zone=self.zone
            )
            self.tables[name] = _TablePlan(name, f"a{len(self.tables)}", ctx, ns=self.ns)
        return self.tables[name]

    def where(self, table: _TablePlan, metric: Metric) -> _Where:
        if metric.where is None:
            return _Where((), None, "")
        node = metric.where.node
        key = canonical(node)
        if key not in table.wheres:
            self.note_customer_columns(table, node)
            table.wheres[key] = compile_expression(node, table.ctx)
        return _Where(key, node, table.wheres[key])

    def note_customer_columns(self, table: _TablePlan, node: Node) -> None:
        if any(isinstance(n, Name) and n.kind == "column" for n in walk(node)):
            table.joins_customers = True

    def aggregate(self, table: _TablePlan, node: Call, where: _Where) -> _Aggregate:
        key = (canonical(node), where.key)
        if key in table.aggregates:
            return table.aggregates[key]
        self.note_customer_columns(table, node)
        column = f"a{len(table.aggregates)}"
        if node.func in ("mode", "count_distinct") and self.dialect.VALUE_PICKS_TOGETHER:
            found = self.value_pick(table, node, where, column)
        elif node.func in AGGREGATES_BY_PICK:
            found = self.pick(table, node, where, column)
        else:
            found = _Aggregate(column, self.aggregate_sql(table, node, where.sql), node.type or "")
            found.counts = node.func in ("count", "count_distinct")
        table.aggregates[key] = found
        return found

    def aggregate_sql(self, table: _TablePlan, node: Call, where_sql: str) -> str:
        args = [compile_expression(arg, table.ctx) for arg in node.args]
        condition = f" FILTER (WHERE {where_sql})" if where_sql else ""
        if node.func == "count":
            return f"count(*){condition}"
        if node.func == "count_distinct":
            return f"count(DISTINCT {args[0]}){condition}"
        return f"{node.func}({args[0]}){condition}"

    def pick(self, table: _TablePlan, node: Call, where: _Where, column: str) -> _Aggregate:
        """first/last: the winning `by` comes from the GROUP BY, then the row that has it (ties:
        the lowest or highest row id) gives the value; mode: the most frequent value, ties to
        the smallest. Each in a statement of its own, so its `where` is compiled again."""
        if node.func != "mode" and self.dialect.PICKS_BY_ARG:
            return self.picked_by_arg(table, node, where, column)
        name, ctx = self.helper(table)
        value = compile_expression(node.args[0], ctx)
        condition = self.dialect.TRUE
        if where.node is not None:
            condition = compile_expression(where.node, ctx)
        source = self.source(table)
        only = self.only_customer(ctx, "t")
        if node.func == "mode":
            found = _Aggregate(column, pick=name)
            counted = (
                f"SELECT t.customer_id AS customer_id, {value} AS v, count(*) AS n {source} "
                f"WHERE ({condition}) AND ({value}) IS NOT NULL{only} "
                f"GROUP BY t.customer_id, {value}"
            )
            sql = (
                f"INSERT INTO temp.{quote(name)} (customer_id, v) "
                f"{self.dialect.most_frequent(counted)}"
            )
        else:
            best = "max" if node.func == "last" else "min"
            by_main = compile_expression(node.args[1], table.ctx)
            filtered = f" FILTER (WHERE {where.sql})" if where.sql else ""
            by_type = node.args[1].type or ""
            found = _Aggregate(column, f"{best}({by_main}){filtered}", by_type, pick=name)
            by_here = compile_expression(node.args[1], ctx)
            sql = (
                f"INSERT INTO temp.{quote(name)} (customer_id, v) "
                f"SELECT t.customer_id, {value} FROM ("
                f"SELECT t.customer_id AS customer_id, {best}(t.rowid) AS winner {source} "
                f"JOIN {table.temp} AS g ON g.customer_id = t.customer_id "
                f"WHERE ({condition}) AND ({by_here}) = g.{column}{only} "
                f"GROUP BY t.customer_id) AS w JOIN {quote(table.table)} AS t "
                f"ON t.rowid = w.winner{self.customer_join(table)}"
            )
        label = f"{node.func}() over {table.table}"
        table.picks += self.helper_statements(name, node.type or "", label, sql, ctx)
        return found

    def picked_by_arg(
        self, table: _TablePlan, node: Call, where: _Where, column: str
    ) -> _Aggregate:
        """first/last as one more aggregate of the GROUP BY (`Dialect.PICKS_BY_ARG`): the
        value of the row with the least or greatest (`by`, row id), rows without a `by` left
        out, the value itself possibly missing."""
        function = "arg_max_null" if node.func == "last" else "arg_min_null"
        value = compile_expression(node.args[0], table.ctx)
        by = compile_expression(node.args[1], table.ctx)
        condition = f"({where.sql}) AND " if where.sql else ""
        sql = (
            f"{function}({value}, {{'by': {by}, 'row': t.rowid}}) "
            f"FILTER (WHERE {condition}({by}) IS NOT NULL)"
        )
        return _Aggregate(column, sql, node.type or "")

    def value_pick(self, table: _TablePlan, node: Call, where: _Where, column: str) -> _Aggregate:
        """A mode or distinct count, a column of its value's `_ValuePicks`."""
        key = canonical(node.args[0])
        if key not in table.value_picks:
            name, ctx = self.helper(table)
            value = compile_expression(node.args[0], ctx)
            table.value_picks[key] = _ValuePicks(name, ctx, value, node.args[0].type or "")
        group = table.value_picks[key]
        condition = self.dialect.TRUE
        if where.node is not None:
            condition = compile_expression(where.node, group.ctx)
        group.picks.append((node.func, condition))
        counts = node.func == "count_distinct"
        return _Aggregate(column, pick=group.name, counts=counts, picked=f"v{len(group.picks) - 1}")

    def value_pick_statements(self, table: _TablePlan, group: _ValuePicks) -> list[Statement]:
        """Each pair of customer and value once, with how many rows of each pick's `where`
        hold it; then per customer the most frequent (ties to the smallest) and the count of
        values some row of the `where` holds."""
        counted = [
            f"count(*) FILTER (WHERE {where}) AS n{i}" for i, (_, where) in enumerate(group.picks)
        ]
        anywhere = " OR ".join(f"({where})" for _, where in group.picks)
        pairs = (
            f"SELECT t.customer_id AS customer_id, {group.value} AS v, {', '.join(counted)} "
            f"{self.source(table)} WHERE ({anywhere}) AND ({group.value}) IS NOT NULL"
            f"{self.only_customer(group.ctx, 't')} GROUP BY t.customer_id, {group.value}"
        )
        picked = [
            self.dialect.most_frequent_of("v", f"n{i}")
            if func == "mode"
            else f"count(*) FILTER (WHERE n{i} > 0)"
            for i, (func, _) in enumerate(group.picks)
        ]
        columns = [f"v{i}" for i in range(len(group.picks))]
        kinds = [group.kind if func == "mode" else "integer" for func, _ in group.picks]
        typed = ", ".join(self.dialect.column(c, k) for c, k in zip(columns, kinds, strict=True))
        name = quote(group.name)
        funcs = sorted({func for func, _ in group.picks})
        return [
            Statement("setup", f"{group.name}: drop", f"DROP TABLE IF EXISTS temp.{name}"),
            Statement(
                "setup",
                f"{group.name}: create",
                f"CREATE TEMP TABLE {name} ({self.dialect.KEY_COLUMN}, {typed})",
            ),
            Statement(
                "metrics",
                f"{' and '.join(f + '()' for f in funcs)} over {table.table}",
                f"INSERT INTO temp.{name} (customer_id, {', '.join(columns)}) "
                f"SELECT customer_id, {', '.join(picked)} FROM ({pairs}) GROUP BY customer_id",
                tuple(group.ctx.params),
            ),
        ]

    def helper(self, table: _TablePlan) -> tuple[str, SqlContext]:
        """A helper table's name, and a context of its own to compile its statement in."""
        self.pick_count += 1
        name = self.ns.name(f"cv_pick_{self.pick_count}")
        ctx = SqlContext(
            table.ctx.names, self.as_of, self.offset, dialect=self.dialect, calendar_zone=self.zone
        )
        return name, ctx

    def helper_statements(
        self, name: str, kind: str, label: str, sql: str, ctx: SqlContext
    ) -> list[Statement]:
        return [
            Statement("setup", f"{name}: drop", f"DROP TABLE IF EXISTS temp.{quote(name)}"),
            Statement(
                "setup",
                f"{name}: create",
                f"CREATE TEMP TABLE {quote(name)} "
                f"({self.dialect.KEY_COLUMN}, {self.dialect.column('v', kind)})",
            ),
            Statement("metrics", label, sql, tuple(ctx.params)),
        ]

    def source(self, table: _TablePlan) -> str:
        return f"FROM {quote(table.table)} AS t{self.customer_join(table)}"

    def customer_join(self, table: _TablePlan) -> str:
        return ' JOIN "customers" AS c ON c."id" = t."customer_id"' if table.joins_customers else ""

    def only_customer(self, ctx: SqlContext, alias: str) -> str:
        if self.customer is None:
            return ""
        return f" AND {alias}.customer_id = {ctx.bind(self.customer)}"

    def drops(self) -> list[Statement]:
        names = [table.temp for table in self.tables.values()]
        names += dict.fromkeys(
            f"temp.{quote(a.pick)}"
            for table in self.tables.values()
            for a in table.aggregates.values()
            if a.pick is not None
        )
        # the metrics stage's own intermediates (dropping a million rows takes a moment)
        return [
            Statement("metrics", f"drop {name}", f"DROP TABLE {name}", announced=False)
            for name in names
        ]

    def statements(self) -> Iterator[Statement]:
        for table in self.tables.values():
            columns = [(a.column, a.sql, a.type) for a in table.aggregates.values() if a.sql]
            only = ""
            if self.customer is not None:
                only = f" WHERE t.customer_id = {table.ctx.bind(self.customer)}"
            select = ", ".join(f"{sql} AS {col}" for col, sql, _ in columns)
            typed = "".join(f", {self.dialect.column(c, kind)}" for c, _, kind in columns)
            yield Statement("setup", f"{table.table}: drop", f"DROP TABLE IF EXISTS {table.temp}")
            yield Statement(
                "setup",
                f"{table.table}: create",
                f"CREATE TEMP TABLE {quote(table.name)} ({self.dialect.KEY_COLUMN}{typed})",
            )
            yield Statement(
                "metrics",
                f"{table.table}: {len(columns)} aggregate(s)",
                f"INSERT INTO {table.temp} SELECT t.customer_id{', ' if select else ''}{select} "
                f"{self.source(table)}{only} GROUP BY t.customer_id",
                tuple(table.ctx.params),
            )
            yield from table.picks
            for group in table.value_picks.values():
                yield from self.value_pick_statements(table, group)


# -- metrics and segments in layers -------------------------------------------------------------


@dataclass
class _Item:
    name: str
    kind: Literal["metric", "segment"]
    type: str
    node: Node
    metric: Metric | None = None
    layer: int = 0
    deps: tuple[str, ...] = ()
    inline: bool = False  # in the segment layer (see `assign_layers`)


class _ValuesCompiler:
    def __init__(
        self,
        rules: RuleSet,
        as_of: datetime,
        customer: int | None,
        population: bool,
        ns: Namespace,
        dialect: Dialect,
        kept: Collection[str] | None = None,
    ) -> None:
        self.rules, self.as_of, self.customer, self.ns = rules, as_of, customer, ns
        self.dialect = dialect
        self.population = population or customer is None
        every = frozenset([*rules.metrics, *rules.segments])
        self.kept = every if kept is None else (frozenset(kept) | rules.segments.keys()) & every
        self.written: set[str] = set()  # the rules a layer table holds (`build`)
        self.offset = calendar_offset(rules, as_of)
        self.aggregates = _AggregateCompiler(rules, as_of, self.offset, customer, ns, dialect)
        self.items: dict[str, _Item] = {}
        self._current: _Item | None = None

    # -- planning --------------------------------------------------------------------------

    def build(self) -> ValuesProgram:
        self.items = {item.name: item for item in self.ordered_items()}
        needed = self.needed()
        for metric in self.rules.metrics.values():
            if metric.table is not None and metric.id in needed:
                self.aggregates.plan(metric)
        self.items = {name: item for name, item in self.items.items() if name in needed}
        self.assign_layers()
        self.written = set(self.kept) | {
            d
            for item in self.items.values()
            for d in item.deps
            if self.items[d].layer != item.layer
        }
        statements = [*self.aggregates.statements(), *self.layer_statements()]
        columns = tuple(
            ValueColumn(item.name, item.kind, item.type)
            for item in self.items_in_rule_order()
            if item.name in self.written
        )
        drop = f"DROP VIEW IF EXISTS {self.ns.customer_values}"
        statements.append(Statement("setup", "drop view", drop))
        statements.append(self.view(columns))
        statements += self.aggregates.drops()  # layer 0 has read them: give the memory back
        layers = {c.name: self.items[c.name].layer for c in columns}
        return ValuesProgram(tuple(statements), columns, layers, self.ns)

    def needed(self) -> set[str]:
        """The rules kept and every rule they use, however deep."""
        found: set[str] = set()
        todo = list(self.kept)
        while todo:
            name = todo.pop()
            if name not in found:
                found.add(name)
                todo += self.items[name].deps
        return found

    def items_in_rule_order(self) -> list[_Item]:
        order = [*self.rules.metrics, *self.rules.segments]
        return [self.items[name] for name in order if name in self.items]

    def ordered_items(self) -> list[_Item]:
        found: dict[str, _Item] = {}
        for metric in self.rules.metrics.values():
            node = metric.value.node
            found[metric.id] = _Item(metric.id, "metric", metric.type, node, metric)
        for segment in self.rules.segments.values():
            found[segment.id] = _Item(segment.id, "segment", "boolean", segment.where.node)
        deps = dependencies(self.rules)
        for item in found.values():
            item.deps = deps[item.name]
        return [found[name] for name in dependency_order(self.rules)]

    def assign_layers(self) -> None:
        """Each metric in the first layer after the metrics it uses (aggregates in layer 0);
        a window (`ntile`) in a layer of windows only, so the sort it needs carries a narrow
        row. Measured on the demo rules: a layer per depth beats writing metrics inline into
        each other (SQLite evaluates inlined SQL again for every use, and metrics such as
        RFM scores are long CASE chains). Segments, short tests of metrics, all go in one
        layer after every metric: each layer costs a pass over every customer. Those that use
        others of the layer read them from a query nested inside theirs, where each is
        computed once (written inline, SQLite evaluated `high_value` three times for
        `low_value`: the layer took 20% longer on the demo rules).

        DuckDB (`Dialect.ONE_LAYER`) nests every rule around those it uses in one layer,
        windows and their users apart (`place_nested`): a pass and a table of a million rows
        cost more there than a nested query, and each statement reading `customer_values`
        joins two tables instead of five (the demo rules' audiences and channel states:
        1.6 -> 0.9 s of CPU each at 1M).
        """
        windows: dict[int, bool] = {0: False}  # layer → holds windows
        if self.dialect.ONE_LAYER:
            for item in self.items.values():
                item.layer = self.place_nested(item, windows)
            return
        on_segments: set[str] = set()
        for item in self.items.values():
            if item.kind == "segment" or any(d in on_segments for d in item.deps):
                on_segments.add(item.name)
        for item in self.items.values():
            if item.name not in on_segments:
                item.layer = self.place(item, 0, windows)
        segment_layer = max(windows) + 1
        for item in self.items.values():
            if item.name in on_segments:
                inline = not uses_window(item.node)
                item.layer = segment_layer if inline else self.place(item, segment_layer, windows)
                item.inline = inline
        windows.setdefault(segment_layer, False)

    def place_nested(self, item: _Item, windows: dict[int, bool]) -> int:
        """`ONE_LAYER`: in the layer of the rules it uses, nested around them, unless it or
        one of them is a window: a window in a layer of its own after what it ranks, so the
        sort carries a narrow row, and its users in the next layer."""
        window = uses_window(item.node)
        layers = [self.items[d].layer for d in item.deps]
        least = max([0, *(n + (window or windows[n]) for n in layers)])
        while windows.setdefault(least, window) != window:
            least += 1
        return least

    def place(self, item: _Item, least: int, windows: dict[int, bool]) -> int:
        window = uses_window(item.node)
        layer = max([least, *(self.items[d].layer + 1 for d in item.deps)])
        while windows.setdefault(layer, window) != window:
            layer += 1
        return layer

    # -- SQL of one item -------------------------------------------------------------------

    def item_sql(self, item: _Item, ctx: SqlContext) -> str:
        if item.kind == "segment":
            return f"({compile_expression(item.node, ctx)}) IS TRUE"
        metric = item.metric
        assert metric is not None
        if metric.table is None:
            if not self.population and uses_window(item.node):
                return "NULL"  # a population rank needs every customer; see explain
            return compile_expression(item.node, ctx)
        outer, self._current = self._current, item
        try:
            value = compile_expression(item.node, ctx)
        finally:
            self._current = outer
        if metric.default is None:
            return value
        table = self.aggregates.tables[metric.table]
        count = table.aggregates[(canonical(count_of(metric)), _where_key(metric))]
        default = ctx.bind(self.dialect.parameter(_stored_default(metric)))
        return (
            f"CASE WHEN coalesce({table.alias}.{count.column}, 0) = 0 THEN {default} "
            f"ELSE {value} END"
        )

    def aggregate_ref(self, node: Call, ctx: SqlContext) -> str | None:
        """How a metric's value reads one of its aggregates (a column of the GROUP BY)."""
        if not is_aggregate(node):
            return None  # min(a, b) of two values
        item = self._current
        assert item is not None and item.metric is not None and item.metric.table is not None
        metric = item.metric
        table = self.aggregates.tables[metric.table]  # type: ignore[index]
        found = table.aggregates[(canonical(node), _where_key(metric))]
        if found.pick is not None:
            picked = f"{quote(found.pick)}.{found.picked}"
            return f"coalesce({picked}, 0)" if found.counts else picked
        column = f"{table.alias}.{found.column}"
        return f"coalesce({column}, 0)" if found.counts else column

    def ntile(self, node: Call, ctx: SqlContext) -> str:
        groups = node.args[0]
        assert isinstance(groups, LiteralNode) and isinstance(groups.value, int)
        x = compile_expression(node.args[1], ctx)
        n = ctx.bind(groups.value)
        return (
            f"CASE WHEN ({x}) IS NULL THEN NULL ELSE ntile({n}) OVER "
            f'(PARTITION BY ({x}) IS NULL ORDER BY ({x}), c."id") END'
        )

    # -- statements ------------------------------------------------------------------------

    def layer_statements(self) -> Iterator[Statement]:
        layers = sorted({item.layer for item in self.items.values()} | {0})
        for layer in layers:
            members = [item for item in self.items.values() if item.layer == layer]
            yield from self.layer(layer, members)

    def hooks(self) -> dict[str, CallHook]:
        hooks: dict[str, CallHook] = {name: self.aggregate_ref for name in _AGGREGATE_NAMES}
        hooks["ntile"] = self.ntile
        return hooks

    def layer(self, layer: int, members: list[_Item]) -> Iterator[Statement]:
        """The layer's table: its rules that are kept or that later layers use (`written`);
        the others only where a query nested around them reads them."""
        written = [item for item in members if item.name in self.written]
        if not written and layer:
            return  # layer 0 always: the view reads every customer from it
        names = customer_names(self.rules)
        names.update({i.name: f"v{i.layer}.{quote(i.name)}" for i in self.items.values()})
        ready = frozenset(self.items)
        ctx = SqlContext(
            names,
            self.as_of,
            self.offset,
            ready=ready,
            calls=self.hooks(),
            dialect=self.dialect,
            calendar_zone=self.rules.calendar.timezone,
        )
        depth = self.depths(members)
        levels: list[list[str]] = [[] for _ in range(max(depth.values(), default=0) + 1)]
        carried: dict[str, str] = {}  # a name read above the innermost query → its column
        for item in members:  # in dependency order: a rule is written before its users
            k = depth[item.name]
            if k:
                ctx.names = _Carrying(names, carried, {n for n, d in depth.items() if d < k})
            sql = self.item_sql(item, ctx)
            ctx.names = names
            if len(levels) > 1 or item.name in self.written:  # nested: read further out
                levels[k].append(f"{sql} AS {quote(item.name)}")
        levels[0] += [f"{names[name]} AS {column}" for name, column in carried.items()]
        selects = levels[0]
        joins = []
        if layer == 0:
            for table in self.aggregates.tables.values():
                joins.append(
                    f" LEFT JOIN {table.temp} AS {table.alias} "
                    f'ON {table.alias}.customer_id = c."id"'
                )
            picks = dict.fromkeys(
                quote(aggregate.pick)
                for table in self.aggregates.tables.values()
                for aggregate in table.aggregates.values()
                if aggregate.pick is not None
            )
            for pick in picks:
                joins.append(f' LEFT JOIN temp.{pick} AS {pick} ON {pick}.customer_id = c."id"')
        for earlier in sorted({self.items[d].layer for m in members for d in m.deps} - {layer}):
            joins.append(
                f" JOIN temp.{self.layer_table(earlier)} AS v{earlier} "
                f'ON v{earlier}.customer_id = c."id"'
            )
        only = f' WHERE c."id" = {ctx.bind(self.customer)}' if self.customer is not None else ""
        name = self.layer_table(layer)
        column_list = "".join(
            f", {self.dialect.column(quote(item.name), _stored_type(item))}" for item in written
        )
        columns = "".join(f", {s}" for s in selects)
        select = f'c."id"{columns}'
        source = f'"customers" AS c{"".join(joins)}{only}'
        if len(levels) > 1:
            # rules that use others of their layer read them from the query inside theirs,
            # where each was computed once (the subqueries are co-routines: in SQLite a LIMIT
            # on both sides keeps them from being flattened)
            keep = self.dialect.KEEP_SUBQUERY
            query = f'SELECT c."id" AS customer_id{columns} FROM {source}{keep}'
            for level in levels[1:]:
                query = f"SELECT d.*, {', '.join(level)} FROM ({query}) AS d{keep}"
            select = "d.customer_id" + "".join(f", d.{quote(item.name)}" for item in written)
            source = f"({query}) AS d"
        yield Statement("setup", f"layer {layer}: drop", f"DROP TABLE IF EXISTS temp.{name}")
        yield Statement(
            "setup",
            f"layer {layer}: create",
            f"CREATE TEMP TABLE {name} ({self.dialect.KEY_COLUMN}{column_list})",
        )
        metrics_only = all(item.kind == "metric" for item in written)
        yield Statement(
            "metrics" if metrics_only else "segments",
            f"layer {layer}: " + _counted(written),
            f"INSERT INTO temp.{name} SELECT {select} FROM {source}",
            tuple(ctx.params),
        )

    def layer_table(self, layer: int) -> str:
        return quote(self.ns.name(f"cv_layer_{layer}"))

    def depths(self, members: list[_Item]) -> dict[str, int]:
        """How deep each rule nests in rules of its own layer (0: it uses none of them)."""
        depth: dict[str, int] = {}
        for item in members:  # dependency order
            inner = [depth[d] + 1 for d in item.deps if d in depth]
            depth[item.name] = max(inner, default=0)
        return depth

    def view(self, columns: tuple[ValueColumn, ...]) -> Statement:
        """Every layer has a row for every customer, so a LEFT JOIN finds what a join would;
        SQLite leaves out a LEFT JOIN on a key whose columns a query does not read, so a
        statement reading two layers through the view joins two, not all of them."""
        layers = sorted({self.items[col.name].layer for col in columns} | {0})
        selects = "".join(
            f", v{self.items[col.name].layer}.{quote(col.name)} AS {quote(col.name)}"
            for col in columns
        )
        joins = "".join(
            f" LEFT JOIN temp.{self.layer_table(n)} AS v{n} ON v{n}.customer_id = v0.customer_id"
            for n in layers[1:]
        )
        return Statement(
            "setup",
            "customer_values view",
            f"CREATE TEMP VIEW {self.ns.customer_values} AS SELECT v0.customer_id AS "
            f"customer_id{selects} FROM temp.{self.ns.name('cv_layer_0')} AS v0{joins}",
        )


class _Carrying(Mapping[str, str]):
    """Names as a query around the innermost one reads them: rules of its layer computed
    further in (`inner`) by name, everything else through a column the innermost query
    carries out (collected in `carried`)."""

    def __init__(self, names: Mapping[str, str], carried: dict[str, str], inner: set[str]):
        self.names, self.carried, self.inner = names, carried, inner

    def __getitem__(self, name: str) -> str:
        if name in self.inner:
            return f"d.{quote(name)}"
        self.names[name]  # a KeyError for an unknown name, as the plain names give
        return "d." + self.carried.setdefault(name, quote(f"{name}:carried"))

    def __iter__(self) -> Iterator[str]:
        return iter(self.names)

    def __len__(self) -> int:
        return len(self.names)


_AGGREGATE_NAMES = ("count", "count_distinct", "sum", "avg", "min", "max", "first", "last", "mode")


def _counted(items: list[_Item]) -> str:
    metrics = sum(item.kind == "metric" for item in items)
    parts = [f"{metrics} metric(s)" if metrics else "", f"{len(items) - metrics} segment(s)"]
    return " and ".join(p for p in parts if p and not p.startswith("0 "))


def _where_key(metric: Metric) -> tuple[Any, ...]:
    return canonical(metric.where.node) if metric.where is not None else ()


def _stored_type(item: _Item) -> str:
    return "boolean" if item.kind == "segment" else item.type


def _stored_default(metric: Metric) -> Any:
    """A metric's `default` in the engine's form of its type."""
    value = metric.default
    if isinstance(value, bool):
        return int(value)
    if metric.type == "datetime" and isinstance(value, str):
        return epoch_seconds(value)
    return value


def compile_values(
    rules: RuleSet,
    as_of: datetime,
    *,
    customer: int | None = None,
    population: bool = True,
    ns: Namespace = DEFAULT,
    dialect: Dialect = SQLITE,
    kept: Collection[str] | None = None,
) -> ValuesProgram:
    """The statements that build `customer_values` for every customer (or just `customer`,
    for explain; then population ranks are computed only when `population` is set), its
    tables named in `ns`, its SQL in `dialect`. With `kept`, `customer_values` holds only
    those metrics and segments (and every segment: plans count them), and only what they use
    is computed (`decision_values`: what a plan reads)."""
    return _ValuesCompiler(rules, as_of, customer, population, ns, dialect, kept).build()


def decision_values(rules: RuleSet) -> frozenset[str]:
    """The metrics and segments that offers, channels and the calendar read: every name in
    any of their expressions (however deep in the model it sits)."""
    computed = rules.metrics.keys() | rules.segments.keys()
    found: set[str] = set()

    def visit(value: Any) -> None:
        if isinstance(value, Expression):
            found.update(n.name for n in walk(value.node) if isinstance(n, Name))
        elif is_dataclass(value) and not isinstance(value, type):
            for f in fields(value):
                visit(getattr(value, f.name))
        elif isinstance(value, dict):
            for item in value.values():
                visit(item)
        elif isinstance(value, tuple | list):
            for item in value:
                visit(item)

    visit((rules.offers, rules.channels, rules.calendar))
    return frozenset(found & computed)
