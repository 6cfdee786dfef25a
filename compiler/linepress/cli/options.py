"""Options and checks shared by the commands: data, reports, output paths, the finish."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import click

from linepress.errors import UsageError
from linepress.operations.compile import (
    summary_line,
)
from linepress.output import refuse_inputs
from linepress.report import DEFAULT_LIMIT, REPORTERS, Paint, ProblemLog, text_reporter

DATA_FORMATS = click.Choice(["csv", "json", "jsonl"])


def data_options(command: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(
        [
            click.option(
                "--data",
                "data",
                metavar="FILE|-",
                help="Recipients: CSV, JSON array or JSONL; - for stdin.",
            ),
            click.option(
                "--data-format",
                type=DATA_FORMATS,
                help="Format of --data (default: from the file name).",
            ),
            click.option(
                "--delimiter",
                metavar="CHAR",
                help="CSV field delimiter (default , and tab for .tsv).",
            ),
        ]
    ):
        command = option(command)
    return command


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
    """An output path that names an input file would destroy it: refuse (exit 2) before any work."""
    for output in outputs:
        if output is None or str(output) == "-":
            continue
        try:
            refuse_inputs(output, inputs)
        except UsageError as exc:
            raise click.UsageError(exc.problems[0].format()) from None


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
    """Print `log` on stderr; the text format in colour on a terminal (not with NO_COLOR)."""
    if error_format == "text":
        text_reporter(log, sys.stderr, summary, paint=terminal_paint())
    else:
        REPORTERS[error_format](log, sys.stderr, summary)


_COLOURS = {"error": "red", "warning": "yellow", "caret": "green", "gutter": "blue"}


def terminal_paint() -> Paint:
    """click's styling when stderr is a terminal and NO_COLOR (no-color.org) is unset."""
    if os.environ.get("NO_COLOR") or not sys.stderr.isatty():
        return lambda text, role: text

    def paint(text: str, role: str) -> str:
        colour = _COLOURS.get(role)
        return click.style(text, fg=colour, bold=role == "caret") if colour else text

    return paint
