"""The plan report: one self-contained HTML page an operator reads before launch.

Rendered from the plan view model (view.py). Charts are Vega-Lite specifications drawn to
SVG by vl-convert (Vega's own renderer, run in-process) and inlined, so the page has no script,
loads nothing (no network, no fonts, no images) and prints as it shows. Every number shown is
also in the plan JSON; each carries a `data-key` naming where (`offers.ID.actions`...), so tests
can check one against the other.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Sequence
from typing import Any

from ..execute import Plan
from .view import LIMITS, ChannelView, OfferView, PlanView, plan_view

VEGA_LITE = "https://vega.github.io/schema/vega-lite/v5.json"  # a schema name, never fetched
# Fonts the reader's machine has: Chinese ones first (Debian's, then macOS's and Windows's).
FONT = (
    "'WenQuanYi Micro Hei', 'Noto Sans CJK SC', 'Source Han Sans SC', 'PingFang SC', "
    "'Microsoft YaHei', sans-serif"
)
WIDTH = 860  # chart width in pixels: fits a 1,280 px window and an A4 page in landscape
STEP_COLORS = {
    "actions": "#2e7d32",
    "holdout": "#9e9e9e",
    "cooldown": "#90caf9",
    "group_taken": "#64b5f6",
    "no_address": "#ffe082",
    "consent": "#ffca28",
    "entry": "#ffb300",
    "channel_exit": "#fb8c00",
    "channel_lifecycle": "#f4511e",
    "frequency_cap": "#e53935",
    "blackout": "#8e24aa",
    "min_gap": "#d81b60",
    "capacity": "#5e35b1",
    "max_actions": "#3949ab",
    "budget": "#6d4c41",
}


# -- charts ---------------------------------------------------------------------------------------


def chart_spec(values: list[dict[str, Any]], **body: Any) -> dict[str, Any]:
    return {
        "$schema": VEGA_LITE,
        "width": WIDTH,
        "data": {"values": values},
        "config": {
            "font": FONT,
            "view": {"stroke": None},
            "axis": {"labelFontSize": 11, "titleFontSize": 12, "labelLimit": 240},
            "legend": {"labelFontSize": 11, "titleFontSize": 12, "orient": "bottom"},
        },
        **body,
    }


def segment_chart(view: PlanView) -> dict[str, Any]:
    values = [{"segment": s, "customers": n} for s, n, _ in view.segments]
    return chart_spec(
        values,
        height={"step": 18},
        mark={"type": "bar", "color": "#1565c0"},
        encoding={
            "y": {"field": "segment", "type": "nominal", "sort": None, "title": None},
            "x": {"field": "customers", "type": "quantitative", "title": "customers"},
            "tooltip": [{"field": "segment"}, {"field": "customers", "format": ","}],
        },
    )


def funnel_chart(view: PlanView) -> dict[str, Any]:
    """Each offer's audience split into where it went: actions, holdout, each reason."""
    steps = list(STEP_COLORS)
    values = [
        {
            "offer": o.summary.id,
            "step": s.step,
            "customers": s.customers,
            "order": steps.index(s.step),
        }
        for o in view.offers
        for s in o.funnel
        if s.customers
    ]
    used = [s for s in steps if any(v["step"] == s for v in values)]
    return chart_spec(
        values,
        height={"step": 20},
        mark="bar",
        encoding={
            "y": {"field": "offer", "type": "nominal", "sort": None, "title": None},
            "x": {
                "field": "customers",
                "type": "quantitative",
                "stack": "zero",
                "title": "customers in the audience",
            },
            "color": {
                "field": "step",
                "type": "nominal",
                "title": "outcome",
                "scale": {"domain": used, "range": [STEP_COLORS[s] for s in used]},
                "sort": used,
            },
            "order": {"field": "order", "type": "quantitative"},
            "tooltip": [
                {"field": "offer"},
                {"field": "step"},
                {"field": "customers", "format": ","},
            ],
        },
    )


def channel_chart(view: PlanView) -> dict[str, Any]:
    values = [{"channel": c.summary.id, "actions": c.summary.actions} for c in view.channels]
    return chart_spec(
        values,
        height={"step": 22},
        mark={"type": "bar", "color": "#2e7d32"},
        encoding={
            "y": {"field": "channel", "type": "nominal", "sort": None, "title": None},
            "x": {"field": "actions", "type": "quantitative", "title": "actions"},
        },
    )


def hour_chart(view: PlanView) -> dict[str, Any]:
    """Actions per hour of the day where each customer lives, stacked by channel."""
    values = [{"channel": c, "hour": h, "actions": n} for c, h, n in view.send_hours]
    return chart_spec(
        values,
        height=220,
        mark="bar",
        encoding={
            "x": {
                "field": "hour",
                "type": "ordinal",
                "scale": {"domain": list(range(24))},
                "title": "send hour, customer's local time",
                "axis": {"labelAngle": 0},
            },
            "y": {"field": "actions", "type": "quantitative", "stack": "zero", "title": "actions"},
            "color": {"field": "channel", "type": "nominal", "sort": None, "title": "channel"},
        },
    )


def budget_chart(view: PlanView) -> dict[str, Any]:
    """Per offer with a budget: earlier runs' and this plan's spend as shares of what may be
    spent (the total minus its reserve); the rule at 100% is that limit."""
    offers = [o for o in view.offers if o.summary.budget_spendable]
    spend = [
        {
            "offer": o.summary.id,
            "part": part,
            "share": amount / (o.summary.budget_spendable or 1),
            "amount": amount,
        }
        for o in offers
        for part, amount in (
            ("earlier runs", o.summary.spent_before),
            ("this plan", o.summary.cost),
        )
    ]
    return chart_spec(
        [],
        height={"step": 22},
        layer=[
            {
                "data": {"values": spend},
                "mark": "bar",
                "encoding": {
                    "y": {"field": "offer", "type": "nominal", "sort": None, "title": None},
                    "x": {
                        "field": "share",
                        "type": "quantitative",
                        "stack": "zero",
                        "title": "share of the spendable budget used",
                        "axis": {"format": "%"},
                        "scale": {"domainMin": 0, "domainMax": 1, "nice": False},
                    },
                    "color": {
                        "field": "part",
                        "type": "nominal",
                        "title": None,
                        "scale": {
                            "domain": ["earlier runs", "this plan"],
                            "range": ["#90a4ae", "#1565c0"],
                        },
                    },
                },
            },
            {
                "data": {"values": [{"limit": 1}]},
                "mark": {"type": "rule", "color": "#c62828", "strokeWidth": 2},
                "encoding": {"x": {"field": "limit", "type": "quantitative"}},
            },
        ],
    )


def lifecycle_chart(view: PlanView) -> dict[str, Any]:
    """Each lifecycle channel's ROI of its latest period (a dot) against its gates' thresholds
    (ticks: admit, scale, exit), where the gates compare ROI with a number."""
    values = []
    for c in view.channels:
        life = c.summary.lifecycle
        if life is None:
            continue
        label = f"{c.summary.id} ({life.state})"
        roi = life.numbers.get("roi")
        if isinstance(roi, int | float):
            values.append({"channel": label, "measure": "roi", "value": roi})
        for gate in c.gates:
            if gate.threshold is not None:
                values.append({"channel": label, "measure": gate.name, "value": gate.threshold})
    measures = ["roi", "admit", "scale", "exit"]
    y = {"field": "channel", "type": "nominal", "sort": None, "title": None}
    x = {"field": "value", "type": "quantitative", "title": "ROI of the latest period"}
    color = {
        "field": "measure",
        "type": "nominal",
        "title": None,
        "scale": {"domain": measures, "range": ["#1565c0", "#f9a825", "#2e7d32", "#c62828"]},
    }
    return chart_spec(
        values,
        height={"step": 26},
        layer=[
            {
                "transform": [{"filter": "datum.measure !== 'roi'"}],
                "mark": {"type": "tick", "thickness": 3, "size": 18},
                "encoding": {"y": y, "x": x, "color": color},
            },
            {
                "transform": [{"filter": "datum.measure === 'roi'"}],
                "mark": {"type": "point", "filled": True, "size": 110},
                "encoding": {"y": y, "x": x, "color": color},
            },
        ],
    )


def limits_chart(view: PlanView) -> dict[str, Any]:
    values = [{"offer": o, "limit": r, "customers": n} for o, r, n in view.limits()]
    used = [r for r in LIMITS if any(v["limit"] == r for v in values)]
    return chart_spec(
        values,
        height={"step": 20},
        mark="bar",
        encoding={
            "y": {"field": "offer", "type": "nominal", "sort": None, "title": None},
            "x": {
                "field": "customers",
                "type": "quantitative",
                "stack": "zero",
                "title": "customers suppressed",
            },
            "color": {
                "field": "limit",
                "type": "nominal",
                "title": "limit reached",
                "scale": {"domain": used, "range": [STEP_COLORS[r] for r in used]},
            },
        },
    )


def render_svg(spec: dict[str, Any], prefix: str) -> str:
    """The chart as inline SVG; element ids get `prefix` so that charts on one page differ."""
    import vl_convert

    svg: str = vl_convert.vegalite_to_svg(spec)
    svg = re.sub(r'\bid="([^"]+)"', lambda m: f'id="{prefix}-{m[1]}"', svg)
    svg = re.sub(r"url\(#([^)]+)\)", lambda m: f"url(#{prefix}-{m[1]})", svg)
    return svg.replace("<svg ", f'<svg role="img" data-chart="{prefix}" ', 1)


# -- the page -------------------------------------------------------------------------------------

STYLE = """
:root { --ink: #1f2933; --muted: #616e7c; --line: #d9e2ec; }
* { box-sizing: border-box; }
body { margin: 0; font-family: FONT; color: var(--ink); background: #f5f7fa; }
main { max-width: 1200px; margin: 0 auto; padding: 24px 32px 48px; background: white; }
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 18px; margin: 32px 0 8px; padding-bottom: 4px;
     border-bottom: 1px solid var(--line); }
p.note, .muted { color: var(--muted); font-size: 13px; }
dl.totals { display: grid; grid-template-columns: repeat(6, 1fr); gap: 8px; margin: 16px 0; }
dl.totals div { border: 1px solid var(--line); border-radius: 6px; padding: 8px 12px; }
dl.totals dt { font-size: 12px; color: var(--muted); }
dl.totals dd { margin: 0; font-size: 20px; font-weight: bold; }
table { border-collapse: collapse; font-size: 13px; margin: 8px 0; width: 100%; }
th, td { border-bottom: 1px solid var(--line); padding: 3px 8px; text-align: left;
         vertical-align: top; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
figure { margin: 8px 0; overflow-x: auto; }
figure svg { max-width: 100%; height: auto; }
code { word-break: break-all; }
p.warn { background: #fff8e1; border-left: 4px solid #ffb300; padding: 8px 12px; }
.state-exit { color: #c62828; font-weight: bold; }
.state-scaled { color: #2e7d32; font-weight: bold; }
@media print {
  body { background: white; }
  main { max-width: none; padding: 0; }
  section { break-inside: avoid-page; }
  h2 { break-after: avoid; }
  figure { overflow: visible; }
  @page { size: A4 landscape; margin: 12mm; }
}
""".replace("FONT", FONT)


def esc(value: object) -> str:
    """Text for the page (missing as empty), escaped."""
    return html.escape("" if value is None else str(value))


def cell(value: int | float | None, key: str | None = None) -> str:
    """A numeric table cell; `key` names the plan JSON value it shows, for the browser test."""
    if value is None:
        text = "–"
    elif isinstance(value, bool):
        text = "yes" if value else "no"
    elif isinstance(value, int):
        text = f"{value:,}"
    else:
        text = f"{value:,.2f}"
    attribute = f' data-key="{esc(key)}" data-value="{esc(value)}"' if key else ""
    return f'<td class="n"{attribute}>{text}</td>'


def table(header: Sequence[str], rows: Iterable[str], numeric: Sequence[bool]) -> str:
    cells = "".join(
        f'<th class="n">{esc(h)}</th>' if n else f"<th>{esc(h)}</th>"
        for h, n in zip(header, numeric, strict=True)
    )
    return f"<table><thead><tr>{cells}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _same_as_of(view: PlanView) -> list[str]:
    if not view.runs_at_as_of:
        return []
    runs = ", ".join(f"{esc(key)} ({n:,} action(s))" for key, n in view.runs_at_as_of)
    return [
        f"<p class='warn'>Run(s) already committed at this as-of: {runs}. Their actions count "
        "against this plan's caps, cooldowns, max_actions and budgets.</p>"
    ]


def _totals(view: PlanView) -> str:
    items = [
        ("customers", view.customers, "customers"),
        ("actions", view.actions, "actions"),
        ("holdouts", view.holdouts, "holdouts"),
        ("suppressed", view.suppressed, "suppressed"),
        ("expected cost", view.cost, "cost"),
        ("channel exits", view.exits, "exits"),
    ]
    cells = "".join(
        f'<div><dt>{esc(label)}</dt><dd data-key="totals.{key}" data-value="{esc(value)}">'
        f"{value:,.2f}</dd></div>"
        if isinstance(value, float)
        else f'<div><dt>{esc(label)}</dt><dd data-key="totals.{key}" data-value="{value}">'
        f"{value:,}</dd></div>"
        for label, value, key in items
    )
    return f'<dl class="totals">{cells}</dl>'


def _segments(view: PlanView) -> str:
    rows = (
        f"<tr><td>{esc(s)}</td>{cell(n, f'segments.{s}')}"
        f"<td>{100 * n / view.customers:.1f}%</td><td>{esc(d)}</td></tr>"
        if view.customers
        else f"<tr><td>{esc(s)}</td>{cell(n, f'segments.{s}')}<td>–</td><td>{esc(d)}</td></tr>"
        for s, n, d in view.segments
    )
    return table(
        ["segment", "customers", "share", "description"], rows, [False, True, False, False]
    )


def _offer_rows(offers: Sequence[OfferView]) -> Iterable[str]:
    for o in offers:
        s = o.summary
        k = f"offers.{s.id}"
        other = sum(n for r, n in s.suppressed.items() if r not in ("cooldown", "group_taken"))
        yield (
            f"<tr><td><b>{esc(s.id)}</b><br><span class='muted'>{esc(o.description)}</span></td>"
            f"<td class='n'>{s.priority}</td><td>{esc(s.group)}</td>"
            f"{cell(s.audience, f'{k}.audience')}"
            f"{cell(s.suppressed.get('cooldown', 0), f'{k}.suppressed.cooldown')}"
            f"{cell(s.suppressed.get('group_taken', 0), f'{k}.suppressed.group_taken')}"
            f"{cell(s.holdouts, f'{k}.holdouts')}{cell(other)}"
            f"{cell(s.actions, f'{k}.actions')}{cell(s.cost, f'{k}.cost')}</tr>"
        )


def _reason_table(view: PlanView) -> str:
    reasons = [r for r in STEP_COLORS if any(r in o.summary.suppressed for o in view.offers)]
    rows = (
        f"<tr><td>{esc(o.summary.id)}</td>"
        + "".join(
            cell(o.summary.suppressed.get(r, 0), f"offers.{o.summary.id}.suppressed.{r}")
            for r in reasons
        )
        + "</tr>"
        for o in view.offers
    )
    return table(["offer", *reasons], rows, [False, *[True] * len(reasons)])


def _budget_table(view: PlanView) -> str:
    rows = []
    for o in view.offers:
        s = o.summary
        if s.budget_spendable is None:
            continue
        k = f"offers.{s.id}.budget"
        reserve = f"{100 * (o.budget_reserve or 0):g}%"
        rows.append(
            f"<tr><td>{esc(s.id)}</td>{cell(o.budget_total)}<td class='n'>{reserve}</td>"
            f"{cell(s.budget_spendable, f'{k}.spendable')}"
            f"{cell(s.spent_before, f'{k}.spent_before')}"
            f"{cell(s.cost, f'offers.{s.id}.cost')}{cell(s.budget_left, f'{k}.left')}</tr>"
        )
    header = [
        "offer",
        "total",
        "reserve",
        "spendable",
        "earlier runs",
        "this plan",
        "left (reserve not included)",
    ]
    return table(header, rows, [False, True, False, True, True, True, True])


def _channel_rows(channels: Sequence[ChannelView]) -> Iterable[str]:
    for c in channels:
        s, life = c.summary, c.summary.lifecycle
        k = f"channels.{s.id}"
        state = life.state if life else None
        numbers = life.numbers if life else {}
        gates = "<br>".join(
            f"{esc(g.name)}: <code>{esc(g.rule)}</code> → {_holds(g.holds)}"
            + ("" if g.threshold is None else f" (threshold {g.threshold:.2f})")
            for g in c.gates
        )
        roi = numbers.get("roi")
        yield (
            f"<tr><td><b>{esc(s.id)}</b><br><span class='muted'>{esc(c.description)}</span></td>"
            f"{cell(s.actions, f'{k}.actions')}{cell(s.cost, f'{k}.cost')}"
            f"{cell(s.exits, f'{k}.exits')}"
            f"<td class='state-{esc(state)}' data-key='{k}.lifecycle.state'>"
            f"{esc(state or '–')}</td>"
            f"{cell(roi if isinstance(roi, int | float) else None, f'{k}.lifecycle.roi')}"
            f"{cell(c.capacity_per_day)}<td>{gates}</td></tr>"
        )


def _holds(value: bool | None) -> str:
    return "–" if value is None else ("yes" if value else "no")


def figure(spec: dict[str, Any], name: str, caption: str) -> str:
    svg = render_svg(spec, name)
    return f"<figure>{svg}<figcaption class='muted'>{esc(caption)}</figcaption></figure>"


def render_html(view: PlanView) -> str:
    """The whole page."""
    idle = ", ".join(view.not_in_play) or "none"
    offers_header = [
        "offer",
        "priority",
        "group",
        "audience",
        "cooldown",
        "group taken",
        "holdout",
        "other suppressions",
        "actions",
        "cost",
    ]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="zh-CN"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>Campaign plan as of {esc(view.as_of)}</title>",
        f"<style>{STYLE}</style></head><body><main>",
        f"<h1>Campaign plan as of {esc(view.as_of_local)}</h1>",
        f"<p class='note'>as of <span data-key='as_of'>{esc(view.as_of)}</span> (UTC), "
        f"calendar timezone {esc(view.timezone)}; {view.rule_files} rule file(s), digest "
        f"<code data-key='rules.digest'>{esc(view.rules_digest)}</code>. A dry run: nothing was "
        "written to the store.</p>",
        *_same_as_of(view),
        _totals(view),
        "<section><h2>Segments</h2>",
        figure(segment_chart(view), "segments", "Customers in each segment, in rule-file order."),
        _segments(view),
        "</section>",
        "<section><h2>Offers: where each audience went</h2>",
        figure(
            funnel_chart(view),
            "funnel",
            "Each offer's audience, in allocation order, split by outcome: actions, control group "
            "(holdout), and each suppression reason (the first one that applied).",
        ),
        table(offers_header, _offer_rows(view.offers), [False, True, False, *[True] * 7]),
        f"<p class='note'>Not in play today (window): {esc(idle)}.</p>",
        "<h3>Suppressed, by reason</h3>",
        _reason_table(view),
        "</section>",
        "<section><h2>Channels and send hours</h2>",
        figure(channel_chart(view), "channels", "This plan's actions per channel."),
        figure(
            hour_chart(view),
            "hours",
            "Actions per hour of the day in each customer's own timezone, stacked by channel.",
        ),
        "</section>",
        "<section><h2>Budgets</h2>",
        figure(
            budget_chart(view),
            "budget",
            "Spend of earlier runs and of this plan per offer with a budget, as a share of what "
            "may be spent: the total minus its reserve (the red line).",
        ),
        _budget_table(view),
        "</section>",
        "<section><h2>Channel lifecycle</h2>",
        figure(
            lifecycle_chart(view),
            "lifecycle",
            "Each lifecycle channel's ROI in its latest period (dot) against the thresholds of its "
            "gates (ticks: admit, scale, and exit, whose rule counts periods below its "
            "threshold); the state is in brackets.",
        ),
        table(
            ["channel", "actions", "cost", "exits", "state", "roi", "capacity/day", "gates"],
            _channel_rows(view.channels),
            [False, True, True, True, False, True, True, False],
        ),
        "</section>",
        "<section><h2>Cap pressure</h2>",
        figure(
            limits_chart(view),
            "limits",
            "Customers each offer lost to a limit: frequency caps, min_gap, channel capacity, "
            "max_actions and budget.",
        )
        if view.limits()
        else "<p class='note'>No customer was suppressed by a limit.</p>",
        "</section>",
        "</main></body></html>",
    ]
    return "\n".join(parts) + "\n"


def plan_report(plan: Plan, *, digest: str) -> str:
    """`campaign plan --report`: the plan as one self-contained HTML page."""
    return render_html(plan_view(plan, digest=digest))
