"""`campaign results --format html`: a run's measured lift as one self-contained page.

Drawn the way the plan report is (report/html.py): Vega-Lite charts rendered to inline SVG, no
script, nothing loaded. Every number shown is in the JSON form too (`data-key` names where).
"""

from __future__ import annotations

from typing import Any

from ..report.html import STYLE, cell, chart_spec, esc, figure, table
from .results import ArmResult, Results, result_notes


def _label(a: ArmResult) -> str:
    return a.offer_id if a.variant is None else f"{a.offer_id} / {a.variant}"


def lift_chart(found: Results) -> dict[str, Any]:
    """Each arm's absolute lift (points) with its 95% interval (line), around no lift."""
    values = [
        {
            "arm": _label(a),
            "lift": 100 * a.lift.absolute,
            "low": 100 * a.lift.absolute_ci.low,
            "high": 100 * a.lift.absolute_ci.high,
            "significant": "yes" if a.lift.significant else "no",
        }
        for a in found.arms
        if a.lift.absolute is not None and a.lift.absolute_ci is not None
    ]
    y = {"field": "arm", "type": "nominal", "sort": None, "title": None}
    return chart_spec(
        values,
        height={"step": 22},
        layer=[
            {
                "mark": {"type": "rule", "strokeWidth": 2},
                "encoding": {
                    "y": y,
                    "x": {
                        "field": "low",
                        "type": "quantitative",
                        "title": "lift in conversion rate, percentage points (95% interval)",
                    },
                    "x2": {"field": "high"},
                    "color": {
                        "field": "significant",
                        "type": "nominal",
                        "scale": {"domain": ["yes", "no"], "range": ["#2e7d32", "#9e9e9e"]},
                        "title": "significant",
                    },
                },
            },
            {
                "mark": {"type": "point", "filled": True, "size": 60, "color": "#1f2933"},
                "encoding": {"y": y, "x": {"field": "lift", "type": "quantitative"}},
            },
            {
                "data": {"values": [{"zero": 0}]},
                "mark": {"type": "rule", "color": "#c62828", "strokeDash": [4, 3]},
                "encoding": {"x": {"field": "zero", "type": "quantitative"}},
            },
        ],
    )


def rate_chart(found: Results) -> dict[str, Any]:
    """Conversion rate of the treated and the held-out customers of each arm."""
    values = [
        {"arm": _label(a), "group": group, "rate": 100 * rate}
        for a in found.arms
        for group, rate in (("treated", a.treated.rate), ("held out", a.held_out.rate))
        if rate is not None
    ]
    return chart_spec(
        values,
        height={"step": 12},
        mark="bar",
        encoding={
            "y": {"field": "arm", "type": "nominal", "sort": None, "title": None},
            "yOffset": {"field": "group", "sort": ["treated", "held out"]},
            "x": {"field": "rate", "type": "quantitative", "title": "conversion rate, %"},
            "color": {
                "field": "group",
                "type": "nominal",
                "scale": {"domain": ["treated", "held out"], "range": ["#1565c0", "#9e9e9e"]},
                "title": None,
            },
        },
    )


def _row(i: int, a: ArmResult) -> str:
    key = f"arms.{i}"
    lift = a.lift
    interval = (
        f"{100 * lift.absolute_ci.low:+.2f} .. {100 * lift.absolute_ci.high:+.2f} pt"
        if lift.absolute_ci
        else "–"
    )
    return (
        f"<tr><td>{esc(a.offer_id)}</td><td>{esc(a.variant or '–')}</td>"
        + cell(a.treated.customers, f"{key}.treated.customers")
        + cell(a.treated.converters, f"{key}.treated.converters")
        + cell(a.held_out.customers, f"{key}.held_out.customers")
        + cell(a.held_out.converters, f"{key}.held_out.converters")
        + cell(None if lift.absolute is None else round(100 * lift.absolute, 2))
        + f'<td class="n">{esc(interval)}</td>'
        + cell(lift.significant if lift.absolute is not None else None)
        + cell(lift.incremental_revenue, f"{key}.incremental.revenue")
        + cell(lift.cost, f"{key}.cost")
        + cell(None if lift.incremental_roi is None else round(100 * lift.incremental_roi, 2))
        + "</tr>"
    )


def results_html(found: Results) -> str:
    """The whole page."""
    notes = result_notes(found)
    header = [
        "offer",
        "variant",
        "treated",
        "converters",
        "held out",
        "converters",
        "lift (pt)",
        "95% interval",
        "significant",
        "incr. revenue",
        "cost",
        "incr. ROI (%)",
    ]
    body = (
        [
            figure(
                lift_chart(found),
                "lift",
                "Absolute lift per arm with its 95% interval; "
                "an interval that crosses the dashed line (no lift) is not significant.",
            ),
            figure(
                rate_chart(found),
                "rates",
                "Conversion rate of treated and held-out "
                "customers, counted from the run's as-of (intent to treat).",
            ),
        ]
        if found.arms
        else ["<p class='note'>The run has no actions and no control group to measure.</p>"]
    )
    parts = [
        "<!DOCTYPE html>",
        '<html lang="zh-CN"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>Results of run {esc(found.run.run_key)}</title>",
        f"<style>{STYLE}</style></head><body><main>",
        f"<h1>Results of run {esc(found.run.run_key)}</h1>",
        f"<p class='note'>as of <span data-key='run.as_of'>{esc(found.run.as_of.isoformat())}"
        f"</span>; completed orders within <span data-key='days'>{found.days}</span> days, "
        f"until {esc(found.time_text(found.window_end))}; 95% intervals.</p>",
        *(f"<p class='warn'>{esc(c)}</p>" for c in found.caveats()),
        "<section><h2>Lift against the control groups</h2>",
        *body,
        table(
            header,
            (_row(i, a) for i, a in enumerate(found.arms)),
            [False, False, *[True] * 10],
        ),
        "</section>",
        "<section><h2>What the numbers allow to conclude</h2>",
        "<ul>" + "".join(f"<li>{esc(n)}</li>" for n in notes) + "</ul>"
        if notes
        else "<p class='note'>Every arm's lift is significant.</p>",
        "</section>",
        "</main></body></html>",
    ]
    return "\n".join(parts) + "\n"
