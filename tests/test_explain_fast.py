"""What makes explain fast on a large store without changing what it says: the store opened
once for the whole command, and the customer's reads batched."""

from __future__ import annotations

import copy
import shutil
from datetime import timedelta
from pathlib import Path
from tempfile import TemporaryDirectory

import duckdb
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from rules_engine import store
from rules_engine.execute import plan_store
from rules_engine.reference.explain import explain_store
from rules_engine.rules.check import load_rules
from rules_engine.storecopy import copy_store
from rules_engine.times import utc_text
from tests.test_plan import ALICE, AS_OF, BASE, store_with

DAY = 86_400


def test_a_duckdb_store_is_kept_open_for_the_block_and_released_after(
    small_duck_demo: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "store.duckdb"
    shutil.copy(small_duck_demo, copy)
    with store.kept_open(copy):
        with store.closing_any(copy) as conn:  # another open in the block shares the file
            assert conn.execute("SELECT count(*) FROM customers").fetchone() == (2_000,)
        with pytest.raises(duckdb.Error):  # held read-only: not opened for writing meanwhile
            duckdb.connect(str(copy), read_only=False)
    duckdb.connect(str(copy), read_only=False).close()


@pytest.mark.parametrize("content", [None, b"", b"not a store at all"])
def test_anything_but_a_duckdb_store_is_left_to_the_reads(
    tmp_path: Path, content: bytes | None
) -> None:
    path = tmp_path / "store.db"
    if content is not None:
        path.write_bytes(content)
    with store.kept_open(path):
        pass
    assert (path.read_bytes() if content is not None else None) == content


OFFSETS = [-7 * DAY - 1, -7 * DAY, -7 * DAY + 1, -1, 0, 1, DAY]  # seconds from the as-of


@settings(max_examples=6, deadline=None)
@given(
    contacts=st.lists(st.tuples(st.sampled_from(["hello", "other"]), st.sampled_from(OFFSETS))),
    actions=st.lists(st.tuples(st.sampled_from(["hello", "other"]), st.sampled_from(OFFSETS))),
)
def test_explain_finds_the_cooldowns_plan_finds_on_both_engines(
    contacts: list[tuple[str, int]], actions: list[tuple[str, int]]
) -> None:
    """The customer's contacts and actions, read once for every offer, put them in the
    cooldown of the offers the plan suppresses for it (7 days, ends included as plan has
    them); on SQLite and on the same store in DuckDB."""
    with TemporaryDirectory() as tmp:
        folder = Path(tmp)
        rules_doc = copy.deepcopy(BASE)
        rules_doc["offers"]["hello"]["cooldown"] = "7d"
        (folder / "rules").mkdir()
        (folder / "rules" / "rules.yaml").write_text(yaml.safe_dump(rules_doc))
        sqlite = store_with(
            folder / "store.db",
            customers=[ALICE],
            contacts=[
                {"id": n, "customer_id": 1, "channel": "email", "offer_id": o, "sent_at": _at(s)}
                for n, (o, s) in enumerate(contacts)
            ],
            runs=[{"run_id": "r0", "run_key": "k0", "as_of": _at(-8 * DAY)}],
            actions=[  # one action per run, customer and offer
                {
                    "run_id": "r0",
                    "customer_id": 1,
                    "offer_id": o,
                    "channel": "email",
                    "send_at": _at(s),
                    "cost": 1.02,
                }
                for o, s in dict(actions).items()
            ],
        )
        duck = folder / "store.duckdb"
        copy_store(sqlite, duck)
        for db in (sqlite, duck):
            rules = load_rules([folder / "rules"], db=db, as_of=AS_OF)
            planned = plan_store(db, rules, AS_OF)
            [decision] = [d for d in planned.decisions if d.offer_id == "hello"]
            [line] = [o for o in explain_store(db, rules, AS_OF, 1).offers if o.id == "hello"]
            assert line.cooldown == (decision.reason == "cooldown"), (db.suffix, decision)


def _at(seconds: int) -> str:
    return utc_text(AS_OF + timedelta(seconds=seconds))
