"""The `compile` and `check` operations: files in, files and a problem log out.

These are what the CLI calls, and what a program calls to do the same; they never
print and never exit. Each returns a `ProblemLog`; the caller decides how to show it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO

from linepress.errors import LinepressError, Location, Problem, UsageError
from linepress.operations.duplicates import RepeatedRecipients
from linepress.operations.inputs import definition_templates, template_files
from linepress.output import AtomicOutput, BodyWriter, OutputError, OutputFormat, reject_line
from linepress.pipeline import Compiler, NoteRecipient, Result, open_data
from linepress.recipients.records import ReadOptions, RecordSource
from linepress.recipients.source import BadRecord, Record
from linepress.render.templating import has_markers
from linepress.report import DEFAULT_LIMIT, ProblemLog
from linepress.validate.values import KeyForms


@dataclass(frozen=True, slots=True)
class DataOptions:
    """Where the recipients come from."""

    path: str | Path | None = None
    format: str | None = None
    delimiter: str | None = None
    #: Encoding, worksheet, record size cap.
    reading: ReadOptions = field(default_factory=ReadOptions)

    def open(self, *, stdin: IO[bytes] | None = None) -> RecordSource:
        """The records (`path` must be set); see `linepress.pipeline.open_data`."""
        assert self.path is not None
        return open_data(self.path, self.format, self.delimiter, stdin=stdin, reading=self.reading)


@dataclass(frozen=True, slots=True)
class CompileOptions:
    definition: str | Path
    data: DataOptions = DataOptions()
    out: str | Path | None = None
    format: OutputFormat = "jsonl"
    keep_going: bool = False
    rejects: str | Path | None = None
    max_errors: int = DEFAULT_LIMIT
    #: Lint too, and treat its warnings as errors.
    strict: bool = False
    #: Keep the proven schema verdict for the next run (`Compiler(remember=...)`).
    remember: bool = False
    #: Only these data rows (numbered from 1, as in messages); None: every row.
    rows: Sequence[int] | None = None
    #: Rows repeating an earlier row's `to` are fine (no warning).
    allow_duplicates: bool = False


class LintRun:
    """The linter over one run, with `strict` turning its warnings into errors.

    Per-row `cut-text` warnings are left to the end-of-run summary (one line per
    template instead of one per recipient).
    """

    def __init__(self, compiler: Compiler, source: RecordSource | None, *, strict: bool) -> None:
        from linepress.author.lint import Linter  # only runs that lint pay for loading it

        columns = source.columns if source is not None else None
        self._linter = Linter(
            compiler, columns, data_name=source.name if source is not None else None
        )
        self._strict = strict

    def static(self) -> list[Problem]:
        return self._as(self._linter.static())

    def row(self, result: Result) -> list[Problem]:
        return self._as([p for p in self._linter.row(result) if p.code != "lint-cut-text"])

    def finish(self) -> list[Problem]:
        return self._as(self._linter.finish())

    def _as(self, problems: list[Problem]) -> list[Problem]:
        return [replace(p, severity="error") for p in problems] if self._strict else problems


def compile_definition(options: CompileOptions) -> ProblemLog:
    """Write one body per recipient, in input order.

    Without `keep_going`, the output appears only if every recipient compiled.
    With it, the good bodies are written and the failed rows go to `rejects`.
    An output that cannot be written to the end (a full disk) is an error at its
    path, and no partial file is left.
    """
    log = ProblemLog(limit=options.max_errors)
    try:
        compiler = Compiler(options.definition, remember=options.remember)
    except LinepressError as exc:
        log.add(exc.problems)
        return log
    # Every file the definition reads, imported macro files and included templates too.
    env = compiler.renderer.env
    templates = template_files(env, definition_templates(compiler.definition))
    inputs = (options.definition, options.data.path, *templates)
    out = AtomicOutput(options.out, inputs=inputs)
    rejects = AtomicOutput(options.rejects, inputs=inputs) if options.rejects is not None else None
    writer = BodyWriter(out, options.format)
    outputs = [out] if rejects is None else [out, rejects]
    unreadable = False
    try:
        _compile_all(compiler, options, log, writer, rejects)
    except UsageError:  # `--rows` asked for rows the data does not have: exit 2, nothing written
        _abort(outputs)
        raise
    except LinepressError as exc:  # the data could not be read: nothing is written
        log.add(exc.problems)
        unreadable = True
    except OSError as exc:  # an output cannot take more (a full disk): say which
        broken = next((o for o in outputs if o.broken()), None)
        _abort(outputs)
        if broken is None:
            raise
        log.add(broken.failed(exc).problems)
        return log
    except BaseException:
        _abort(outputs)
        raise
    if log.ok or (options.keep_going and not unreadable):
        try:
            # A template included by a computed name is known only now it was read.
            for output in outputs:
                output.refuse(template_files(env, ()))
        except UsageError:
            _abort(outputs)
            raise
        try:
            try:
                writer.finish()
            except OSError as exc:
                raise out.failed(exc) from None
            for output in outputs:
                output.commit()
        except OutputError as exc:
            _abort(outputs)
            log.add(exc.problems)
    else:
        _abort(outputs)
    return log


def _abort(outputs: list[AtomicOutput]) -> None:
    for output in outputs:
        output.abort()


def _compile_all(
    compiler: Compiler,
    options: CompileOptions,
    log: ProblemLog,
    writer: BodyWriter,
    rejects: AtomicOutput | None,
) -> None:
    if options.data.path is None:
        lint = LintRun(compiler, None, strict=True) if options.strict else None
        _drain([compiler.compile()], log, writer, rejects, options.keep_going, lint)
        return
    with options.data.open() as source:
        repeats = _repeats(source, options.strict, options.allow_duplicates)
        try:
            _compile_rows(compiler, options, log, writer, rejects, source, repeats)
        finally:
            note_reading(log, source)
        # Only for data read to its end: an unreadable file has said so already.
        if repeats is not None:
            log.add(repeats.problems())
        if options.rows is None:
            log.add(_empty_list(log, source, options.strict))


def _compile_rows(
    compiler: Compiler,
    options: CompileOptions,
    log: ProblemLog,
    writer: BodyWriter,
    rejects: AtomicOutput | None,
    source: RecordSource,
    repeats: RepeatedRecipients | None,
) -> None:
    note = repeats.note if repeats is not None else None
    if options.rows is not None or options.strict:
        records: Iterable[Record | BadRecord] = source
        if options.rows is not None:
            # A few rows to look at (`compile --rows 7`): read up to the last one asked for.
            from linepress.author.select import select_rows

            picked = [s.record for s in select_rows(source, rows=options.rows)]
            records = (r for r in picked if r is not None)
        # --strict lints every result, so bodies go the way that keeps each one.
        lint = LintRun(compiler, source, strict=True) if options.strict else None
        _drain(
            compiler.compile_records(records),
            log,
            writer,
            rejects,
            options.keep_going,
            lint,
            note,
            compiler,
        )
        return
    run = compiler.write_bodies(source, writer.line_writer(), repeats)
    try:
        for failed in run:
            _failed(failed, failed.problems, log, rejects)
            # Without --keep-going one failure voids the output: stop paying to write.
            run.writing = options.keep_going
    finally:
        log.rows += run.rows  # also when the data turns unreadable part-way
    log.add(key_form_warnings(compiler, run.key_forms))


def _repeats(
    source: RecordSource, strict: bool, allow_duplicates: bool
) -> RepeatedRecipients | None:
    """What finds repeated recipients in `source` (None when they are allowed)."""
    if allow_duplicates:
        return None
    return RepeatedRecipients(source.name, severity="error" if strict else "warning")


def _empty_list(log: ProblemLog, source: RecordSource, strict: bool) -> list[Problem]:
    """A warning (an error when `strict`) for data that held no recipient at all."""
    if log.rows:
        return []
    blank = f" ({_plural(log.blank_rows, 'blank row')})" if log.blank_rows else ""
    return [
        Problem(
            f"the data holds no recipients{blank}: nothing would be sent "
            "(`send` fails on an empty list unless --allow-empty)",
            Location(source.name),
            severity="error" if strict else "warning",
            code="empty-list",
        )
    ]


def note_reading(log: ProblemLog, source: RecordSource) -> None:
    """Add what reading `source` noticed to `log`: announced choices, blank rows skipped."""
    log.add(source.notes)
    log.blank_rows += source.blank_rows


def _drain(
    results: Iterable[Result],
    log: ProblemLog,
    writer: BodyWriter,
    rejects: AtomicOutput | None,
    keep_going: bool,
    lint: LintRun | None = None,
    note: NoteRecipient | None = None,
    compiler: Compiler | None = None,
) -> None:
    if lint is not None:
        log.add(lint.static())
    key_forms = KeyForms()  # without the linter (not --strict), still a warning
    for result in results:
        log.rows += 1
        problems = result.problems
        if lint is not None:
            problems = problems + lint.row(result)
        if note is not None and result.ok:
            _note(note, result)
        if not problems:
            if lint is None:
                key_forms.note(result.body.get("to"), result.row, result.data_location)  # type: ignore[union-attr]
            # Without --keep-going one failure voids the output: stop paying to serialize.
            if keep_going or log.ok:
                writer.write_body(result.body)
            continue
        _failed(result, problems, log, rejects)
    if lint is not None:
        log.add(lint.finish())
    elif compiler is not None:  # with data only: a definition's own `to` is the author's
        log.add(key_form_warnings(compiler, key_forms))


def key_form_warnings(compiler: Compiler | None, key_forms: KeyForms) -> list[Problem]:
    """The warning for `to`s of no known form from the data, at the definition's `to`
    when it has one (a `to` written out in the definition is the author's own)."""
    leaf = None
    if compiler is not None:  # None: bodies from a file (`send --payloads`)
        written = compiler.definition.body.get("to")
        if isinstance(written, str) and not has_markers(written):
            return []
        leaf = compiler.definition.values.get(("to",))
    problem = key_forms.problem(leaf.location if leaf is not None else None)
    return [problem] if problem is not None else []


def _note(note: NoteRecipient, result: Result) -> None:
    assert result.body is not None
    where = result.data_location
    note(result.row or 1, where.line if where else None, result.body.get("to"))


def _failed(
    result: Result, problems: list[Problem], log: ProblemLog, rejects: AtomicOutput | None
) -> None:
    log.failed_rows += 1
    log.add(problems)
    if rejects is not None:
        rejects.write(reject_line(result.row, result.fields, problems))


def check_definitions(
    definitions: Sequence[str | Path],
    data: DataOptions = DataOptions(),
    max_errors: int = DEFAULT_LIMIT,
    *,
    strict: bool = False,
    remember: bool = False,
    allow_duplicates: bool = False,
) -> ProblemLog:
    """Validate and lint definitions without writing anything.

    Without data: everything that can be known statically. With data: every row
    too. Lint findings are warnings, or errors when `strict`. Several definitions
    over one data file share its columns: a column is unused only when no
    definition reads it, and the warning names them all. `log.recipients` is the
    number of data rows (each definition reads the same ones). Rows repeating an
    earlier row's `to` are warnings (errors when `strict`) unless `allow_duplicates`;
    so is data without any recipient.
    """
    log = ProblemLog(limit=max_errors)
    unused = _UnusedColumns()
    read: RecordSource | None = None  # the data, once a definition read all of it
    for definition in definitions:
        try:
            compiler = Compiler(definition, remember=remember)
            if data.path is None:
                log.add(LintRun(compiler, None, strict=strict).static())
                continue
            with data.open() as source:
                lint = LintRun(compiler, source, strict=strict)
                log.add(unused.hold(compiler.name, lint.static(), several=len(definitions) > 1))
                # Each definition may say `to` its own way: each is checked for repeats.
                repeats = _repeats(source, strict, allow_duplicates)
                rows = 0
                for result in compiler.compile_records(source):
                    rows += 1
                    problems = result.problems + lint.row(result)
                    if not result.ok or any(p.severity == "error" for p in problems):
                        log.failed_rows += 1
                    elif repeats is not None:
                        _note(repeats.note, result)
                    log.add(problems)
                log.rows += rows
                log.recipients = max(log.recipients, rows)
                log.add(lint.finish())
                note_reading(log, source)
                if repeats is not None:
                    log.add(repeats.problems())
                read = source
        except LinepressError as exc:
            log.add(exc.problems)
    log.add(unused.by_all())
    if read is not None and not log.recipients:
        log.add(_empty_list(log, read, strict))
    return log


_UNUSED = re.compile(r"^column \d+ `(?P<column>.*?)` is not used by any template")


class _UnusedColumns:
    """Unused-column warnings of several definitions over one data file, held until
    every definition has been read: a column is unused only if none reads it."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        #: Column -> its warning (from the first definition) and the definitions not using it.
        self.columns: dict[str, tuple[Problem, list[str]]] = {}

    def hold(self, name: str, problems: list[Problem], *, several: bool) -> list[Problem]:
        """`problems` without the unused-column ones (when `several`), which are held."""
        if not several:
            return problems
        self.seen.append(name)
        kept = []
        for problem in problems:
            match = (
                _UNUSED.match(problem.message) if problem.code.endswith("unused-column") else None
            )
            if match is None:
                kept.append(problem)
                continue
            _, names = self.columns.setdefault(match["column"], (problem, []))
            names.append(name)
        return kept

    def by_all(self) -> list[Problem]:
        """The columns no definition reads, each warning naming the definitions."""
        found = []
        for first, names in self.columns.values():
            if len(names) < len(self.seen):
                continue  # another definition reads it
            listed = " or ".join(names) if len(names) <= 2 else ", ".join(names)
            message = first.message.replace(
                "is not used by any template", f"is not used by any template of {listed}", 1
            )
            found.append(replace(first, message=message))
        return found


def summary_line(log: ProblemLog, verb: str) -> str:
    """One closing line saying how the run went, or nothing when all is well.

    Blank rows skipped in the data are always mentioned: they are not recipients.
    """
    skipped = f"skipped {_plural(log.blank_rows, 'blank row')}" if log.blank_rows else ""
    if log.ok:
        return f"linepress: {skipped}" if skipped else ""
    problems = _plural(log.errors, "problem")
    tail = f"; {skipped}" if skipped else ""
    if log.failed_rows:
        return (
            f"linepress: {log.failed_rows} of {_plural(log.rows, 'recipient')} failed "
            f"({problems}){tail}"
        )
    return f"linepress: {verb} failed ({problems}){tail}"


def check_ok_line(log: ProblemLog, definitions: int, with_data: bool) -> str:
    """`ok: 2 definitions, 25 recipients (1 warning); skipped 2 blank rows`: what a
    passing `check` says."""
    parts = [_plural(definitions, "definition")]
    if with_data:
        parts.append(_plural(log.recipients, "recipient"))
    line = "ok: " + ", ".join(parts)
    if log.warnings:
        line += f" ({_plural(log.warnings, 'warning')})"
    if log.blank_rows:  # not recipients, but the author should know they were there
        line += f"; skipped {_plural(log.blank_rows, 'blank row')}"
    return line


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"
