"""The backend seam: a store file is opened by the backend that recognises it."""

from __future__ import annotations

from pathlib import Path

import pytest

from rules_engine import backends
from rules_engine.backends.sqlite.backend import SQLITE
from rules_engine.errors import StoreError


def test_a_sqlite_store_is_planned_read_only_by_the_sqlite_backend(small_demo: Path) -> None:
    backend = backends.backend_for(small_demo)
    assert backend is SQLITE and backend.recognises(small_demo)
    with (
        backend.planning(small_demo, cache_mb=16) as conn,
        pytest.raises(Exception, match="readonly"),
    ):
        conn.execute('DELETE FROM "customers"')
    assert "customers" in backend.schema(small_demo).tables


def test_a_file_no_backend_recognises_gets_the_default_and_its_message(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("not a store\n")
    assert not SQLITE.recognises(text) and not SQLITE.recognises(tmp_path / "missing.db")
    assert backends.backend_for(text) is backends.BACKENDS[-1]
    with pytest.raises(StoreError, match="no such store"), SQLITE.planning(tmp_path / "x.db", 16):
        pass


class _Recognising:
    """A backend that knows files by their name (for the registry's test only)."""

    name = "named"

    def recognises(self, path: Path) -> bool:
        return path.suffix == ".named"


def test_the_first_backend_that_recognises_a_file_opens_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    other = _Recognising()
    monkeypatch.setattr(backends, "BACKENDS", (other, SQLITE))
    assert backends.backend_for(tmp_path / "shop.named") is other
    assert backends.backend_for(tmp_path / "shop.db") is SQLITE
