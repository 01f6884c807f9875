"""Fixtures shared by several test modules."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from rules_engine.demo import build_demo_store


@pytest.fixture(scope="session", autouse=True)
def own_cache_folder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Stores checked clean are remembered in a folder of the test session's, not the user's
    (shared by every test, as a user's is by every command)."""
    os.environ["CAMPAIGN_CACHE_DIR"] = str(tmp_path_factory.mktemp("campaign-cache"))
    yield
    del os.environ["CAMPAIGN_CACHE_DIR"]


@pytest.fixture(scope="session")
def small_demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo store with 2,000 customers (seed 1): built once per test session, never
    written to by a test."""
    path = tmp_path_factory.mktemp("small_demo") / "demo.db"
    build_demo_store(path, customers=2_000, seed=1, progress=False)
    return path


@pytest.fixture(scope="session")
def small_duck_demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same demo store (2,000 customers, seed 1) built as a DuckDB store."""
    path = tmp_path_factory.mktemp("small_duck_demo") / "demo.duckdb"
    build_demo_store(path, customers=2_000, seed=1, progress=False)
    return path


@pytest.fixture
def copied_rules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the example rules, and a cache folder of this test's own (what is remembered
    about them starts empty)."""
    monkeypatch.setenv("CAMPAIGN_CACHE_DIR", str(tmp_path / "cache"))
    shutil.copytree(Path(__file__).parents[1] / "rules", tmp_path / "rules")
    return tmp_path / "rules"
