"""`campaign run` as operators use it: real processes on a demo store.

Idempotency by run key, crash safety (SIGKILL at progress lines and at fixed delays leaves the
store as it was, and the same key then commits), concurrency (two runs at once cannot both book
the same room), exports (SPEC's columns, no addresses unless asked) and clean failures.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any

import pytest

from rules_engine import demo
from rules_engine.backends.sqlite import audit
from rules_engine.rules.check import check
from rules_engine.rules.files import discover
from rules_engine.rules.model import RuleSet
from rules_engine.times import parse_as_of

REPO = Path(__file__).resolve().parent.parent
CUSTOMERS = 5_000
AS_OF = "2026-11-20T10:00:00+08:00"
AS_OF_UTC = parse_as_of(AS_OF)
CAMPAIGN = (sys.executable, "-m", "rules_engine.cli")
ENGINE_TABLES = ("actions", "audit", "channel_exits", "runs")
# Columns of `runs` that differ between two runs of the same key (the clock, the checkout).
VOLATILE = {"started_at", "finished_at", "git_commit"}
ACTION_COLUMNS = [
    "run_id",
    "customer_id",
    "offer_id",
    "channel",
    "send_at",
    "content",
    "incentive",
    "cost",
    "variant",
]
ADDRESS_COLUMNS = ("email", "phone", "push_token", "wechat_openid")
STAGE = re.compile(r"^campaign: \[\s*[0-9.]+s\] ([a-z_]+)")


# -- store content ----------------------------------------------------------------------------


def pages(path: Path) -> str:
    """A digest of the database as SQLite reads it (committed WAL frames included, others not):
    equal digests mean nothing was committed. Fast, and stricter than comparing rows."""
    with closing(sqlite3.connect(path)) as conn:
        return hashlib.sha256(conn.serialize()).hexdigest()


def content(path: Path) -> dict[str, str]:
    """The store's logical content, one entry per table, plus its schema.

    The engine's tables are hashed row by row in rowid order (without the columns of `runs`
    that differ between two runs of one key); the shop's tables (150,000 rows of customers,
    orders, events, contacts and channel_stats that a run never writes) by an SQL checksum.
    """
    found: dict[str, str] = {}
    with closing(sqlite3.connect(path)) as conn:
        schema = conn.execute("SELECT type, name, sql FROM sqlite_master ORDER BY 1, 2").fetchall()
        found["sqlite_master"] = _sha(schema)
        for (table,) in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        ).fetchall():
            columns = [r[1] for r in conn.execute("SELECT * FROM pragma_table_info(?)", (table,))]
            if table in ENGINE_TABLES:
                keep = [c for c in columns if c not in VOLATILE]
                names = ", ".join(f'"{c}"' for c in keep)
                rows = conn.execute(f'SELECT {names} FROM "{table}" ORDER BY rowid').fetchall()
                found[table] = _sha(rows)
            else:
                sums = ", ".join(
                    f'total(length(CAST("{c}" AS BLOB)) * (rowid % 1009 + 1))' for c in columns
                )
                found[table] = _sha(
                    conn.execute(f'SELECT count(*), {sums} FROM "{table}"').fetchone()
                )
    return found


def _sha(value: object) -> str:
    return hashlib.sha256(repr(value).encode()).hexdigest()


def integrity(path: Path) -> str:
    with closing(sqlite3.connect(path)) as conn:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])


def query(path: Path, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    with closing(sqlite3.connect(path)) as conn:
        return conn.execute(sql, params).fetchall()


def copy_store(source: Path, target: Path) -> Path:
    """The store file with its WAL and shared memory, as a process left them."""
    for suffix in ("", "-wal", "-shm"):
        if Path(f"{source}{suffix}").exists():
            shutil.copyfile(f"{source}{suffix}", f"{target}{suffix}")
    return target


# -- processes --------------------------------------------------------------------------------


class Campaign:
    """A `campaign` process whose stderr is read line by line as it comes.

    With `kill_on`, the reader sends SIGKILL the moment a progress line of that stage appears
    (after `kill_delay` seconds, if given).
    """

    def __init__(
        self, args: Sequence[str], *, kill_on: str | None = None, kill_delay: float = 0.0
    ) -> None:
        self.kill_on, self.kill_delay = kill_on, kill_delay
        self.killed_on: str | None = None
        self.lines: list[tuple[float, str]] = []
        self.ended = False
        self.changed = threading.Condition()
        # closed by finish() or stop()
        self.stdout: IO[str] = tempfile.TemporaryFile("w+", encoding="utf-8")  # noqa: SIM115
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            [*CAMPAIGN, *args],
            cwd=REPO,
            stdin=subprocess.DEVNULL,
            stdout=self.stdout,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
        )
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            match = STAGE.match(line)
            if self.kill_on and self.killed_on is None and match and match[1] == self.kill_on:
                if self.kill_delay:
                    time.sleep(self.kill_delay)
                self.kill()
                self.killed_on = line.rstrip("\n")
            with self.changed:
                self.lines.append((time.monotonic(), line.rstrip("\n")))
                self.changed.notify_all()
        with self.changed:
            self.ended = True
            self.changed.notify_all()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)

    def seen(self, stage: str) -> float | None:
        """When a progress line of `stage` was read (monotonic clock), or None."""
        for at, line in self.lines:
            match = STAGE.match(line)
            if match and match[1] == stage:
                return at
        return None

    def wait_for(self, stage: str, timeout: float = 60.0) -> bool:
        with self.changed:
            return self.changed.wait_for(
                lambda: self.seen(stage) is not None or self.ended, timeout
            ) and (self.seen(stage) is not None)

    def finish(self, timeout: float = 120.0) -> Finished:
        returncode = self.proc.wait(timeout)
        self.reader.join(timeout)
        self.stdout.seek(0)
        out = self.stdout.read()
        self.stdout.close()
        err = "\n".join(line for _, line in self.lines)
        return Finished(returncode, out, err, time.monotonic() - self.started)

    def stop(self) -> None:
        """Never leave a process behind, whatever the test did."""
        self.kill()
        try:
            self.proc.wait(30)
        finally:
            self.reader.join(30)
            if self.proc.stderr is not None:
                self.proc.stderr.close()
            if not self.stdout.closed:
                self.stdout.close()


@dataclass(frozen=True)
class Finished:
    returncode: int
    stdout: str
    stderr: str
    seconds: float


def run_args(db: Path, key: str, *extra: str) -> list[str]:
    return ["run", "rules", "--db", str(db), "--run-key", key, "--as-of", AS_OF, *extra]


Spawn = Callable[..., Campaign]


@pytest.fixture
def spawn() -> Iterator[Spawn]:
    """Start `campaign` processes that are killed at the end of the test in any case."""
    started: list[Campaign] = []

    def start(args: Sequence[str], **options: Any) -> Campaign:
        process = Campaign(args, **options)
        started.append(process)
        return process

    try:
        yield start
    finally:
        for process in started:
            process.stop()


def campaign(args: Sequence[str], timeout: float = 120.0) -> Finished:
    """Run `campaign` to its end."""
    process = Campaign(args)
    try:
        return process.finish(timeout)
    finally:
        process.stop()


def assert_clean_failure(result: Finished, code: int) -> None:
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert "campaign: error:" in result.stderr


# -- shared stores ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reference:
    """A store after one complete run of key `KEY` on a copy of the demo store."""

    KEY = "crash-safe"
    path: Path
    content: dict[str, str]
    seconds: float  # how long the whole `campaign run` took


@pytest.fixture(scope="module")
def demo_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("run") / "demo.db"
    demo.build_demo_store(path, customers=CUSTOMERS, seed=1, progress=False)
    return path


@pytest.fixture(scope="module")
def before(demo_store: Path) -> str:
    """The demo store's pages: what every failed or killed run must leave."""
    return pages(demo_store)


@pytest.fixture(scope="module")
def reference(demo_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Reference:
    path = shutil.copyfile(demo_store, tmp_path_factory.mktemp("reference") / "ref.db")
    result = campaign(run_args(path, Reference.KEY))
    assert result.returncode == 0, result.stderr
    assert "committed run" in result.stdout
    return Reference(path, content(path), result.seconds)


@pytest.fixture(scope="module")
def rules(demo_store: Path) -> RuleSet:
    """The example rules, named as `campaign run rules` names them (from the checkout)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(REPO)
        checked = check(["rules"], db=demo_store, as_of=AS_OF_UTC)
    assert not checked.errors
    return checked.rules


def run_here(path: Path, rules: RuleSet, key: str) -> audit.RunResult:
    """`campaign run` without starting Python again: the library call the command makes."""
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(REPO)
        return audit.run(path, rules, AS_OF_UTC, key, wait=30)


@pytest.fixture
def shop(demo_store: Path, tmp_path: Path) -> Path:
    """A private copy of the demo store."""
    return Path(shutil.copyfile(demo_store, tmp_path / "shop.db"))


def action_set(path: Path, run_id: str) -> frozenset[tuple[Any, ...]]:
    return frozenset(
        query(
            path,
            'SELECT "customer_id", "offer_id", "channel", "send_at", "content", "incentive", '
            '"cost" FROM "actions" WHERE "run_id" = ?',
            (run_id,),
        )
    )


def run_ids(path: Path) -> dict[str, str]:
    return {key: run_id for run_id, key in query(path, 'SELECT "run_id", "run_key" FROM "runs"')}


# -- 1. idempotency ----------------------------------------------------------------------------


def test_committed_key_changes_nothing_and_another_key_runs(
    reference: Reference, tmp_path: Path
) -> None:
    path = Path(shutil.copyfile(reference.path, tmp_path / "shop.db"))
    committed = pages(path)

    again = campaign(run_args(path, Reference.KEY))
    assert again.returncode == 0, again.stderr
    assert "already committed" in again.stdout
    assert "nothing changed" in again.stdout
    assert pages(path) == committed

    other = campaign(run_args(path, "another-key", "--quiet"))
    assert other.returncode == 0, other.stderr
    assert "committed run" in other.stdout
    assert other.stderr == ""  # --quiet: no progress lines
    ids = run_ids(path)
    assert set(ids) == {Reference.KEY, "another-key"}
    statuses = query(path, 'SELECT DISTINCT "status" FROM "runs"')
    assert statuses == [("committed",)]
    audit_rows = query(
        path, 'SELECT count(*) FROM "audit" WHERE "run_id" = ?', (ids["another-key"],)
    )
    assert audit_rows[0][0] > 0  # the second run decided (and was capped by the first)


# -- 2. crash safety ----------------------------------------------------------------------------

# (stage whose progress line triggers the kill, delay after it) or (None, fraction of a whole run)
KILLS = [
    pytest.param("metrics", 0.0, id="at-metrics"),
    pytest.param("allocation", 0.0, id="at-allocation"),
    pytest.param("writing", 0.0, id="at-writing"),
    pytest.param("commit", 0.0, id="at-commit"),
    pytest.param("commit", 0.03, id="commit+30ms"),  # usually after COMMIT, before the exit
    pytest.param(None, 0.45, id="at-45%", marks=pytest.mark.slow),
    pytest.param(None, 0.75, id="at-75%"),
    pytest.param("writing", 0.02, id="writing+20ms", marks=pytest.mark.slow),
    pytest.param(None, 0.3, id="at-30%", marks=pytest.mark.slow),
    pytest.param(None, 0.6, id="at-60%", marks=pytest.mark.slow),
    pytest.param(None, 0.85, id="at-85%", marks=pytest.mark.slow),
    pytest.param(None, 0.95, id="at-95%", marks=pytest.mark.slow),
]


@pytest.mark.parametrize(("stage", "when"), KILLS)
def test_killed_run_leaves_store_as_it_was_then_same_key_commits(
    stage: str | None,
    when: float,
    shop: Path,
    before: str,
    reference: Reference,
    rules: RuleSet,
    spawn: Spawn,
    tmp_path: Path,
) -> None:
    if stage is None:
        process = spawn(run_args(shop, Reference.KEY))
        time.sleep(when * reference.seconds)
        process.kill()
    else:
        process = spawn(run_args(shop, Reference.KEY), kill_on=stage, kill_delay=when)
    killed = process.finish()
    before_commit = stage in ("metrics", "allocation") or (stage == "writing" and not when)
    if stage is not None:
        assert process.killed_on is not None, f"no {stage} line: {killed.stderr}"
    if before_commit:
        assert killed.returncode == -signal.SIGKILL
    else:  # a fixed delay may outlast a fast run
        assert killed.returncode in (-signal.SIGKILL, 0), killed.stderr

    # Look at what the kill left on a twin (opening it recovers the WAL), so that the run
    # below meets the store exactly as the killed process left it.
    twin = copy_store(shop, tmp_path / "twin.db")
    assert integrity(twin) == "ok"
    untouched = pages(twin) == before
    if before_commit:
        assert untouched
    elif not untouched:  # killed at or after COMMIT: all of the run or none of it
        assert content(twin) == reference.content
    committed_by_kill = not untouched

    if stage == "writing" and not when:  # as an operator would: `campaign run` once more
        again = campaign(run_args(shop, Reference.KEY, "--quiet"))
        assert again.returncode == 0, again.stderr
        assert "committed run" in again.stdout
    else:  # the same library call, without starting Python again
        assert run_here(shop, rules, Reference.KEY).reused == committed_by_kill
    assert content(shop) == reference.content
    assert integrity(shop) == "ok"


# -- 3. concurrency -----------------------------------------------------------------------------


@pytest.fixture
def holding_lock(shop: Path) -> Iterator[sqlite3.Connection]:
    """The store's write lock, held by the test as another run would hold it."""
    conn = sqlite3.connect(shop, isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    finally:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        conn.close()


def start_contending(
    spawn: Spawn, shop: Path, lock: sqlite3.Connection, keys: Sequence[str]
) -> list[Campaign]:
    """Start one run per key while the test holds the lock; release it once all are waiting."""
    runs = [spawn(run_args(shop, key)) for key in keys]
    for process in runs:
        assert process.wait_for("lock"), process.finish().stderr
    time.sleep(0.2)  # past the line, inside BEGIN IMMEDIATE's busy wait
    lock.execute("ROLLBACK")
    return runs


def test_two_runs_at_once_book_what_two_runs_in_turn_book(
    shop: Path,
    reference: Reference,
    holding_lock: sqlite3.Connection,
    spawn: Spawn,
    rules: RuleSet,
    tmp_path: Path,
) -> None:
    first, second = start_contending(spawn, shop, holding_lock, ["night-a", "night-b"])
    for process in (first, second):
        result = process.finish()
        assert result.returncode == 0, result.stderr
        assert "committed run" in result.stdout

    in_turn = Path(shutil.copyfile(reference.path, tmp_path / "in_turn.db"))
    assert not run_here(in_turn, rules, "second").reused
    sequential = Counter(action_set(in_turn, run_id) for run_id in run_ids(in_turn).values())
    concurrent = Counter(action_set(shop, run_id) for run_id in run_ids(shop).values())
    assert sum(concurrent.values()) == 2
    assert concurrent == sequential  # which process went first does not matter
    assert sum(len(actions) for actions in concurrent) > 1000
    assert_within_calendar(shop, rules)


def test_same_key_twice_at_once_commits_once(
    shop: Path, reference: Reference, holding_lock: sqlite3.Connection, spawn: Spawn
) -> None:
    runs = start_contending(spawn, shop, holding_lock, [Reference.KEY, Reference.KEY])
    results = [process.finish() for process in runs]
    assert [r.returncode for r in results] == [0, 0]
    assert not any("Traceback" in r.stderr for r in results)
    assert sorted("already committed" in r.stdout for r in results) == [False, True]
    assert content(shop) == reference.content


def test_killed_lock_holder_lets_the_waiting_run_commit(
    shop: Path, reference: Reference, holding_lock: sqlite3.Connection, spawn: Spawn
) -> None:
    runs = start_contending(spawn, shop, holding_lock, ["victim", "survivor"])
    deadline = time.monotonic() + 60
    while not any(process.seen("metrics") for process in runs):  # the one holding the lock
        assert time.monotonic() < deadline, "no run took the lock"
        time.sleep(0.005)
    victim, survivor = sorted(runs, key=lambda process: process.seen("metrics") is None)
    victim.kill()
    assert victim.finish().returncode == -signal.SIGKILL
    result = survivor.finish()
    assert result.returncode == 0, result.stderr
    assert "committed run" in result.stdout

    ids = run_ids(shop)
    assert len(ids) == 1
    (survivor_id,) = ids.values()
    assert action_set(shop, survivor_id) == action_set(
        reference.path, run_ids(reference.path)[Reference.KEY]
    )
    assert integrity(shop) == "ok"


def test_busy_store_fails_cleanly_after_wait(
    shop: Path, holding_lock: sqlite3.Connection, before: str
) -> None:
    started = time.monotonic()
    result = campaign(run_args(shop, "impatient", "--wait", "0.5"))
    assert_clean_failure(result, 1)
    assert "--wait" in result.stderr
    assert str(shop) in result.stderr
    assert time.monotonic() - started >= 0.5
    holding_lock.execute("ROLLBACK")
    assert pages(shop) == before


def test_calendar_check_sees_double_booking(
    reference: Reference, rules: RuleSet, tmp_path: Path
) -> None:
    """The check above passes one run and fails the same actions booked twice."""
    path = Path(shutil.copyfile(reference.path, tmp_path / "double.db"))
    assert_within_calendar(path, rules)
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.execute(
            'INSERT INTO "actions" SELECT \'double\', "customer_id", "offer_id", "channel", '
            '"send_at", "content", "incentive", "cost", "variant" FROM "actions"'
        )
    with pytest.raises(AssertionError):
        assert_within_calendar(path, rules)


def assert_within_calendar(path: Path, rules: RuleSet) -> None:
    """Every run's actions together, with the contacts already sent, keep the calendar's
    frequency caps and min_gap, and every offer its max_actions and budget (SPEC 3)."""
    calendar = rules.calendar
    longest = max([cap.per for cap in calendar.frequency_caps] + [calendar.min_gap or timedelta()])
    # (instant, channel, offer, is an action of a run)
    messages: dict[int, list[tuple[datetime, str, str | None, bool]]] = defaultdict(list)
    for customer, at, channel, offer in query(
        path, 'SELECT "customer_id", "send_at", "channel", "offer_id" FROM "actions"'
    ):
        moment = datetime.fromisoformat(at)
        assert moment >= AS_OF_UTC
        messages[customer].append((moment, channel, offer, True))
    for customer, at, channel, offer in query(
        path, 'SELECT "customer_id", "sent_at", "channel", "offer_id" FROM "contacts"'
    ):
        moment = datetime.fromisoformat(at)
        if customer in messages and AS_OF_UTC - longest < moment <= AS_OF_UTC:
            messages[customer].append((moment, channel, offer, False))

    def group(offer: str | None) -> str | None:
        return rules.offers[offer].group if offer in rules.offers else None

    over: list[tuple[int, str]] = []
    for customer, sent in messages.items():
        for cap in calendar.frequency_caps:
            counted = [
                m
                for m in sent
                if (m[3] or m[0] > AS_OF_UTC - cap.per)
                and (cap.channel in (None, "*") or m[1] == cap.channel)
                and (cap.group is None or group(m[2]) == cap.group)
            ]
            if any(m[3] for m in counted) and len(counted) > cap.max:
                over.append((customer, f"{cap.channel or cap.group}: {len(counted)} > {cap.max}"))
        if calendar.min_gap is not None:
            for action in (m for m in sent if m[3]):
                others = [m for m in sent if m is not action]
                if any(abs(action[0] - m[0]) < calendar.min_gap for m in others):
                    over.append((customer, "min_gap"))
    assert over == []

    for offer, n, spend in query(
        path, 'SELECT "offer_id", count(*), total("cost") FROM "actions" GROUP BY 1'
    ):
        rule = rules.offers[offer]
        assert rule.max_actions is None or n <= rule.max_actions, offer
        assert rule.budget is None or spend <= rule.budget.spendable + 1e-6, offer


# -- 4. exports --------------------------------------------------------------------------------


def actions_of(path: Path, run_id: str) -> list[tuple[Any, ...]]:
    names = ", ".join(f'"{c}"' for c in ACTION_COLUMNS)
    return query(
        path,
        f'SELECT {names} FROM "actions" WHERE "run_id" = ? ORDER BY "customer_id", "offer_id"',
        (run_id,),
    )


def read_csv(path: Path) -> tuple[list[str], list[list[str]]]:
    with path.open(encoding="utf-8", newline="") as handle:
        header, *rows = list(csv.reader(handle))
    return header, rows


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def addresses(path: Path) -> set[str]:
    names = ", ".join(f'"{c}"' for c in ADDRESS_COLUMNS)
    return {v for row in query(path, f'SELECT {names} FROM "customers"') for v in row if v}


def tokens(text: str) -> set[str]:
    return set(re.findall(r"[\w.+\-@:]+", text))


@dataclass(frozen=True)
class Exported:
    store: Path
    run_id: str
    csv: Path
    jsonl: Path
    with_addresses: Path
    results: tuple[Finished, ...]


@pytest.fixture(scope="module")
def exported(demo_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Exported:
    """A fresh run exported to CSV, then the same (committed) key to JSONL and with addresses."""
    folder = tmp_path_factory.mktemp("exports")
    path = Path(shutil.copyfile(demo_store, folder / "shop.db"))
    files = folder / "actions.csv", folder / "actions.jsonl", folder / "with_addresses.csv"
    results = (
        campaign(run_args(path, "export", "--quiet", "--export", str(files[0]))),
        campaign(run_args(path, "export", "--quiet", "--export", str(files[1]))),
        campaign(
            run_args(path, "export", "--quiet", "--export", str(files[2]), "--with-addresses")
        ),
    )
    for result in results:
        assert result.returncode == 0, result.stderr
    assert "committed run" in results[0].stdout
    assert "already committed" in results[1].stdout
    return Exported(path, run_ids(path)["export"], *files, results)


def test_export_csv_has_spec_columns_and_the_runs_actions(exported: Exported) -> None:
    header, rows = read_csv(exported.csv)
    assert header == ACTION_COLUMNS
    expected = actions_of(exported.store, exported.run_id)
    assert len(expected) > 1000
    assert rows == [["" if v is None else str(v) for v in row] for row in expected]
    incentives = [row[ACTION_COLUMNS.index("incentive")] for row in rows]
    assert any(isinstance(json.loads(i), dict) for i in incentives if i)  # JSON text in CSV
    keys = [(int(r[1]), r[2]) for r in rows]
    assert keys == sorted(keys)
    assert f"{len(rows):,} action(s) exported to {exported.csv}" in exported.results[0].stdout


def test_export_jsonl_has_spec_columns_and_the_runs_actions(exported: Exported) -> None:
    records = read_jsonl(exported.jsonl)
    assert all(list(record) == ACTION_COLUMNS for record in records)
    expected = actions_of(exported.store, exported.run_id)
    position = ACTION_COLUMNS.index("incentive")
    stored = [
        (
            *row[:position],
            None if row[position] is None else json.loads(row[position]),
            *row[position + 1 :],
        )
        for row in expected
    ]
    assert [tuple(record.values()) for record in records] == stored
    incentives = [record["incentive"] for record in records]
    assert any(isinstance(i, dict) for i in incentives)
    assert all(i is None or isinstance(i, dict) for i in incentives)


def test_no_address_leaves_the_store_unless_asked(exported: Exported) -> None:
    known = addresses(exported.store)
    assert len(known) > CUSTOMERS  # e-mail, phone, push token, WeChat openid
    for table in ("audit", "actions", "runs", "channel_exits"):
        text = repr(query(exported.store, f'SELECT * FROM "{table}"'))
        assert tokens(text) & known == set(), table
    for path in (exported.csv, exported.jsonl):
        assert tokens(path.read_text(encoding="utf-8")) & known == set(), path
    assert "address" not in read_csv(exported.csv)[0]


def test_with_addresses_adds_the_chosen_channels_address(
    exported: Exported, rules: RuleSet
) -> None:
    header, rows = read_csv(exported.with_addresses)
    assert header == [*ACTION_COLUMNS, "address"]
    plain = read_csv(exported.csv)[1]
    assert [row[:-1] for row in rows] == plain
    column = {name: channel.address for name, channel in rules.channels.items()}
    customers = {
        row[0]: dict(zip(ADDRESS_COLUMNS, row[1:], strict=True))
        for row in query(
            exported.store,
            'SELECT "id", ' + ", ".join(f'"{c}"' for c in ADDRESS_COLUMNS) + ' FROM "customers"',
        )
    }
    for row in rows:
        customer, channel, address = int(row[1]), row[3], row[-1]
        wanted = customers[customer][column[channel] or ""]
        assert address == wanted and address, row


@pytest.mark.parametrize(
    ("name", "says"),
    [
        pytest.param("actions.txt", ".csv or .jsonl", id="bad-suffix"),
        pytest.param("no/such/folder/actions.csv", "does not exist", id="missing-folder"),
    ],
)
def test_bad_export_target_exits_2_and_changes_nothing(
    name: str, says: str, shop: Path, before: str, tmp_path: Path
) -> None:
    target = tmp_path / name
    result = campaign(run_args(shop, "bad-export", "--export", str(target)))
    assert_clean_failure(result, 2)
    assert str(target) in result.stderr
    assert says in result.stderr
    assert not target.exists()
    assert list(tmp_path.glob(".actions*")) == []
    assert pages(shop) == before


# -- 5. other user errors ------------------------------------------------------------------------


def test_missing_store_exits_2_without_traceback(tmp_path: Path) -> None:
    missing = tmp_path / "nope.db"
    result = campaign(run_args(missing, "k"))
    assert_clean_failure(result, 2)
    assert str(missing) in result.stderr
    assert not missing.exists()


def test_bad_as_of_exits_2_without_traceback(shop: Path, before: str) -> None:
    result = campaign(["run", "rules", "--db", str(shop), "--run-key", "k", "--as-of", "soon"])
    assert_clean_failure(result, 2)
    assert pages(shop) == before


# -- what identifies a run ----------------------------------------------------------------------


def test_rules_digest_does_not_depend_on_how_the_rules_folder_is_spelled(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(REPO)
    spellings = (["rules"], ["./rules"], [REPO / "rules"])
    digests = {audit.rules_digest(discover(paths)) for paths in spellings}
    assert len(digests) == 1
