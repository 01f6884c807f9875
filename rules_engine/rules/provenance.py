"""What a rule set was loaded from: the digest of the bytes read, each file's name relative to
the rules root, and the Git commit those bytes are at.

All three are taken when the rules are loaded, from the bytes the loader parsed, so a run
records what it decided with even if a file is edited while it runs, and the names in plans
and audit rows do not depend on how the rules path was typed or where the command ran.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path

from .model import RuleSet


def rule_names(files: Iterable[str | Path]) -> dict[str, Path]:
    """Rule files by their path relative to the folder that holds them all, in path order:
    the same however the rules folder was named on the command line."""
    paths = [Path(f).resolve() for f in files]
    if not paths:
        return {}
    root = Path(os.path.commonpath([p.parent for p in paths]))
    return dict(sorted((p.relative_to(root).as_posix(), p) for p in paths))


def digest_of(files: Sequence[tuple[str, bytes]]) -> str:
    """SHA-256 over rule files: each file's relative name and bytes, in name order."""
    by_path = {Path(name).resolve(): content for name, content in files}
    digest = hashlib.sha256()
    for name, path in rule_names(list(by_path)).items():
        digest.update(name.encode() + b"\0")
        digest.update(by_path[path] + b"\0")
    return digest.hexdigest()


def stamped(rules: RuleSet, files: Sequence[tuple[str, bytes]]) -> RuleSet:
    """The rule set with the digest of the bytes loaded and its files' relative names."""
    names = {str(path): name for name, path in rule_names(name for name, _ in files).items()}
    by_given = {given: names[str(Path(given).resolve())] for given, _ in files}
    return replace(rules, digest=digest_of(files), file_names=by_given)


def _blob_id(content: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


def git_commit_of(files: Sequence[tuple[str, bytes]]) -> str | None:
    """The commit the rules are at, with `+dirty` when a file's bytes as loaded differ from
    the commit's; None outside a Git repository."""
    if not files:
        return None
    folder = Path(files[0][0]).resolve().parent
    try:
        head, top = _git(folder, "rev-parse", "HEAD", "--show-toplevel").split("\n")[:2]
        paths = [
            Path(name).resolve().relative_to(Path(top).resolve()).as_posix() for name, _ in files
        ]
        listed = _git(
            folder, "cat-file", "--batch-check", stdin="".join(f"HEAD:{p}\n" for p in paths)
        )
    except (OSError, ValueError, subprocess.SubprocessError):
        return None
    committed = [line.split(" ")[0] for line in listed.splitlines()]
    dirty = committed != [_blob_id(content) for _, content in files]
    return head.strip() + ("+dirty" if dirty else "") if head.strip() else None


def _git(folder: Path, *args: str, stdin: str | None = None) -> str:
    return subprocess.run(
        ["git", "-C", str(folder), *args],
        capture_output=True,
        text=True,
        check=True,
        timeout=10,
        input=stdin,
    ).stdout
