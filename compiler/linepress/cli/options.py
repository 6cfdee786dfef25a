"""Options and checks shared by the commands: data, reports, output paths, the finish."""

from __future__ import annotations

import os
import re
import stat
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import click

from linepress.errors import Problem, UsageError
from linepress.operations.compile import (
    summary_line,
)
from linepress.output import refuse_inputs
from linepress.recipients.encoding import MAX_RECORD_CAP, check_encoding
from linepress.recipients.records import ReadOptions, check_options
from linepress.report import DEFAULT_LIMIT, REPORTERS, Paint, ProblemLog, text_reporter

DATA_FORMATS = click.Choice(["csv", "json", "jsonl", "xlsx"])


def data_options(command: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(
        [
            click.option(
                "--data",
                "data",
                metavar="FILE|-",
                help="Recipients: CSV or TSV (any encoding), .xlsx, a JSON array or JSONL; - for stdin.",
            ),
            click.option(
                "--data-format",
                type=DATA_FORMATS,
                help="Format of --data (default: from the file name).",
            ),
            click.option(
                "--delimiter",
                metavar="CHAR",
                help="CSV field delimiter (default , and tab for .tsv). A .csv/.tsv whose "
                "header is clearly ;-, tab- or |-separated is refused with the flag to pass; "
                "a .txt export or stdin is read so, with a warning.",
            ),
            # The three below reach the command through reading_options(), so that
            # every command taking --data accepts them without a parameter of its own.
            click.option(
                "--encoding",
                metavar="NAME",
                expose_value=False,
                callback=_remember,
                help="Text encoding of CSV/TSV data: any Python codec, e.g. cp932 (Japanese "
                "Excel), cp874 (Thai), cp950 (Big5), gb18030 (GBK). Default UTF-8; a byte "
                "order mark (UTF-8/16/32) decides by itself.",
            ),
            click.option(
                "--sheet",
                metavar="NAME",
                expose_value=False,
                callback=_remember,
                help="The worksheet of an .xlsx --data (default: the first).",
            ),
            click.option(
                "--max-record-size",
                metavar="SIZE",
                expose_value=False,
                callback=_remember_size,
                help="Cap on one line or record of --data, in bytes or with K/M/G (default 16M, at most 2G).",
            ),
        ]
    ):
        command = option(command)
    return command


_READING = "linepress.reading"


def _remember(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    if value is not None and param.name is not None:
        ctx.meta.setdefault(_READING, {})[param.name] = value


def _remember_size(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    if value is None:
        return
    match = re.fullmatch(r"\s*(\d+)\s*([KMG]?)i?B?\s*", value, re.IGNORECASE)
    size = int(match[1]) << _SHIFTS[match[2].upper()] if match else 0
    if size < 1 or size > MAX_RECORD_CAP:
        raise click.BadParameter(
            f"expected a size from 1 byte to 2G, such as 16M, 500K or 1048576 (found {value!r})",
            ctx=ctx,
            param=param,
        )
    ctx.meta.setdefault(_READING, {})["max_record_size"] = size


_SHIFTS = {"": 0, "K": 10, "M": 20, "G": 30}


def reading_options() -> ReadOptions:
    """--encoding, --sheet and --max-record-size of the running command."""
    ctx = click.get_current_context()
    given = ctx.meta.get(_READING, {})
    try:
        if "encoding" in given:
            check_encoding(given["encoding"])
    except UsageError as exc:
        raise click.BadParameter(exc.problems[0].message, param_hint="--encoding") from None
    try:  # an option that does nothing for this --data is a usage error, not ignored
        check_options(
            ctx.params.get("data"),
            format=ctx.params.get("data_format"),
            delimiter=ctx.params.get("delimiter"),
            encoding=given.get("encoding"),
            sheet=given.get("sheet"),
        )
    except UsageError as exc:
        raise click.UsageError(exc.problems[0].message) from None
    return ReadOptions(**given)


def report_options(command: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(
        [
            click.option(
                "--error-format",
                type=click.Choice(sorted(REPORTERS)),
                default="text",
                show_default=True,
                help="text for people, json for tools, github for workflow annotations.",
            ),
            click.option(
                "--max-errors",
                type=click.IntRange(min=0),
                default=DEFAULT_LIMIT,
                show_default=True,
                help="Show at most this many problems (0: all). All are counted.",
            ),
        ]
    ):
        command = option(command)
    return command


def parse_delimiter(value: str | None) -> str | None:
    if value is None:
        return None
    if value in ("\\t", "tab", "TAB"):
        return "\t"
    if len(value) != 1:
        raise click.BadParameter(
            f"must be one character (found {value!r})", param_hint="--delimiter"
        )
    return value


def refuse_overwriting_inputs(
    outputs: Sequence[str | Path | None], inputs: Sequence[str | Path | None]
) -> None:
    """An output path that names an input file would destroy it, and two outputs naming one
    file would leave only the last one written: refuse either (exit 2) before any work.

    Identity is the file's, not the spelling (links followed); `-`, devices and FIFOs are
    exempt (writing to them destroys nothing).
    """
    seen: dict[object, str] = {}
    for output in outputs:
        if output is None or str(output) == "-":
            continue
        try:
            refuse_inputs(output, inputs)
        except UsageError as exc:
            raise click.UsageError(usage_text(exc.problems[:1])) from None
        identity = output_identity(output)
        if identity is None:
            continue
        if identity in seen:
            raise click.UsageError(
                f"{output}: is also the output {seen[identity]} of this command; one would "
                "overwrite the other: choose another path"
            )
        seen[identity] = str(output)


def output_identity(path: str | Path) -> object | None:
    """What makes two output paths one file: (device, inode) of an existing regular file,
    else the path with its folder's links resolved; None for a device or FIFO."""
    try:
        status = os.stat(path)
    except OSError:
        return os.path.realpath(path)
    if not stat.S_ISREG(status.st_mode):
        return None
    return (status.st_dev, status.st_ino)


def guard_paths(*paths: str | None) -> None:
    """Refuse an output path whose folder does not exist, before doing any work."""
    for path in paths:
        if path is None or path == "-":
            continue
        parent = Path(path).parent
        if not parent.is_dir():
            raise click.BadParameter(f"folder {str(parent)!r} does not exist", param_hint=path)


def finish(log: ProblemLog, error_format: str, verb: str) -> None:
    report(log, error_format, summary_line(log, verb))
    if not log.ok:
        sys.exit(1)


def report(log: ProblemLog, error_format: str, summary: str) -> None:
    """Print `log` on stderr; the text format in colour on a terminal (not with NO_COLOR).

    `-q` leaves out warnings and the line saying all is well; `-v` shows the
    file's line and a caret under every located problem, not only YAML ones.
    """
    if verbosity() < 0:
        errors = {k: g for k, g in log.groups.items() if g.problem.severity == "error"}
        log = replace(log, groups=errors)
        if log.ok:
            summary = ""
    if error_format == "text":
        text_reporter(
            log, sys.stderr, summary, paint=terminal_paint(), every_source=verbosity() > 0
        )
    else:
        REPORTERS[error_format](log, sys.stderr, summary)


#: -1 with -q, 0 by default, 1 with -v (set by the options on every command).
_VERBOSITY = [0]


def verbosity() -> int:
    """How much the commands say: -1 quiet, 0 normal, 1 verbose."""
    return _VERBOSITY[0]


def reset_verbosity() -> None:
    """Back to normal, before a command line is read."""
    _VERBOSITY[0] = 0


def info(message: str) -> None:
    """A progress line (`wrote FILE`) on stderr, unless -q."""
    if verbosity() >= 0:
        click.echo(message, err=True)


def _set_verbosity(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value:
        _VERBOSITY[0] = -1 if param.name == "quiet" else 1


def usage_text(problems: Iterable[Problem]) -> str:
    """Problems as one click usage message: click adds `Error: `, so no `linepress: ` too."""
    return "; ".join(p.format().removeprefix("linepress: ") for p in problems)


def verbosity_options(command: click.Command) -> click.Command:
    """Add -q/--quiet and -v/--verbose to `command` (every command has them)."""
    command.params += [
        click.Option(
            ["-q", "--quiet"],
            is_flag=True,
            expose_value=False,
            is_eager=True,
            callback=_set_verbosity,
            help="Say only what went wrong: no warnings, no progress or ok lines.",
        ),
        click.Option(
            ["-v", "--verbose"],
            is_flag=True,
            expose_value=False,
            is_eager=True,
            callback=_set_verbosity,
            help="Show the file's line and a caret under every located problem.",
        ),
    ]
    return command


_COLOURS = {"error": "red", "warning": "yellow", "caret": "green", "gutter": "blue"}


def terminal_paint() -> Paint:
    """click's styling when stderr is a terminal and NO_COLOR (no-color.org) is unset."""
    if os.environ.get("NO_COLOR") or not sys.stderr.isatty():
        return lambda text, role: text

    def paint(text: str, role: str) -> str:
        colour = _COLOURS.get(role)
        return click.style(text, fg=colour, bold=role == "caret") if colour else text

    return paint
