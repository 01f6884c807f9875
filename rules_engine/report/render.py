"""Reporters: problems and plans as text for people, JSON for machines, annotations for CI.

Small classes and functions chosen by name (`REPORTERS`); no checking or deciding here.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict
from datetime import date, datetime
from typing import IO, TYPE_CHECKING, Any

from ..decide.records import REASON_ORDER
from ..errors import Problem, printable
from ..execute import Plan
from ..reference.explain import Explanation, OfferLine, Trace, describe
from ..rules.model import RuleSet
from ..times import both_zones, parse_instant, utc_text

if TYPE_CHECKING:  # the plan's summaries are made only for a plan's report, not for explain
    from .summary import ChannelSummary, OfferSummary
    from .view import PlanView

Sources = Mapping[str, str]  # file path → its text, to quote the offending line


class TextReporter:
    """`path:line:col: error[code]: message`, the source line with a caret, then a total."""

    def __init__(self, show_source: bool = True) -> None:
        self.show_source = show_source

    def render(
        self, problems: Sequence[Problem], sources: Sources, checked: int, accepted: int = 0
    ) -> str:
        lines: list[str] = []
        for problem in problems:
            lines.append(self.line(problem))
            if problem.hint:
                lines.append(f"  hint: {problem.hint}")
            if self.show_source:
                lines += self.excerpt(problem, sources)
        lines.append(summary(problems, checked, accepted))
        return "\n".join(printable(line) for line in lines)

    @staticmethod
    def line(problem: Problem) -> str:
        return f"{problem.span}: {problem.severity.value}[{problem.code}]: {problem.message}"

    @staticmethod
    def excerpt(problem: Problem, sources: Sources) -> list[str]:
        text = sources.get(problem.span.file)
        # lines are echoed from rule files only: a file named on the command line that is
        # not a rule file (say /etc/shadow) is reported by position, never quoted
        rule_file = problem.span.file.endswith((".yaml", ".yml", ".json"))
        if text is None or problem.span.line < 1 or not rule_file:
            return []
        source_lines = text.splitlines()
        if problem.span.line > len(source_lines):
            return []
        source = source_lines[problem.span.line - 1]
        width = 1
        if problem.span.end_line == problem.span.line and problem.span.end_col > problem.span.col:
            width = problem.span.end_col - problem.span.col
        return [f"  | {source}", "  | " + " " * max(problem.span.col - 1, 0) + "^" * width]


class JsonReporter:
    """A JSON object with the problem list and counts; keys sorted, stable across runs."""

    def render(
        self, problems: Sequence[Problem], sources: Sources, checked: int, accepted: int = 0
    ) -> str:
        errors = sum(p.is_error for p in problems)
        body = {
            "accepted": accepted,
            "files": checked,
            "errors": errors,
            "warnings": len(problems) - errors,
            "problems": [p.to_dict() for p in problems],
        }
        return json.dumps(body, ensure_ascii=False, indent=2, sort_keys=True)


class GithubReporter:
    """GitHub workflow annotations: the problems appear on the pull request's diff."""

    def render(
        self, problems: Sequence[Problem], sources: Sources, checked: int, accepted: int = 0
    ) -> str:
        lines = [self.annotation(p) for p in problems]
        lines.append(summary(problems, checked, accepted))
        return "\n".join(printable(line) for line in lines)

    @staticmethod
    def annotation(problem: Problem) -> str:
        level = "error" if problem.is_error else "warning"
        span = problem.span
        where = f"file={_escape_property(span.file)}"
        if span.line:
            where += f",line={span.line},col={span.col}"
            if span.end_line:
                where += f",endLine={span.end_line},endColumn={span.end_col}"
        message = problem.message + (f" (hint: {problem.hint})" if problem.hint else "")
        title = _escape_property(problem.code)
        return f"::{level} {where},title={title}::{_escape_data(message)}"


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def summary(problems: Sequence[Problem], checked: int, accepted: int = 0) -> str:
    errors = sum(p.is_error for p in problems)
    warnings = len(problems) - errors
    files = f"{checked} file{'s' if checked != 1 else ''}"
    besides = f" ({accepted} accepted warning(s) not shown)" if accepted else ""
    if not problems:
        return f"{files} checked: no problems{besides}"
    return f"{files} checked: {errors} error(s), {warnings} warning(s){besides}"


REPORTERS = {"text": TextReporter, "json": JsonReporter, "github": GithubReporter}


# -- plans ----------------------------------------------------------------------------------------


def table(header: Sequence[str], rows: Sequence[Sequence[object]], indent: str = "  ") -> str:
    """Columns aligned: text to the left, numbers to the right, thousands separated."""
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(header)]
    numeric = [
        all(isinstance(r[i], int | float) or r[i] is None for r in rows) for i in range(len(header))
    ]

    def line(values: Sequence[str]) -> str:
        parts = [
            v.rjust(w) if num else v.ljust(w)
            for v, w, num in zip(values, widths, numeric, strict=True)
        ]
        return (indent + "  ".join(parts)).rstrip()

    return "\n".join([line(list(header)), *(line(r) for r in cells)])


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.2f}"
    return str(value)


def _view(plan: Plan, digest: str) -> PlanView:
    from .view import plan_view

    return plan_view(plan, digest=digest)


def plan_text(plan: Plan, *, digest: str) -> str:
    """The plan as people read it: segments, offers, suppressions, channels."""
    return render_plan_text(_view(plan, digest))


def render_plan_text(view: PlanView) -> str:
    """The plan view as text for a terminal."""
    offers = [o.summary for o in view.offers]
    lines = [
        f"Plan as of {both_zones(parse_instant(view.as_of), view.timezone)}: "
        f"{view.customers:,} customers, "
        f"{view.rule_files} rule file(s) (digest {view.rules_digest[:12]})",
        *_same_as_of(view),
        "",
        "Segments",
        table(
            ["segment", "customers", "share"],
            [
                (name, n, f"{100 * n / view.customers:.1f}%" if view.customers else "-")
                for name, n, _ in view.segments
            ],
        ),
        "",
        "Offers in play, in allocation order",
        table(
            [
                "offer",
                "priority",
                "group",
                "audience",
                "holdout",
                "actions",
                "suppressed",
                "cost",
                "budget left*",
            ],
            [
                (
                    o.id,
                    o.priority,
                    o.group,
                    o.audience,
                    o.holdouts,
                    o.actions,
                    sum(o.suppressed.values()),
                    o.cost,
                    o.budget_left,
                )
                for o in offers
            ],
        ),
    ]
    if any(o.budget_spendable is not None for o in offers):
        lines.append(
            "  * budget left excludes the reserve: total - reserve - earlier runs - this plan"
        )
    idle = view.not_in_play
    if idle:
        lines.append(f"  not in play today (window): {', '.join(idle)}")
    tested = [(o.id, v, n) for o in offers for v, n in o.variants.items()]
    if tested:
        lines += ["", "Variants (actions)", table(["offer", "variant", "actions"], tested)]
    lines += ["", "Suppressed, by reason (first reason in the contract's order)"]
    reasons = [r for r in REASON_ORDER if any(r in o.suppressed for o in offers)]
    lines.append(
        table(
            ["offer", *reasons],
            [(o.id, *(o.suppressed.get(r, 0) for r in reasons)) for o in offers],
        )
    )
    moved = sum(o.quiet_hours for o in offers)
    if moved:
        lines.append(f"  {moved:,} action(s) moved out of quiet hours")
    past_blackouts = sum(o.blackout_moves for o in offers)
    if past_blackouts:
        lines.append(f"  {past_blackouts:,} action(s) moved past blackouts")
    lines += ["", "Channels"]
    rows = []
    for c in (c.summary for c in view.channels):
        life = c.lifecycle
        numbers = life.numbers if life else {}
        rows.append(
            (
                c.id,
                c.actions,
                c.cost,
                c.exits,
                life.state if life else None,
                numbers.get("roi"),
                numbers.get("portfolio_roi"),
                numbers.get("target_roi"),
                life.period if life else None,
            )
        )
    lines.append(
        table(
            [
                "channel",
                "actions",
                "cost",
                "exits",
                "lifecycle",
                "roi",
                "portfolio roi",
                "target roi",
                "period",
            ],
            rows,
        )
    )
    total = sum(o.actions for o in offers)
    spend = round(sum(o.cost for o in offers), 2)
    lines += [
        "",
        f"{total:,} action(s), {spend:,.2f} expected cost, {view.exits:,} channel exit(s)",
    ]
    return "\n".join(lines)


def _same_as_of(view: PlanView) -> list[str]:
    """A warning when runs committed at this as-of already: the plan counts their actions."""
    if not view.runs_at_as_of:
        return []
    runs = ", ".join(f"{key} ({n:,} action(s))" for key, n in view.runs_at_as_of)
    return [
        f"Note: run(s) already committed at this as-of: {runs}. Their actions count against "
        "this plan's caps, cooldowns, max_actions and budgets."
    ]


def plan_document(plan: Plan, *, digest: str) -> dict[str, Any]:
    """The whole plan for machines (docs/plan-format.md); the same inputs give the same bytes."""
    return {
        **summary_document(_view(plan, digest)),
        **{key: list(rows) for key, rows in plan_rows(plan).items()},
    }


def plan_rows(plan: Plan) -> dict[str, Iterator[dict[str, Any]]]:
    """The plan JSON's row lists (exits, actions, audit), each made row by row as read."""
    from ..backends.writer import action_row, audit_row

    rules = plan.rules
    exits = (
        {
            "customer_id": e.customer_id,
            "channel": e.channel,
            "exited_at": utc_text(e.exited_at),
            "until": utc_text(e.until) if e.until else None,
            "reason": e.reason,
        }
        for e in plan.exits
    )
    return {
        "exits": exits,
        "actions": (_without_run(action_row(rules, None, d)) for d in plan.actions),
        "audit": (_without_run(audit_row(rules, None, d)) for d in plan.audit),
    }


def summary_document(view: PlanView) -> dict[str, Any]:
    """The plan JSON's summaries (everything but the exit, action and audit rows)."""
    return {
        "format": "campaign-plan/1",
        "as_of": view.as_of,
        "rules": {"files": list(view.rule_names), "digest": view.rules_digest},
        "customers": view.customers,
        "segments": [{"id": k, "customers": v} for k, v, _ in view.segments],
        "offers": [_offer_json(o.summary) for o in view.offers],
        "offers_not_in_play": list(view.not_in_play),
        "runs_at_as_of": [{"run_key": k, "actions": n} for k, n in view.runs_at_as_of],
        "channels": [_channel_json(c.summary) for c in view.channels],
    }


def plan_json(plan: Plan, *, digest: str) -> str:
    """`plan_document` as JSON text with sorted keys (the file `campaign plan --json` writes)."""
    text = io.StringIO()
    write_plan_json(text, plan, digest=digest)
    return text.getvalue()


def write_plan_json(
    out: IO[str], plan: Plan, *, digest: str, extra: Mapping[str, Any] | None = None
) -> None:
    """`plan_json` written to `out` as it is made, with the `extra` keys (a plan file's
    fingerprint): at a million customers the audit rows as one document and one string took
    2 GB more than the plan itself."""
    small = {**summary_document(_view(plan, digest)), **(extra or {})}
    write_json(out, small, plan_rows(plan))
    out.write("\n")


def write_json(
    out: IO[str], document: Mapping[str, Any], rows: Mapping[str, Iterable[Any]]
) -> None:
    """The bytes of `json.dumps(document | rows, sort_keys=True, indent=1, ensure_ascii=False)`
    with each row list streamed: no list of the rows, no string of the whole."""
    encode = json.JSONEncoder(ensure_ascii=False, sort_keys=True, indent=1).encode

    def nested(value: Any, depth: int) -> str:  # JSON text never holds a raw line break
        flat = _flat_row(value, depth)
        return flat if flat is not None else encode(value).replace("\n", "\n" + " " * depth)

    keys = sorted({*document, *rows})
    out.write("{")
    for i, key in enumerate(keys):
        out.write(("," if i else "") + "\n " + encode(key) + ": ")
        if key not in rows:
            out.write(nested(document[key], 1))
            continue
        empty = True
        for row in rows[key]:
            out.write(("[\n  " if empty else ",\n  ") + nested(row, 2))
            empty = False
        out.write("[]" if empty else "\n ]")
    out.write("\n}" if keys else "}")


def _flat_row(value: Any, depth: int) -> str | None:
    """A dict of plain scalars as `nested` writes it, built from the encoder's own pieces
    (`json` drops its C encoder when asked to indent, and the rows are a million); None for
    anything else."""
    if not isinstance(value, dict) or not value:
        return None
    parts = []
    for key in sorted(value):
        item = value[key]
        if not isinstance(key, str):
            return None
        if isinstance(item, str):
            text = _string(item)
        elif item is None:
            text = "null"
        elif item is True or item is False:
            text = "true" if item else "false"
        elif type(item) is int:
            text = int.__repr__(item)
        elif type(item) is float and math.isfinite(item):
            text = float.__repr__(item)
        else:
            return None
        parts.append(f"{_string(key)}: {text}")
    inner = ",\n" + " " * (depth + 1)
    return "{\n" + " " * (depth + 1) + inner.join(parts) + "\n" + " " * depth + "}"


_string = json.encoder.encode_basestring


def _without_run(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k != "run_id"}


def _offer_json(o: OfferSummary) -> dict[str, Any]:
    return {
        "id": o.id,
        "priority": o.priority,
        "group": o.group,
        "audience": o.audience,
        "actions": o.actions,
        "holdouts": o.holdouts,
        "suppressed": o.suppressed,
        "moved_by_quiet_hours": o.quiet_hours,
        "moved_by_blackout": o.blackout_moves,
        "cost": o.cost,
        "budget": None
        if o.budget_spendable is None
        else {
            "total": o.budget_total,
            "reserve": o.budget_reserve,
            "spendable": o.budget_spendable,
            "spent_before": o.spent_before,
            "left": o.budget_left,
        },
        "actions_before": o.actions_before,
        "variants": o.variants,
    }


def _channel_json(c: ChannelSummary) -> dict[str, Any]:
    life = c.lifecycle
    return {
        "id": c.id,
        "actions": c.actions,
        "cost": c.cost,
        "exits": c.exits,
        "lifecycle": None
        if life is None
        else {
            "state": life.state,
            "gates": life.gates,
            "period": life.period,
            "periods": life.periods,
            **{k: v for k, v in life.numbers.items() if k != "period_start"},
        },
    }


# -- explanations ---------------------------------------------------------------------------------


def explanation_text(exp: Explanation, rules: RuleSet) -> str:
    """One customer: values, segment trees, channels and offers, disagreements first."""
    zone = rules.calendar.timezone
    lines = [f"Customer {exp.customer_id} as of {both_zones(exp.as_of, zone)}"]
    if exp.wrong_types:
        lines += ["", "!! THE STORE HOLDS VALUES OF THE WRONG TYPE (read as missing here):"]
        lines += [f"!!   {w}" for w in exp.wrong_types]
    problems = exp.disagreements
    if problems:
        cause = "the values above" if exp.wrong_types else "a bug in the engine; please report it"
        lines += ["", f"!! SQL AND PYTHON DISAGREE ({cause}):"]
        lines += [f"!!   {p}" for p in problems]
    lines += ["", "Metrics"]
    width = max((len(v.name) for v in exp.values), default=10)
    for v in exp.values:
        if v.kind != "metric":
            continue
        shown = describe(v.value)
        if v.population and not exp.population:
            shown = "(a rank among all customers: add --population)"
        lines.append(f"  {v.name:<{width}}  {shown:<24} {v.where}")
    lines += ["", "Segments"]
    for v in exp.values:
        if v.kind != "segment":
            continue
        lines.append(
            f"  {v.name:<{width}}  {'member' if v.value else 'not a member':<24} {v.where}"
        )
        if v.trace is not None:
            lines += _trace_lines(v.trace, "      ")
    lines += ["", "Channels"]
    for c in exp.channels:
        state = "usable" if c.blocked is None else f"not usable: {c.blocked}"
        extra = f"  lifecycle {c.lifecycle}" if c.lifecycle else ""
        if c.exit_now:
            extra += "  (its exit rule holds now)"
        lines.append(f"  {c.id:<12} {state}{extra}")
    lines += ["", "Offers, in allocation order"]
    for o in exp.offers:
        lines.append(f"  {o.id:<28} {offer_status(o, rules)}")
        if o.in_play and o.trace is not None:
            lines.append(f"      audience: {o.trace.text}  → {describe(o.trace.value)}")
    if exp.plan_file is not None:
        lines += ["", _from_plan_file(exp)]
    elif exp.whole_store:
        lines += [
            "",
            f"Decided over the whole store, as `campaign plan` decides ({exp.whole_store}).",
        ]
    else:
        lines += ["", "Decided for this customer alone: no limit or rank shared with others."]
    if exp.committed:
        lines += ["", "Committed by runs at this as-of"]
        for row in exp.committed:
            lines.append(
                f"  run {row['run_key']}: {row['offer_id']} {row['outcome']}"
                + (f" ({row['reason']})" if row["reason"] else "")
                + (f" on {row['channel']}" if row["channel"] else "")
            )
    return "\n".join(lines)


def offer_explanation_text(exp: Explanation, rules: RuleSet, offer_id: str) -> str:
    """One offer's decision for one customer: its outcome, its audience condition with the
    value of each part, and the offer's channels in preference order."""
    line = next(o for o in exp.offers if o.id == offer_id)
    offer = rules.offers[offer_id]
    lines = [
        f"Customer {exp.customer_id} as of {both_zones(exp.as_of, rules.calendar.timezone)}, "
        f"offer {offer_id}",
        f"  {offer_status(line, rules)}",
    ]
    if line.in_play and line.trace is not None:
        lines += ["", "Audience"]
        lines += _trace_lines(line.trace, "  ")
    if line.cooldown:
        lines.append(f"  in cooldown: a message of this offer within {offer.cooldown}")
    channels = {c.id: c for c in exp.channels}
    lines += ["", "Channels, in the offer's preference order"]
    for name in offer.channels:
        c = channels.get(name)
        state = "usable" if c is None or c.blocked is None else f"not usable: {c.blocked}"
        lines.append(f"  {name:<12} {state}")
    if exp.plan_file is not None:
        lines += ["", _from_plan_file(exp)]
    committed = [row for row in exp.committed if row["offer_id"] == offer_id]
    if committed:
        lines += ["", "Committed by runs at this as-of"]
        for row in committed:
            lines.append(
                f"  run {row['run_key']}: {row['outcome']}"
                + (f" ({row['reason']})" if row["reason"] else "")
                + (f" on {row['channel']}" if row["channel"] else "")
            )
    return "\n".join(lines)


def _from_plan_file(exp: Explanation) -> str:
    """Where `explain --plan` took the decisions from."""
    if not any(o.decision for o in exp.offers):
        return (
            f"The plan file {exp.plan_file} holds no decision for this customer (in no offer's "
            "audience when it was made); it matches these rules and this store."
        )
    return (
        f"Decided as the plan file {exp.plan_file} decides; it matches these rules and this store."
    )


def offer_explanation_json(exp: Explanation, offer_id: str) -> str:
    """The same as `explanation_json`, for one offer: no values, no other offers."""
    body = json.loads(explanation_json(exp))
    body["offers"] = [o for o in body["offers"] if o["id"] == offer_id]
    body["committed"] = [r for r in body["committed"] if r["offer_id"] == offer_id]
    del body["values"]
    return json.dumps(body, ensure_ascii=False, sort_keys=True, indent=1)


def offer_status(o: OfferLine, rules: RuleSet) -> str:
    """What happened to the customer for one offer, as `explain` (and `campaign test`) say it."""
    if not o.in_play:
        window = rules.offers[o.id].window
        span = f" ({window.start or '…'} to {window.until or '…'})" if window else ""
        return f"not in play today{span}"
    if not o.audience:
        return "excluded by its `exclude`" if o.excluded else "not in the audience"
    d = o.decision
    if d is None:
        return "in the audience"
    if d.outcome == "action":
        moved = " (moved out of quiet hours)" if d.reason == "quiet_hours" else ""
        moved += f" ({d.detail})" if d.detail else ""
        when = both_zones(d.send_at, rules.calendar.timezone) if d.send_at else "?"
        variant = f", variant {d.variant}" if d.variant is not None else ""
        return f"ACTION on {d.channel} at {when}{moved}, cost {d.cost:g}{variant}"
    if d.outcome == "holdout":
        return "held out (control group)"
    where = f" on {d.channel}" if d.channel else ""
    detail = f" ({d.detail})" if d.detail else ""
    return f"suppressed: {d.reason}{where}{detail}"


def _trace_lines(t: Trace, indent: str) -> list[str]:
    lines = [f"{indent}{t.text}  → {describe(t.value)}"]
    for part in t.parts:
        lines += _trace_lines(part, indent + "  ")
    return lines


def explanation_json(exp: Explanation) -> str:
    def plain(value: Any) -> Any:
        if isinstance(value, datetime | date):
            return value.isoformat()
        return str(value)

    body = {
        "customer_id": exp.customer_id,
        "as_of": utc_text(exp.as_of),
        "disagreements": exp.disagreements,
        "wrong_types": exp.wrong_types,
        "values": [asdict(v) for v in exp.values],
        "channels": [asdict(c) for c in exp.channels],
        "offers": [asdict(o) for o in exp.offers],
        "committed": exp.committed,
    }
    if exp.plan_file is not None:  # explain --plan: the decisions are that file's
        body["plan_file"] = exp.plan_file
    return json.dumps(body, ensure_ascii=False, sort_keys=True, indent=1, default=plain)
