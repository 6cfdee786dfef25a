"""The `compile` and `check` operations: files in, files and a problem log out.

These are what the CLI calls, and what a program calls to do the same; they never
print and never exit. Each returns a `ProblemLog`; the caller decides how to show it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from compiler.errors import LinepressError
from compiler.output import AtomicOutput, BodyWriter, OutputFormat, reject_line
from compiler.pipeline import Compiler, Result, open_data
from compiler.report import DEFAULT_LIMIT, ProblemLog


@dataclass(frozen=True, slots=True)
class DataOptions:
    """Where the recipients come from."""

    path: str | Path | None = None
    format: str | None = None
    delimiter: str | None = None


@dataclass(frozen=True, slots=True)
class CompileOptions:
    definition: str | Path
    data: DataOptions = DataOptions()
    out: str | Path | None = None
    format: OutputFormat = "jsonl"
    keep_going: bool = False
    rejects: str | Path | None = None
    max_errors: int = DEFAULT_LIMIT


def compile_definition(options: CompileOptions) -> ProblemLog:
    """Write one body per recipient, in input order.

    Without `keep_going`, the output appears only if every recipient compiled.
    With it, the good bodies are written and the failed rows go to `rejects`.
    """
    log = ProblemLog(limit=options.max_errors)
    try:
        compiler = Compiler(options.definition)
    except LinepressError as exc:
        log.add(exc.problems)
        return log
    out = AtomicOutput(options.out)
    rejects = AtomicOutput(options.rejects) if options.rejects is not None else None
    writer = BodyWriter(out, options.format)
    unreadable = False
    try:
        _compile_all(compiler, options, log, writer, rejects)
    except LinepressError as exc:  # the data could not be read: nothing is written
        log.add(exc.problems)
        unreadable = True
    except BaseException:
        out.abort()
        if rejects is not None:
            rejects.abort()
        raise
    if log.ok or (options.keep_going and not unreadable):
        writer.finish()
        out.commit()
        if rejects is not None:
            rejects.commit()
    else:
        out.abort()
        if rejects is not None:
            rejects.abort()
    return log


def _compile_all(
    compiler: Compiler,
    options: CompileOptions,
    log: ProblemLog,
    writer: BodyWriter,
    rejects: AtomicOutput | None,
) -> None:
    if options.data.path is None:
        _drain([compiler.compile()], log, writer, rejects, options.keep_going)
        return
    with open_data(options.data.path, options.data.format, options.data.delimiter) as source:
        _drain(compiler.compile_records(source), log, writer, rejects, options.keep_going)


def _drain(
    results: Iterable[Result],
    log: ProblemLog,
    writer: BodyWriter,
    rejects: AtomicOutput | None,
    keep_going: bool,
) -> None:
    for result in results:
        log.rows += 1
        if result.ok:
            # Without --keep-going one failure voids the output: stop paying to serialize.
            if keep_going or log.ok:
                writer.write(result.json())
            continue
        log.failed_rows += 1
        log.add(result.problems)
        if rejects is not None:
            rejects.write(reject_line(result.row, result.fields, result.problems))


def check_definitions(
    definitions: Sequence[str | Path],
    data: DataOptions = DataOptions(),
    max_errors: int = DEFAULT_LIMIT,
) -> ProblemLog:
    """Validate definitions without writing anything.

    Without data: everything that can be known statically. With data: every row too.
    """
    log = ProblemLog(limit=max_errors)
    for definition in definitions:
        try:
            compiler = Compiler(definition)
            if data.path is None:
                continue
            with open_data(data.path, data.format, data.delimiter) as source:
                for result in compiler.compile_records(source):
                    log.rows += 1
                    if not result.ok:
                        log.failed_rows += 1
                        log.add(result.problems)
        except LinepressError as exc:
            log.add(exc.problems)
    return log


def summary_line(log: ProblemLog, verb: str) -> str:
    """One closing line saying how the run went, or nothing when all is well."""
    if log.ok:
        return ""
    problems = _plural(log.errors, "problem")
    if log.failed_rows:
        return (
            f"linepress: {log.failed_rows} of {_plural(log.rows, 'recipient')} failed ({problems})"
        )
    return f"linepress: {verb} failed ({problems})"


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"
