"""Store engines: each backend keeps its connection, locking, introspection, readers and run
writer in its folder (`sqlite/`), behind the `Backend` protocol (`base.py`)."""

from __future__ import annotations

from pathlib import Path

from .base import Backend
from .sqlite.backend import SQLITE

# Every backend, asked in this order which one a store file is; the last is the default (it
# also gives the messages for a missing file or one that is no store at all).
BACKENDS: tuple[Backend, ...] = (SQLITE,)


def backend_for(path: str | Path) -> Backend:
    """The backend of the store at `path`."""
    for backend in BACKENDS[:-1]:
        if backend.recognises(Path(path)):
            return backend
    return BACKENDS[-1]


__all__ = ["BACKENDS", "Backend", "backend_for"]
