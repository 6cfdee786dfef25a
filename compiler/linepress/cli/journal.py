"""`linepress journal status|report|settle`: look into a campaign journal, settle `unknown` rows."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

import click

from linepress.cli.options import guard_paths, refuse_overwriting_inputs
from linepress.errors import LinepressError


def _journal(command: Callable[..., None]) -> Callable[..., None]:
    """The JOURNAL argument (a SQLite file or a `postgresql://…` URL) and `--campaign`."""
    command = click.option(
        "--campaign",
        metavar="NAME",
        help="The campaign, in a PostgreSQL journal (default: as `send` derives it, "
        "which needs the definition: give it).",
    )(command)
    return click.argument("journal", metavar="JOURNAL")(command)


def _location(journal: str, campaign: str | None) -> tuple[str | Path, str | None]:
    """A URL stays text (a Path would fold its `//`); `--campaign` goes with a URL only."""
    from linepress.send.dsn import is_postgres_url

    if is_postgres_url(journal):
        if not campaign:
            raise click.BadParameter(
                "a PostgreSQL journal needs --campaign NAME", param_hint="--campaign"
            )
        return journal, campaign
    if campaign is not None:
        raise click.BadParameter(
            "names a campaign in a PostgreSQL journal (JOURNAL is a file)", param_hint="--campaign"
        )
    return Path(journal), None


def _fail(exc: LinepressError) -> None:
    for problem in exc.problems:
        click.echo(problem.format(), err=True)  # format() names linepress when it has no place
    sys.exit(exc.exit_code)


@click.group("journal")
def journal_group() -> None:
    """Look into a send journal (one campaign) and settle messages whose delivery is unknown.

    \b
    Examples:
      linepress journal status .linepress/spring.db
      linepress journal report .linepress/spring.db -o report.csv
      linepress journal settle .linepress/spring.db --as sent --rows 17,212
    """


@journal_group.command("status")
@_journal
def status_command(journal: str, campaign: str | None) -> None:
    """Counts by status, the runs, and the rows whose delivery is unknown."""
    from linepress.operations.journal import UNKNOWN_SHOWN, journal_status

    try:
        found = journal_status(*_location(journal, campaign))
    except LinepressError as exc:
        _fail(exc)
        return
    click.echo(f"journal {found.location}")
    if found.description:
        click.echo(f"  plan: {found.description}" + (f"; {found.binding}" if found.binding else ""))
    total = sum(found.counts.values())
    parts = ", ".join(f"{status} {count:,}" for status, count in found.counts.items() if count)
    click.echo(f"  {total:,} recipients: {parts or 'none'}")
    for run in found.runs:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(run.started_at))
        did = ", ".join(f"{s} {c:,}" for s, c in run.counts.items() if c) or "nothing sent"
        if run.finished_at is None:
            did = (
                f"sending now (a worker on {run.sending_on})"
                if run.sending_on
                else "did not finish (killed?)"
            )
        line = f"  run {run.number} at {when}: {did}"
        if run.stopped:
            line += f"; stopped: {run.stopped}"
        click.echo(line)
    unknown = found.counts.get("unknown", 0)
    if unknown:
        click.echo(f"  unknown (may have been delivered): {unknown:,}")
        for entry in found.unknown:
            click.echo(f"    row {entry.row}: to {entry.recipient}: {entry.error or ''}".rstrip())
        if unknown > UNKNOWN_SHOWN:
            click.echo(f"    … and {unknown - UNKNOWN_SHOWN:,} more (`linepress journal report`)")
        click.echo(
            "  Check Infobip's delivery reports, then: linepress journal settle "
            f"{found.location} --as sent|failed [--rows N,M]; or send them again with "
            "`linepress send … --resend-unknown` (a person may get two)."
        )
    if found.counts.get("inflight", 0):
        click.echo(
            "  inflight: a run is sending them, or was killed while it did "
            "(the next run marks them unknown)"
        )


@journal_group.command("report")
@_journal
@click.option(
    "--out",
    "-o",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The report to write (.csv or .jsonl).",
)
def report_command(journal: str, campaign: str | None, out: Path) -> None:
    """Write the campaign's per-recipient report from the journal, at any time."""
    from linepress.operations.journal import journal_report

    guard_paths(str(out))
    location = _location(journal, campaign)
    if isinstance(location[0], Path):
        refuse_overwriting_inputs([out], [location[0]])
    try:
        counts = journal_report(*location, out=out)
    except LinepressError as exc:
        _fail(exc)
        return
    click.echo(f"linepress: wrote {out}: {sum(counts.values()):,} recipients", err=True)


@journal_group.command("settle")
@_journal
@click.option(
    "--as",
    "status",
    type=click.Choice(["sent", "failed"]),
    required=True,
    help="What Infobip's delivery reports say happened.",
)
@click.option("--rows", metavar="1,7,20-25", help="These rows (as in the report).")
@click.option("--all-unknown", is_flag=True, help="Every row whose delivery is unknown.")
def settle_command(
    journal: str, campaign: str | None, status: str, rows: str | None, all_unknown: bool
) -> None:
    """Record what became of messages whose delivery is unknown.

    After checking Infobip's delivery reports: `--as sent` counts them as
    delivered (never sent again); `--as failed` records that they were not
    (not sent again by a re-run either: to send them instead, run
    `linepress send … --resend-unknown`).
    """
    from linepress.author.select import parse_rows
    from linepress.operations.journal import journal_settle

    if (rows is None) == (not all_unknown):
        raise click.UsageError("give --rows N,M or --all-unknown")
    try:
        chosen = parse_rows(rows) if rows else None
    except LinepressError as exc:
        raise click.BadParameter(
            "; ".join(p.message for p in exc.problems), param_hint="--rows"
        ) from None
    try:
        location, name = _location(journal, campaign)
        settled = journal_settle(location, chosen, status, campaign=name)  # type: ignore[arg-type]
    except LinepressError as exc:
        _fail(exc)
        return
    click.echo(f"linepress: marked {len(settled.rows):,} rows {status}", err=True)
    for row, found in settled.refused:
        click.echo(
            f"linepress: {journal}: row {row}: left as it is ({found}, not unknown)", err=True
        )
    if settled.refused:
        sys.exit(1)
