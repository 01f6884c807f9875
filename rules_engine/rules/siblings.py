"""When one file of a rule set is checked alone, names it uses from the files beside it are
unknown; the hint says where they are defined and to check the folder instead."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from ..errors import Problem
from .load import load_file

SECTIONS = ("metrics", "segments", "channels", "offers")
_UNKNOWN = {"unknown-reference", "expr-unknown-name"}
_NAME = re.compile(r"unknown (?:[a-z ]+ )?`([^`]+)`")


def with_sibling_hints(
    problems: list[Problem], paths: Sequence[str | Path], files: Sequence[Path]
) -> list[Problem]:
    """Unknown names that a rule file next to a file given by name defines get a hint."""
    named = [Path(p) for p in paths if Path(p).is_file()]
    if not named or not any(p.code in _UNKNOWN for p in problems):
        return problems
    checked = {f.resolve() for f in files}
    defined: dict[str, Path] = {}
    for folder in sorted({p.parent for p in named}):
        for sibling in sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]):
            if sibling.resolve() in checked or not sibling.is_file():
                continue
            doc, _ = load_file(sibling)
            data = doc.data if doc is not None and isinstance(doc.data, dict) else {}
            for section in SECTIONS:
                for name in data.get(section) or {} if isinstance(data.get(section), dict) else ():
                    defined.setdefault(str(name), sibling)
    return [_hinted(p, defined) for p in problems]


def _hinted(problem: Problem, defined: dict[str, Path]) -> Problem:
    match = _NAME.search(problem.message) if problem.code in _UNKNOWN else None
    name = match.group(1) if match else ""
    where = defined.get(name)
    if where is None:
        return problem
    hint = f"`{name}` is defined in {where}; check the whole rule set: "
    hint += f"campaign validate {where.parent}"
    return replace(problem, hint=hint)
