"""`campaign plan --report`: one self-contained page, checked in a real headless Chromium.

The page loads nothing (no script, no external style, font or image), opens without a console
error or a failed request, its charts are drawn (SVG marks with a size on screen, a screenshot
that is not blank), and every number it shows equals the plan JSON of the same plan.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from rules_engine import demo
from rules_engine.cli import main

REPO = Path(__file__).resolve().parent.parent
AS_OF = "2026-11-20T10:00:00+08:00"
CHARTS = ("segments", "funnel", "channels", "hours", "budget", "lifecycle", "limits")
BROWSER_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def planned(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A demo store planned once, with `--json` and `--report` from the same command."""
    folder = tmp_path_factory.mktemp("report")
    db = folder / "shop.db"
    demo.build_demo_store(db, customers=1_500, seed=2, progress=False)
    report, plan = folder / "plan.html", folder / "plan.json"
    args = ["plan", str(REPO / "rules"), "--db", str(db), "--as-of", AS_OF, "--quiet"]
    args += ["--json", str(plan), "--report", str(report)]
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert f"report written to {report}" in result.output
    return {
        "html": report.read_text(encoding="utf-8"),
        "path": report,
        "plan": json.loads(plan.read_text(encoding="utf-8")),
        "folder": folder,
    }


def expected(plan: dict[str, Any], key: str) -> Any:
    """The plan JSON's value for a report number's `data-key`, found independently of the
    report code: totals from the action and audit lists, the rest by path."""
    head, _, rest = key.partition(".")
    if head == "totals":
        audit = plan["audit"]
        totals = {
            "customers": lambda: plan["customers"],
            "actions": lambda: len(plan["actions"]),
            "holdouts": lambda: sum(r["outcome"] == "holdout" for r in audit),
            "suppressed": lambda: sum(r["outcome"] == "suppressed" for r in audit),
            "cost": lambda: round(sum(a["cost"] for a in plan["actions"]), 2),
            "exits": lambda: len(plan["exits"]),
        }
        return totals[rest]()
    if head == "as_of":
        return plan["as_of"]
    if head == "rules":
        return plan["rules"][rest]
    if head == "segments":
        return next(s["customers"] for s in plan["segments"] if s["id"] == rest)
    ident, _, path = rest.partition(".")
    item: Any = next(x for x in plan[head] if x["id"] == ident)
    for part in path.split("."):
        if item is None:  # a channel without lifecycle, an offer without budget
            return None
        item = item.get(part, 0) if part not in ("state", "roi") else item[part]
    return item


def shown_value(text: str) -> Any:
    """A number as the page prints it (thousands separated, two decimals for amounts)."""
    plain = text.replace(",", "")
    if re.fullmatch(r"-?\d+", plain):
        return int(plain)
    if re.fullmatch(r"-?\d+\.\d+", plain):
        return float(plain)
    return text


# -- the file itself ------------------------------------------------------------------------------


def test_the_report_is_one_file_that_loads_nothing(planned: dict[str, Any]) -> None:
    page = planned["html"]
    assert "<script" not in page.lower()
    assert not re.search(r"""\b(?:src|href)\s*=\s*["'](?!#)""", page)
    assert "@import" not in page and "@font-face" not in page
    assert re.findall(r"url\(([^)]*)\)", page) == [
        u for u in re.findall(r"url\(([^)]*)\)", page) if u.startswith("#")
    ]
    assert "<image" not in page
    for chart in CHARTS:
        assert f'data-chart="{chart}"' in page, chart
    assert len(page.encode()) < 3_000_000


def test_every_number_in_the_page_equals_the_plan_json(planned: dict[str, Any]) -> None:
    keys = re.findall(r'data-key="([^"]+)" data-value="([^"]*)"', planned["html"])
    assert len(keys) > 100
    for key, value in keys:
        want = expected(planned["plan"], key)
        got: Any = value
        if isinstance(want, bool) or want is None:
            got = {"True": True, "False": False, "": None}[value]
        elif isinstance(want, int | float):
            got = float(value)
        assert got == want, key


def test_chinese_descriptions_are_in_the_page(planned: dict[str, Any]) -> None:
    assert "高价值用户" in planned["html"]
    assert '<meta charset="utf-8">' in planned["html"]


# -- in a browser ---------------------------------------------------------------------------------


def chromium() -> str:
    """The Chromium binary, or a skip (a failure under CI, where .ci/run installs it)."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    if os.environ.get("CI"):
        pytest.fail("CI is set but no chromium binary is installed (.ci/run installs it)")
    pytest.skip("no chromium binary on PATH: install the `chromium` package to run this test")


@pytest.fixture(scope="module")
def browsed(planned: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The report opened once at 1,280 px: what the page said and what it drew."""
    binary = chromium()
    from playwright.sync_api import sync_playwright

    problems: list[str] = []
    requests: list[str] = []
    screenshot = planned["folder"] / "report.png"
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(planned["folder"] / "profile"),  # a fresh profile
            executable_path=binary,
            headless=True,
            args=BROWSER_ARGS,
            viewport={"width": 1280, "height": 900},
        )
        try:
            page = context.new_page()
            page.on(
                "console",
                lambda m: (
                    problems.append(f"console {m.type}: {m.text}")
                    if m.type in ("error", "warning")
                    else None
                ),
            )
            page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
            page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url}"))
            page.on("request", lambda r: requests.append(r.url))
            page.goto(planned["path"].as_uri(), wait_until="load")
            page.screenshot(path=str(screenshot), full_page=True)
            charts = page.evaluate(
                """() => { const MARKS = 'g[class*="mark-rect"] path, '
                    + 'g[class*="mark-symbol"] path, g[class*="mark-rule"] line';
                return [...document.querySelectorAll('svg[data-chart]')].map(svg => {
                    const box = svg.getBoundingClientRect();
                    return {name: svg.dataset.chart, width: box.width, height: box.height,
                            marks: svg.querySelectorAll(MARKS).length};
                }); }"""
            )
            numbers = page.evaluate(
                """() => [...document.querySelectorAll('[data-key]')].map(
                    e => [e.dataset.key, e.innerText.trim()])"""
            )
            width = page.evaluate("document.documentElement.scrollWidth")
        finally:
            context.close()
    yield {
        "problems": problems,
        "requests": requests,
        "charts": charts,
        "numbers": numbers,
        "screenshot": screenshot,
        "width": width,
    }


def test_the_page_opens_without_errors_or_requests(
    planned: dict[str, Any], browsed: dict[str, Any]
) -> None:
    assert browsed["problems"] == []
    assert browsed["requests"] == [planned["path"].as_uri()]
    assert browsed["width"] <= 1280  # nothing wider than the window: no sideways scrolling


def test_every_chart_is_drawn(browsed: dict[str, Any]) -> None:
    charts = {c["name"]: c for c in browsed["charts"]}
    assert sorted(charts) == sorted(CHARTS)
    for name, chart in charts.items():
        assert chart["width"] > 300 and chart["height"] > 50, name
        assert chart["marks"] >= 3, name
    # A blank or broken page compresses to a few kilobytes; this one has charts and tables.
    assert browsed["screenshot"].stat().st_size > 100_000


def test_numbers_shown_equal_the_plan_json(
    planned: dict[str, Any], browsed: dict[str, Any]
) -> None:
    assert len(browsed["numbers"]) > 100
    for key, text in browsed["numbers"]:
        want = expected(planned["plan"], key)
        got = shown_value(text)
        if want is None:
            assert text == "–", key
        elif isinstance(want, float) and isinstance(got, int | float):
            assert got == pytest.approx(round(want, 2), abs=0.005), key
        else:
            assert got == want, key


def test_lifecycle_thresholds_are_the_gates_numbers(planned: dict[str, Any]) -> None:
    """The example rules admit at 0.15 and scale at 1.30 times the portfolio's ROI and exit
    after periods under half the target: the report's thresholds are those numbers."""
    page = planned["html"]
    channels = [c for c in planned["plan"]["channels"] if c["lifecycle"]]
    assert channels
    for channel in channels:
        life = channel["lifecycle"]
        row = page.split(f"<b>{channel['id']}</b>")[1].split("</tr>")[0]
        for gate, limit in (
            ("admit", 0.15 * life["portfolio_roi"]),
            ("scale", 1.30 * life["portfolio_roi"]),
            ("exit", 0.5 * life["target_roi"]),
        ):
            holds = "yes" if life["gates"][gate] else "no"
            assert (
                f"→ {holds} (threshold {limit:.2f})" in row.split(f"{gate}: ")[1].split("<br>")[0]
            )
