"""Messages people can act on: unknown names list what is defined, a file checked alone
points at the folder, and what the YAML or the expression probably meant."""

from __future__ import annotations

from pathlib import Path

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
