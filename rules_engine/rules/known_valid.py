"""Rule files found valid by the JSON Schema check, remembered so that checking them again
(every plan, run and explain checks its rules first) neither loads jsonschema nor walks the
files with it: about 0.2 s of each command's start.

A file is remembered by a digest of its bytes, of the schema and of the engine's version, so
any change to the file, the schema or the engine checks it again. Only a file without a schema
error is remembered: a file with one is checked, and its problems reported, every time. The
memory is a small file in the user's cache folder (`checked_stores.folder()`), never beside
the rules; where it cannot be read or written, every check simply runs jsonschema.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache

from ..checked_stores import remember, remembered
from .schema import schema_text

FILE = "valid-rule-files.json"
KEPT = 1000  # files remembered, the latest


def key_of(raw: bytes) -> str:
    """The key a rule file of these bytes is remembered by."""
    return hashlib.sha256(_salt() + raw).hexdigest()


@lru_cache(maxsize=1)
def _salt() -> bytes:
    from ..backends.sqlite.fingerprint import engine_version

    schema = hashlib.sha256(schema_text().encode()).hexdigest()
    return f"{engine_version()}\0{schema}\0".encode()


def known() -> set[str]:
    """The keys of the files remembered valid."""
    return set(remembered(FILE))


def remember_valid(keys: list[str]) -> None:
    """Remember these files valid too (the latest `KEPT` are kept)."""
    remember(FILE, keys, KEPT)
