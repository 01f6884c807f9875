"""Rule sets a clean check made, remembered so that `explain`, run again and again for one
customer after another, neither parses the YAML nor resolves the rules again: about 0.15 s of
each explanation's start (a third of it on a million customers).

A rule set is remembered by a digest of everything the check reads: the rule files (their
names as given and as resolved, and their bytes), the store's schema, the as-of, the Python
version and the engine's own files (their names, sizes and modification times, so a changed
or upgraded engine checks again). Only a check that found no problem to show is remembered
(with the warnings the rules accept, which are not shown): rules with errors or warnings are
checked, and their problems reported, every time. The store's values are still checked on
every command (they are not the rules').

The rule sets are kept as pickles in the user's cache folder (`checked_stores.folder()`,
under `rule-sets/`), the latest `KEPT`; a file that cannot be read back, or is not a rule set,
is ignored and the rules are checked as if it were not there. The folder is the user's own,
as trusted as their rule files; where it cannot be written, nothing is remembered.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pickle
import sys
from collections.abc import Sequence
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path

from ..checked_stores import folder, write_whole
from ..errors import Problem
from ..store import StoreSchema
from .model import RuleSet

FOLDER = "rule-sets"
KEPT = 20  # rule sets remembered, the latest used
ENGINE = Path(__file__).resolve().parents[1]


def key_of(files: Sequence[Path], schema: StoreSchema, as_of: datetime | date | None) -> str | None:
    """The key the check of these rule files against `schema` as of `as_of` is remembered
    by; None when a file cannot be read (the check then says why)."""
    digest = hashlib.sha256(_engine())
    digest.update(repr((schema.store, schema.tables, as_of)).encode())
    for path in files:
        try:
            raw = path.read_bytes()
        except OSError:
            return None
        digest.update(f"\0{path}\0{path.resolve()}\0{len(raw)}\0".encode())
        digest.update(raw)
    return digest.hexdigest()


Remembered = tuple[RuleSet, list[Problem]]  # the rule set, the warnings it accepts


def recall(key: str) -> Remembered | None:
    """The rule set remembered by `key` and the warnings it accepts, or None."""
    path = _folder() / f"{key}.pickle"
    try:
        found = pickle.loads(path.read_bytes())
    except Exception:  # missing, unreadable, damaged, or of classes no longer there
        return None
    if not (
        isinstance(found, tuple)
        and len(found) == 2
        and isinstance(found[0], RuleSet)
        and isinstance(found[1], list)
        and all(isinstance(p, Problem) for p in found[1])
    ):
        return None
    with contextlib.suppress(OSError):
        os.utime(path)  # used lately: kept when older ones are dropped
    return found


def keep(key: str, rules: RuleSet, accepted: list[Problem]) -> None:
    """Remember `rules` and the warnings they accept by `key` (replaced whole, so a reader
    never sees half of it), and drop all but the latest `KEPT`."""
    target = _folder() / f"{key}.pickle"
    try:
        data = pickle.dumps((rules, accepted), protocol=pickle.HIGHEST_PROTOCOL)
    except (pickle.PicklingError, TypeError, AttributeError, RecursionError):
        return
    if not write_whole(target, data):
        return
    kept = sorted(target.parent.glob("*.pickle"), key=_used, reverse=True)
    for old in kept[KEPT:]:
        with contextlib.suppress(OSError):
            old.unlink(missing_ok=True)


def _folder() -> Path:
    return folder() / FOLDER


def _used(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


@lru_cache(maxsize=1)
def _engine() -> bytes:
    """The Python version and the engine's files, as names, sizes and modification times."""
    parts = [sys.version]
    for top, folders, names in os.walk(ENGINE):
        folders[:] = sorted(f for f in folders if f != "__pycache__")
        for name in sorted(names):
            try:
                found = os.stat(os.path.join(top, name))
            except OSError:
                continue
            relative = os.path.relpath(os.path.join(top, name), ENGINE)
            parts.append(f"{relative}\0{found.st_size}\0{found.st_mtime_ns}")
    return "\n".join(parts).encode()
