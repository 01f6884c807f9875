"""`campaign diff` for people: text for a terminal, markdown for a pull-request comment.

Both read the `Diff` and decide nothing. Changes come biggest first: offers by the customers
they gained and lost, then by how much their actions changed; segments by the customers who
entered and left. Markdown uses only what GitHub and GitLab both render (pipe tables,
`<details>` blocks) and stays under `MARKDOWN_LIMIT` characters (a GitHub comment holds
65,536): long tables keep their biggest rows and say how many were left out.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence

from ..decide.records import REASON_ORDER
from ..diff import ChannelChange, Diff, Move, OfferChange, SegmentChange, diff_document
from ..times import shown

MARKDOWN_LIMIT = 60_000
MOVES_SHOWN = 10  # moves in the comment itself; all of them in a collapsed block
_ROW_LIMITS = (None, 200, 100, 50, 25, 10, 5, 0)


# -- numbers ---------------------------------------------------------------------------------


def _n(value: int | float | None) -> str:
    if value is None:
        return "–"
    return f"{value:,.2f}" if isinstance(value, float) else f"{value:,}"


def _delta(before: int | float | None, after: int | float | None) -> str:
    """After minus before, signed; a side without the rule counts as 0."""
    change = (after or 0) - (before or 0)
    if not change:
        return "0"
    text = f"{change:+,.2f}" if isinstance(change, float) else f"{change:+,}"
    return text


def _from_to(before: int | float | None, after: int | float | None) -> str:
    if before == after:
        return _n(after)
    return f"{_n(before)} → {_n(after)}"


# -- what to show, in what order -----------------------------------------------------------------


def _actions(o: OfferChange) -> tuple[int | None, int | None]:
    return (o.before.actions if o.before else None, o.after.actions if o.after else None)


def offer_weight(o: OfferChange) -> tuple[int, int, int, str]:
    before, after = _actions(o)
    return (-(o.gained + o.lost), -abs((after or 0) - (before or 0)), -o.decisions_changed, o.id)


def changed_offers(diff: Diff) -> list[OfferChange]:
    found = [o for o in diff.offers if o.decisions_changed or o.before != o.after]
    return sorted(found, key=offer_weight)


def changed_segments(diff: Diff) -> list[SegmentChange]:
    found = [s for s in diff.segments if s.changed]
    return sorted(
        found, key=lambda s: (-(s.entered + s.left), -abs((s.after or 0) - (s.before or 0)), s.id)
    )


def changed_channels(diff: Diff) -> list[ChannelChange]:
    found = [c for c in diff.channels if c.changed]
    return sorted(found, key=lambda c: (-abs((c.after or 0) - (c.before or 0)), c.id))


def _total_actions(diff: Diff) -> tuple[int, int]:
    before = sum(o.before.actions for o in diff.offers if o.before)
    after = sum(o.after.actions for o in diff.offers if o.after)
    return before, after


def summary_line(diff: Diff) -> str:
    """One line: how many rules changed, and what that does to the decisions."""
    rules = f"{len(diff.rules)} rule change(s)"
    if not diff.decisions_changed:
        return f"{rules}; no decision changed ({_n(diff.customers)} customers)"
    offers = changed_offers(diff)
    before, after = _total_actions(diff)
    parts = [
        f"{len(offers)} offer(s) changed",
        f"{_n(diff.customers_moved)} customer(s) moved between offers",
        f"actions {_from_to(before, after)} ({_delta(before, after)})",
        f"cost {_from_to(diff.cost_before, diff.cost_after)} "
        f"({_delta(diff.cost_before, diff.cost_after)})",
    ]
    return f"{rules}; " + ", ".join(parts)


def _side(name: str, ref: str | None, commit: str | None) -> str:
    if ref is None:
        return f"{name}: the rules on disk"
    return f"{name}: {ref}" + (f" ({commit[:12]})" if commit and commit != ref else "")


def _rules_by_change(diff: Diff) -> list[str]:
    lines = []
    for change in ("added", "removed", "changed"):
        found = [r for r in diff.rules if r.change == change]
        if found:
            lines.append(f"{change}: " + ", ".join(f"{r.section}.{r.id}" for r in found))
    return lines


def _suppressed(o: OfferChange) -> list[tuple[str, int | None, int | None]]:
    before = o.before.suppressed if o.before else {}
    after = o.after.suppressed if o.after else {}
    reasons = [r for r in REASON_ORDER if r in before or r in after]  # the decision order
    return [
        (r, before.get(r, 0), after.get(r, 0))
        for r in reasons
        if before.get(r, 0) != after.get(r, 0)
    ]


def _moves_named(moves: Sequence[Move]) -> list[tuple[str, str, int]]:
    return [(m.before or "(none)", m.after or "(none)", m.customers) for m in moves]


# -- text --------------------------------------------------------------------------------------


def _table(header: Sequence[str], rows: Iterable[Sequence[str]], indent: str = "  ") -> list[str]:
    table = [list(header), *(list(r) for r in rows)]
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    lines = []
    for row in table:
        cells = [
            row[0].ljust(widths[0]),
            *(c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)),
        ]
        lines.append(indent + "  ".join(cells).rstrip())
    return lines


def _offer_cells(o: OfferChange, name: Callable[[str], str] = str) -> list[str]:
    b, a = o.before, o.after
    before, after = _actions(o)
    state = "added" if b is None else "removed" if a is None else ""
    return [
        name(o.id) + (f" ({state})" if state else ""),
        _from_to(before, after),
        _delta(before, after),
        _n(o.gained),
        _n(o.lost),
        _from_to(b.audience if b else None, a.audience if a else None),
        _from_to(b.holdouts if b else None, a.holdouts if a else None),
        _n(o.holdout_changed),
        _from_to(b.cost if b else None, a.cost if a else None),
    ]


OFFER_HEADER = (
    "offer",
    "actions",
    "change",
    "gained",
    "lost",
    "audience",
    "holdouts",
    "holdout changed",
    "cost",
)


def _as_of(diff: Diff) -> str:
    return shown(diff.as_of, diff.timezone)


def diff_text(diff: Diff) -> str:
    """The diff for a terminal: every change, nothing left out."""
    lines = [
        f"campaign diff as of {_as_of(diff)}, {_n(diff.customers)} customers",
        f"  {_side('base', diff.base.ref, diff.base.commit)}",
        f"  {_side('head', diff.head.ref, diff.head.commit)}",
        "",
        summary_line(diff),
    ]
    if diff.rules:
        lines += ["", "Rules", *(f"  {line}" for line in _rules_by_change(diff))]
    offers = changed_offers(diff)
    if offers:
        lines += ["", "Offers, biggest changes first"]
        lines += _table(OFFER_HEADER, (_offer_cells(o) for o in offers))
        reasons = [(o.id, r, b, a) for o in offers for r, b, a in _suppressed(o)]
        if reasons:
            lines += ["", "Suppressed, by reason (changed only)"]
            suppressed = ((o, r, _from_to(b, a), _delta(b, a)) for o, r, b, a in reasons)
            lines += _table(("offer", "reason", "customers", "change"), suppressed)
    if diff.moves:
        lines += ["", "Customers moved between offers (by their highest-priority action)"]
        moved = ((b, a, _n(n)) for b, a, n in _moves_named(diff.moves))
        lines += _table(("from", "to", "customers"), moved)
    segments = changed_segments(diff)
    if segments:
        lines += ["", "Segments"]
        sizes = (
            (
                s.id,
                _from_to(s.before, s.after),
                _delta(s.before, s.after),
                _n(s.entered),
                _n(s.left),
            )
            for s in segments
        )
        lines += _table(("segment", "customers", "change", "entered", "left"), sizes)
    channels = changed_channels(diff)
    if channels:
        lines += ["", "Channels"]
        messages = (
            (
                c.id,
                _from_to(c.before, c.after),
                _delta(c.before, c.after),
                _from_to(c.exits_before, c.exits_after),
            )
            for c in channels
        )
        lines += _table(("channel", "actions", "change", "exits"), messages)
    lines += ["", f"Cost: {_from_to(diff.cost_before, diff.cost_after)}"]
    return "\n".join(lines) + "\n"


# -- markdown ------------------------------------------------------------------------------------


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _md_table(
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    limit: int | None,
    what: str,
    names: int = 1,
    rest: str = "`--format json` has all",
) -> list[str]:
    """A pipe table, the first `names` columns left-aligned and the numbers after them
    right-aligned, at most `limit` rows and a note on the rest."""
    shown = rows if limit is None else rows[:limit]
    align = [":---" if i < names else "---:" for i in range(len(header))]
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join(align) + "|",
        *("| " + " | ".join(_cell(c) for c in row) + " |" for row in shown),
    ]
    if len(shown) < len(rows):
        lines += ["", f"… and {len(rows) - len(shown):,} more {what} ({rest})."]
    return lines


def _details(summary: str, body: list[str]) -> list[str]:
    return ["", "<details>", f"<summary>{summary}</summary>", "", *body, "", "</details>"]


def _code(name: str) -> str:
    return f"`{name}`"


def _offer_or_none(name: str | None) -> str:
    return _code(name) if name is not None else "*no action*"


def _markdown(diff: Diff, limit: int | None) -> str:
    lines = [f"### campaign diff: {summary_line(diff)}", ""]
    lines.append(
        f"{_side('Base', diff.base.ref, diff.base.commit)} · "
        f"{_side('head', diff.head.ref, diff.head.commit)} · as of {_as_of(diff)} · "
        f"{_n(diff.customers)} customers"
    )
    offers = changed_offers(diff)
    if offers:
        rows = [_offer_cells(o, _code) for o in offers]
        lines += ["", "#### Offers, biggest changes first", ""]
        lines += _md_table(OFFER_HEADER, rows, limit, "offers")
    if diff.moves:
        rows = [
            [_offer_or_none(m.before), _offer_or_none(m.after), _n(m.customers)] for m in diff.moves
        ]
        header = ("from", "to", "customers")
        lines += ["", "#### Customers moved between offers (by their highest-priority action)", ""]
        shown = MOVES_SHOWN if limit is None else min(limit, MOVES_SHOWN)
        lines += _md_table(header, rows, shown, "moves", 2, "all of them below")
        if len(rows) > MOVES_SHOWN:
            body = _md_table(header, rows, limit, "moves", 2)
            lines += _details(f"All {len(rows):,} moves", body)
    segments = changed_segments(diff)
    if segments:
        rows = [
            [
                _code(s.id),
                _from_to(s.before, s.after),
                _delta(s.before, s.after),
                _n(s.entered),
                _n(s.left),
            ]
            for s in segments
        ]
        body = _md_table(
            ("segment", "customers", "change", "entered", "left"), rows, limit, "segments"
        )
        lines += _details(f"Segments ({len(segments):,} changed)", body)
    reasons = [(o.id, r, b, a) for o in offers for r, b, a in _suppressed(o)]
    if reasons:
        rows = [[_code(o), r, _from_to(b, a), _delta(b, a)] for o, r, b, a in reasons]
        body = _md_table(("offer", "reason", "customers", "change"), rows, limit, "rows", 2)
        lines += _details("Suppressed, by reason", body)
    channels = changed_channels(diff)
    if channels:
        rows = [
            [
                _code(c.id),
                _from_to(c.before, c.after),
                _delta(c.before, c.after),
                _from_to(c.exits_before, c.exits_after),
            ]
            for c in channels
        ]
        lines += _details(
            f"Channels ({len(channels):,} changed)",
            _md_table(("channel", "actions", "change", "exits"), rows, limit, "channels"),
        )
    if diff.rules:
        rows = [[r.section, _code(r.id), r.change] for r in diff.rules]
        lines += _details(
            f"Rules ({len(diff.rules):,} changed)",
            _md_table(("section", "id", "change"), rows, limit, "rules", 3),
        )
    lines += ["", f"Cost: {_from_to(diff.cost_before, diff.cost_after)}"]
    return "\n".join(lines) + "\n"


def diff_markdown(diff: Diff, limit: int = MARKDOWN_LIMIT) -> str:
    """The diff as a pull-request comment: at most `limit` characters, biggest changes first;
    tables are cut shorter until it fits."""
    for rows in _ROW_LIMITS:
        text = _markdown(diff, rows)
        if len(text) <= limit:
            return text
    note = "\n\n… cut to fit a comment (`--format json` has everything).\n"
    return text[: limit - len(note)] + note


def diff_json(diff: Diff) -> str:
    return json.dumps(diff_document(diff), ensure_ascii=False, sort_keys=True, indent=1) + "\n"


RENDERERS: dict[str, Callable[[Diff], str]] = {
    "text": diff_text,
    "markdown": diff_markdown,
    "json": diff_json,
}
