"""Messages people can act on: unknown names list what is defined, a file checked alone
points at the folder, and what the YAML or the expression probably meant."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from rules_engine.cli import main
from rules_engine.rules.check import check

CHANNELS = "channels:\n" + "".join(
    f"  {name}:\n    address: email\n    consent: email_opt_in\n" for name in ("email", "sms")
)


def hints(path: Path | list[Path]) -> list[tuple[str, int, str | None]]:
    paths = path if isinstance(path, list) else [path]
    return [(p.code, p.span.line, p.hint) for p in check(paths).problems]


def test_an_unknown_channel_lists_the_few_defined(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(
        CHANNELS
        + "segments:\n  all:\n    where: email_opt_in\n"
        + "offers:\n  hi:\n    audience: all\n    channels: [pigeon, emial]\n    content: t\n"
    )
    assert hints(path) == [
        ("unknown-reference", 14, "the channels defined: `email`, `sms`"),
        ("unknown-reference", 14, "did you mean `email`?"),
    ]


def test_an_unknown_channel_among_many_gets_only_did_you_mean(tmp_path: Path) -> None:
    many = "channels:\n" + "".join(
        f"  ch{i}:\n    address: email\n    consent: email_opt_in\n" for i in range(11)
    )
    path = tmp_path / "rules.yaml"
    path.write_text(
        many
        + "segments:\n  all:\n    where: email_opt_in\n"
        + "offers:\n  hi:\n    audience: all\n    channels: [pigeon]\n    content: t\n"
    )
    assert [(code, hint) for code, _, hint in hints(path)] == [("unknown-reference", None)]


def test_a_file_checked_alone_points_at_its_folder_for_names_its_siblings_define(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "rules"
    folder.mkdir()
    (folder / "channels.yaml").write_text(CHANNELS)
    (folder / "segments.yaml").write_text("segments:\n  opted:\n    where: email_opt_in\n")
    offers = folder / "offers.yaml"
    offers.write_text(
        "offers:\n  hi:\n    audience: opted\n    channels: [email]\n    content: t\n"
    )
    found = hints(offers)
    assert [(code, line) for code, line, _ in found] == [
        ("expr-unknown-name", 3),
        ("unknown-reference", 4),
    ]
    assert found[0][2] == (
        f"`opted` is defined in {folder / 'segments.yaml'}; check the whole rule set: "
        f"campaign validate {folder}"
    )
    assert f"campaign validate {folder}" in str(found[1][2])
    result = CliRunner().invoke(main, ["validate", str(folder)])
    assert result.exit_code == 0, result.output


def problem_of(tmp_path: Path, text: str) -> tuple[str, int, int, str | None]:
    path = tmp_path / "rules.yaml"
    path.write_text(text, encoding="utf-8")
    found = check([path]).problems
    assert found, text
    return found[0].code, found[0].span.line, found[0].span.col, found[0].hint


def segment(where: str) -> str:
    return f"segments:\n  s:\n    where: {where}\n"


@pytest.mark.parametrize(
    ("where", "col", "word"),
    [
        ("email_opt_in && sms_opt_in", 25, "&&"),
        ("email_opt_in || sms_opt_in", 25, "||"),
        ('country != "CN" and ! sms_opt_in', 32, "!"),
        ("email_opt_in 且 sms_opt_in", 25, "且"),
    ],
)
def test_operators_of_other_languages_are_answered_with_ours(
    tmp_path: Path, where: str, col: int, word: str
) -> None:
    ours = {"&&": "and", "||": "or", "!": "not", "且": "and"}[word]
    assert problem_of(tmp_path, segment(where)) == (
        "expr-syntax",
        3,
        col,
        f"write `{ours}` instead of `{word}`",
    )


def test_an_assignment_is_answered_with_double_equals(tmp_path: Path) -> None:
    assert problem_of(tmp_path, segment('country = "CN"'))[3] == "did you mean `==`?"


@pytest.mark.parametrize(
    ("text", "line", "col", "char", "twin"),
    [
        (segment("country == “CN”"), 3, 23, "“", '"'),
        (segment('country in （"CN", "US"）'), 3, 23, "（", "("),
        (segment('country in ("CN"，"US")'), 3, 28, "，", ","),
        (segment("email_opt_in\u3000and sms_opt_in"), 3, 24, "\u3000", " "),
        ("segments：\n  s:\n    where: email_opt_in\n", 1, 9, "：", ":"),
        ("segments:\n  s:\n    where： email_opt_in\n", 3, 5, "：", ":"),
    ],
)
def test_full_width_punctuation_is_named_with_its_ascii_twin(
    tmp_path: Path, text: str, line: int, col: int, char: str, twin: str
) -> None:
    code, at_line, at_col, hint = problem_of(tmp_path, text)
    assert (at_line, at_col) == (line, col), code
    assert hint is not None and f"`{char}` (" in hint and f"type the ASCII `{twin}`" in hint


def test_a_tab_in_the_indentation_is_named_whatever_the_yaml_loader(tmp_path: Path) -> None:
    code, line, _, hint = problem_of(tmp_path, "segments:\n\ts:\n    where: email_opt_in\n")
    assert (code, line, hint) == ("yaml-syntax", 2, "indent with spaces, not tabs")


def test_an_id_with_a_trailing_line_break_is_refused(tmp_path: Path) -> None:
    assert problem_of(tmp_path, 'segments:\n  "lapsed\\n":\n    where: email_opt_in\n')[:3] == (
        "id-line-break",
        2,
        3,
    )


def test_escape_characters_are_never_echoed_raw(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(
        'segments:\n  "\\e[2Jred":\n    where: email_opt_in\n'
        'offers:\n  o:\n    audience: email_opt_in\n    channels: ["\\e[31m"]\n    content: t\n'
    )
    for fmt in ("text", "github"):
        result = CliRunner().invoke(main, ["validate", str(path), "--format", fmt])
        assert result.exit_code == 1
        assert "\x1b" not in result.output
        assert "\\x1b[2Jred" in result.output


def test_a_leading_bang_is_answered_with_not(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(segment("!email_opt_in"))
    found = [p for p in check([path]).problems if p.code == "yaml-tag"]
    assert [(p.span.line, p.span.col, p.hint) for p in found] == [
        (3, 12, "to negate, write `not email_opt_in` (in YAML a value starting with `!` is a tag)")
    ]


def test_words_inside_strings_are_not_taken_for_operators(tmp_path: Path) -> None:
    code, _, _, hint = problem_of(tmp_path, segment('city == "且末&&" and country > > 1'))
    assert (code, hint) == ("expr-syntax", None)


def test_a_date_alone_is_midnight_in_the_calendar_time_zone(tmp_path: Path) -> None:
    from rules_engine import demo

    shop = tmp_path / "shop.db"
    demo.build_demo_store(shop, customers=10, seed=1, progress=False)
    rules = tmp_path / "rules.yaml"
    rules.write_text(segment("email_opt_in") + "calendar:\n  timezone: Asia/Shanghai\n")
    args = ["plan", str(rules), "--db", str(shop), "--quiet", "--as-of"]
    alone = CliRunner().invoke(main, [*args, "2026-11-20"])
    spelled = CliRunner().invoke(main, [*args, "2026-11-20T00:00:00+08:00"])
    assert alone.exit_code == 0, alone.output
    header = "Plan as of 2026-11-19T16:00:00Z (2026-11-20 00:00 Asia/Shanghai): 10 customers"
    assert any(line.startswith(header) for line in alone.output.splitlines())
    assert alone.output == spelled.output
    explained = CliRunner().invoke(
        main, ["explain", str(rules), "--db", str(shop), "1", "--as-of", "2026-11-20"]
    )
    assert explained.output.startswith(
        "Customer 1 as of 2026-11-19T16:00:00Z (2026-11-20 00:00 Asia/Shanghai)"
    )


def test_a_schema_error_in_a_rule_does_not_hide_its_other_problems(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(
        CHANNELS
        + "segments:\n  s:\n    where: email_opt_in\n    descr: x\n"
        + "offers:\n  hi:\n    audience: s and contry == 1\n    channels: [emial]\n"
        + "    priority: high\n"
    )
    assert [(p.code, p.span.line, p.span.col) for p in check([path]).problems] == [
        ("schema-unknown-key", 11, 5),
        ("schema-required", 13, 3),  # no content
        ("expr-unknown-name", 14, 21),  # still reported beside it
        ("unknown-reference", 15, 16),
        ("schema-type", 16, 15),
    ]


def test_under_a_merge_key_problems_point_at_the_line_in_force(tmp_path: Path) -> None:
    text = (
        "offers:\n  base: &base\n    audience: email_opt_in\n    channels: [email]\n"
        "    content: t\n    priority: 1\n    cost: free\n  hi:\n    <<: *base\n"
        "    priority: high\n" + CHANNELS
    )
    path = tmp_path / "rules.yaml"
    path.write_text(text)
    found = [(p.code, p.span.line, p.span.col) for p in check([path]).problems]
    assert found == [
        ("schema-type", 7, 11),  # base's cost, in force in both offers: at its own line
        ("schema-type", 10, 15),  # hi's own priority, not base's
    ]
    result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exit_code == 1, result.output  # was a ValueError: hi kept priority "high"
    assert isinstance(result.exception, SystemExit)
