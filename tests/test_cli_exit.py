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
