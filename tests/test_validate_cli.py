"""`campaign validate` as CI and marketers use it: formats, exit codes, no tracebacks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rules_engine.cli import main
from rules_engine.rules.check import check

ROOT = Path(__file__).parents[1]
AS_OF = "2026-11-20T10:00:00+08:00"
BROKEN = """\
segments:
  lapsed:
    where: contry == "CN"
offers:
  winback:
    audience: lapsed
    channels: [email]
    content: t
    prority: 5
"""


def validate(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["validate", "--as-of", AS_OF, *args])
    return result.exit_code, result.output


def test_example_rules_validate_clean() -> None:
    """Clean even with --strict: the control groups the example keeps per offer across groups
    are warned about (docs/experiments.md) and accepted by each offer, and counted."""
    code, output = validate(str(ROOT / "rules"), "--strict")
    assert code == 0, output
    assert ": warning[" not in output, output
    accepted = sum(
        line.strip().startswith("accept: [holdout-contaminated]")
        for path in (ROOT / "rules").rglob("*.yaml")
        for line in path.read_text(encoding="utf-8").splitlines()
    )
    assert accepted > 0
    assert output.strip().endswith(f"no problems ({accepted} accepted warning(s) not shown)")


def test_example_rules_validate_against_a_real_store(tmp_path: Path) -> None:
    db = tmp_path / "shop.db"
    assert CliRunner().invoke(main, ["init-store", str(db)]).exit_code == 0
    code, output = validate(str(ROOT / "rules"), "--db", str(db))
    assert code == 0, output


def test_text_format_points_at_file_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(BROKEN)
    code, output = validate(str(path))
    assert code == 1
    lines = output.splitlines()
    assert f"{path}:3:12: error[expr-unknown-name]: unknown name `contry`" in lines
    assert (
        f"{path}:9:5: error[schema-unknown-key]: unknown key `prority` in offer `winback`" in lines
    )
    assert "  |            ^^^^^^" in lines
    # the offer's unknown channel is reported beside its schema error
    assert f"{path}:7:16: error[unknown-reference]: unknown channel `email`" in lines
    assert lines[-1] == "1 file checked: 3 error(s), 0 warning(s)"


def test_json_format_is_machine_readable(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(BROKEN)
    code, output = validate(str(path), "--format", "json")
    assert code == 1
    body = json.loads(output)
    assert body["errors"] == 3
    assert [(p["code"], p["line"], p["col"]) for p in body["problems"]] == [
        ("expr-unknown-name", 3, 12),
        ("unknown-reference", 7, 16),
        ("schema-unknown-key", 9, 5),
    ]


def test_github_format_emits_annotations(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(BROKEN)
    code, output = validate(str(path), "--format", "github")
    assert code == 1
    assert output.splitlines()[0].startswith(f"::error file={path},line=3,col=12,")
    assert (
        "title=expr-unknown-name::unknown name `contry` (hint: did you mean `country`?)" in output
    )


def test_warnings_pass_unless_strict(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text("segments:\n  no_city:\n    where: city == None\n")
    assert validate(str(path))[0] == 0
    assert validate(str(path), "--strict")[0] == 1


def test_unreadable_input_exits_2(tmp_path: Path) -> None:
    assert validate(str(tmp_path / "missing.yaml"))[0] == 2
    bad = tmp_path / "bad.yaml"
    bad.write_text("segments: [\n")
    code, output = validate(str(bad))
    assert code == 2 and "yaml-syntax" in output
    latin = tmp_path / "latin.yaml"
    latin.write_bytes("a: caf\xe9\n".encode("latin-1"))
    assert validate(str(latin))[0] == 2
    assert validate(str(ROOT / "rules"), "--db", str(tmp_path / "nostore.db"))[0] == 2
    assert validate(str(ROOT / "rules"), "--as-of", "next tuesday")[0] == 2


def test_user_errors_never_print_a_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("segments: [\n")
    for args in (
        ["validate", str(bad)],
        ["validate", str(tmp_path / "nope")],
        ["validate", "--db", str(bad), str(ROOT / "rules")],
    ):
        proc = subprocess.run(
            [sys.executable, "-m", "rules_engine.cli", *args], capture_output=True, text=True
        )
        assert proc.returncode == 2, args
        assert "Traceback" not in proc.stderr + proc.stdout


def test_schema_command_prints_the_published_schema() -> None:
    result = CliRunner().invoke(main, ["schema"])
    assert result.exit_code == 0
    assert result.output == (ROOT / "schemas" / "rules.schema.json").read_text(encoding="utf-8")


def test_problems_across_files_are_all_reported(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("segments:\n  s: {where: x > 1}\n")
    (tmp_path / "b.yaml").write_text("segments: [\n")
    (tmp_path / "c.yaml").write_text("offers:\n  o: {audience: s, channels: [email], content: t}\n")
    codes = [p.code for p in check([tmp_path]).problems]
    assert codes == ["expr-unknown-name", "yaml-syntax", "unknown-reference"]


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.text(max_size=300))
def test_any_text_as_a_rule_file_gives_a_verdict(tmp_path: Path, text: str) -> None:
    path = tmp_path / "fuzz.yaml"
    path.write_text(text, encoding="utf-8")
    result = check([path])
    assert all(p.span.file == str(path) for p in result.problems)


RULE_KEYS = [
    "segments",
    "offers",
    "metrics",
    "channels",
    "calendar",
    "where",
    "value",
    "audience",
    "channels",
    "content",
    "from",
    "email",
    "x > 1",
    "recency_days",
    "schedule",
    "at",
]
yaml_like = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-5, 5),
        st.sampled_from(RULE_KEYS),
        st.text(max_size=8),
    ),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(RULE_KEYS), inner, max_size=4)
    ),
    max_leaves=25,
)


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(yaml_like)
def test_any_json_like_rule_file_gives_a_verdict(tmp_path: Path, data: object) -> None:
    path = tmp_path / "fuzz.json.yaml"
    path.write_text(json.dumps(data), encoding="utf-8")
    result = check([path])
    assert result.rules is not None


def test_check_leaves_the_garbage_collector_as_it_was(tmp_path: Path) -> None:
    import gc

    (tmp_path / "a.yaml").write_text("segments:\n  s: {where: 'True'}\n")
    assert gc.isenabled()
    check([tmp_path])
    assert gc.isenabled()
    gc.disable()
    try:
        check([tmp_path])
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_check_leaves_nothing_frozen_and_what_the_program_froze_frozen(tmp_path: Path) -> None:
    import gc

    (tmp_path / "a.yaml").write_text("segments:\n  s: {where: 'True'}\n")
    assert gc.get_freeze_count() == 0
    check([tmp_path])
    assert gc.get_freeze_count() == 0 and gc.isenabled()
    gc.freeze()  # as a forking server does
    try:
        frozen = gc.get_freeze_count()
        check([tmp_path])
        assert gc.get_freeze_count() == frozen > 0
    finally:
        gc.unfreeze()


def test_a_rule_with_a_number_for_an_id_is_reported_not_a_crash(tmp_path: Path) -> None:
    """`123:` fails the schema; an unknown name elsewhere must still get its suggestion."""
    (tmp_path / "a.yaml").write_text("segments:\n  123: {where: x}\n")
    (tmp_path / "b.yaml").write_text("segments:\n  lapsed:\n    where: contry == 'CN'\n")
    code, output = validate(str(tmp_path))
    assert code == 1, output
    assert "unknown name `contry`" in output and "did you mean `country`?" in output


def test_a_store_without_a_canonical_table_says_how_to_add_it(tmp_path: Path) -> None:
    import sqlite3

    with sqlite3.connect(tmp_path / "partial.db") as db:
        db.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, email TEXT)")
    rule = "metrics:\n  n:\n    from: orders\n    value: count()\n"
    (tmp_path / "m.yaml").write_text(rule)
    code, output = validate(str(tmp_path / "m.yaml"), "--db", str(tmp_path / "partial.db"))
    assert code == 1
    assert "the store has no `orders` table" in output and "campaign init-store" in output
    assert "did you mean `orders`" not in output
