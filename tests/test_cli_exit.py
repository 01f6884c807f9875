"""The `campaign` program leaves the process once its output is flushed: the exit status is
the command's, nothing it printed is lost, and output to a closed pipe ends it quietly."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[1]
PROGRAM = [sys.executable, "-m", "rules_engine.cli"]


def test_the_output_and_the_exit_status_are_the_commands(tmp_path: Path) -> None:
    good = subprocess.run([*PROGRAM, "validate", str(ROOT / "rules")], capture_output=True)
    assert good.returncode == 0 and good.stdout.endswith(b"\n") and good.stdout.strip()
    shutil.copytree(ROOT / "rules", tmp_path / "rules")
    broken = tmp_path / "rules" / "channels.yaml"
    broken.write_text(broken.read_text(encoding="utf-8") + "\nbogus_section: 1\n")
    bad = subprocess.run([*PROGRAM, "validate", str(tmp_path / "rules")], capture_output=True)
    assert bad.returncode == 1 and b"bogus_section" in bad.stdout + bad.stderr
    assert b"Traceback" not in bad.stderr


def test_a_closed_pipe_ends_the_program_quietly() -> None:
    process = subprocess.Popen(
        [*PROGRAM, "validate", str(ROOT / "rules")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None
    process.stdout.close()  # before the program writes anything
    _, errors = process.communicate(timeout=120)
    assert process.returncode == 1
    assert b"Traceback" not in errors and b"Exception ignored" not in errors


def _collector_at_exit(args: list[str]) -> str:
    """Whether the garbage collector was on when the program left, for `campaign ARGS`."""
    code = (
        "import gc, os, sys\n"
        "from rules_engine import cli\n"
        "leave = os._exit\n"
        "def said(status):\n"
        "    print('collector', gc.isenabled(), file=sys.stderr, flush=True)\n"
        "    leave(status)\n"
        "os._exit = said\n"
        f"sys.argv = ['campaign', *{args!r}]\n"
        "cli.run()\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    return done.stderr.strip().splitlines()[-1]


def test_only_explain_from_a_plan_file_runs_without_the_garbage_collector(
    small_demo: Path, tmp_path: Path
) -> None:
    """Short explanations skip the collector's passes over the modules they import; every
    command that may run long (planning, deciding the whole store) collects as usual."""
    as_of = ["--as-of", "2026-11-20T10:00:00+08:00"]
    plan_file = tmp_path / "plan.json"
    plan = ["plan", "rules", "--db", str(small_demo), *as_of, "--quiet", "--out", str(plan_file)]
    planned = subprocess.run([*PROGRAM, *plan], capture_output=True, cwd=ROOT)
    assert planned.returncode == 0, planned.stderr
    explain = ["explain", "rules", "--db", str(small_demo), "7", *as_of]
    assert _collector_at_exit(["validate", "rules"]) == "collector True"
    assert _collector_at_exit(explain) == "collector True"
    assert _collector_at_exit([*explain, "--plan", str(plan_file)]) == "collector False"
