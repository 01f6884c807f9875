"""`campaign run` on a DuckDB store as operators use it: real processes, as in test_run.py.

A kill at any moment leaves the store as it was or with the whole run; a second run, or a
plan, started while a run holds the file waits for it (with a note on stderr) and then counts
that run's actions; a wait that runs out fails cleanly. The same store in both formats gives
the same rows, outputs and exit codes.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import closing
from pathlib import Path
from typing import Any

import duckdb
import pytest
from test_run import AS_OF, AS_OF_UTC, Campaign, Finished, Spawn, assert_clean_failure, campaign

from rules_engine import demo, store
from rules_engine.backends import writer
from rules_engine.backends.duckdb.fingerprint import store_fingerprint
from rules_engine.rules.check import check
from rules_engine.rules.model import RuleSet
from rules_engine.storecopy import copy_store

REPO = Path(__file__).resolve().parent.parent
CUSTOMERS = 3_000
KEY = "crash-safe"
ENGINE_TABLES = ("actions", "audit", "channel_exits", "runs")
VOLATILE = {"started_at", "finished_at", "git_commit"}  # the clock, the checkout


def run_args(db: Path, key: str, *extra: str) -> list[str]:
    return ["run", "rules", "--db", str(db), "--run-key", key, "--as-of", AS_OF, *extra]


def engine_rows(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """The engine's tables row by row in key order (booleans as 0/1), without the columns of
    `runs` that differ between two runs of one key; either format."""
    found = {}
    with store.closing_any(path) as conn:
        for table in ENGINE_TABLES:
            spec = store.TABLES[table]
            names = ", ".join(f'"{c}"' for c, _ in spec.columns if c not in VOLATILE)
            keys = ", ".join(f'"{c}"' for c in spec.pk)
            rows = conn.execute(f'SELECT {names} FROM "{table}" ORDER BY {keys}').fetchall()
            found[table] = [tuple(int(v) if isinstance(v, bool) else v for v in r) for r in rows]
    return found


def content(path: Path) -> dict[str, Any]:
    """A DuckDB store's content: the engine's rows, and every other table's digest of all of
    its rows (`store_fingerprint`, which test_duckdb_run.py checks against changes)."""
    with closing(duckdb.connect(str(path), read_only=True)) as conn:
        tables = store_fingerprint(conn)["tables"]
    shop = {name: digest for name, digest in tables.items() if name not in ENGINE_TABLES}
    return {"shop": shop, **engine_rows(path)}


def twin(path: Path, target: Path) -> Path:
    """The store file with its write-ahead log, as a process left them."""
    for suffix in ("", ".wal"):
        if Path(f"{path}{suffix}").exists():
            shutil.copyfile(f"{path}{suffix}", f"{target}{suffix}")
    return target


def action_set(path: Path, run_id: str) -> frozenset[tuple[Any, ...]]:
    with store.closing_any(path) as conn:
        rows = conn.execute(
            'SELECT "customer_id", "offer_id", "channel", "send_at", "content", "incentive", '
            '"cost" FROM "actions" WHERE "run_id" = ?',
            (run_id,),
        ).fetchall()
    return frozenset(rows)


def run_ids(path: Path) -> dict[str, str]:
    with store.closing_any(path) as conn:
        rows = conn.execute('SELECT "run_key", "run_id" FROM "runs"').fetchall()
    return dict(rows)


def wait_for_line(process: Campaign, text: str, timeout: float = 60.0) -> bool:
    """Whether a stderr line holding `text` came before `timeout` seconds or the end."""

    def seen() -> bool:
        return any(text in line for _, line in process.lines)

    with process.changed:
        return process.changed.wait_for(lambda: seen() or process.ended, timeout) and seen()


@pytest.fixture
def spawn() -> Iterator[Spawn]:
    """Start `campaign` processes that are killed at the end of the test in any case."""
    started: list[Campaign] = []

    def start(args: Sequence[str], **options: Any) -> Campaign:
        started.append(Campaign(args, **options))
        return started[-1]

    try:
        yield start
    finally:
        for process in started:
            process.stop()


# -- shared stores ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def shops(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The demo store in both formats, no run yet."""
    folder = tmp_path_factory.mktemp("duckrun")
    sqlite_path = folder / "demo.db"
    demo.build_demo_store(sqlite_path, customers=CUSTOMERS, seed=1, progress=False)
    copy_store(sqlite_path, folder / "demo.duckdb")
    return sqlite_path, folder / "demo.duckdb"


@pytest.fixture(scope="module")
def before(shops: tuple[Path, Path]) -> dict[str, Any]:
    return content(shops[1])


@pytest.fixture(scope="module")
def reference(
    shops: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, Finished]:
    """A copy of the DuckDB store after one whole `campaign run` of key KEY."""
    path = Path(shutil.copyfile(shops[1], tmp_path_factory.mktemp("reference") / "ref.duckdb"))
    result = campaign(run_args(path, KEY))
    assert result.returncode == 0, result.stderr
    assert "committed run" in result.stdout
    return path, result


@pytest.fixture(scope="module")
def rules(shops: tuple[Path, Path]) -> RuleSet:
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(REPO)
        checked = check(["rules"], db=shops[1], as_of=AS_OF_UTC)
    assert not checked.errors
    return checked.rules


@pytest.fixture
def shop(shops: tuple[Path, Path], tmp_path: Path) -> Path:
    return Path(shutil.copyfile(shops[1], tmp_path / "shop.duckdb"))


def run_here(path: Path, rules: RuleSet, key: str) -> writer.RunResult:
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(REPO)
        return writer.run_store(path, rules, AS_OF_UTC, key, wait=30)


# -- crash safety ----------------------------------------------------------------------------------

# make test keeps two (the exact points below cover the write itself); `pytest -m slow` the rest.
KILLS = [
    pytest.param("writing", 0.0, id="at-writing"),
    pytest.param("commit", 0.0, id="at-commit"),
    pytest.param("metrics", 0.0, id="at-metrics", marks=pytest.mark.slow),
    pytest.param("allocation", 0.0, id="at-allocation", marks=pytest.mark.slow),
    pytest.param("commit", 0.03, id="commit+30ms", marks=pytest.mark.slow),
    pytest.param(None, 0.8, id="at-80%", marks=pytest.mark.slow),
    pytest.param("writing", 0.02, id="writing+20ms", marks=pytest.mark.slow),
    pytest.param(None, 0.5, id="at-50%", marks=pytest.mark.slow),
    pytest.param(None, 0.9, id="at-90%", marks=pytest.mark.slow),
    pytest.param(None, 0.97, id="at-97%", marks=pytest.mark.slow),
]


@pytest.mark.parametrize(("stage", "when"), KILLS)
def test_a_killed_duckdb_run_leaves_the_store_as_it_was_then_the_same_key_commits(
    stage: str | None,
    when: float,
    shop: Path,
    before: dict[str, Any],
    reference: tuple[Path, Finished],
    rules: RuleSet,
    spawn: Spawn,
    tmp_path: Path,
) -> None:
    if stage is None:
        process = spawn(run_args(shop, KEY))
        time.sleep(when * reference[1].seconds)
        process.kill()
    else:
        process = spawn(run_args(shop, KEY), kill_on=stage, kill_delay=when)
    killed = process.finish()
    before_commit = stage in ("metrics", "allocation") or (stage == "writing" and not when)
    if stage is not None:
        assert process.killed_on is not None, f"no {stage} line: {killed.stderr}"
    if before_commit:
        assert killed.returncode == -signal.SIGKILL
    else:
        assert killed.returncode in (-signal.SIGKILL, 0), killed.stderr

    left = content(twin(shop, tmp_path / "twin.duckdb"))  # opening it replays the log
    untouched = left == before
    if before_commit:
        assert untouched
    elif not untouched:  # killed at or after COMMIT: all of the run or none of it
        assert left == content(reference[0])
    assert run_here(shop, rules, KEY).reused == (not untouched)
    assert content(shop) == content(reference[0])


# A run that kills itself at an exact point of the write: after some batches of rows went into
# the transaction, or right after COMMIT returned (before the store is closed, so the run is
# only in the log).
KILL_AT = """
import os, signal, sys
from rules_engine.backends import writer
from rules_engine.backends.duckdb import writer as duck
from rules_engine.rules.check import check
from rules_engine.times import parse_as_of

path, point, key, as_of = sys.argv[1], sys.argv[2], sys.argv[3], parse_as_of(sys.argv[4])
rules = check(["rules"], db=path, as_of=as_of).rules
die = lambda: os.kill(os.getpid(), signal.SIGKILL)
if point == "after-commit":
    commit = duck.DuckDBSession.commit
    duck.DuckDBSession.commit = lambda self: (commit(self), die())
else:
    duck.BATCH_ROWS, batches, columns = 500, [], duck._columns
    def third_batch_dies(batch, names):
        batches.append(names)
        if len(batches) == 3:
            die()
        return columns(batch, names)
    duck._columns = third_batch_dies
writer.run_store(path, rules, as_of, key, wait=30)
"""


@pytest.mark.parametrize("point", ["mid-insert", "after-commit"])
def test_a_run_killed_at_an_exact_point_of_its_write_leaves_all_or_nothing(
    point: str,
    shop: Path,
    before: dict[str, Any],
    reference: tuple[Path, Finished],
    rules: RuleSet,
    tmp_path: Path,
) -> None:
    killed = subprocess.run(
        [sys.executable, "-c", KILL_AT, str(shop), point, KEY, AS_OF],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    left = content(twin(shop, tmp_path / "twin.duckdb"))
    if point == "after-commit":
        assert Path(f"{shop}.wal").exists()  # committed, not yet folded into the file
        assert left == content(reference[0])
    else:
        assert left == before
    assert run_here(shop, rules, KEY).reused == (point == "after-commit")
    assert content(shop) == content(reference[0])


# -- waiting for the file ----------------------------------------------------------------------


@pytest.fixture
def holding(shop: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """The store held read-write by the test process, as a run holds it."""
    conn = duckdb.connect(str(shop))
    try:
        yield conn
    finally:
        conn.close()


def start_waiting(
    spawn: Spawn, holder: duckdb.DuckDBPyConnection, commands: Sequence[Sequence[str]]
) -> list[Campaign]:
    """Start the commands while the test holds the store; let go once each says it waits."""
    started = [spawn(args) for args in commands]
    for process in started:
        assert wait_for_line(process, "waiting:"), process.finish().stderr
    holder.close()
    return started


def test_two_runs_at_once_book_what_two_runs_in_turn_book(
    shop: Path,
    reference: tuple[Path, Finished],
    holding: duckdb.DuckDBPyConnection,
    spawn: Spawn,
    rules: RuleSet,
    tmp_path: Path,
) -> None:
    first, second = start_waiting(
        spawn, holding, [run_args(shop, "night-a"), run_args(shop, "night-b")]
    )
    for process in (first, second):
        result = process.finish()
        assert result.returncode == 0, result.stderr
        assert "another process holds the store" in result.stderr
        assert "committed run" in result.stdout

    in_turn = Path(shutil.copyfile(reference[0], tmp_path / "in_turn.duckdb"))
    assert not run_here(in_turn, rules, "second").reused
    sequential = Counter(action_set(in_turn, run_id) for run_id in run_ids(in_turn).values())
    concurrent = Counter(action_set(shop, run_id) for run_id in run_ids(shop).values())
    assert sum(concurrent.values()) == 2
    assert concurrent == sequential  # the second counted the first one's actions
    assert sum(len(actions) for actions in concurrent) > 500


def test_the_same_key_twice_at_once_commits_once(
    shop: Path,
    reference: tuple[Path, Finished],
    holding: duckdb.DuckDBPyConnection,
    spawn: Spawn,
) -> None:
    started = start_waiting(spawn, holding, [run_args(shop, KEY), run_args(shop, KEY)])
    results = [process.finish() for process in started]
    assert [r.returncode for r in results] == [0, 0], [r.stderr for r in results]
    assert sorted("already committed" in r.stdout for r in results) == [False, True]
    assert content(shop) == content(reference[0])


def test_a_plan_started_during_a_run_waits_and_sees_its_actions(
    shop: Path, reference: tuple[Path, Finished], spawn: Spawn, tmp_path: Path
) -> None:
    running = spawn(run_args(shop, KEY))
    assert running.wait_for("metrics"), running.finish().stderr
    running.proc.send_signal(signal.SIGSTOP)  # the run holds the file until it goes on
    plan_args = ["plan", "rules", "--db", str(shop), "--as-of", AS_OF, "--quiet", "--wait", "60"]
    planning = spawn([*plan_args, "--json", str(tmp_path / "during.json")])
    waited = wait_for_line(planning, "waiting:")
    running.proc.send_signal(signal.SIGCONT)
    assert waited, planning.finish().stderr
    assert running.finish().returncode == 0
    planned = planning.finish()
    assert planned.returncode == 0, planned.stderr
    assert "another process holds the store" in planned.stderr
    after_args = ["plan", "rules", "--db", str(reference[0]), "--as-of", AS_OF, "--quiet"]
    after = campaign([*after_args, "--json", str(tmp_path / "after.json")])
    assert after.returncode == 0, after.stderr
    assert json.loads((tmp_path / "during.json").read_text()) == json.loads(
        (tmp_path / "after.json").read_text()
    )


@pytest.mark.parametrize("command", ["run", "plan", "explain"])
def test_a_store_held_past_the_wait_fails_cleanly(
    command: str, shop: Path, holding: duckdb.DuckDBPyConnection, before: dict[str, Any]
) -> None:
    """explain opens its store on a thread of its own while it imports what it explains with
    (`store.kept_open_soon`); the wait and its failure are the same."""
    args = {
        "run": run_args(shop, "impatient"),
        "plan": ["plan", "--db", str(shop)],
        "explain": ["explain", "rules", "--db", str(shop), "1", "--as-of", AS_OF],
    }[command]
    started = time.monotonic()
    result = campaign([*args, "--wait", "0.5"])
    assert_clean_failure(result, 1)
    assert "--wait" in result.stderr and str(shop) in result.stderr
    assert "waiting up to 0.5 s" in result.stderr
    assert time.monotonic() - started >= 0.5
    holding.close()
    assert content(shop) == before


# -- the same store in both formats -------------------------------------------------------------


def outcome(result: Finished) -> tuple[int, str]:
    return result.returncode, result.stdout


def test_the_same_run_on_both_formats_writes_the_same_rows_and_says_the_same(
    shops: tuple[Path, Path], tmp_path: Path
) -> None:
    paths = [
        Path(shutil.copyfile(shops[0], tmp_path / "shop.db")),
        Path(shutil.copyfile(shops[1], tmp_path / "shop.duckdb")),
    ]
    exports = [tmp_path / "sqlite.csv", tmp_path / "duckdb.csv"]
    first = [
        campaign(run_args(p, "parity", "--quiet", "--export", str(e)))
        for p, e in zip(paths, exports, strict=True)
    ]
    assert [r.returncode for r in first] == [0, 0], first[1].stderr
    texts = [
        r.stdout.replace(str(p), "STORE").replace(str(e), "OUT")
        for r, p, e in zip(first, paths, exports, strict=True)
    ]
    assert texts[0] == texts[1]
    assert engine_rows(paths[1]) == engine_rows(paths[0])
    assert exports[0].read_bytes() == exports[1].read_bytes()
    metrics = [tmp_path / "sqlite-metrics.csv", tmp_path / "duckdb-metrics.csv"]
    for path, out in zip(paths, metrics, strict=True):
        measured = campaign(
            ["metrics", "rules", "--db", str(path), "--as-of", AS_OF, "--out", str(out), "--quiet"]
        )
        assert measured.returncode == 0, measured.stderr
    assert metrics[0].read_bytes() == metrics[1].read_bytes()
    again = [outcome(campaign(run_args(p, "parity", "--quiet"))) for p in paths]
    assert again[0] == again[1] and again[0][0] == 0 and "already committed" in again[0][1]
    other = [
        campaign(
            [
                "run",
                "rules",
                "--db",
                str(p),
                "--run-key",
                "parity",
                "--as-of",
                "2026-11-21T10:00:00+08:00",
                "--quiet",
            ]
        )
        for p in paths
    ]
    for result in other:
        assert_clean_failure(result, 1)
        assert f"as run {writer.run_id_for('parity')}" in result.stderr
    assert engine_rows(paths[1]) == engine_rows(paths[0])


def test_every_open_of_a_duckdb_store_waits_for_another_process(tmp_path: Path) -> None:
    """A command opens its store several times (its tables, its schema, its values, then the
    reading or the run itself); another process can take the file between two opens, so each
    open waits for it (`--wait`), not only the first. Stated over the source: every
    `closing`/`connect` of the DuckDB store module is given a `wait`, but the copy into a
    file of the copy's own making."""
    import ast

    own = {("storecopy.py", "connect")}  # writes the `.copying` file it has just made
    lacking = []
    for path in sorted((REPO / "rules_engine").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names = {
            alias.asname or alias.name
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and (node.module or "").endswith("duckdb.store")
            for alias in node.names
            if alias.name in ("closing", "connect")
        }
        if path.parent.name == "duckdb" and path.name == "store.py":
            names = {"closing", "connect"}
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
                continue
            waits = any(k.arg == "wait" for k in node.keywords)
            if node.func.id in names and (path.name, node.func.id) not in own and not waits:
                lacking.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert lacking == []


def test_the_store_values_check_waits_for_a_store_another_process_holds(
    shop: Path, rules: RuleSet
) -> None:
    """The race behind a second run that failed at once: it had opened the store to check it,
    the first run took the file, and the check of the store's values opened it without
    waiting."""
    from rules_engine import store_values

    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('held', "
            "flush=True); time.sleep(1.5); c.close()",
            str(shop),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        waits = store.LOCK_WAIT.set(30.0)
        started = time.monotonic()
        try:
            assert store_values.problems(shop, rules) == []
        finally:
            store.LOCK_WAIT.reset(waits)
        assert time.monotonic() - started >= 0.5  # it waited for the holder
    finally:
        holder.communicate(timeout=30)


def _writable_elsewhere(path: Path) -> bool:
    """Whether another process can open the DuckDB file for writing now."""
    code = (
        "import duckdb, sys\n"
        "try:\n    duckdb.connect(sys.argv[1]).close()\n"
        "except duckdb.IOException:\n    sys.exit(3)\n"
    )
    return subprocess.run([sys.executable, "-c", code, str(path)]).returncode == 0


def test_a_store_opened_soon_is_held_for_the_block_and_let_go_after(
    shop: Path, tmp_path: Path
) -> None:
    """`kept_open_soon` opens the store on a thread while the caller goes on; entering the
    block waits for it, the store stays held (read-only) for the block and is let go after; a
    path that is no DuckDB store is left to the reads, as `kept_open` leaves it."""
    opened = store.kept_open_soon(shop)
    with opened:
        assert not _writable_elsewhere(shop)
    assert _writable_elsewhere(shop)
    with store.kept_open_soon(tmp_path / "missing.duckdb"), store.kept_open_soon(tmp_path):
        pass
    with pytest.raises(RuntimeError, match="inside"), store.kept_open_soon(shop):
        raise RuntimeError("inside the block")
    assert _writable_elsewhere(shop)  # let go when the block fails too
