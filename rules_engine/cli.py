"""The `campaign` command: parses options, calls the library, picks a reporter, maps exit codes.

Nothing here decides anything about campaigns; every command is one call into the library so
the library works without click. User mistakes end with a message and exit 2, never a traceback.
"""

from __future__ import annotations

import gc
import math
import re
import sqlite3
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from . import store
from .errors import UNREADABLE, CampaignError, RulesInvalid, exit_code, printable
from .rules.model import RuleSet

if TYPE_CHECKING:
    from .apply import PlanFile
    from .backends.writer import RunResult
    from .reference.explain import Explanation


class InputFailure(click.ClickException):
    """Input that cannot be read (missing file, not a store): a message and exit 2."""

    exit_code = 2

    def show(self, file: object = None) -> None:
        click.echo(f"campaign: error: {printable(self.format_message())}", err=True)


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
    # Every command says so once when it starts to wait for a DuckDB store another process
    # holds (a run holds its store until it commits), even with --quiet.
    store.LOCK_NOTICE.set(lambda line: click.echo(f"campaign: waiting: {line}", err=True))
    if click.get_current_context().invoked_subcommand != "explain":
        gc.enable()  # the program starts without it (`run`); only explain --plan goes on so


RULES_ARG = click.argument("rules", nargs=-1, type=click.Path(path_type=Path))
AS_OF = click.option(
    "--as-of",
    "as_of",
    metavar="T",
    help="ISO-8601 instant the rules are evaluated at (default: now); a date alone is "
    "midnight in the calendar's time zone.",
)


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
    from .report.render import REPORTERS
    from .rules.check import DEFAULT_RULES, check
    from .times import read_as_of

    try:
        result = check(rules or DEFAULT_RULES, db=db_path, as_of=read_as_of(as_of))
    except CampaignError as exc:
        fail(exc)
    sources = {doc.path: doc.text for doc in result.documents}
    checked = len({doc.path for doc in result.documents} | {p.span.file for p in result.problems})
    click.echo(REPORTERS[fmt]().render(result.problems, sources, checked, len(result.accepted)))
    sys.exit(exit_code(result.problems, strict=strict))


@main.command("schema")
def schema_command() -> None:
    """Print the JSON Schema of rule files (for editors and other validators)."""
    from .rules.schema import schema_text

    click.echo(schema_text(), nl=False)


STORE_FORMAT = click.option(
    "--format",
    "store_format",
    type=click.Choice(["sqlite", "duckdb"]),
    help="Store format (default: DuckDB for a .duckdb name, else SQLite).",
)


@main.command("init-store")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@STORE_FORMAT
def init_store_command(path: Path, store_format: str | None) -> None:
    """Create the canonical customer store at PATH (safe to re-run: adds only what is missing).

    \b
    Examples:
      campaign init-store shop.db
      campaign init-store shop.duckdb          # a DuckDB store, for large shops
    """
    try:
        created = store.init_store(path, store_format)
    except CampaignError as exc:
        fail(exc)
    except (OSError, sqlite3.Error, _duckdb_error()) as exc:
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
@STORE_FORMAT
def demo_data_command(
    path: Path, customers: int, seed: int, quiet: bool, store_format: str | None
) -> None:
    """Build a deterministic synthetic shop store at PATH (replaces the file if it exists).

    The same seed gives the same rows in either format.

    \b
    Examples:
      campaign demo-data demo/demo.db --customers 100000 --seed 1
      campaign demo-data demo/demo.duckdb --customers 1000000
    """
    from . import demo

    try:
        counts = demo.build_demo_store(
            path, customers=customers, seed=seed, progress=not quiet, fmt=store_format
        )
    except CampaignError as exc:
        fail(exc)
    except (OSError, sqlite3.Error, _duckdb_error()) as exc:
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


# -- planning and running -------------------------------------------------------------------------

DB = click.option(
    "--db",
    "db_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The customer store (a SQLite or DuckDB file).",
)
QUIET = click.option("--quiet", is_flag=True, help="No progress lines on stderr.")
CACHE = click.option(
    "--cache-mb",
    default=256,
    show_default=True,
    type=click.IntRange(16, 65536),
    help="Cache while planning: SQLite page cache, DuckDB memory limit x4 (min 1 GB).",
)


MAX_WAIT = 86_400.0  # a day: longer is a mistake, not a wait


def _lock_wait(value: float) -> float:
    """A finite wait of 0 to a day, applied to every lock the command meets on the store."""
    if not math.isfinite(value) or not 0 <= value <= MAX_WAIT:
        raise click.BadParameter(
            f"{value:g} is not a wait: give seconds from 0 to {MAX_WAIT:,.0f} (a day)",
            param_hint="'--wait'",
        )
    store.LOCK_WAIT.set(value)
    return value


WAIT = click.option(
    "--wait",
    default=5.0,
    show_default=True,
    type=float,
    expose_value=False,
    callback=lambda ctx, param, value: _lock_wait(value),
    help="Seconds to wait while a run or another program holds a lock on the store.",
)


@contextmanager
def _library_errors(db_path: Path | None = None, rules: RuleSet | None = None) -> Iterator[None]:
    """Engine errors end the command with their message; store faults name the store (and a
    sum beyond 64 bits the metrics of `rules` that add up whole numbers)."""
    try:
        yield
    except CampaignError as exc:
        fail(exc)
    except sqlite3.DatabaseError as exc:
        where = f"{db_path}: " if db_path else ""
        if store.is_locked(exc):
            raise RulesFailure(
                str(store.StoreLocked(db_path or "", store.LOCK_WAIT.get()))
            ) from None
        if str(exc) == "integer overflow":
            from .rules.overflow import overflow_message

            raise RulesFailure(overflow_message(rules, where)) from None
        raise InputFailure(f"{where}the store could not be read or written: {exc}") from None
    except Exception as exc:
        duck = sys.modules.get("duckdb")  # loaded only for a DuckDB store
        if duck is None or not isinstance(exc, duck.Error):
            raise
        where = f"{db_path}: " if db_path else ""
        if "out of range" in str(exc).lower() and "INT" in str(exc):  # 64 bits overflowed
            from .rules.overflow import overflow_message

            raise RulesFailure(overflow_message(rules, where)) from None
        if isinstance(exc, duck.OutOfMemoryException):
            raise RulesFailure(
                f"{where}DuckDB needed more memory than it may use ({_duck_limit(exc)}); give "
                "it more with --cache-mb MB (its limit is four times that, at least 1 GB): "
                "about 1024 for every 10 million customers; nothing was written"
            ) from None
        raise InputFailure(f"{where}the DuckDB store could not be read or written: {exc}") from None


def _duck_limit(exc: Exception) -> str:
    """DuckDB's limit as its message states it (`976.4 MiB/976.5 MiB used`), or the setting."""
    found = re.search(r"/([0-9.]+ [KMGT]iB) used", str(exc))
    return f"{found.group(1)} with this --cache-mb" if found else "its limit"


def _progress(quiet: bool) -> Callable[[str], None] | None:
    if quiet:
        return None
    started = time.monotonic()

    def show(line: str) -> None:
        click.echo(f"campaign: [{time.monotonic() - started:6.1f}s] {line}", err=True)

    return show


def _checked_rules(
    rules: tuple[Path, ...],
    db_path: Path,
    as_of: datetime | date,
    *,
    writing: bool = False,
    **options: Any,
) -> RuleSet:
    """The rule set checked against the store's schema; every problem shown, then exit. The
    store must have every canonical table first: the engine reads them all (and a run,
    `writing`, writes the columns only it needs)."""
    from .rules.check import DEFAULT_RULES, check

    with _library_errors(db_path):
        store.ensure_complete(db_path, writing=writing)
        result = check(rules or DEFAULT_RULES, db=db_path, as_of=as_of, **options)
    if result.errors:
        from .report.render import TextReporter

        sources = {doc.path: doc.text for doc in result.documents}
        errors = result.errors
        click.echo(TextReporter().render(errors, sources, len(result.documents)), err=True)
        if all(p.code == STORE_VALUES for p in errors):
            click.echo(
                f"campaign: error: {db_path}: the store holds values the rules cannot read as "
                "their type; nothing was decided: correct the data, then try again",
                err=True,
            )
            sys.exit(1)
        click.echo(f"campaign: error: {RulesInvalid(errors)}", err=True)
        sys.exit(exit_code(errors))
    for problem in result.warnings:  # what the store's values make of the rules
        if problem.code == "store-overflow":
            click.echo(f"campaign: warning: {problem.span}: {problem.message}", err=True)
    return result.rules


STORE_VALUES = "store-value-type"  # a store column holds values not of its type (exit 1)


def _checked_at(
    rules: tuple[Path, ...], db_path: Path, as_of: str | None, **options: Any
) -> tuple[datetime, RuleSet]:
    """The run's as-of instant and the rules checked for it (every command that plans);
    `options` go to `_checked_rules` (`writing` and `git` for run)."""
    from .times import instant_of

    given = _as_of(as_of)
    checked = _checked_rules(rules, db_path, given, **options)
    return instant_of(given, checked.calendar.timezone), checked


def _say_if_nothing_to_plan(checked: RuleSet) -> None:
    if not checked.offers:
        click.echo(
            "campaign: note: nothing to plan: the rules define no offers, so no customer gets "
            "an action (metrics and segments are still computed); add an offer with its channels",
            err=True,
        )


def _as_of(text: str | None) -> datetime | date:
    """`--as-of`: an instant, or a date alone, which is midnight in the calendar time zone
    (`times.instant_of`, once the rules are read)."""
    from .times import read_as_of

    with _library_errors():
        return read_as_of(text)


@main.command("plan")
@RULES_ARG
@DB
@WAIT
@AS_OF
@click.option(
    "--json",
    "json_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the whole plan, with actions and audit rows, as JSON.",
)
@click.option(
    "--out",
    "out_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write a plan file (the JSON plus a fingerprint) for `campaign run --plan`.",
)
@click.option(
    "--report",
    "report_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the plan as one self-contained HTML page with charts (FILE.html).",
)
@QUIET
@CACHE
def plan_command(
    rules: tuple[Path, ...],
    db_path: Path,
    as_of: str | None,
    json_path: Path | None,
    out_path: Path | None,
    report_path: Path | None,
    quiet: bool,
    cache_mb: int,
) -> None:
    """Dry run: decide every action as of T without writing to the store.

    Example: campaign plan rules/ --db shop.db --as-of 2026-11-20T10:00:00+08:00 --out plan.json
    """
    from .apply import plan_with_fingerprint, write_plan_file
    from .execute import plan_store
    from .report.export import replacing
    from .report.render import plan_text, write_plan_json

    moment, checked = _checked_at(rules, db_path, as_of)
    _say_if_nothing_to_plan(checked)
    for target in (json_path, out_path, report_path):
        if target is not None and not target.parent.is_dir():
            raise InputFailure(f"{target}: the folder {target.parent} does not exist")
    fingerprint = None
    with _library_errors(db_path, checked):
        if out_path is None:
            planned = plan_store(
                db_path, checked, moment, cache_mb=cache_mb, progress=_progress(quiet)
            )
        else:
            planned, fingerprint = plan_with_fingerprint(
                db_path, checked, moment, cache_mb=cache_mb, progress=_progress(quiet)
            )
    digest = checked.digest
    click.echo(plan_text(planned, digest=digest))
    if json_path is not None:
        with _library_errors(), replacing(json_path) as out:
            write_plan_json(out, planned, digest=digest)
        click.echo(f"plan written to {json_path}")
    if out_path is not None and fingerprint is not None:
        with replacing(out_path) as out:
            write_plan_file(out, planned, fingerprint)
        click.echo(f"plan file written to {out_path}; apply it with `campaign run --plan`")
    if report_path is not None:
        from .report.html import plan_report

        with replacing(report_path) as out:
            out.write(plan_report(planned, digest=digest))
        click.echo(f"report written to {report_path}")


@main.command("run")
@RULES_ARG
@DB
@click.option(
    "--run-key", required=True, help="Names the run; a key that committed is not run again."
)
@AS_OF
@click.option(
    "--export",
    "export_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the run's actions to FILE.csv or FILE.jsonl for the sending systems.",
)
@click.option(
    "--with-addresses",
    is_flag=True,
    help="Add the address of the chosen channel to the export (never to the audit).",
)
@click.option(
    "--wait",
    default=60.0,
    show_default=True,
    type=float,
    callback=lambda ctx, param, value: _lock_wait(value),
    help="Seconds to wait while another run or program holds a lock on the store.",
)
@click.option(
    "--plan",
    "plan_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Commit exactly this plan file (from `plan --out`); refused if its inputs changed.",
)
@QUIET
@CACHE
def run_command(
    rules: tuple[Path, ...],
    db_path: Path,
    run_key: str,
    as_of: str | None,
    export_path: Path | None,
    with_addresses: bool,
    wait: float,
    plan_path: Path | None,
    quiet: bool,
    cache_mb: int,
) -> None:
    """Decide as `plan` does and commit the actions, audit and exits in one transaction.

    Example: campaign run rules/ --db shop.db --run-key 2026-11-20 --plan plan.json
    """
    from .backends.writer import check_run_key, run_store
    from .report.export import export_run, format_of
    from .report.render import plan_text

    with _library_errors():
        check_run_key(run_key)
    if export_path is not None:
        with _library_errors():
            format_of(export_path)
    if plan_path is not None:
        checked, result = _apply_plan_file(rules, db_path, plan_path, run_key, as_of, wait)
    else:
        moment, checked = _checked_at(rules, db_path, as_of, writing=True, git=True)
        _say_if_nothing_to_plan(checked)
        with _library_errors(db_path, checked):
            result = run_store(
                db_path,
                checked,
                moment,
                run_key,
                wait=wait,
                cache_mb=cache_mb,
                progress=_progress(quiet),
            )
    if result.plan is not None:
        click.echo(plan_text(result.plan, digest=checked.digest))
    if result.reused:
        click.echo(
            f"run key {run_key!r} already committed as run {result.run_id} "
            f"({result.counts.get('actions', 0):,} action(s)); nothing changed"
        )
    else:
        click.echo(
            f"committed run {result.run_id} (key {run_key!r}): "
            f"{result.counts.get('actions', 0):,} action(s), "
            f"{result.counts.get('exits', 0):,} channel exit(s)"
        )
    if export_path is not None:
        with _export_errors(run_key, export_path), _library_errors(db_path):
            n = export_run(
                db_path, checked, result.run_id, export_path, with_addresses=with_addresses
            )
        click.echo(f"{n:,} action(s) exported to {export_path}")


@contextmanager
def _export_errors(run_key: str, export_path: Path) -> Iterator[None]:
    """The run has committed when its export is written: a failed export says so, and how to
    export again (the same key commits nothing twice, so it only exports)."""
    try:
        yield
    except click.ClickException as exc:
        raise InputFailure(
            f"the run committed, but its export failed: {exc.format_message()}; export it "
            f"again with the same command and `--run-key {run_key}` (nothing is committed "
            f"twice), giving a writable --export path"
        ) from None


def _apply_plan_file(
    rules: tuple[Path, ...],
    db_path: Path,
    plan_path: Path,
    run_key: str,
    as_of: str | None,
    wait: float,
) -> tuple[RuleSet, RunResult]:
    """`run --plan`: the plan file's decisions committed, or refused when its inputs changed."""
    from .apply import apply_plan, read_plan_file
    from .times import instant_of, shown

    with _library_errors():
        planned = read_plan_file(plan_path)
    given = _plan_as_of(planned, as_of)
    checked = _checked_rules(rules, db_path, given, writing=True, git=True)
    zone = checked.calendar.timezone
    with _library_errors(db_path, checked):
        moment = instant_of(given, zone) if as_of is not None else None
        result = apply_plan(db_path, checked, planned, run_key, as_of=moment, wait=wait)
    click.echo(f"applied plan file {plan_path} ({shown(planned.fingerprint.as_of, zone)})")
    return checked, result


def _plan_as_of(planned: PlanFile, as_of: str | None) -> datetime | date:
    """`--as-of` with `--plan`: by default the plan's own (another one is refused later, as
    a change from the plan)."""
    from .times import parse_instant

    return _as_of(as_of) if as_of is not None else parse_instant(planned.fingerprint.as_of)


@main.command("metrics")
@RULES_ARG
@DB
@WAIT
@AS_OF
@click.option(
    "--out",
    "out_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="FILE.csv or FILE.jsonl: one row per customer.",
)
@click.option(
    "--with-addresses",
    is_flag=True,
    help="Allow metrics whose value is an address (the file is then readable by you only).",
)
@QUIET
@CACHE
def metrics_command(
    rules: tuple[Path, ...],
    db_path: Path,
    as_of: str | None,
    out_path: Path,
    with_addresses: bool,
    quiet: bool,
    cache_mb: int,
) -> None:
    """Every customer's metrics and segments (0/1), in rule-file order, as CSV or JSONL."""
    from .execute import values_store

    moment, checked = _checked_at(rules, db_path, as_of)
    with _library_errors(db_path, checked):
        n = values_store(
            db_path,
            checked,
            moment,
            out_path,
            cache_mb=cache_mb,
            progress=_progress(quiet),
            with_addresses=with_addresses,
        )
    click.echo(f"{n:,} customer(s) written to {out_path}")


@main.command("explain")
@RULES_ARG
@DB
@WAIT
@click.argument("customer_id", type=click.IntRange(-(2**63), 2**63 - 1))
@AS_OF
@click.option(
    "--population",
    is_flag=True,
    help="Also compute ranks among all customers (ntile): reads the whole store.",
)
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@click.option("--offer", "offer_id", metavar="ID", help="Show only this offer's decision and why.")
@click.option(
    "--show-addresses",
    is_flag=True,
    help="Show e-mail addresses, phone numbers, push tokens and openids (masked otherwise).",
)
@click.option(
    "--plan",
    "plan_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Show the decisions of this plan file (from `plan --out`) instead of deciding the "
    "whole store again; refused if its inputs changed.",
)
def explain_command(
    rules: tuple[Path, ...],
    db_path: Path,
    customer_id: int,
    as_of: str | None,
    population: bool,
    fmt: str,
    offer_id: str | None,
    show_addresses: bool,
    plan_path: Path | None,
) -> None:
    """Why one customer gets what they get: every value, segment, channel and offer.

    \b
    Examples:
      campaign explain rules/ --db shop.db 42 --offer vip_winback
      campaign explain rules/ --db shop.db 42 --plan plan.json   # why this plan gives 42 that
    """
    opened = store.kept_open_soon(db_path)  # while what explains is imported
    from .reference.explain import explain_store
    from .report.render import explanation_json, explanation_text
    from .rules.overflow import beyond_64_bits

    if plan_path is None:
        gc.enable()  # deciding the whole store: see `run`
    with ExitStack() as held:
        with _library_errors(db_path):
            held.enter_context(opened)
        if plan_path is not None:
            checked, found = _explain_plan_file(
                rules, db_path, plan_path, customer_id, as_of, population, offer_id, show_addresses
            )
        else:
            moment, checked = _checked_at(rules, db_path, as_of, remember=True)
            if offer_id is not None:
                _known_offer(checked, offer_id)
            with _library_errors(db_path, checked):
                found = explain_store(
                    db_path,
                    checked,
                    moment,
                    customer_id,
                    population=population,
                    show_addresses=show_addresses,
                )
    if offer_id is not None:
        from .report.render import offer_explanation_json, offer_explanation_text

        text = (
            offer_explanation_json(found, offer_id)
            if fmt == "json"
            else offer_explanation_text(found, checked, offer_id)
        )
        click.echo(text)
    else:
        click.echo(explanation_json(found) if fmt == "json" else explanation_text(found, checked))
    too_large = [v for v in found.values if beyond_64_bits(v.value)]
    if too_large:
        named = "; ".join(f"{v.kind} `{v.name}` is {v.value:,} (SQL: {v.sql!r})" for v in too_large)
        click.echo(
            f"campaign: error: {db_path}: for this customer {named}: beyond the whole numbers "
            "the store holds (64 bits), where SQL carries on with an approximate real number; "
            "look for absurdly large values in the columns it is computed from",
            err=True,
        )
        sys.exit(1)
    if found.disagreements and found.wrong_types:
        click.echo(
            f"campaign: error: {db_path}: this customer's rows hold values of the wrong type "
            f"({'; '.join(found.wrong_types)}); SQL and Python read them differently: correct "
            "the data",
            err=True,
        )
        sys.exit(1)
    if found.disagreements:
        click.echo(
            "campaign: error: SQL and Python disagree for this customer; this is a bug in "
            "the engine, please report it with the output above",
            err=True,
        )
        sys.exit(1)


def _explain_plan_file(
    rules: tuple[Path, ...],
    db_path: Path,
    plan_path: Path,
    customer_id: int,
    as_of: str | None,
    population: bool,
    offer_id: str | None,
    show_addresses: bool,
) -> tuple[RuleSet, Explanation]:
    """`explain --plan`: the customer's decisions as the plan file holds them, or refused
    when its inputs changed; the store is not scanned for its values (its fingerprint shows
    it is the store the plan checked)."""
    from .plan_lookup import customer_part
    from .reference.explain_plan import explain_plan_file
    from .times import instant_of

    with _library_errors():
        part = customer_part(plan_path, customer_id)
    given = _plan_as_of(part, as_of)
    checked = _checked_rules(rules, db_path, given, scan_store=False, remember=True)
    if offer_id is not None:
        _known_offer(checked, offer_id)
    with _library_errors(db_path, checked):
        moment = instant_of(given, checked.calendar.timezone) if as_of is not None else None
        found = explain_plan_file(
            db_path,
            checked,
            part,
            customer_id,
            as_of=moment,
            population=population,
            show_addresses=show_addresses,
        )
    return checked, found


# -- measuring ------------------------------------------------------------------------------------


@main.command("results")
@DB
@click.option("--run-key", "run_key", required=True, help="The committed run to measure.")
@click.option(
    "--days",
    default=14,
    show_default=True,
    type=click.IntRange(1, 3650),
    help="Count completed orders within this many days after the run's as-of.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "html"]),
    default="text",
    show_default=True,
    help="html: one self-contained page with charts (redirect it to a file).",
)
def results_command(db_path: Path, run_key: str, days: int, fmt: str) -> None:
    """What a committed run earned against each offer's control group: conversion, lift with
    its 95% interval, incremental orders and revenue, ROI.

    Example: campaign results --db demo/demo.db --run-key 2026-11-20 --days 14
    """
    from .measure.results import results_json, results_store, results_text

    with _library_errors(db_path):
        found = results_store(db_path, run_key, days)
    if fmt == "html":
        from .measure.results_html import results_html

        click.echo(results_html(found), nl=False)
        return
    click.echo(results_json(found) if fmt == "json" else results_text(found), nl=False)


# -- diff: the impact of a rule change -------------------------------------------------------------


@main.command("diff")
@RULES_ARG
@DB
@click.option(
    "--base",
    "base_ref",
    metavar="GIT_REF",
    help="Compare with the same paths at this Git commit, branch or tag.",
)
@click.option(
    "--base-rules",
    "base_dir",
    type=click.Path(path_type=Path),
    help="Compare with the rule files under this folder.",
)
@AS_OF
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "markdown", "json"]),
    default="text",
    show_default=True,
    help="text for a terminal, markdown for a pull-request comment, json (campaign-diff/1).",
)
@click.option(
    "--out",
    "out_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the diff to FILE instead of the terminal.",
)
@click.option(
    "--detailed-exitcode",
    is_flag=True,
    help="Exit 0 when no decision changed, 2 when decisions changed, 1 when rules are invalid.",
)
@QUIET
@CACHE
def diff_command(
    rules: tuple[Path, ...],
    db_path: Path,
    base_ref: str | None,
    base_dir: Path | None,
    as_of: str | None,
    fmt: str,
    out_path: Path | None,
    detailed_exitcode: bool,
    quiet: bool,
    cache_mb: int,
) -> None:
    """What a rule change does to real customers: plans the base rules and RULES (default:
    rules/) on the same store and as-of and compares the plans.

    \b
    Example:
      campaign diff --db shop.db rules/ --base origin/main --format markdown --out diff.md
    """
    from .diff_run import SidesInvalid, diff_rules
    from .report.diff import RENDERERS, summary_line
    from .report.export import replacing
    from .rules.check import DEFAULT_RULES

    if out_path is not None and not out_path.parent.is_dir():
        raise InputFailure(f"{out_path}: the folder {out_path.parent} does not exist")
    moment = _as_of(as_of)
    with _library_errors(db_path):
        try:
            found = diff_rules(
                db_path,
                rules or DEFAULT_RULES,
                moment,
                base_ref=base_ref,
                base_rules=base_dir,
                cache_mb=cache_mb,
                progress=_progress(quiet),
            )
        except SidesInvalid as exc:  # each invalid side's problems, named as that side
            _report_sides(exc)
    text = RENDERERS[fmt](found)
    if out_path is None:
        click.echo(text, nl=False)
    else:
        with replacing(out_path) as out:
            out.write(text)
        click.echo(f"{summary_line(found)}\ndiff written to {out_path}")
    sys.exit(2 if detailed_exitcode and found.decisions_changed else 0)


if TYPE_CHECKING:
    from .diff_run import SidesInvalid


def _report_sides(exc: SidesInvalid) -> NoReturn:
    """The problems of each side `diff` found invalid, under that side's name; exit 2 when a
    file could not be read, else 1."""
    from .report.render import TextReporter

    codes: set[str] = set()
    for side in exc.sides:
        result = side.checked
        sources = {doc.path: doc.text for doc in result.documents}
        click.echo(f"campaign: {side.label} are invalid:", err=True)
        click.echo(TextReporter().render(result.errors, sources, len(result.documents)), err=True)
        codes |= {p.code for p in result.errors}
    click.echo(f"campaign: error: {exc}", err=True)
    sys.exit(2 if codes & UNREADABLE else 1)


# -- rule tests -----------------------------------------------------------------------------------


def _percentage(ctx: click.Context, param: click.Parameter, value: str | None) -> float | None:
    if value is None:
        return None
    try:
        share = float(value.strip().rstrip("%"))
    except ValueError:
        share = -1.0
    if not 0 <= share <= 100:
        raise click.BadParameter(f"{value!r} is not a percentage from 0 to 100, like 80 or 80%")
    return share


@main.command("test")
@RULES_ARG
@click.option(
    "-k",
    "pattern",
    metavar="PATTERN",
    help="Only tests whose id contains PATTERN (or matches it, with * ? [ ]).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "github"]),
    default="text",
    show_default=True,
)
@click.option(
    "--junit",
    "junit_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write JUnit XML for CI (one testsuite per rule file).",
)
@click.option(
    "--coverage",
    "with_coverage",
    is_flag=True,
    help="Also report what the tests reach: segments, offers, channels, suppression reasons.",
)
@click.option(
    "--min-coverage",
    "min_coverage",
    metavar="PCT",
    callback=_percentage,
    help="Fail (exit 1) when coverage is below PCT percent; implies --coverage.",
)
def test_command(
    rules: tuple[Path, ...],
    pattern: str | None,
    fmt: str,
    junit_path: Path | None,
    with_coverage: bool,
    min_coverage: float | None,
) -> None:
    """Run the rules' tests (the `tests:` sections), each on a store of its own rows.

    \b
    Example:
      campaign test rules/ --coverage --min-coverage 80 --junit test-results.xml
    """
    from .report.render import REPORTERS
    from .ruletest import report as test_report
    from .ruletest import run_rule_files

    if junit_path is not None and not junit_path.resolve().parent.is_dir():
        raise InputFailure(f"{junit_path}: the folder {junit_path.parent} does not exist")
    measure = with_coverage or min_coverage is not None
    try:
        session = run_rule_files(rules, pattern=pattern, with_coverage=measure)
    except CampaignError as exc:
        fail(exc)
    if session.run is None:
        problems = session.check.problems
        sources = {doc.path: doc.text for doc in session.check.documents}
        click.echo(REPORTERS[fmt]().render(problems, sources, len(session.check.documents)))
        click.echo("campaign: error: the rules have errors; no test was run", err=True)
        sys.exit(exit_code(problems))
    run, cover = session.run, session.coverage
    if not run.results:
        where = f"matches -k {pattern!r}" if pattern else "is defined in these rule files"
        raise RulesFailure(f"no rule test {where}; add tests in a `tests:` section")
    click.echo(test_report.REPORTERS[fmt](run, cover))
    if junit_path is not None:
        from .report.export import replacing

        with replacing(junit_path) as out:
            out.write(test_report.junit(run))
    failed = not run.passed
    if min_coverage is not None and cover is not None and cover.percent < min_coverage:
        click.echo(
            f"campaign: error: coverage {cover.percent:.1f}% is below --min-coverage "
            f"{min_coverage:g}%",
            err=True,
        )
        failed = True
    sys.exit(1 if failed else 0)


# -- store formats: copy and load ----------------------------------------------------------------


def _duckdb_error() -> type[Exception]:
    """DuckDB's error class, imported only by the commands that may meet it."""
    import duckdb

    return duckdb.Error


@main.group("store")
def store_group() -> None:
    """Store files: copy a store into the other format (SQLite <-> DuckDB).

    \b
    Example:
      campaign store copy shop.db shop.duckdb
    """


@store_group.command("copy")
@click.argument("source", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("destination", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--replace", is_flag=True, help="Replace DESTINATION if it exists.")
@STORE_FORMAT
@QUIET
def store_copy_command(
    source: Path, destination: Path, replace: bool, store_format: str | None, quiet: bool
) -> None:
    """Copy every table of the store SOURCE into a new store DESTINATION.

    DESTINATION is DuckDB for a .duckdb name; otherwise it takes the other format than
    SOURCE (or --format). SOURCE is only read; DESTINATION appears only when complete.

    \b
    Examples:
      campaign store copy shop.db shop.duckdb
      campaign store copy shop.duckdb back.db --replace
    """
    from .storecopy import copy_store

    try:
        counts = copy_store(
            source, destination, fmt=store_format, replace=replace, progress=_progress(quiet)
        )
    except CampaignError as exc:
        fail(exc)
    except (OSError, sqlite3.Error, _duckdb_error()) as exc:
        raise InputFailure(f"{destination}: cannot write the copy: {exc}") from None
    click.echo(f"{source} copied to {destination}")
    click.echo(_counts_table(counts))


@main.command("load")
@click.option("--db", "db_path", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.argument("table")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--append", "mode", flag_value="append", help="Add the rows to those in TABLE.")
@click.option("--replace", "mode", flag_value="replace", help="Replace every row of TABLE.")
def load_command(db_path: Path, table: str, file: Path, mode: str | None) -> None:
    """Load a CSV, JSON Lines (.jsonl) or Parquet FILE into TABLE of the store.

    Columns and values are checked against TABLE first; a bad row is named by its line and
    column, and nothing is written unless the whole file is good. Without --append or
    --replace, TABLE must be empty.

    \b
    Examples:
      campaign load --db shop.duckdb customers customers.csv
      campaign load --db shop.db orders orders-2026-11.jsonl --append
      campaign load --db shop.duckdb contacts contacts.parquet --replace
    """
    from .tableload import load_file

    with _library_errors(db_path):
        try:
            n = load_file(db_path, table, file, "new" if mode is None else mode)  # type: ignore[arg-type]
        except _duckdb_error() as exc:
            raise InputFailure(f"{db_path}: the store could not be written: {exc}") from None
    click.echo(f"{n:,} row(s) loaded into {table} of {db_path}")


def _known_offer(rules: RuleSet, offer_id: str) -> None:
    import difflib

    if offer_id not in rules.offers:
        close = difflib.get_close_matches(offer_id, list(rules.offers), n=1)
        hint = f"; did you mean `{close[0]}`?" if close else ""
        raise InputFailure(f"--offer {offer_id}: no offer with that id in the rules{hint}")


# -- run history ----------------------------------------------------------------------------------


@main.command("runs")
@DB
@click.option("--show", "run_key", metavar="KEY", help="Show one run, with its counts per offer.")
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
def runs_command(db_path: Path, run_key: str | None, fmt: str) -> None:
    """The runs a store has committed: key, as-of, status, counts, rules digest, git commit.

    Example: campaign runs --db shop.db --show 2026-11-20 --format json
    """
    from . import runlog

    with _library_errors(db_path):
        if run_key is None:
            runs = runlog.list_runs(db_path)
            click.echo(runlog.runs_json(runs) if fmt == "json" else runlog.runs_text(db_path, runs))
            return
        record, offers = runlog.show_run(db_path, run_key)
    click.echo(
        runlog.run_json(record, offers) if fmt == "json" else runlog.run_text(record, offers)
    )


# -- examples in every command's --help -------------------------------------------------------

EXAMPLES: dict[str, list[str]] = {
    "validate": [
        "campaign validate rules/",
        "campaign validate rules/ --db shop.db --format github",
    ],
    "schema": ["campaign schema > schemas/rules.schema.json"],
    "init-store": ["campaign init-store shop.db"],
    "demo-data": ["campaign demo-data demo.db --customers 100000 --seed 1"],
    "summary": ["campaign summary --db shop.db"],
    "plan": [
        "campaign plan rules/ --db shop.db --as-of 2026-11-20T10:00:00+08:00",
        "campaign plan --db shop.db --json plan.json --quiet",
    ],
    "run": [
        "campaign run rules/ --db shop.db --run-key 2026-11-20 "
        "--as-of 2026-11-20T10:00:00+08:00 --export actions.csv",
    ],
    "metrics": ["campaign metrics --db shop.db --as-of 2026-11-20 --out metrics.csv"],
    "explain": ["campaign explain --db shop.db 42 --as-of 2026-11-20T10:00:00+08:00"],
    "results": ["campaign results --db shop.db --run-key 2026-11-20 --days 14"],
    "diff": ["campaign diff --db shop.db rules/ --base origin/main --format markdown"],
    "test": ["campaign test rules/", "campaign test rules/ --junit report.xml --coverage"],
}


def _with_examples() -> None:
    """Each command's --help ends with examples (a command may also write its own)."""
    for name, command in main.commands.items():
        lines = EXAMPLES.get(name)
        if lines and "Example" not in (command.help or "") + (command.epilog or ""):
            shown = "\n".join(f"  {line}" for line in lines)
            command.epilog = f"\b\nExamples:\n{shown}"


_with_examples()


def run() -> NoReturn:
    """The `campaign` program: `main`, then straight out of the process once its output is
    flushed. Every store, file and temporary folder is closed by then (each in a `with`), so
    tearing the interpreter down (freeing the rule set, the modules, DuckDB) would only cost
    time: about 50 ms, a tenth of an explanation. Output to a closed pipe (`| head`) ends the
    program quietly, with exit status 1.

    The cyclic garbage collector starts off: a command's start imports some 200 modules and
    makes no garbage cycles worth finding, and the collector's passes over the growing heap
    cost `explain --plan` (a process of a few tenths of a second) some 15 ms. Every other
    command turns it on before it does anything (`main`, and explain deciding the whole store)."""
    import os

    gc.disable()
    try:
        main()
        code: int = 0
    except SystemExit as done:
        if done.code is None or isinstance(done.code, int):
            code = done.code or 0
        else:  # sys.exit("message"): Python would print it
            print(done.code, file=sys.stderr)
            code = 1
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (BrokenPipeError, ValueError):  # a closed pipe, or a stream closed already
            code = code or 1
    os._exit(code)


if __name__ == "__main__":  # pragma: no cover
    run()
