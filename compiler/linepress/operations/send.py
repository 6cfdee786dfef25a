"""The `send` operation: plan every recipient into the journal, then dispatch, then report.

Planning (`planning`) compiles (or reads) and checks every body before the
first request, so an invalid row stops the run with nothing sent (unless
`keep_going`). The plan is bound to a fingerprint of the definition, data and
options (`campaign`); re-running the same command resumes from the journal.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO

import httpx

from linepress.errors import Location, Problem, UsageError
from linepress.operations.campaign import (
    binding,
    default_campaign,
    default_journal_path,
    description,
    fingerprint,
    open_campaign_journal,
    plan_notes,
    rebind_campaign,
    spooled_stdin,
)
from linepress.operations.inputs import definition_inputs
from linepress.operations.planning import plan_recipients
from linepress.operations.send_options import JOURNAL_FOLDER, SendOptions, Shard
from linepress.output import OutputError, refuse_inputs
from linepress.report import ProblemLog
from linepress.send.dispatch import Dispatcher
from linepress.send.endpoint import resolve_endpoint
from linepress.send.journal import (
    CampaignJournal,
    JournalMismatch,
    JournalUnavailable,
    PlanCounts,
)
from linepress.send.progress import Progress
from linepress.send.report import Summary, entry_row, write_report

# The options and journal paths are part of this module's interface, as before the split.
__all__ = [
    "JOURNAL_FOLDER",
    "SendOptions",
    "SendResult",
    "Shard",
    "default_campaign",
    "default_journal_path",
    "send",
]


@dataclass(slots=True)
class SendResult:
    """What happened: planning problems, the summary (None when nothing was sent)."""

    log: ProblemLog
    summary: Summary | None = None
    journal: Path | None = None
    interrupted: bool = False
    #: What planning found (None when the plan was resumed as it was).
    plan: PlanCounts | None = None
    #: The list held no recipients and --allow-empty was not given.
    empty: bool = False
    #: A shared journal's database went away mid-run (the worker stopped safely).
    journal_lost: bool = False

    @property
    def ok(self) -> bool:
        return (
            self.log.ok
            and self.summary is not None
            and self.summary.ok
            and not self.interrupted
            and not self.empty
        )


def send(
    options: SendOptions,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    environ: dict[str, str] | None = None,
    progress: IO[str] | None = None,
    handle_signals: bool = False,
    notify: Callable[[str], None] | None = None,
) -> SendResult:
    """Plan, send and report. Raises `UsageError` for configuration mistakes.

    `notify` receives lines a person should read before sending starts (a
    campaign continued with a changed definition, say).
    """
    if (options.definition is None) == (options.payloads is None):
        raise UsageError(Problem("give a DEFINITION or --payloads FILE, not both", code="usage"))
    endpoint = resolve_endpoint(
        base_url=options.base_url,
        api_key_file=options.api_key_file,
        basic_auth_file=options.basic_auth_file,
        environ=environ,
        required=not options.dry_run,
    )
    say = notify or (lambda line: None)
    log = ProblemLog(limit=options.max_errors)
    with contextlib.ExitStack() as stack:
        stdin = None
        if options.data.path is not None and str(options.data.path) == "-":
            # Spooled to disk first, so the data is part of the fingerprint like a file's.
            stdin = stack.enter_context(spooled_stdin())
        journal = stack.enter_context(open_campaign_journal(options))
        where = Location(journal.location)
        if options.report is not None:  # before anything is sent: never write over the journal
            refuse_inputs(options.report, _journal_files(journal))
        bound = binding(options, endpoint.base_url)
        if options.dry_run and options.base_url is None and not endpoint_configured(environ):
            # A rehearsal without a base URL rehearses the campaign's own endpoint.
            bound = journal.meta("binding") or bound
        try:
            rebind_campaign(journal, bound, options, say)
            claim = journal.claim(fingerprint(options, stdin), bound, replan=options.resend_sent)
        except JournalMismatch as exc:
            other = "--campaign NAME" if options.journal_url else "--journal PATH"
            raise UsageError(
                Problem(
                    f"this journal is the campaign for {exc.args[0]}, not "
                    f"{bound}: pass {other} to keep "
                    "a separate campaign",
                    where,
                    code="journal",
                )
            ) from None
        except JournalUnavailable as exc:
            raise UsageError(Problem(str(exc), where, code="journal")) from None
        plan: PlanCounts | None = None
        try:
            if claim != "resume":
                journal.describe(description(options))
                plan = plan_recipients(journal, options, log, stdin)
                if plan is None:
                    return SendResult(log, journal=_kept(options, journal))
                if plan.total == 0 and log.rows == 0 and not options.allow_empty:
                    return SendResult(log, journal=_kept(options, journal), plan=plan, empty=True)
                for line in plan_notes(claim, plan, options):
                    say(line)
            journal.recover()
        except JournalUnavailable as exc:
            raise UsageError(Problem(str(exc), where, code="journal")) from None
        if options.dry_run:
            transport = _DryRun()
        dispatcher = Dispatcher(
            journal,
            endpoint,
            options.settings,
            resend_unknown=options.resend_unknown,
            transport=transport,
        )
        try:
            total = journal.sendable(resend_unknown=options.resend_unknown)
            run = journal.begin_run(description(options))
        except JournalUnavailable as exc:
            raise UsageError(Problem(str(exc), where, code="journal")) from None
        meter = (
            Progress(
                total,
                progress,
                tty=progress.isatty(),
                # A shared journal: the campaign's progress, this worker's sends apart.
                campaign_left=lambda: journal.campaign_left,
                dry_run=options.dry_run,
            )
            if progress is not None
            else None
        )
        started = time.monotonic()
        interrupted = _run(dispatcher, meter, handle_signals, say)
        elapsed = time.monotonic() - started
        if meter is not None:
            meter.close()
        rate = dispatcher.tally.done / elapsed if elapsed > 0 else 0.0
        if dispatcher.journal_failure is not None:
            raise dispatcher.journal_failure  # what was recorded before stays
        try:
            if dispatcher.journal_error is not None:
                raise dispatcher.journal_error
            journal.recover()  # requests cut off by a second Ctrl-C may have arrived
            journal.end_run(run, dict(dispatcher.tally.by_status), dispatcher.stop_reason)
            summary = Summary(
                journal.counts(),
                elapsed,
                rate,
                dry_run=options.dry_run,
                stopped=dispatcher.stop_reason,
                run_counts=dict(dispatcher.tally.by_status),
                shard=str(options.shard) if options.shard else None,
                journal=None if options.dry_run else journal.location,
                throttled=dispatcher.tally.throttled,
            )
            if options.report is not None:
                _report(options, journal, summary, log)
        except JournalUnavailable as exc:
            return _lost(options, journal, dispatcher, log, exc, elapsed, rate, interrupted, plan)
        return SendResult(log, summary, _kept(options, journal), interrupted, plan)


def _report(
    options: SendOptions, journal: CampaignJournal, summary: Summary, log: ProblemLog
) -> None:
    """Write the report; one that cannot be written (a full disk) is an error in `log`."""
    assert options.report is not None
    try:
        write_report(
            options.report,
            (entry_row(e, dry_run=options.dry_run) for e in journal.entries()),
            summary,
            inputs=(
                options.definition,
                options.payloads,
                options.data.path,
                *definition_inputs(options.definition),
                *_journal_files(journal),
            ),
        )
    except OutputError as exc:
        again = (
            ""
            if options.dry_run
            else (
                f"; the journal keeps every result: `linepress journal report {journal.location} "
                f"-o {options.report}` writes it again"
            )
        )
        log.add(replace(p, message=p.message + again) for p in exc.problems)


def _lost(
    options: SendOptions,
    journal: CampaignJournal,
    dispatcher: Dispatcher,
    log: ProblemLog,
    error: JournalUnavailable,
    elapsed: float,
    rate: float,
    interrupted: bool,
    plan: PlanCounts | None,
) -> SendResult:
    """A shared journal went away mid-run: this worker's own tally is all it can say.

    Its in-flight rows stay `inflight` in the journal and become `unknown` when its
    lease runs out; the rest are sent by any worker running the same command.
    """
    log.add(
        [
            Problem(
                f"{error}; this worker stopped: messages it had in flight become `unknown` "
                "(not resent without --resend-unknown), the rest are sent when a worker "
                "runs the same command again",
                Location(journal.location),
                code="journal",
            )
        ]
    )
    summary = Summary(
        dict(dispatcher.tally.by_status),
        elapsed,
        rate,
        dry_run=options.dry_run,
        stopped=dispatcher.stop_reason or f"the journal is unavailable: {error}",
        run_counts=dict(dispatcher.tally.by_status),
        shard=str(options.shard) if options.shard else None,
        journal=journal.location,
    )
    return SendResult(log, summary, None, interrupted, plan, journal_lost=True)


def endpoint_configured(environ: dict[str, str] | None) -> bool:
    """True when the environment names a base URL (INFOBIP_BASE_URL)."""
    return bool((os.environ if environ is None else environ).get("INFOBIP_BASE_URL"))


def _kept(options: SendOptions, journal: CampaignJournal) -> Path | None:
    """The journal's file (None for a dry run, or a journal in a database)."""
    return None if options.dry_run or options.journal_url else Path(journal.location)


def _run(
    dispatcher: Dispatcher,
    meter: Progress | None,
    handle_signals: bool,
    say: Callable[[str], None],
) -> bool:
    """Run the dispatcher; True when a signal stopped it.

    The first signal stops new work at once and says how many requests are
    still out; a second one abandons them (they become `unknown`).
    """
    interrupted = False

    async def main() -> None:
        nonlocal interrupted
        task = asyncio.current_task()
        loop = asyncio.get_running_loop()

        def on_signal(name: str) -> None:
            nonlocal interrupted
            if interrupted and task is not None:
                task.cancel()  # a second signal: stop waiting for answers
                return
            interrupted = True
            dispatcher.stop(f"interrupted by {name}")
            waiting = dispatcher.in_flight
            if meter is not None:
                meter.close()
            say(
                f"linepress send: stopping: waiting for {waiting} request"
                f"{'' if waiting == 1 else 's'} in flight (press Ctrl-C again to abandon "
                "them; they will be marked unknown)"
                if waiting
                else "linepress send: stopping: no request in flight"
            )

        if handle_signals:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, on_signal, sig.name)
        try:
            await dispatcher.run(meter)
        finally:
            if handle_signals:
                for sig in (signal.SIGINT, signal.SIGTERM):
                    loop.remove_signal_handler(sig)

    with contextlib.suppress(asyncio.CancelledError):
        asyncio.run(main())
    return interrupted


class _DryRun(httpx.AsyncBaseTransport):
    """Answers every request as Infobip would accept it, without any network."""

    def __init__(self) -> None:
        self._count = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self._count += 1
        return httpx.Response(200, json={"messageId": f"dry-run-{self._count}"}, request=request)


def _journal_files(journal: CampaignJournal) -> list[str]:
    """The files a journal lives in (SQLite's write-ahead log and index beside it); a
    PostgreSQL journal's location is no file, and matches none."""
    return [journal.location + suffix for suffix in ("", "-wal", "-shm")]
