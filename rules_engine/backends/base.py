"""What the engine needs from a store engine: the `Backend` protocol.

The engine opens a store through its backend, for planning (read-only, tuned) or for a run
(the backend's own locking and writer), and reads the store's schema from it; between the two
everything is SQL, compiled by `sql/` in the backend's dialect. A backend is a folder here
(`backends/sqlite/`) holding its connection, introspection, readers and run writer, and one
entry in `backends.BACKENDS`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from ..decide.allocate_arrays import Audiences, History
    from ..rules.model import Offer, RuleSet
    from ..sql.dialect import Dialect
    from ..sql.namespace import Namespace
    from ..store import StoreSchema
    from .writer import RunResult, Session

Progress = Callable[[str], None]


class ReadAudiences(Protocol):
    def __call__(
        self, conn: Any, rules: RuleSet, offers: Sequence[Offer], ns: Namespace
    ) -> Audiences: ...


class ReadMessages(Protocol):
    def __call__(
        self, conn: Any, rules: RuleSet, as_of: datetime, audiences: Audiences, ns: Namespace
    ) -> History: ...


@dataclass(frozen=True)
class Engine:
    """How a plan works on a backend's open connection: the dialect its statements are
    compiled in, and the readers of what comes back in many rows (the rest is read by
    `backends.readers`, the same for every engine)."""

    dialect: Dialect
    read_audiences: ReadAudiences
    read_messages: ReadMessages


class Backend(Protocol):
    """A store engine, as the engine uses it."""

    name: str

    def recognises(self, path: Path) -> bool:
        """Whether the file at `path` is a store of this engine (by its first bytes)."""
        ...

    def planning(self, path: str | Path, cache_mb: int) -> AbstractContextManager[Any]:
        """A read-only connection to the store at `path`, refused unless it is a campaign
        store, tuned to plan with `cache_mb` of cache; closed on leaving."""
        ...

    def schema(self, path: str | Path) -> StoreSchema:
        """The real schema of the store at `path` (tables, columns, rule types)."""
        ...

    def run(
        self,
        path: str | Path,
        rules: RuleSet,
        as_of: datetime,
        run_key: str,
        *,
        wait: float,
        cache_mb: int,
        progress: Progress | None,
    ) -> RunResult:
        """Decide as a plan does and commit the actions, audit and exits in one transaction;
        a key that already committed changes nothing. Waits up to `wait` seconds for a store
        another run holds."""
        ...

    def session(self, path: str | Path, wait: float) -> AbstractContextManager[Session]:
        """The store opened read-write for one run (`writer.commit_once`), waiting up to
        `wait` seconds for another process; closed on leaving."""
        ...

    def fingerprint(self, conn: Any, path: str | Path) -> dict[str, Any]:
        """The store's fingerprint (`{"tables": ..., "file": ...}`) on a planning connection,
        for plan files."""
        ...

    def unchanged(self, path: str | Path, store: dict[str, Any]) -> bool:
        """Whether the store at `path`, open for planning, is beyond doubt the one whose
        fingerprint is `store`, told without taking its fingerprint again (explain --plan);
        False when that cannot be told cheaply."""
        ...
