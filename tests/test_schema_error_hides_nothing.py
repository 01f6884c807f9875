"""A schema error in a part of the rules hides nothing else in it: every problem that does not
depend on the broken key is reported beside it, section by section (channels, the calendar,
rule tests, the store, offers' nested keys), and nothing is reported that only the broken key
would cause."""

from __future__ import annotations

import tempfile
from pathlib import Path

from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from rules_engine.cli import main
from rules_engine.rules.check import check

BASE = (
    "segments:\n  s:\n    where: email_opt_in\n"  # 1-3
    "channels:\n  email:\n    address: email\n"  # 4-6
    "offers:\n  o:\n    audience: s\n    channels: [email]\n    content: t\n    group: g\n"  # 7-12
)


def found(tmp_path: Path, text: str) -> list[tuple[str, int, int]]:
    """The problems of `text` checked with the base rules (in a file beside it)."""
    (tmp_path / "base.yaml").write_text(BASE, encoding="utf-8")
    path = tmp_path / "rules.yaml"
    path.write_text(text, encoding="utf-8")
    return [(p.code, p.span.line, p.span.col) for p in check([tmp_path]).problems]


def test_a_channel_with_a_mistyped_cost_still_reports_its_unknown_segment(
    tmp_path: Path,
) -> None:
    assert found(
        tmp_path,
        "channels:\n  sms:\n    address: phone\n    cost: cheap\n    entry: vip and s\n",
    ) == [
        ("schema-type", 4, 11),
        ("expr-unknown-name", 5, 12),
    ]


def test_a_channel_whose_lifecycle_is_broken_still_reports_its_address(tmp_path: Path) -> None:
    assert found(
        tmp_path,
        "channels:\n  sms:\n    address: phon\n    lifecycle: {admit: roi >= 1, grow: x}\n",
    ) == [
        ("unknown-column", 3, 14),
        ("schema-unknown-key", 4, 34),
    ]


def test_the_calendar_reports_every_problem_beside_its_schema_errors(tmp_path: Path) -> None:
    calendar = (
        "calendar:\n"  # 1
        "  timezone: Asia/Shangai\n"  # 2: unknown, still reported
        "  frequency_caps:\n"
        "    - {channel: emial, max: 3, per: 7d}\n"  # 4: unknown channel
        "    - {channel: email, max: many, per: 7d}\n"  # 5: schema
        "    - {group: gg, max: 1, per: 30d}\n"  # 6: unknown group
        "  blackouts:\n"
        "    - {from: 2026-11-10, channels: [sms]}\n"  # 8: no until; sms unknown
        "  schedule:\n"
        "    - {id: a, channel: email}\n"  # 10: no `at`: left out
        "    - {id: b, channel: douyin, at: '2026-11-05T20:00'}\n"  # 11: after the one left out
    )
    problems = found(tmp_path, calendar)
    assert problems == [
        ("unknown-timezone", 2, 13),
        ("unknown-reference", 4, 17),
        ("schema-type", 5, 29),
        ("unknown-reference", 6, 15),
        ("schema-required", 8, 7),
        ("unknown-reference", 8, 37),
        ("schema-required", 10, 7),
        ("unknown-reference", 11, 24),
    ]


def test_a_rule_test_missing_as_of_still_reports_its_unknown_offer_and_segment(
    tmp_path: Path,
) -> None:
    tests = (
        "tests:\n"  # 1
        "  t1:\n"
        "    customers: [{id: 1, email_opt_in: true}]\n"
        "    expect:\n"
        "      - {customer: 1, offer: nope, outcome: bogus}\n"  # 5
        "      - {customer: 1, segments: [zz]}\n"  # 6
        "  t2:\n"
        "    as_of: '2026-11-20T10:00:00+08:00'\n"
        "    customers: [{id: 1, email_opt_in: true}]\n"
        "    expect: [{customer: 1, segments: [s]}]\n"
        "    then:\n"
        "      - {expect: [{customer: 1, offer: nope2}]}\n"  # 12: a step without as_of
    )
    assert found(tmp_path, tests) == [
        ("schema-required", 2, 3),
        ("unknown-reference", 5, 30),
        ("schema-enum", 5, 45),
        ("unknown-reference", 6, 34),
        ("schema-required", 12, 9),
        ("unknown-reference", 12, 40),
    ]


def test_a_mistyped_store_column_hides_neither_the_others_nor_an_unknown_name(
    tmp_path: Path,
) -> None:
    store = (
        "store:\n  customers: {vip: int, level: integer}\n"  # 1-2
        "metrics:\n  m:\n    value: level + 1\n"  # the column declared well: known
        "  m2:\n    value: vip + 1\n"  # the mistyped one: its error says it
        "  m3:\n    value: nosuch + 1\n"  # 8
    )
    assert found(tmp_path, store) == [
        ("schema-enum", 2, 20),
        ("expr-unknown-name", 9, 12),
    ]


def test_an_offer_with_a_broken_incentive_still_reports_its_unknown_channel(
    tmp_path: Path,
) -> None:
    offer = (
        "offers:\n  o2:\n    audience: s\n    channels: [emial]\n    content: t\n"
        "    incentive: {value: 50}\n"  # 6: no type
        "    window: {from: 2026-11-20, until: 2026-11-10}\n"  # 7: ends before it starts
    )
    assert found(tmp_path, offer) == [
        ("unknown-reference", 4, 16),
        ("schema-required", 6, 5),
        ("window-order", 7, 39),
    ]


def test_validate_prints_them_all_and_fails(tmp_path: Path) -> None:
    (tmp_path / "base.yaml").write_text(BASE, encoding="utf-8")
    path = tmp_path / "rules.yaml"
    path.write_text(
        "channels:\n  sms:\n    address: phone\n    cost: cheap\n    entry: vip and s\n"
    )
    result = CliRunner().invoke(main, ["validate", str(tmp_path)])
    assert result.exit_code == 1
    assert "`cost` of channel `sms` must be a number" in result.output
    assert "unknown name `vip`" in result.output
    assert "2 error(s)" in result.output


def test_nothing_is_reported_that_only_the_broken_key_would_cause(tmp_path: Path) -> None:
    text = (
        "offers:\n"  # 1
        "  o2:\n    audience: s\n    channels: [email]\n    content: t\n"
        "    variants:\n      a: {weight: 50%}\n      b: {content: x}\n"  # 8: b has no weight
        "  o3:\n    audience: s\n    channels: [email]\n    content: t\n    group: g\n"
        "    priority: high\n"  # 14: the same group as `o`, whose priority is 0
        "metrics:\n  m:\n    value: [1]\n    default: x\n"  # 17: default against no value
        "calendar:\n  schedule:\n"
        "    - {id: a, channel: email, at: '2026-11-02T10:00'}\n"
        "    - {id: b, channel: email}\n"  # 22: no `at`: the cadence does not count it
        "  constraints:\n    - {channel: email, min_per_week: 2}\n"
    )
    assert found(tmp_path, text) == [
        ("schema-required", 8, 7),
        ("schema-type", 14, 15),
        ("schema-type", 17, 12),
        ("schema-required", 22, 7),
    ]


# Keys that break the schema, added after a problem that does not depend on them: the problem
# stays reported whatever they are.
BROKEN = {
    "offer": [
        "    priority: high\n",
        "    cost: free\n",
        "    holdout: lots\n",
        "    group: [g]\n",
        "    max_actions: -1\n",
        "    incentive: {value: 1}\n",
        "    cooldown: 3 days\n",
        "    send_at: '25:00'\n",
        "    budget: {total: x}\n",
        "    colour: red\n",
        "    variants: {a: {content: x}}\n",
        "    window: {from: 2026-11-31}\n",
    ],
    "channel": [
        "    cost: cheap\n",
        "    exit_days: forever\n",
        "    quiet_hours: {start: '21:00'}\n",
        "    capacity: {per_day: lots}\n",
        "    lifecycle: {admit: 5, grow: x}\n",
        "    colour: red\n",
    ],
    "calendar": [
        "  timezone: 5\n",
        "  min_gap: soon\n",
        "  frequency_caps: [{channel: email, max: x, per: 7d}]\n",
        "  schedule: [{id: a, channel: email}]\n",
        "  constraints: [{channel: email}]\n",
        "  colour: red\n",
    ],
    "test": [
        "    description: [x]\n",
        "    contacts: 5\n",
        "    then: [{expect: []}]\n",
        "    colour: red\n",
    ],
}
TARGETS = {  # a rule with a problem on line 3 of its file, at this column
    "offer": ("offers:\n  o2:\n    channels: [emial]\n    audience: s\n    content: t\n", 16),
    "channel": ("channels:\n  sms:\n    entry: vip and s\n    address: phone\n", 12),
    "calendar": (
        "calendar:\n  blackouts:\n    - {from: 2026-11-10, until: 2026-11-12, channels: [smss]}\n",
        56,
    ),
    "test": (
        "tests:\n  t1:\n    expect: [{customer: 1, offer: nope}]\n"
        "    as_of: '2026-11-20T10:00:00+08:00'\n    customers: [{id: 1}]\n",
        35,
    ),
}


@settings(max_examples=30, deadline=None)
@given(
    st.sampled_from(sorted(TARGETS)).flatmap(
        lambda kind: st.tuples(
            st.just(kind),
            st.lists(st.sampled_from(BROKEN[kind]), min_size=1, max_size=3, unique=True),
        )
    )
)
def test_a_problem_stays_reported_whatever_else_in_its_rule_breaks_the_schema(
    case: tuple[str, list[str]],
) -> None:
    kind, broken = case
    text, col = TARGETS[kind]
    with tempfile.TemporaryDirectory() as folder:
        problems = found(Path(folder), text + "".join(broken))
    assert any(line > 3 for _, line, _ in problems), problems  # the schema errors
    assert any(line == 3 and c == col for _, line, c in problems), problems
    assert all(line >= 3 for _, line, _ in problems), problems  # nothing in the base rules


def test_an_acceptance_in_a_rule_with_a_schema_error_is_not_called_unused(
    tmp_path: Path,
) -> None:
    text = (
        "offers:\n  o3:\n    audience: s\n    channels: [email]\n    content: t\n    group: g\n"
        "    priority: high\n    accept: [ambiguous-priority]\n"
    )
    assert found(tmp_path, text) == [("schema-type", 7, 15)]
