"""Files and personal data: rules are read only from inside the rules folder and never skipped;
addresses are masked in explain, refused in metrics exports unless asked for, and files that
hold them are their owner's only."""

from __future__ import annotations

import copy
import os
import stat
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rules_engine.cli import main
from rules_engine.report.export import replacing
from tests.test_plan import ALICE, AS_OF, BASE, store_with


def _invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, [*args, "--as-of", AS_OF.isoformat()])
    return result.exit_code, result.output


def _rules(folder: Path, doc: dict[str, Any] | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "rules.yaml").write_text(yaml.safe_dump(doc or BASE, allow_unicode=True))
    return folder


# -- the rules folder ----------------------------------------------------------------------------


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_an_unreadable_folder_of_rules_is_exit_2_not_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, depth: int
) -> None:
    rules = _rules(tmp_path / "rules")
    locked = rules.joinpath(*[f"d{i}" for i in range(depth)])
    locked.mkdir(parents=True)
    (locked / "offers.yaml").write_text("segments: {x: {where: id > 0}}\n")
    real_scandir = os.scandir

    def scandir(path: Any = ".") -> Any:
        if Path(path).resolve() == locked.resolve():  # as a folder without the read bit
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    code, output = _invoke("validate", str(rules))
    assert code == 2, output
    assert f"{locked}: cannot read this folder of rules" in output
    assert "Traceback" not in output


def test_an_unreadable_rule_file_is_exit_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rules = _rules(tmp_path / "rules")
    locked = rules / "more.yaml"
    locked.write_text("segments: {x: {where: id > 0}}\n")
    real = os.open

    def opener(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        if Path(path).resolve() == locked.resolve():
            raise PermissionError(13, "Permission denied", str(path))
        return real(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", opener)
    code, output = _invoke("validate", str(rules))
    assert code == 2, output
    assert "file-unreadable" in output and "more.yaml" in output


@pytest.mark.parametrize("kind", ["file", "folder", "relative_file", "broken_outside"])
def test_a_link_out_of_the_rules_folder_is_refused(tmp_path: Path, kind: str) -> None:
    rules = _rules(tmp_path / "rules")
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    secret = outside / "secret.yaml"
    secret.write_text("password: hunter2\nnot: [valid\n")
    link = rules / ("linked" if kind == "folder" else "linked.yaml")
    target: Path | str = {
        "file": secret,
        "folder": outside,
        "relative_file": os.path.relpath(secret, rules),
        "broken_outside": outside / "gone.yaml",
    }[kind]
    link.symlink_to(target)
    code, output = _invoke("validate", str(rules))
    assert code == 2, output
    assert "outside the rules folder" in output
    assert "hunter2" not in output


def test_a_link_that_stays_inside_the_rules_folder_is_read(tmp_path: Path) -> None:
    rules = _rules(tmp_path / "rules")
    (rules / "sub").mkdir()
    (rules / "sub" / "more.yaml").write_text("segments: {x: {where: id > 0}}\n")
    (rules / "again.yaml").symlink_to(rules / "sub" / "more.yaml")
    (rules / "sub" / "up").symlink_to(rules)  # a loop back up the tree is walked once
    code, output = _invoke("validate", str(rules))
    assert code == 0, output


def test_lines_of_a_file_that_is_not_a_rule_file_are_never_echoed(tmp_path: Path) -> None:
    secret = tmp_path / "shadow"
    secret.write_text("root:$6$hunter2:19000:0:99999:7:::\n  - [broken\n")
    code, output = _invoke("validate", str(secret))
    assert code == 2, output
    assert "hunter2" not in output and "broken" not in output


# -- files that hold addresses ----------------------------------------------------------------


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.one_of(st.none(), st.integers(0, 0o777)),
    st.booleans(),
    st.sampled_from([0o022, 0o002, 0o077, 0o000]),
)
def test_a_replaced_file_is_never_opened_to_more_people(
    tmp_path_factory: pytest.TempPathFactory, existing: int | None, private: bool, umask: int
) -> None:
    target = tmp_path_factory.mktemp("mode") / "out.csv"
    if existing is not None:
        target.write_text("old\n")
        target.chmod(existing)
    previous = os.umask(umask)
    try:
        with replacing(target, private=private) as out:
            out.write("new\n")
    finally:
        os.umask(previous)
    mode = stat.S_IMODE(target.stat().st_mode)
    if private:
        assert mode & 0o077 == 0
    if existing is not None:
        assert mode & ~existing == 0
    else:
        assert mode == (0o600 if private else 0o666 & ~umask)
    assert target.read_text() == "new\n"


def _address_rules() -> dict[str, Any]:
    doc = copy.deepcopy(BASE)
    doc["metrics"] = {
        "mail": {"value": "lower(email)"},
        "mail_copy": {"value": "coalesce(mail, 'none')"},
    }
    doc["segments"]["gmail"] = {"where": 'contains(email, "example") and email_opt_in'}
    return doc


def test_explain_masks_addresses_unless_asked(tmp_path: Path) -> None:
    rules = _rules(tmp_path / "rules", _address_rules())
    person = {**ALICE, "email": "alice.secret@example.cn", "phone": "13800001111"}
    db = store_with(tmp_path / "store.db", customers=[person])
    for fmt in ("text", "json"):
        code, output = _invoke("explain", str(rules), "--db", str(db), "1", "--format", fmt)
        assert code == 0, output
        assert "alice.secret" not in output and "13800001111" not in output
        assert "address hidden" in output
        code, output = _invoke(
            "explain", str(rules), "--db", str(db), "1", "--format", fmt, "--show-addresses"
        )
        assert code == 0, output
        assert "alice.secret@example.cn" in output


def test_metrics_refuses_an_address_metric_unless_asked_then_writes_it_0600(
    tmp_path: Path,
) -> None:
    rules = _rules(tmp_path / "rules", _address_rules())
    db = store_with(tmp_path / "store.db", customers=[ALICE])
    out = tmp_path / "m.csv"
    code, output = _invoke("metrics", str(rules), "--db", str(db), "--out", str(out), "--quiet")
    assert code == 1, output
    assert "mail" in output and "--with-addresses" in output
    assert not out.exists()
    code, output = _invoke(
        "metrics", str(rules), "--db", str(db), "--out", str(out), "--quiet", "--with-addresses"
    )
    assert code == 0, output
    assert "a@example.cn" in out.read_text()
    assert stat.S_IMODE(out.stat().st_mode) == 0o600


def test_a_run_export_with_addresses_is_its_owners_only(tmp_path: Path) -> None:
    rules = _rules(tmp_path / "rules")
    db = store_with(tmp_path / "store.db", customers=[ALICE])
    out = tmp_path / "actions.csv"
    out.write_text("old\n")
    out.chmod(0o644)
    code, output = _invoke(
        "run",
        str(rules),
        "--db",
        str(db),
        "--run-key",
        "k",
        "--quiet",
        "--export",
        str(out),
        "--with-addresses",
    )
    assert code == 0, output
    assert "a@example.cn" in out.read_text()
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
