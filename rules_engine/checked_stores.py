"""Stores found clean by the store-value check, remembered so that planning the same store
again does not scan it again (the scan is a fifth of a plan's CPU at 100,000 customers).

A store is remembered by its path, its fingerprint (the one plan files carry: every committed
write changes the file's size, modification time or header, or the write-ahead log's) and the
columns that were checked, so any write to the store, or rules reading other columns, scan it
again. Only a clean result is remembered: a store with wrong-typed values is scanned, and
refused, every time. The memory is a small file in the user's cache folder
(`$CAMPAIGN_CACHE_DIR`, else `$XDG_CACHE_HOME/campaign`, else `~/.cache/campaign`), never
beside the store; where it cannot be read or written, every command simply scans.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from pathlib import Path
from typing import Any

from . import store
from .errors import StoreError

FILE = "checked-stores.json"
KEPT = 200  # stores remembered, the latest


def folder() -> Path:
    explicit = os.environ.get("CAMPAIGN_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "campaign"


def key_of(path: str | Path, columns: dict[str, Any]) -> str | None:
    """The key a SQLite store's clean check is remembered by; None when it cannot be had."""
    from .backends.sqlite.fingerprint import store_fingerprint

    try:
        with store.closing_read_only(path) as conn:
            fingerprint = store_fingerprint(conn, path)
    except (OSError, sqlite3.Error, StoreError):
        return None
    text = json.dumps([str(Path(path).resolve()), fingerprint, columns], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def remembered(name: str) -> list[str]:
    """The keys a cache file of the user's cache folder holds, oldest first (none where it
    cannot be read)."""
    try:
        found = json.loads((folder() / name).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    return [k for k in found if isinstance(k, str)] if isinstance(found, list) else []


def remember(name: str, keys: list[str], kept: int) -> None:
    """Add `keys` to the cache file (the latest `kept` stay), replaced whole so a reader never
    sees half of it; where it cannot be written, nothing is remembered."""
    keys = [*[k for k in remembered(name) if k not in keys], *keys][-kept:]
    write_whole(folder() / name, json.dumps(keys).encode())


def write_whole(target: Path, data: bytes) -> bool:
    """Write a file of the cache folder through a file of its own, then rename it into place,
    so a reader sees the old file or the new one, never half of it; False where it cannot be
    written (nothing is remembered then)."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = target.with_name(f"{target.name}.{os.getpid()}.part")
        staging.write_bytes(data)
        os.replace(staging, target)
    except OSError:
        return False
    return True


def was_clean(key: str) -> bool:
    return key in remembered(FILE)


def remember_clean(key: str) -> None:
    remember(FILE, [key], KEPT)
