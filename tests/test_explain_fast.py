"""What makes explain fast on a large store without changing what it says: the store opened
once for the whole command, and the customer's reads batched."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest

from rules_engine import store


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
