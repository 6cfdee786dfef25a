"""The `send` operation: plan every recipient into the journal, then dispatch, then report.

Planning compiles (or reads) and checks every body before the first request, so
an invalid row stops the run with nothing sent (unless `keep_going`). The plan
is bound to a fingerprint of the definition, data and options; re-running the
same command resumes from the journal, and a different run is refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx

from linepress.author.placeholders import leftovers_in_body, placeholder_problems
from linepress.definition import load_definition
from linepress.errors import (
    DefinitionError,
    LinepressError,
    Location,
    Problem,
    UsageError,
    format_path,
)
from linepress.operations.compile import DataOptions, key_form_warnings, note_reading
from linepress.pipeline import Compiler, Result
from linepress.recipients.records import BadRecord, ReadOptions, open_records
from linepress.report import DEFAULT_LIMIT, ProblemLog
from linepress.resources import resource_dir
from linepress.send.dispatch import Dispatcher, DispatchSettings
from linepress.send.endpoint import resolve_endpoint
from linepress.send.journal import (
    CampaignJournal,
    JournalMismatch,
    JournalUnavailable,
    JournalWriteError,
    PlanCounts,
    open_journal,
)
from linepress.send.progress import Progress
from linepress.send.report import Summary, entry_row, write_report
from linepress.validate.request_check import RequestChecker
from linepress.validate.values import KeyForms

Plan = Iterator[tuple[int, str, str | None, bytes | None, str | None]]

#: Where journals live by default, beside the definition; linepress gives it a
#: `.gitignore`, since a journal holds every recipient's ID and message.
JOURNAL_FOLDER = ".linepress"


@dataclass(frozen=True, slots=True)
class Shard:
    """Shard `index` of `count` (1-based): recipients split by a hash of `to`."""

    index: int
    count: int

    @classmethod
    def parse(cls, text: str) -> Shard:
        index, sep, count = text.partition("/")
        if not (sep and index.isdigit() and count.isdigit()) or not 1 <= int(index) <= int(count):
            raise ValueError(f"expected K/N with 1 <= K <= N, like 2/4 (found {text!r})")
        return cls(int(index), int(count))

    def holds(self, recipient: str) -> bool:
        digest = hashlib.sha256(recipient.encode("utf-8", "surrogatepass")).digest()
        return int.from_bytes(digest[:8], "big") % self.count == self.index - 1

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


@dataclass(frozen=True, slots=True)
class SendOptions:
    definition: Path | None = None
    payloads: Path | None = None
    data: DataOptions = field(default_factory=DataOptions)
    journal: Path | None = None
    #: A shared journal on PostgreSQL (`postgresql://…`); `journal` is then unused.
    journal_url: str | None = None
    #: The campaign's name in a shared journal (default: the definition's file name).
    campaign: str | None = None
    #: Seconds a worker's claims outlive its last heartbeat (a shared journal).
    lease: float = 30.0
    #: Send again to people an earlier run of this journal already sent to.
    resend_sent: bool = False
    resend_unknown: bool = False
    #: A list with no recipients is a success (otherwise it fails the run).
    allow_empty: bool = False
    allow_duplicates: bool = False
    keep_going: bool = False
    dry_run: bool = False
    shard: Shard | None = None
    report: Path | None = None
    settings: DispatchSettings = field(default_factory=DispatchSettings)
    base_url: str | None = None
    api_key_file: Path | None = None
    basic_auth_file: Path | None = None
    max_errors: int = DEFAULT_LIMIT


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


def default_journal_path(options: SendOptions) -> Path:
    """`.linepress/spring.db` beside the definition (or payload file), one per shard.

    A journal at the place older versions used (`spring.linepress.db` beside the
    definition) is used where it is, so an upgrade does not restart a campaign.
    """
    source = options.definition or options.payloads
    assert source is not None
    stem = source.stem
    if options.shard is not None:
        stem += f".shard-{options.shard.index}-of-{options.shard.count}"
    legacy = source.with_name(f"{stem}.linepress.db")
    if legacy.exists():
        return legacy
    return source.parent / JOURNAL_FOLDER / f"{stem}.db"


def default_campaign(options: SendOptions) -> str:
    """A shared journal's campaign name when none is given: the definition's (or payloads') file stem."""
    source = options.definition or options.payloads
    assert source is not None
    name = source.stem
    if options.shard is not None:
        name += f".shard-{options.shard.index}-of-{options.shard.count}"
    return name


def _journal_folder(path: Path) -> None:
    """Create the default journal folder with a `.gitignore` that keeps it out of git."""
    if path.parent.name != JOURNAL_FOLDER or path.parent.is_dir():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    (path.parent / ".gitignore").write_text(
        "# linepress journals hold every recipient's ID and message: never commit them.\n*\n"
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
            stdin = stack.enter_context(_spooled_stdin())
        journal = stack.enter_context(_journal(options))
        where = Location(journal.location)
        try:
            claim = journal.claim(
                _fingerprint(options, stdin),
                _binding(options, endpoint.base_url),
                replan=options.resend_sent,
            )
        except JournalMismatch as exc:
            other = "--campaign NAME" if options.journal_url else "--journal PATH"
            raise UsageError(
                Problem(
                    f"this journal is the campaign for {exc.args[0]}, not "
                    f"{_binding(options, endpoint.base_url)}: pass {other} to keep "
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
                journal.describe(_description(options))
                plan = _plan(journal, options, log, stdin)
                if plan is None:
                    return SendResult(log, journal=_kept(options, journal))
                if plan.total == 0 and log.rows == 0 and not options.allow_empty:
                    return SendResult(log, journal=_kept(options, journal), plan=plan, empty=True)
                for line in _plan_notes(claim, plan, options):
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
            run = journal.begin_run(_description(options))
        except JournalUnavailable as exc:
            raise UsageError(Problem(str(exc), where, code="journal")) from None
        meter = Progress(total, progress, tty=progress.isatty()) if progress is not None else None
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
                write_report(
                    options.report,
                    (entry_row(e, dry_run=options.dry_run) for e in journal.entries()),
                    summary,
                    inputs=(options.definition, options.payloads, options.data.path),
                )
        except JournalUnavailable as exc:
            return _lost(options, journal, dispatcher, log, exc, elapsed, rate, interrupted, plan)
        return SendResult(log, summary, _kept(options, journal), interrupted, plan)


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


def _kept(options: SendOptions, journal: CampaignJournal) -> Path | None:
    """The journal's file (None for a dry run, or a journal in a database)."""
    return None if options.dry_run or options.journal_url else Path(journal.location)


def _plan_notes(claim: str, plan: PlanCounts, options: SendOptions) -> Iterator[str]:
    """What a person must know before a changed campaign goes on."""
    if options.resend_sent:
        yield (
            "linepress send: --resend-sent: people this journal already sent to are sent "
            "this version again"
        )
    elif claim == "changed" and (plan.already_sent or plan.earlier_unknown):
        text = (
            "linepress send: this journal's campaign goes on with a changed definition or list: "
            f"{plan.already_sent:,} already received an earlier version and are skipped; "
        )
        if plan.earlier_unknown:
            text += f"{plan.earlier_unknown:,} may have received one (unknown, not resent); "
        text += f"{plan.pending:,} not yet sent (--resend-sent to send everyone this version)"
        yield text
    if plan.duplicates and not options.allow_duplicates:
        yield (
            f"linepress send: {plan.duplicates:,} rows repeat the recipient of an earlier row "
            "and are skipped (--allow-duplicates to send each)"
        )


@contextlib.contextmanager
def _journal(options: SendOptions) -> Iterator[CampaignJournal]:
    if options.dry_run:
        # A rehearsal must not mark anyone as sent in the real journal.
        with tempfile.TemporaryDirectory(prefix="linepress-dry-run-") as folder:
            journal = open_journal(Path(folder) / "dry-run.db")
            try:
                yield journal
            finally:
                journal.close()
        return
    if options.journal_url is not None:
        # A campaign in a PostgreSQL journal; many workers may share it. Small claims: a
        # worker holds about what it sends soon, the rest stay in the pool for the others.
        journal = open_journal(
            options.journal_url,
            campaign=options.campaign or default_campaign(options),
            lease=options.lease,
            claim_size=max(8, options.settings.concurrency),
        )
        try:
            yield journal
        finally:
            journal.close()
        return
    path = options.journal or default_journal_path(options)
    if options.journal is None:
        _journal_folder(path)
    journal = open_journal(path)
    try:
        yield journal
    finally:
        journal.close()


@contextlib.contextmanager
def _spooled_stdin() -> Iterator[tuple[Path, str]]:
    with tempfile.TemporaryDirectory(prefix="linepress-stdin-") as folder:
        path = Path(folder) / "stdin"
        digest = hashlib.sha256()
        with path.open("wb") as copy:
            while chunk := sys.stdin.buffer.read(1 << 20):
                digest.update(chunk)
                copy.write(chunk)
        yield path, digest.hexdigest()


def _binding(options: SendOptions, base_url: str) -> str:
    """What a campaign never changes: where it sends, and which shard it is."""
    return f"base URL {base_url}" + (f", shard {options.shard}" if options.shard else "")


def _fingerprint(options: SendOptions, stdin: tuple[Path, str] | None) -> str:
    """What makes a plan this plan: the definition and its imports (or the payloads), the data, the options."""
    digest = hashlib.sha256(b"linepress send v3\0")
    for part in (options.definition, options.payloads):
        digest.update(b"\0source\0")
        if part is not None:
            _hash_file(digest, part)
    for imported in _imported_files(options.definition):
        digest.update(b"\0import\0")
        _hash_file(digest, imported)
    data = options.data.path
    digest.update(b"\0data\0")
    if stdin is not None:
        digest.update(stdin[1].encode())
    elif data is not None:
        _hash_file(digest, Path(data))
    digest.update(f"\0{options.data.format}\0{options.data.delimiter}\0{options.shard}\0".encode())
    if options.data.reading != ReadOptions():  # only then: older journals keep their digest
        digest.update(f"{options.data.reading}\0".encode())
    digest.update(f"{options.allow_duplicates}\0{options.keep_going}".encode())
    return digest.hexdigest()


def _imported_files(definition: Path | None) -> list[Path]:
    """The macro files a definition imports, where they can be found (best effort)."""
    if definition is None:
        return []
    try:
        imports = load_definition(definition).imports
    except LinepressError:
        return []  # planning reports it
    found = []
    for target in imports.values():
        for folder in (definition.parent, resource_dir("templates")):
            if (folder / target).is_file():
                found.append(folder / target)
                break
    return found


def _hash_file(digest: hashlib._Hash, path: Path) -> None:
    try:
        with path.open("rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
    except OSError:
        digest.update(b"<unreadable>")  # the planning step reports it properly


def _description(options: SendOptions) -> str:
    source = (
        f"definition {options.definition}" if options.definition else f"payloads {options.payloads}"
    )
    data = f", data {options.data.path}" if options.data.path else ""
    shard = f", shard {options.shard}" if options.shard else ""
    return source + data + shard


def _plan(
    journal: CampaignJournal,
    options: SendOptions,
    log: ProblemLog,
    stdin: tuple[Path, str] | None,
) -> PlanCounts | None:
    """Store every recipient; None (and nothing stored) when the run must not start."""
    try:
        return journal.plan(
            _planned(options, log, stdin[0] if stdin else None), resend_sent=options.resend_sent
        )
    except _Abort:
        return None
    except LinepressError as exc:
        if isinstance(exc, JournalWriteError):
            raise
        log.add(exc.problems)
        return None


class _Abort(Exception):
    """Planning found invalid rows and --keep-going was not given."""


def _planned(options: SendOptions, log: ProblemLog, stdin: Path | None) -> Plan:
    key_forms = KeyForms()  # `to`s of no known form: one warning, sending goes on
    compilers: list[Compiler] = []
    for result in _results(options, stdin, log, compilers):
        log.rows += 1
        if result.ok:
            assert result.body is not None
            key_forms.note(result.body.get("to"), result.row, result.data_location)
            recipient = str(result.body.get("to"))
            if options.shard is not None and not options.shard.holds(recipient):
                continue
            # The person is the unit of a campaign: one message per `to`.
            key = f"{recipient}#{result.row}" if options.allow_duplicates else recipient
            yield result.row or 1, key, recipient, result.json(), None
            continue
        fields = result.fields or {}
        invalid_to = str(fields["to"]) if fields.get("to") not in (None, "") else None
        mine = options.shard is None or options.shard.holds(invalid_to or f"row {result.row}")
        if mine or not options.keep_going:
            # Without --keep-going, an invalid row in any shard stops every shard:
            # the campaign goes out whole or not at all.
            log.failed_rows += 1
            log.add(result.problems)
        if mine:
            error = "; ".join(p.format() for p in result.problems)[:2000]
            yield result.row or 1, f"invalid#{result.row}", invalid_to, None, error
    log.add(key_form_warnings(compilers[0] if compilers else None, key_forms))
    if not log.ok and not options.keep_going:
        raise _Abort


def _results(
    options: SendOptions,
    stdin: Path | None,
    log: ProblemLog | None = None,
    compilers: list[Compiler] | None = None,
) -> Iterator[Result]:
    """Each recipient's result; the definition's compiler is appended to `compilers`."""
    if options.payloads is not None:
        yield from _payload_results(options.payloads)
        return
    assert options.definition is not None
    compiler = Compiler(options.definition)
    if compilers is not None:
        compilers.append(compiler)
    # A starter's placeholder left in would be sent as the sender key or to customers.
    placeholders = placeholder_problems(compiler.definition, "error")
    if placeholders:
        raise DefinitionError(placeholders)
    if options.data.path is None:
        yield compiler.compile()
        return
    with contextlib.ExitStack() as stack:
        stream = stack.enter_context(stdin.open("rb")) if stdin is not None else None
        source = stack.enter_context(options.data.open(stdin=stream))
        yield from compiler.compile_records(source)
        if log is not None:
            note_reading(log, source)


def _payload_results(path: Path) -> Iterator[Result]:
    """Bodies written by `compile`, checked again: a file can be edited in between."""
    checker = RequestChecker()
    with open_records(path, format="jsonl") as source:
        for record in source:
            if isinstance(record, BadRecord):
                yield Result(record.number, record.location, None, None, [record.problem])
                continue
            body = dict(record.fields)
            problems = [
                Problem(
                    issue.message,
                    record.location,
                    path=format_path(issue.path),
                    found=issue.found,
                    code=issue.code,
                ).at_row(record.number, record.location)
                for issue in ([] if checker.accepts(body) else checker.full.issues(body))
            ]
            # What `send` from a definition refuses, a payload file must not carry either.
            problems += [
                Problem(
                    message, record.location, path=format_path(at), code="payload-leftover"
                ).at_row(record.number, record.location)
                for at, message, _ in leftovers_in_body(body)
            ]
            yield Result(record.number, record.location, body, None if problems else body, problems)


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
