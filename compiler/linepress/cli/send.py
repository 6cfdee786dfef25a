"""`linepress send` and `merge-reports`: the commands that reach people."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import click

from linepress.cli.options import (
    data_options,
    guard_paths,
    parse_delimiter,
    reading_options,
    refuse_overwriting_inputs,
    report_options,
    verbosity,
)
from linepress.errors import LinepressError
from linepress.operations.compile import (
    DataOptions,
    summary_line,
)
from linepress.operations.inputs import definition_inputs
from linepress.report import REPORTERS


@click.command("send")
@click.argument("definition", required=False, type=click.Path(dir_okay=False, path_type=Path))
@data_options
@click.option(
    "--payloads",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Send the bodies `compile` wrote (JSONL) instead of compiling a DEFINITION.",
)
@click.option(
    "--allow-braces",
    is_flag=True,
    help="--payloads: send bodies holding `{{`/`{%` (from the recipients' own data, which "
    "a payload file cannot tell from an unrendered template).",
)
@click.option(
    "--journal",
    envvar="LINEPRESS_JOURNAL",
    metavar="PATH|postgresql://…",
    help="The send ledger: a SQLite file (default: .linepress/NAME.db beside the definition, "
    "in a folder that git ignores), or a "
    "PostgreSQL database shared by any number of workers. [env: LINEPRESS_JOURNAL]",
)
@click.option(
    "--campaign",
    metavar="NAME",
    help="The campaign's name in a PostgreSQL journal (default: the definition's file name).",
)
@click.option(
    "--lease",
    type=click.FloatRange(min=1),
    default=30.0,
    show_default=True,
    help="PostgreSQL journal: seconds a worker's claims outlive its last heartbeat.",
)
@click.option(
    "--resend-sent",
    is_flag=True,
    help="Send this version to people an earlier version reached (after a changed "
    "definition or list: they get a second message); those who already received this "
    "exact message are not sent it again.",
)
@click.option("--new-run", is_flag=True, hidden=True)
@click.option(
    "--resend-unknown",
    is_flag=True,
    help="Resend messages whose delivery is unknown (may deliver twice).",
)
@click.option(
    "--move-campaign",
    is_flag=True,
    help="The base URL changed but it is the same endpoint (a new address): continue the "
    "journal's campaign there; those already reached stay skipped.",
)
@click.option(
    "--allow-duplicates",
    is_flag=True,
    help="Send one message per row even when rows repeat a recipient.",
)
@click.option(
    "--allow-empty",
    is_flag=True,
    help="Succeed when the list has no recipients (by default that fails the run).",
)
@click.option(
    "--keep-going",
    is_flag=True,
    help="Send the valid rows even if others are invalid (those fail).",
)
@click.option("--dry-run", is_flag=True, help="Do everything except the HTTP requests.")
@click.option(
    "--shard",
    metavar="K/N",
    help="Send only shard K of N (split by recipient; one journal per shard).",
)
@click.option(
    "--report",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Per-recipient report: .jsonl or .csv.",
)
@click.option(
    "--concurrency",
    type=click.IntRange(1, 1000),
    default=16,
    show_default=True,
    help="Requests in flight.",
)
@click.option(
    "--rate",
    type=click.FloatRange(min=0, min_open=True),
    help="Messages per second at most, evenly spaced (a ceiling: below it the pace "
    "adapts to the endpoint's 429s).",
)
@click.option(
    "--adapt/--no-adapt",
    default=True,
    show_default=True,
    help="Find the endpoint's rate limit from its 429s and pace just under it; "
    "--no-adapt sends at --rate (or as fast as --concurrency allows).",
)
@click.option(
    "--max-attempts",
    type=click.IntRange(1, 100),
    default=5,
    show_default=True,
    help="Attempts per message and run.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=30.0,
    show_default=True,
    help="Seconds for each whole request and answer; after that its delivery is unknown.",
)
@click.option(
    "--max-wait",
    type=click.FloatRange(min=0),
    default=60.0,
    show_default=True,
    help="The longest Retry-After to wait out; a longer one stops the run (the rest pending).",
)
@click.option(
    "--backoff-base",
    type=click.FloatRange(min=0),
    default=0.5,
    show_default=True,
    help="The first retry waits up to this many seconds, doubling each time.",
)
@click.option(
    "--backoff-cap",
    type=click.FloatRange(min=0),
    default=30.0,
    show_default=True,
    help="The longest wait between retries (a Retry-After answer decides its own).",
)
@click.option(
    "--base-url", help="Infobip base URL (default: $INFOBIP_BASE_URL); a bare host gets https://."
)
@click.option(
    "--api-key-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="File holding the API key (default: $INFOBIP_API_KEY).",
)
@click.option(
    "--basic-auth-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="File holding `username:password` (default: $INFOBIP_USERNAME / $INFOBIP_PASSWORD).",
)
@click.option(
    "--progress/--no-progress", default=True, show_default=True, help="Show progress on stderr."
)
@report_options
def send_command(
    definition: Path | None,
    data: str | None,
    data_format: str | None,
    delimiter: str | None,
    payloads: Path | None,
    allow_braces: bool,
    journal: str | None,
    campaign: str | None,
    lease: float,
    resend_sent: bool,
    new_run: bool,
    resend_unknown: bool,
    move_campaign: bool,
    allow_duplicates: bool,
    allow_empty: bool,
    keep_going: bool,
    dry_run: bool,
    shard: str | None,
    report: Path | None,
    concurrency: int,
    rate: float | None,
    adapt: bool,
    max_attempts: int,
    timeout: float,
    max_wait: float,
    backoff_base: float,
    backoff_cap: float,
    base_url: str | None,
    api_key_file: Path | None,
    basic_auth_file: Path | None,
    progress: bool,
    error_format: str,
    max_errors: int,
) -> None:
    """Compile and send a campaign to Infobip, resumably.

    Every body is checked before the first request; nothing is sent if any row
    is invalid (unless --keep-going). The journal is the campaign: re-running
    after a crash, Ctrl-C, 429 storm or outage finishes the job, and a person it
    sent a message to is never sent another by a later run, even after the
    definition or the list changed (unless --resend-sent). Rows repeating a
    recipient are skipped (unless --allow-duplicates).

    \b
    Examples:
      export INFOBIP_BASE_URL=xyz.api.infobip.com INFOBIP_API_KEY=...
      linepress send spring.yaml --data users.csv --rate 50 --report sent.csv
      linepress send --payloads build/spring.jsonl --shard 2/4
      linepress send spring.yaml --data users.csv --dry-run
    """
    from linepress.operations.send import SendOptions, Shard, default_journal_path, send
    from linepress.send.dispatch import DispatchSettings
    from linepress.send.dsn import is_postgres_url

    if new_run:
        raise click.UsageError(
            "--new-run is gone: a journal is one campaign. A changed definition or list "
            "continues it for those not yet sent; --resend-sent sends again to those already "
            "sent; --journal PATH starts a separate campaign"
        )
    if (definition is None) == (payloads is None):
        raise click.UsageError("give a DEFINITION or --payloads FILE (not both)")
    if payloads is not None and data is not None:
        raise click.UsageError("--data goes with a DEFINITION, not with --payloads")
    if allow_braces and payloads is None:
        raise click.UsageError(
            "--allow-braces goes with --payloads (a DEFINITION's data is sent as it is)"
        )
    try:
        parsed_shard = Shard.parse(shard) if shard else None
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--shard") from None
    journal_url = journal if journal and is_postgres_url(journal) else None
    journal_path = Path(journal) if journal and journal_url is None else None
    if campaign is not None and journal_url is None:
        raise click.BadParameter(
            "names a campaign in a PostgreSQL journal: give --journal postgresql://…",
            param_hint="--campaign",
        )
    if campaign is not None and not campaign.strip():
        raise click.BadParameter("must not be empty", param_hint="--campaign")
    guard_paths(str(report) if report else None, str(journal_path) if journal_path else None)
    options = SendOptions(
        definition=definition,
        payloads=payloads,
        allow_braces=allow_braces,
        data=DataOptions(data, data_format, parse_delimiter(delimiter), reading_options()),
        journal=journal_path,
        journal_url=journal_url,
        campaign=campaign,
        lease=lease,
        resend_sent=resend_sent,
        resend_unknown=resend_unknown,
        move_campaign=move_campaign,
        allow_empty=allow_empty,
        allow_duplicates=allow_duplicates,
        keep_going=keep_going,
        dry_run=dry_run,
        shard=parsed_shard,
        report=report,
        settings=DispatchSettings(
            concurrency=concurrency,
            rate=rate,
            adaptive=adapt,
            max_attempts=max_attempts,
            timeout=timeout,
            max_wait=max_wait,
            backoff_base=backoff_base,
            backoff_cap=backoff_cap,
        ),
        base_url=base_url,
        api_key_file=api_key_file,
        basic_auth_file=basic_auth_file,
        max_errors=max_errors,
    )
    refuse_overwriting_inputs(
        # the journal is written too: a report over it would destroy the campaign's record
        outputs=[
            report,
            journal_path or (None if journal_url else default_journal_path(options)),
        ],
        inputs=[
            definition,
            payloads,
            Path(data) if data and data != "-" else None,
            *definition_inputs(definition),
        ],
    )
    quiet = verbosity() < 0  # -q: say only what went wrong
    try:
        result = send(
            options,
            progress=sys.stderr if progress and not quiet else None,
            handle_signals=True,
            notify=lambda line: None if quiet else click.echo(line, err=True),
        )
    except LinepressError as exc:  # usage, or a journal that cannot be written
        for problem in exc.problems:
            click.echo(problem.format(), err=True)  # format() names linepress when it has no place
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:  # while planning: nothing was sent, the journal was rolled back
        click.echo("linepress send: interrupted while planning; nothing was sent", err=True)
        sys.exit(130)
    if result.empty:
        click.echo(
            "linepress send: the list has no recipients: nothing was sent "
            "(--allow-empty when that is expected)",
            err=True,
        )
        sys.exit(1)
    # Warnings (a delimiter read from the header) and skipped blank rows show too.
    noted = result.log.warnings or result.log.blank_rows
    if result.log.errors or (noted and not quiet) or result.summary is None:
        tail = "; nothing was sent" if result.summary is None else ""
        log = result.log
        if quiet:
            errors = {k: g for k, g in log.groups.items() if g.problem.severity == "error"}
            log = replace(log, groups=errors)
        REPORTERS[error_format](log, sys.stderr, summary_line(result.log, "send") + tail)
    if result.summary is not None and not (quiet and result.ok):
        click.echo(result.summary.line(), err=True)
    if result.interrupted:
        sys.exit(130)
    if not result.ok:
        sys.exit(1)


@click.command("merge-reports")
@click.argument(
    "reports", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option(
    "--out",
    "-o",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The merged report (.jsonl or .csv).",
)
def merge_reports_command(reports: tuple[Path, ...], out: Path) -> None:
    """Merge the reports of a sharded send into one, in row order.

    \b
    Example:
      linepress merge-reports report-1.jsonl report-2.jsonl report-3.jsonl -o report.jsonl
    """
    from linepress.send.report import merge_reports

    guard_paths(str(out))
    refuse_overwriting_inputs([out], list(reports))
    try:
        counts = merge_reports(list(reports), out)
    except LinepressError as exc:
        for problem in exc.problems:
            click.echo(problem.format(), err=True)  # format() names linepress when it has no place
        sys.exit(exc.exit_code)
    parts = ", ".join(f"{status} {count}" for status, count in counts.items() if count)
    settled = counts.get("sent", 0) + counts.get("skipped", 0) == sum(counts.values())
    if verbosity() < 0 and settled:  # -q: nothing went wrong, nothing to say
        return
    click.echo(
        f"linepress: merged {len(reports)} reports: {sum(counts.values())} recipients: {parts}",
        err=True,
    )
    if not settled:
        sys.exit(1)
