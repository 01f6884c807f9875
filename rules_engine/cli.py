"""The `campaign` command: parses options, calls the library, picks a reporter, maps exit codes.

Nothing here decides anything about campaigns; every command is one call into the library so
the library works without click. User mistakes end with a message and exit 2, never a traceback.
"""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path
from typing import NoReturn

import click

from . import store
from .errors import CampaignError, Problem


class InputFailure(click.ClickException):
    """Input that cannot be read (missing file, not a store): a message and exit 2."""

    exit_code = 2

    def show(self, file: object = None) -> None:
        click.echo(f"campaign: error: {self.format_message()}", err=True)


class RulesFailure(InputFailure):
    """The command could not do its job for a reason the message explains (exit 1)."""

    exit_code = 1


def fail(exc: CampaignError) -> NoReturn:
    """End the command with the error's message and its exit code, never a traceback."""
    kind = InputFailure if exc.exit_code == 2 else RulesFailure
    raise kind(str(exc)) from None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="campaign-rules")
def main() -> None:
    """Campaign rules for e-commerce marketing: validate, plan and run YAML rule sets."""


RULES_ARG = click.argument("rules", nargs=-1, type=click.Path(path_type=Path))
AS_OF = click.option(
    "--as-of",
    "as_of",
    metavar="T",
    help="ISO-8601 instant the rules are evaluated at (default: now).",
)

# Load problems that mean a file could not be read at all: exit 2, as for a missing file.
UNREADABLE = {
    "file-not-utf8",
    "file-too-large",
    "file-unreadable",
    "yaml-syntax",
    "yaml-multiple-documents",
    "yaml-too-many-aliases",
}


def _validate_exit_code(problems: list[Problem], strict: bool) -> int:
    if any(p.code in UNREADABLE for p in problems):
        return 2
    if any(p.is_error for p in problems) or (strict and problems):
        return 1
    return 0


@main.command("validate")
@RULES_ARG
@click.option(
    "--db",
    "db_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also check against this store's real schema.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "github"]),
    default="text",
    show_default=True,
)
@click.option("--strict", is_flag=True, help="Warnings fail validation too.")
@AS_OF
def validate_command(
    rules: tuple[Path, ...], db_path: Path | None, fmt: str, strict: bool, as_of: str | None
) -> None:
    """Check rule files (default: rules/): schema, expressions, references, calendar."""
    from .check import DEFAULT_RULES, check
    from .report import REPORTERS
    from .times import parse_as_of

    try:
        result = check(rules or DEFAULT_RULES, db=db_path, as_of=parse_as_of(as_of))
    except CampaignError as exc:
        fail(exc)
    sources = {doc.path: doc.text for doc in result.documents}
    checked = len({doc.path for doc in result.documents} | {p.span.file for p in result.problems})
    click.echo(REPORTERS[fmt]().render(result.problems, sources, checked))
    sys.exit(_validate_exit_code(result.problems, strict))


@main.command("schema")
def schema_command() -> None:
    """Print the JSON Schema of rule files (for editors and other validators)."""
    from .schema import schema_text

    click.echo(schema_text(), nl=False)


@main.command("init-store")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
def init_store_command(path: Path) -> None:
    """Create the canonical customer store at PATH (safe to re-run: adds only what is missing)."""
    try:
        created = store.init_store(path)
    except CampaignError as exc:
        fail(exc)
    except (OSError, sqlite3.Error) as exc:
        raise InputFailure(f"{path}: cannot write the store: {exc}") from None
    if created:
        click.echo(f"{path}: created {len(created)} item(s): " + ", ".join(created))
    else:
        click.echo(f"{path}: already a complete store; nothing changed")


@main.command("demo-data")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--customers", default=100_000, show_default=True, type=click.IntRange(min=1))
@click.option("--seed", default=1, show_default=True, type=int)
@click.option("--quiet", is_flag=True, help="No progress bar.")
def demo_data_command(path: Path, customers: int, seed: int, quiet: bool) -> None:
    """Build a deterministic synthetic shop store at PATH (replaces the file if it exists)."""
    from . import demo

    try:
        counts = demo.build_demo_store(path, customers=customers, seed=seed, progress=not quiet)
    except CampaignError as exc:
        fail(exc)
    except (OSError, sqlite3.Error) as exc:
        raise InputFailure(f"{path}: cannot write the store: {exc}") from None
    click.echo(f"{path}: demo store, {customers:,} customers, seed {seed}")
    click.echo(_counts_table(counts))


def _counts_table(counts: dict[str, int]) -> str:
    width = max(len(name) for name in counts)
    return "\n".join(f"  {name:<{width}}  {n:>12,}" for name, n in counts.items())


@main.command("summary")
@click.option("--db", "db_path", required=True, type=click.Path(dir_okay=False, path_type=Path))
def summary_command(db_path: Path) -> None:
    """Row counts per table of a store."""
    try:
        counts = store.row_counts(db_path)
    except CampaignError as exc:
        fail(exc)
    click.echo(f"{db_path}:")
    click.echo(_counts_table(counts))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
