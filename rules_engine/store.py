"""The customer store: canonical tables, creating and opening stores, and schema introspection.

The canonical tables are declared once here, with their types in the rule language's words
(integer, real, text, boolean, date, datetime). SQLite stores booleans as integers and times as
ISO-8601 text, so the declared SQL type alone cannot say that `email_opt_in` is a boolean or
`ordered_at` a datetime: introspection takes canonical columns' types from this declaration,
maps other columns from their declared SQL type, and lets the rules' `store:` section add or
override columns.
"""

from __future__ import annotations

import contextvars
import sqlite3
import threading
import urllib.parse
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, ExitStack, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from .errors import StoreError
from .times import utc_text

if TYPE_CHECKING:
    import duckdb
    import sqlite_utils

    # A store open in either format: introspection reads both.
    AnyConnection = sqlite3.Connection | duckdb.DuckDBPyConnection

RuleType = Literal["integer", "real", "text", "boolean", "date", "datetime"]
RULE_TYPES: tuple[RuleType, ...] = ("integer", "real", "text", "boolean", "date", "datetime")

# How each rule-language type is stored in SQLite (sqlite-utils column types).
_STORAGE: dict[str, type] = {
    "integer": int,
    "real": float,
    "text": str,
    "boolean": int,
    "date": str,
    "datetime": str,
}


@dataclass(frozen=True)
class TableSpec:
    """A canonical table: columns in order, primary key, references to customers, indexes."""

    name: str
    columns: tuple[tuple[str, RuleType], ...]
    pk: tuple[str, ...]
    references_customers: bool = False
    indexes: tuple[tuple[str, ...], ...] = ()
    unique_indexes: tuple[tuple[str, ...], ...] = ()
    written_by_engine: bool = False

    @property
    def column_types(self) -> dict[str, RuleType]:
        return dict(self.columns)


def _cols(spec: str) -> tuple[tuple[str, RuleType], ...]:
    """Parse 'name:type name:type ...' (types default to text) so the tables read as a list."""
    out: list[tuple[str, RuleType]] = []
    for item in spec.split():
        name, _, kind = item.partition(":")
        rule_type = kind or "text"
        assert rule_type in RULE_TYPES, item
        out.append((name, rule_type))
    return tuple(out)


CANONICAL_TABLES: tuple[TableSpec, ...] = (
    TableSpec(
        "customers",
        _cols(
            "id:integer created_at:datetime country city timezone member_tier email phone "
            "push_token wechat_openid email_opt_in:boolean sms_opt_in:boolean "
            "push_opt_in:boolean wechat_opt_in:boolean birth_date:date gender"
        ),
        pk=("id",),
    ),
    TableSpec(
        "orders",
        _cols(
            "id:integer customer_id:integer ordered_at:datetime amount:real currency status "
            "category channel coupon_code discount:real"
        ),
        pk=("id",),
        references_customers=True,
        indexes=(("customer_id", "ordered_at"),),
    ),
    TableSpec(
        "events",
        _cols("id:integer customer_id:integer type at:datetime product_id category value:real"),
        pk=("id",),
        references_customers=True,
        indexes=(("customer_id", "type", "at"),),
    ),
    TableSpec(
        "contacts",
        _cols("id:integer customer_id:integer channel offer_id sent_at:datetime status"),
        pk=("id",),
        references_customers=True,
        indexes=(("customer_id", "sent_at"),),
    ),
    TableSpec(
        "channel_stats",
        _cols(
            "channel period_start:date period_end:date spend:real revenue:real "
            "conversions:integer target_roi:real"
        ),
        pk=("channel", "period_start"),
    ),
    TableSpec(
        "runs",
        _cols(
            "run_id run_key as_of:datetime started_at:datetime finished_at:datetime status "
            "rules_digest git_commit counts timezone"
        ),
        pk=("run_id",),
        unique_indexes=(("run_key",),),
        written_by_engine=True,
    ),
    TableSpec(
        "actions",
        _cols(
            "run_id customer_id:integer offer_id channel send_at:datetime content incentive "
            "cost:real variant"
        ),
        pk=("run_id", "customer_id", "offer_id"),
        indexes=(("customer_id", "send_at"), ("offer_id",)),
        written_by_engine=True,
    ),
    TableSpec(
        "audit",
        _cols(
            "run_id customer_id:integer offer_id outcome reason channel rule_file "
            "rule_line:integer detail variant"
        ),
        pk=("run_id", "customer_id", "offer_id"),
        indexes=(("customer_id",),),  # explain looks a customer's audit rows up
        written_by_engine=True,
    ),
    TableSpec(
        "channel_exits",
        _cols("customer_id:integer channel exited_at:datetime until:datetime reason run_id"),
        pk=("customer_id", "channel", "exited_at"),
        indexes=(("customer_id", "channel"),),
        written_by_engine=True,
    ),
)

TABLES: dict[str, TableSpec] = {t.name: t for t in CANONICAL_TABLES}

# Tables a rule can aggregate over with `from:` (rows carry a customer_id).
RELATED_TABLES = ("orders", "events", "contacts")


@dataclass
class StoreSchema:
    """Each table's columns with their rule-language types, in column order."""

    tables: dict[str, dict[str, RuleType]] = field(default_factory=dict)
    store: str | None = None  # the store it was read from; None: the canonical tables only

    def columns(self, table: str) -> dict[str, RuleType]:
        return self.tables.get(table, {})

    def with_declared(self, declared: Mapping[str, Mapping[str, RuleType]]) -> StoreSchema:
        """This schema plus the rules' `store:` declarations (declared types win)."""
        merged = {name: dict(cols) for name, cols in self.tables.items()}
        for table, cols in declared.items():
            merged.setdefault(table, {}).update(cols)
        return StoreSchema(merged, self.store)


def as_stored(value: Any) -> Any:
    """A value read from a DuckDB store as a SQLite store holds it: a boolean as 1/0, a
    TIMESTAMP (the UTC instant) in the engine's spelling of a time, a DATE as `YYYY-MM-DD`."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, datetime):
        return utc_text(value if value.tzinfo is not None else value.replace(tzinfo=UTC))
    if isinstance(value, date):
        return value.isoformat()
    return value


def canonical_schema() -> StoreSchema:
    """The schema every store has; used by `validate` when no store is given."""
    return StoreSchema({t.name: t.column_types for t in CANONICAL_TABLES})


def rule_type_of_sql(declared: str) -> RuleType:
    """Map a declared SQLite column type to a rule type, following SQLite's affinity rules."""
    upper = declared.upper()
    if "BOOL" in upper:
        return "boolean"
    if "DATETIME" in upper or "TIMESTAMP" in upper:
        return "datetime"
    if upper == "DATE":
        return "date"
    if "INT" in upper:
        return "integer"
    if any(word in upper for word in ("REAL", "FLOA", "DOUB", "NUMERIC", "DECIMAL")):
        return "real"
    return "text"


class StoreConnection(sqlite3.Connection):
    """A read-only connection, and what the store file looked like when it was opened
    without SQLite's locks (`snapshot`; None when opened with them)."""

    snapshot: tuple[int, int, int] | None = None


def _file_state(path: Path) -> tuple[int, int, int]:
    state = path.stat()
    return state.st_ino, state.st_size, state.st_mtime_ns


def _read_only_uri(path: Path, immutable: bool) -> str:
    """The URI of a store, its path percent-quoted: `%41`, `?` or `#` in a file name stay
    part of the name (unquoted, SQLite would read another file, or drop `mode=ro`)."""
    query = "mode=ro&immutable=1" if immutable else "mode=ro"
    return f"file:{urllib.parse.quote(path.resolve().as_posix())}?{query}"


def _wal_without_log(path: Path) -> bool:
    """A store in WAL mode that no connection holds open: no `-wal` file, so every committed
    row is in the main file. Opening it with SQLite's locks would create `-wal` and `-shm`
    files (left behind by a read-only reader, owned by whoever read, and impossible in a
    read-only folder); it is read without them, and checked unchanged afterwards."""
    try:
        with path.open("rb") as file:
            header = file.read(20)
    except OSError:
        return False
    in_wal_mode = header.startswith(b"SQLite format 3\0") and header[18:20] == b"\x02\x02"
    return in_wal_mode and not Path(f"{path}-wal").exists()


def connect_read_only(path: str | Path) -> StoreConnection:
    """Open an existing store without any chance of writing to it (plan, validate --db), and
    without creating any file beside it."""
    path = Path(path)
    if not path.exists():
        raise StoreError(f"{path}: no such store; create one with `campaign init-store {path}`")
    if path.is_dir():
        raise StoreError(f"{path}: is a directory, not a store file")
    from .backends.sqlite.functions import register

    refuse_duckdb(path)
    wait = LOCK_WAIT.get()
    immutable = _wal_without_log(path)
    try:
        before = _file_state(path) if immutable else None
        conn = sqlite3.connect(
            _read_only_uri(path, immutable), uri=True, timeout=wait, factory=StoreConnection
        )
        conn.snapshot = before
        register(conn)
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.OperationalError as exc:
        if is_locked(exc):
            raise StoreLocked(path, wait) from None
        raise StoreError(f"{path}: not a SQLite database ({exc})") from None
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"{path}: not a SQLite database ({exc})") from None
    except OSError as exc:
        raise StoreError(f"{path}: cannot be read ({exc.strerror})") from None
    return conn


# How long a connection waits for another process's lock on the store, in seconds: every
# connection the command opens, for every statement (SQLite's busy timeout). `run --wait`
# sets it for the whole command.
LOCK_WAIT: ContextVar[float] = ContextVar("LOCK_WAIT", default=5.0)
# Told once when a DuckDB store is held by another process and the command starts to wait
# for it (the CLI prints it); None: wait silently.
LOCK_NOTICE: ContextVar[Callable[[str], None] | None] = ContextVar("LOCK_NOTICE", default=None)


def is_locked(exc: sqlite3.Error) -> bool:
    return "locked" in str(exc) or "busy" in str(exc)


class StoreLocked(StoreError):
    """Another process held a lock on the store for longer than we were willing to wait."""

    exit_code = 1

    def __init__(self, path: str | Path, wait: float) -> None:
        super().__init__(
            f"{path}: another process has held a lock on the store for over {wait:g} s "
            "(a run, or another program writing to it); try again when it has finished, or "
            "wait longer with --wait SECONDS"
        )


def refuse_duckdb(path: Path) -> None:
    """The commands that decide or measure (plan, run, explain, metrics, diff, results) read
    SQLite stores so far."""
    from . import storeformat

    if storeformat.is_duckdb(path):
        raise StoreError(
            f"{path}: is a DuckDB store, and this command reads SQLite stores so far; make a "
            f"SQLite copy with `campaign store copy {path} {path.with_suffix('.db')}`"
        )


def ensure_unchanged(conn: StoreConnection, path: str | Path) -> None:
    """A store read without locks must not have changed meanwhile (a run's checkpoint)."""
    if conn.snapshot is not None and _file_state(Path(path)) != conn.snapshot:
        raise StoreError(
            f"{path}: the store changed while it was being read (a run committed); "
            "nothing was decided from it: run the command again"
        )


def columns_of(conn: AnyConnection, table: str) -> set[str]:
    """The columns a table of the store has (none for a missing table)."""
    return {name for name, _ in table_columns(conn).get(table, [])}


def table_columns(conn: AnyConnection) -> dict[str, list[tuple[str, str]]]:
    if not isinstance(conn, sqlite3.Connection):
        from .backends.duckdb.store import table_columns as duckdb_columns

        return duckdb_columns(conn)
    names = [
        row[0]
        for row in conn.execute(
            "SELECT name FROM sqlite_master WHERE type IN ('table', 'view') ORDER BY name"
        )
    ]
    return {
        name: [
            (r[1], r[2] or "") for r in conn.execute("SELECT * FROM pragma_table_info(?)", (name,))
        ]
        for name in names
    }


def introspect(conn: AnyConnection) -> StoreSchema:
    """The real schema of an open store, with canonical columns typed as the contract says."""
    schema = StoreSchema()
    for table, columns in table_columns(conn).items():
        canonical = TABLES[table].column_types if table in TABLES else {}
        schema.tables[table] = {
            name: canonical.get(name) or rule_type_of_sql(declared) for name, declared in columns
        }
    return schema


def read_schema(path: str | Path) -> StoreSchema:
    """Introspect the store at `path`, checking first that it is a campaign store."""
    with closing_any(path) as conn:
        ensure_is_store(conn, path)
        schema = introspect(conn)
    schema.store = str(path)
    return schema


@contextmanager
def closing_read_only(path: str | Path) -> Iterator[StoreConnection]:
    """A read-only connection, closed after the block; a store read without locks is checked
    unchanged at the end of the block, so nothing is built on a torn read."""
    conn = connect_read_only(path)
    try:
        yield conn
        ensure_unchanged(conn, path)
    finally:
        conn.close()


@contextmanager
def closing_any(path: str | Path) -> Iterator[AnyConnection]:
    """Open a store of either format read-only, for introspection and counts."""
    from . import storeformat

    if storeformat.is_duckdb(path):
        from .backends.duckdb.store import closing

        with closing(path, wait=LOCK_WAIT.get()) as duck:
            yield duck
        return
    with closing_read_only(path) as conn:
        yield conn


@contextmanager
def kept_open(path: str | Path) -> Iterator[None]:
    """A DuckDB store kept open read-only for the block, so that a command's several reads of
    it (its tables checked, its schema, then the reading itself) open the file once: DuckDB
    keeps one database per file and process while a connection to it is open, and each
    further open takes a millisecond instead of reading the file's catalogue again (some 50 ms
    on a million customers). Anything else (a SQLite store, a path that is not a store) is
    left to the reads, which open it and report what is wrong with it."""
    from . import storeformat

    try:
        duckdb = storeformat.is_duckdb(path)
    except StoreError:
        duckdb = False
    if not duckdb:
        yield
        return
    from .backends.duckdb.store import closing

    with closing(path, wait=LOCK_WAIT.get()):
        yield


def kept_open_soon(path: str | Path) -> AbstractContextManager[None]:
    """`kept_open`, its opening begun now on a thread of its own: DuckDB reads a large
    store's catalogue without holding Python's lock (some 30 ms on a million customers), so it
    overlaps what the command does before it enters the block (explain: importing what it
    explains with). Entering waits for the opening and raises what it raised; a wait for a
    store another process holds is told as `kept_open` tells it."""
    from . import storeformat

    try:
        if storeformat.is_duckdb(path):  # imported here: an import on the thread could race
            from .backends.duckdb import store as _duckdb_store  # noqa: F401
    except StoreError:
        pass  # kept_open lets the reads report it
    opening = kept_open(path)
    failed: list[BaseException] = []

    def enter() -> None:
        try:
            opening.__enter__()
        except BaseException as exc:  # raised where the block is entered
            failed.append(exc)

    thread = threading.Thread(target=contextvars.copy_context().run, args=(enter,), daemon=True)
    thread.start()

    @contextmanager
    def joined() -> Iterator[None]:
        thread.join()
        if failed:
            raise failed[0]
        with ExitStack() as stack:
            stack.push(opening)
            yield

    return joined()


def missing_canonical(conn: AnyConnection) -> dict[str, list[str]]:
    """Canonical tables and columns the database lacks ({table: [] } for a missing table)."""
    present = table_columns(conn)
    missing: dict[str, list[str]] = {}
    for spec in CANONICAL_TABLES:
        if spec.name not in present:
            missing[spec.name] = []
            continue
        have = {name for name, _ in present[spec.name]}
        cols = [name for name, _ in spec.columns if name not in have]
        if cols:
            missing[spec.name] = cols
    return missing


# Columns a run writes that no reading command needs (those reading them take a store without
# them as NULL): a store made before they existed plans and explains as it is, and needs
# `init-store` only before its next run.
WRITTEN_BY_RUNS = {"runs": ("timezone",)}


def ensure_complete(path: str | Path, *, writing: bool = False) -> None:
    """Refuse stores that lack canonical tables or columns: plan and run read them all, and a
    run (`writing`) also writes `WRITTEN_BY_RUNS`."""
    with closing_any(path) as conn:
        ensure_is_store(conn, path)
        missing = missing_canonical(conn)
        for table, columns in WRITTEN_BY_RUNS.items() if not writing else ():
            lacking = missing.get(table)  # [] is the whole table: still refused
            if lacking:
                kept = [c for c in lacking if c not in columns]
                if kept:
                    missing[table] = kept
                else:
                    del missing[table]
        duplicates = [] if missing else duplicate_customers(conn)
    if duplicates:
        shown = ", ".join(str(i) for i in duplicates[:5]) + (", ..." if len(duplicates) > 5 else "")
        raise StoreError(
            f"{path}: customers holds the same id on several rows ({shown}); each customer "
            "must be one row: remove the duplicates (a store made by `campaign init-store` "
            "keys customers by id and cannot have them)"
        )
    if missing:
        parts = [
            f"{table} ({', '.join(cols)})" if cols else f"{table} (the whole table)"
            for table, cols in missing.items()
        ]
        raise StoreError(
            f"{path}: the store lacks what the engine reads: {'; '.join(parts)}; add it with "
            f"`campaign init-store {path}` (existing rows are kept)"
        )


def duplicate_customers(conn: AnyConnection) -> list[object]:
    """Customer ids on more than one row (none where `id` is the key, which is not scanned)."""
    if not isinstance(conn, sqlite3.Connection):
        keyed = conn.execute(
            "SELECT 1 FROM duckdb_constraints() WHERE database_name = current_database() "
            "AND schema_name = 'main' AND table_name = 'customers' "
            "AND constraint_type IN ('PRIMARY KEY', 'UNIQUE') AND constraint_column_names = ['id']"
        ).fetchall()
        return [] if keyed else _duplicate_ids(conn)
    key = [row[1] for row in conn.execute("PRAGMA table_info(customers)") if row[5] > 0]
    if key == ["id"]:
        return []
    for index in conn.execute("PRAGMA index_list(customers)"):
        columns = [r[2] for r in conn.execute("SELECT * FROM pragma_index_info(?)", (index[1],))]
        if index[2] and columns == ["id"]:
            return []
    return _duplicate_ids(conn)


def _duplicate_ids(conn: AnyConnection) -> list[object]:
    rows = conn.execute(
        'SELECT "id" FROM customers GROUP BY "id" HAVING count(*) > 1 ORDER BY "id" LIMIT 6'
    ).fetchall()
    return [row[0] for row in rows]


def ensure_is_store(conn: AnyConnection, path: str | Path) -> None:
    """Refuse databases that are not campaign stores (no `customers` table with an `id`)."""
    missing = _not_a_store(conn)
    if missing is not None:
        raise StoreError(
            f"{path}: not a campaign store ({missing}); create a store with "
            "`campaign init-store NEW_PATH`, or give the path of your campaign store"
        )


def _not_a_store(conn: AnyConnection) -> str | None:
    """What a database lacks to be a campaign store, in words; None when it is one."""
    present = table_columns(conn)
    if "customers" not in present:
        found = ", ".join(sorted(present)) or "no tables"
        return f"it has {found}, but no customers table"
    if "id" not in {name for name, _ in present["customers"]}:
        return "its customers table has no id column"
    return None


def check_can_initialise(path: Path) -> None:
    """Read-only look before writing: only new files, empty databases and stores are touched."""
    if not path.parent.is_dir():
        raise StoreError(f"{path}: the folder {path.parent} does not exist; create it first")
    if not path.exists():
        return
    if path.is_dir():
        raise StoreError(f"{path}: is a directory, not a store file")
    with closing_any(path) as conn:
        if not table_columns(conn):
            return
        missing = _not_a_store(conn)
    if missing is not None:
        raise StoreError(
            f"{path}: a SQLite database of another application ({missing}); init-store "
            "will not touch it: give a new path for the campaign store"
        )


def init_store(path: str | Path, fmt: str | None = None) -> list[str]:
    """Create the canonical store at `path`, or add what an existing store lacks.

    An existing store keeps its format; a new one is SQLite unless `fmt` or a `.duckdb` name
    says DuckDB. Never touches existing rows. Returns what was created, for the CLI to report.
    """
    from . import storeformat

    path = Path(path)
    check_can_initialise(path)
    existing = storeformat.detect(path) if path.exists() else None
    if fmt is not None and existing is not None and fmt != existing:
        raise StoreError(
            f"{path}: is a {existing} store; `campaign store copy` makes a {fmt} copy of it"
        )
    if (existing or storeformat.for_new(path, fmt)) == "duckdb":
        from .backends.duckdb.store import init_store as init_duckdb

        return init_duckdb(path)
    import sqlite_utils  # only here: it takes a fifth of a second to import (numpy with it)

    db = sqlite_utils.Database(path)
    try:
        created = create_tables(db.conn)
        db.conn.execute("PRAGMA journal_mode=WAL")
    finally:
        db.close()
    return created


def create_tables(conn: sqlite3.Connection, declared: StoreSchema | None = None) -> list[str]:
    """The canonical tables on an open connection, or what they lack, in one transaction
    (`init-store`, and each rule test's in-memory store); with `declared`, also the tables
    and columns a rule set's `store:` section declares."""
    import sqlite_utils

    db = sqlite_utils.Database(conn)
    specs = list(CANONICAL_TABLES)
    for name, columns in (declared.tables if declared else {}).items():
        if name not in TABLES:
            specs.append(TableSpec(name, tuple(columns.items()), pk=()))
    created: list[str] = []
    with conn:
        for spec in specs:
            created += _ensure_table(db, spec)
            extra = declared.columns(spec.name) if declared else {}
            created += _ensure_columns(db.table(spec.name), extra)
    return created


def _ensure_table(db: sqlite_utils.Database, spec: TableSpec) -> list[str]:
    created: list[str] = []
    table = db.table(spec.name)
    columns = {name: _STORAGE[kind] for name, kind in spec.columns}
    if not table.exists():
        foreign_keys = [("customer_id", "customers", "id")] if spec.references_customers else []
        pk = (spec.pk if len(spec.pk) > 1 else spec.pk[0]) if spec.pk else None
        table.create(columns, pk=pk, foreign_keys=foreign_keys)
        created.append(f"table {spec.name}")
    else:
        created += _ensure_columns(table, spec.column_types)
    existing = {tuple(index.columns) for index in table.indexes}
    for cols, unique in [(c, False) for c in spec.indexes] + [
        (c, True) for c in spec.unique_indexes
    ]:
        if cols not in existing:
            table.create_index(list(cols), unique=unique, if_not_exists=True)
            created.append(f"index {spec.name}({', '.join(cols)})")
    return created


def _ensure_columns(table: sqlite_utils.db.Table, columns: Mapping[str, RuleType]) -> list[str]:
    created = []
    for name, kind in columns.items():
        if name not in table.columns_dict:
            table.add_column(name, _STORAGE[kind])
            created.append(f"column {table.name}.{name}")
    return created


def index_name(table: str, columns: tuple[str, ...]) -> str:
    """The name sqlite-utils gives an index, so that `init-store` and `run` agree."""
    return f"idx_{table}_{'_'.join(columns)}"


def ensure_engine_indexes(conn: sqlite3.Connection) -> None:
    """The indexes of the tables the engine writes, on stores made before they existed."""
    for spec in CANONICAL_TABLES:
        if spec.written_by_engine:
            for columns in spec.indexes:
                quoted = ", ".join(f'"{c}"' for c in columns)
                conn.execute(
                    f'CREATE INDEX IF NOT EXISTS "{index_name(spec.name, columns)}" '
                    f'ON "{spec.name}" ({quoted})'
                )


def row_counts(path: str | Path) -> dict[str, int]:
    """Rows per table of a store, for summaries."""
    with closing_any(path) as conn:
        ensure_is_store(conn, path)
        tables = list(table_columns(conn))
        return {t: _count(conn, t) for t in tables}


def _count(conn: AnyConnection, table: str) -> int:
    (n,) = conn.execute(f'SELECT count(*) FROM "{table}"').fetchone() or (0,)
    return int(n)
