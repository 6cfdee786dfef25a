"""Planning a send: compile (or read) and check every body, and store each recipient.

Every body is checked before the first request, so an invalid row stops the
run with nothing sent (unless `keep_going`). The person is the unit of a
campaign: rows are keyed by `to` (by `to` and row with `allow_duplicates`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from linepress.author.placeholders import TEMPLATE_TEXT, leftovers_in_body, placeholder_problems
from linepress.definition import FieldPath
from linepress.errors import DefinitionError, LinepressError, Problem, describe, format_path
from linepress.operations.compile import key_form_warnings, note_reading
from linepress.operations.payload_lines import PayloadLines
from linepress.operations.send_options import SendOptions
from linepress.pipeline import Compiler, Result
from linepress.recipients.records import BadRecord, open_records
from linepress.report import ProblemLog
from linepress.send.journal import CampaignJournal, JournalWriteError, ListShape, PlanCounts
from linepress.validate.body import SchemaIssue
from linepress.validate.request_check import RequestChecker
from linepress.validate.values import KeyForms

#: (row, journal key, recipient, body, error) for each planned row.
Plan = Iterator[tuple[int, str, str | None, bytes | None, str | None]]


def plan_recipients(
    journal: CampaignJournal,
    options: SendOptions,
    log: ProblemLog,
    stdin: tuple[Path, str] | None,
) -> PlanCounts | None:
    """Store every recipient; None (and nothing stored) when the run must not start."""
    try:
        shape = ListShape()
        if options.shard is not None:
            shape.shard, shape.shards = options.shard.index, options.shard.count
        return journal.plan(
            _planned(options, log, stdin[0] if stdin else None, shape),
            resend_sent=options.resend_sent,
            shape=shape,
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


def _planned(
    options: SendOptions, log: ProblemLog, stdin: Path | None, shape: ListShape | None = None
) -> Plan:
    """Each row of this run's shard; `shape.last_row` follows the whole list's rows."""
    key_forms = KeyForms()  # `to`s of no known form: one warning, sending goes on
    compilers: list[Compiler] = []
    for result in _results(options, stdin, log, compilers):
        log.rows += 1
        if shape is not None:
            shape.last_row = max(shape.last_row, result.row or 1)
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
        yield from payload_results(options.payloads, allow_braces=options.allow_braces)
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


def payload_results(path: Path, *, allow_braces: bool = False) -> Iterator[Result]:
    """Bodies written by `compile`, checked again: a file can be edited in between.

    Each problem is located at the line and column of the offending value (its key,
    for a key that does not belong). Template text (`{{`, `{%`) is refused unless
    `allow_braces`: a payload file cannot tell a recipient's own `{{` from a template
    left unrendered; a starter's placeholder is refused either way."""
    checker = RequestChecker()
    with open_records(path, format="jsonl") as source, PayloadLines(path) as lines:
        for record in source:
            if isinstance(record, BadRecord):
                yield Result(record.number, record.location, None, None, [record.problem])
                continue
            body = dict(record.fields)
            found: list[tuple[FieldPath, str, str | None, str, bool]] = [
                (tuple(issue.path), issue.message, issue.found, issue.code, _at_key(issue))
                for issue in ([] if checker.accepts(body) else checker.full.issues(body))
            ]
            # What `send` from a definition refuses, a payload file must not carry either.
            for at, message, text in leftovers_in_body(body):
                if TEMPLATE_TEXT.fullmatch(text) or text in ("{{", "{%"):
                    if allow_braces:
                        continue
                    message = (
                        f"{message}; if it is the recipient's own text, send with --allow-braces"
                    )
                found.append((at, message, describe(text), "payload-leftover", False))
            problems = [
                Problem(
                    message,
                    lines.locate(record.location, at, key=key),
                    path=format_path(at),
                    found=shown,
                    code=code,
                ).at_row(record.number, record.location)
                for at, message, shown, code, key in found
            ]
            yield Result(record.number, record.location, body, None if problems else body, problems)


def _at_key(issue: SchemaIssue) -> bool:
    # An unknown key is shown at the key itself, as in a definition.
    return issue.keyword == "additionalProperties"
