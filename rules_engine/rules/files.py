"""Which files are rule files: named on the command line, or found in a rules folder.

Apart from loading (load.py) so that finding the files needs no YAML parser: a command whose
checked rule set is remembered (remembered.py) reads the files' bytes and nothing more.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from ..errors import InputError


def discover(paths: Sequence[str | Path]) -> list[Path]:
    """Rule files named or found (recursively, *.yaml and *.yml) in the given paths. A
    folder that cannot be read, or a link that leads out of the rules folder, is refused
    (`InputError`): rules are never skipped, and nothing outside the folder is read as one."""
    found: list[Path] = []
    seen: set[Path] = set()
    for given in paths:
        path = Path(given)
        try:
            path.stat()
        except FileNotFoundError:
            pass  # said below
        except OSError as exc:
            raise InputError(
                f"{path}: cannot read it ({exc.strerror}); check the path, and the permissions "
                "of the file and of the folders above it"
            ) from None
        if path.is_dir():
            candidates = _walk(path)
        elif path.exists():
            candidates = [path]
        else:
            raise InputError(
                f"{path}: no such file or directory; give rule files or "
                "directories (the default is rules/)"
            )
        for candidate in candidates:
            key = candidate.resolve()
            if key not in seen:
                seen.add(key)
                found.append(candidate)
    return found


def _walk(root: Path) -> list[Path]:
    """The rule files under a rules folder, hidden files and folders left out."""
    inside = root.resolve()

    def unreadable(exc: OSError) -> None:
        raise InputError(
            f"{exc.filename}: cannot read this folder of rules ({exc.strerror}); make it "
            "readable, or move it out of the rules folder"
        )

    found: list[Path] = []
    visited: set[Path] = set()
    for folder, folders, files in os.walk(root, onerror=unreadable, followlinks=True):
        here = Path(folder)
        real = here.resolve()
        _stay_inside(here, real, inside, root)
        if real in visited:  # a link back up the tree
            folders[:] = []
            continue
        visited.add(real)
        folders[:] = sorted(f for f in folders if not f.startswith("."))
        for name in sorted(files):
            candidate = here / name
            if name.startswith(".") or candidate.suffix not in (".yaml", ".yml"):
                continue
            _stay_inside(candidate, candidate.resolve(), inside, root)
            if candidate.is_file() or not candidate.exists():  # a broken link: reported
                found.append(candidate)
    return sorted(found)


def _stay_inside(path: Path, real: Path, inside: Path, root: Path) -> None:
    if not real.is_relative_to(inside):
        raise InputError(
            f"{path}: a link to {real}, outside the rules folder {root}; rule files are read "
            "only inside it: copy the file in, or name it on the command line"
        )
