"""One customer's part of a plan file, found without reading the whole file.

A plan file of a million customers is hundreds of megabytes of JSON; `explain --plan` needs
its fingerprint and one customer's audit and action rows. `campaign plan --out` writes every
plan file in one layout (`report.render.write_json`): the top-level keys sorted, each on a line
of its own indented by one space; each row of a list starting on a line `  {` and ending on a
line `  }`; the audit and action rows sorted by customer id. JSON text holds no raw line break,
so those lines are found by their bytes, and the customer's rows by bisecting the two lists in
the mapped file: some fifty small reads, whatever the file's size.

A file in any other layout (re-indented by a tool, say) is read whole instead, and anything
that is not a plan file is refused, both by `apply.read_plan_file`, as `run --plan` refuses it.
Only the parts read are checked: a file damaged elsewhere is found out by `run --plan`.
"""

from __future__ import annotations

import json
import mmap
from dataclasses import replace
from pathlib import Path
from typing import Any

from .apply import PlanFile, plan_file_of, read_plan_file
from .decide.records import Decision
from .times import parse_instant

_ROW = b"\n  {"  # a row of a top-level list starts
_ROW_END = b"\n  }"


class _OtherLayout(Exception):
    """The file is not laid out as `plan --out` writes it (or is no plan file at all)."""


def customer_part(path: str | Path, customer_id: int) -> PlanFile:
    """The plan file at `path` with only the audit and action rows of `customer_id` (and no
    exits); its `counts` are not the plan's. An input error when it is not a plan file."""
    path = Path(path)
    try:
        document = _customer_document(path, customer_id)
    except (_OtherLayout, OSError, ValueError):  # JSON and UTF-8 errors are ValueErrors
        whole = read_plan_file(path)
        return replace(
            whole,
            audit=[r for r in whole.audit if _customer_of(r) == customer_id],
            actions=[r for r in whole.actions if _customer_of(r) == customer_id],
            exits=[],
        )
    return plan_file_of(path, document)


def decisions(part: PlanFile) -> list[Decision]:
    """The decisions of a plan file's audit rows, with the send time and cost of their
    actions: what the plan decided, as `execute.plan` hands it over."""
    actions = {(r["customer_id"], r["offer_id"]): r for r in part.actions}
    found = []
    for row in part.audit:
        action = actions.get((row["customer_id"], row["offer_id"]))
        send_at = action.get("send_at") if action else None
        found.append(
            Decision(
                int(row["customer_id"]),
                str(row["offer_id"]),
                str(row["outcome"]),
                row.get("reason"),
                row.get("channel"),
                parse_instant(send_at) if send_at else None,
                float(action["cost"]) if action else 0.0,
                row.get("detail"),
                row.get("variant"),
            )
        )
    return found


def _customer_document(path: Path, customer_id: int) -> dict[str, Any]:
    """The plan document with only the customer's rows, read as the layout lets it be."""
    with path.open("rb") as file, mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        if mm[:2] != b"{\n" or mm[-3:] != b"\n}\n":
            raise _OtherLayout
        # The keys in file order: actions, as_of, audit, channels, customers, exits,
        # fingerprint, format, ... Each is looked for from the end, before the next one, so
        # only the short lists between them are searched, not the long action and audit
        # lists; the audit key, after the action list, is found by bisecting for the first
        # audit row (`_audit_key`).
        fmt = _key(mm, "format", len(mm))
        fingerprint = _key(mm, "fingerprint", fmt)
        customers = _key(mm, "customers", fingerprint)
        channels = _key(mm, "channels", customers)
        actions = _found(mm.find(b'\n "actions": ', 0, channels))
        audit = _audit_key(mm, actions, channels)
        return {
            "format": _scalar(mm, fmt),
            "fingerprint": json.loads(_value(mm, fingerprint, fmt).rstrip(b",")),
            "customers": _scalar(mm, customers),
            "channels": json.loads(_value(mm, channels, customers).rstrip(b",")),
            "actions": _rows_of(mm, actions, audit, customer_id),
            "audit": _rows_of(mm, audit, customers, customer_id),
            "exits": [],
        }


def _key(mm: mmap.mmap, name: str, before: int) -> int:
    """Where the top-level key `name` starts (its line's newline), before offset `before`."""
    at = mm.rfind(b'\n "' + name.encode() + b'": ', 0, before)
    if at < 0:
        raise _OtherLayout
    return at


def _audit_key(mm: mmap.mmap, actions: int, channels: int) -> int:
    """Where the audit key starts, between the action list's key at `actions` and the channel
    list's at `channels`: the rows between them are the action rows, then the audit rows
    (which alone have an `outcome`), so the last action row is found by bisecting, and the
    key is the next one after it."""
    low, high = actions, channels
    while low < high:  # the first offset whose next row is an audit row (or none is left)
        middle = (low + high) // 2
        row = _next_row(mm, middle, channels)
        if row is None or "outcome" in row[1]:
            high = middle
        else:
            low = middle + 1
    return _found(mm.find(b'\n "audit": ', low, channels))


def _value(mm: mmap.mmap, key: int, end: int) -> bytes:
    """The text of the value of the key at `key`, up to `end`."""
    return mm[_found(mm.find(b": ", key)) + 2 : end]


def _scalar(mm: mmap.mmap, key: int) -> Any:
    """The value of a key whose value is on its own line."""
    return json.loads(_value(mm, key, _found(mm.find(b"\n", key + 1))).rstrip(b","))


def _found(at: int) -> int:
    if at < 0:
        raise _OtherLayout
    return at


def _rows_of(mm: mmap.mmap, start: int, end: int, customer_id: int) -> list[dict[str, Any]]:
    """The rows of `customer_id` among those starting between `start` and `end`: the list of
    the key at `start`, sorted by customer id, then perhaps rows of other lists, which hold no
    customer id and so count as coming after every customer."""
    low, high = start, end
    while low < high:  # the first offset whose next row is of this customer or a later one
        middle = (low + high) // 2
        row = _next_row(mm, middle, end)
        if row is None or _after(row[1], customer_id - 1):
            high = middle
        else:
            low = middle + 1
    found = []
    while (row := _next_row(mm, low, end)) is not None and _customer_of(row[1]) == customer_id:
        found.append(row[1])
        low = row[0]
    return found


def _next_row(mm: mmap.mmap, at: int, end: int) -> tuple[int, dict[str, Any]] | None:
    """The first row starting at or after offset `at` (and before `end`): where it ends, and
    the row."""
    start = mm.find(_ROW, at, end)
    if start < 0:
        return None
    stop = mm.find(_ROW_END, start)
    if stop < 0:
        raise _OtherLayout
    row = json.loads(mm[start + 1 : stop + len(_ROW_END)])
    if not isinstance(row, dict):
        raise _OtherLayout
    return stop, row


def _after(row: dict[str, Any], customer_id: int) -> bool:
    """Whether the row comes after every row of `customer_id` (a row of no customer does)."""
    other = _customer_of(row)
    return other is None or other > customer_id


def _customer_of(row: Any) -> int | None:
    value = row.get("customer_id") if isinstance(row, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None
