"""Rule files as they were at a Git commit, read from Git: the working tree is left alone.

`campaign diff --base REF` compares the rules on disk with the same paths at REF. Each path
is found in its repository (`git rev-parse --show-toplevel`), listed at REF (`git ls-tree`)
and read in one `git cat-file --batch`; the files are named as the same files on disk are, so
a problem in the base rules reads `rules/offers.yaml:12:5` like one in the rules on disk.
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

from ..errors import InputError
from . import provenance

RULE_SUFFIXES = (".yaml", ".yml")
_TIMEOUT = 120


class GitMissing(InputError):
    """No `git` program to run."""


def _git(folder: Path, *args: str, stdin: bytes | None = None) -> bytes:
    """Run git in `folder`; InputError (exit 2) with git's own message when it fails."""
    try:
        done = subprocess.run(
            ["git", "-C", str(folder), *args],
            input=stdin,
            capture_output=True,
            check=False,
            timeout=_TIMEOUT,
        )
    except FileNotFoundError:
        raise GitMissing("git is not installed; install it, or use --base-rules DIR") from None
    except subprocess.TimeoutExpired:
        raise InputError(f"git {args[0]} took over {_TIMEOUT} s in {folder}") from None
    if done.returncode != 0:
        message = done.stderr.decode(errors="replace").strip().splitlines()
        raise InputError(f"git {args[0]} failed in {folder}: {message[-1] if message else ''}")
    return done.stdout


def repository_of(path: Path) -> Path:
    """The top folder of the Git work tree holding `path`."""
    folder = path if path.is_dir() else path.parent
    if not folder.is_dir():
        raise InputError(f"{path}: no such file or directory")
    try:
        top = _git(folder, "rev-parse", "--show-toplevel")
    except GitMissing:
        raise
    except InputError:
        raise InputError(
            f"{path}: not inside a Git repository, so there is no base to read; "
            "give the base rules as a folder with --base-rules DIR"
        ) from None
    return Path(top.decode().strip()).resolve()


def commit_of(top: Path, ref: str) -> str:
    """The commit REF names in the repository at `top`."""
    try:
        found = _git(
            top, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}"
        )
    except InputError:
        raise InputError(
            f"{ref}: no such commit in the repository at {top}; give a branch, tag or commit "
            "that exists there (in CI, fetch it first: `git fetch origin main`, and "
            "`actions/checkout` with `fetch-depth: 0`)"
        ) from None
    return found.decode().strip()


def _listed(top: Path, commit: str, relative: str) -> list[tuple[str, str]]:
    """(blob id, path from the top) of every regular file at or under `relative`."""
    out = _git(top, "ls-tree", "-r", "-z", "--full-tree", commit, "--", relative)
    found = []
    for entry in out.split(b"\0"):
        if not entry:
            continue
        meta, name = entry.split(b"\t", 1)
        mode, kind, blob = meta.decode().split()
        if kind == "blob" and mode != "120000":  # symbolic links are not rule files
            found.append((blob, name.decode()))
    return found


def _by_parts(item: tuple[str, str]) -> PurePosixPath:
    return PurePosixPath(item[1])


def _inside(name: str, folder: str) -> PurePosixPath:
    """A file's path under the folder given (both from the top of the repository)."""
    return PurePosixPath(name) if folder == "." else PurePosixPath(name).relative_to(folder)


def _is_rule_file(inside: PurePosixPath) -> bool:
    """The files `load.discover` finds in a folder: YAML files, none under a hidden folder."""
    return inside.suffix in RULE_SUFFIXES and not any(p.startswith(".") for p in inside.parts)


def _read_blobs(top: Path, blobs: Sequence[str]) -> list[bytes]:
    """The content of each blob, in one `git cat-file --batch`."""
    if not blobs:
        return []
    out = _git(top, "cat-file", "--batch", stdin="".join(f"{b}\n" for b in blobs).encode())
    contents, at = [], 0
    for _ in blobs:
        header_end = out.index(b"\n", at)
        size = int(out[at:header_end].split()[2])
        contents.append(out[header_end + 1 : header_end + 1 + size])
        at = header_end + 1 + size + 1
    return contents


def rules_at(paths: Sequence[str | Path], ref: str) -> tuple[str, list[tuple[str, bytes]]]:
    """The commit REF names, and the rule files the paths held there, as (name, content): each
    named as the same file on disk would be (the path given, then the file's path under it).
    A path that did not exist at REF holds no files there."""
    files: list[tuple[str, bytes]] = []
    commit = ""
    seen: set[str] = set()
    for given in paths:
        path = Path(given)
        top = repository_of(path)
        commit = commit_of(top, ref)
        relative = path.resolve().relative_to(top).as_posix()
        is_dir = path.is_dir()
        listed = []
        # in the order `load.discover` reads a folder (by path parts, not by text)
        for blob, name in sorted(_listed(top, commit, relative), key=_by_parts):
            inside = _inside(name, relative) if is_dir else None
            if name in seen or (inside is not None and not _is_rule_file(inside)):
                continue
            seen.add(name)
            listed.append((blob, (path / inside if inside is not None else path).as_posix()))
        contents = _read_blobs(top, [blob for blob, _ in listed])
        files += [(shown, content) for (_, shown), content in zip(listed, contents, strict=True)]
    return commit, files


def digest_of(files: Sequence[tuple[str, bytes]]) -> str:
    """The rules digest of files read from elsewhere than the disk (`provenance.digest_of`):
    the same files give the same digest wherever they were read from."""
    return provenance.digest_of(files)
