"""The SQL functions the engine adds to every SQLite connection it opens on a store.

SQLite's dialect reads an instant with SQLite's own `unixepoch()` and only where that finds
nothing (the basic format, `+0800`, `+08`, a lower-case `t`, decimals after a comma, an offset
beyond 14 hours...) hands the text to `campaign_epoch`, which is `times.epoch_seconds`: the
Python evaluator's own reading, so the two cannot disagree about a spelling of the accepted
set. Likewise `campaign_date` for dates, and `campaign_local_date` for a time's date in a
zone whose UTC offset changes (summer time). Canonical text never reaches Python.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

from ...times import epoch_seconds, read_date


def date_text(value: object) -> str | None:
    """An accepted date spelling as `YYYY-MM-DD`; None for anything else."""
    day = read_date(value)
    return None if day is None else day.isoformat()


@lru_cache(maxsize=64)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def local_date(epoch: object, zone: object) -> str | None:
    """The date (`YYYY-MM-DD`), in `zone`, of an instant given as epoch seconds."""
    if not isinstance(epoch, int) or not isinstance(zone, str):
        return None
    try:
        return datetime.fromtimestamp(epoch, UTC).astimezone(_zone(zone)).date().isoformat()
    except (ValueError, OverflowError, OSError):
        return None


def register(conn: sqlite3.Connection) -> sqlite3.Connection:
    """Add the engine's functions to a connection (every store connection gets them)."""
    conn.create_function("campaign_epoch", 1, epoch_seconds, deterministic=True)
    conn.create_function("campaign_date", 1, date_text, deterministic=True)
    conn.create_function("campaign_local_date", 2, local_date, deterministic=True)
    return conn
