"""The `linepress` command: flags in, one core call, a report, an exit code.

Exit codes: 0 everything worked, 1 content errors (definition, data, recipients),
2 usage errors (bad flags, unknown schema kind).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from compiler.operations import (
    CompileOptions,
    DataOptions,
    check_definitions,
    compile_definition,
    summary_line,
)
from compiler.report import DEFAULT_LIMIT, REPORTERS, ProblemLog
from compiler.schema import load_schema, schema_names

_DATA_FORMATS = click.Choice(["csv", "json", "jsonl"])


def _data_options(command: Callable[..., Any]) -> Callable[..., Any]:
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
                type=_DATA_FORMATS,
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


def _report_options(command: Callable[..., Any]) -> Callable[..., Any]:
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


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="linepress")
def main() -> None:
    """Compile YAML/Jinja LINE message definitions into Infobip request bodies.

    \b
    Example:
      linepress compile examples/campaign/definition.yaml \\
          --data examples/campaign/recipients.csv --out bodies.jsonl
    """


@main.command("compile")
@click.argument("definition", type=click.Path(dir_okay=False))
@_data_options
@click.option(
    "--out", "-o", metavar="FILE|-", default="-", show_default=True, help="Where the bodies go."
)
@click.option(
    "--format",
    "out_format",
    type=click.Choice(["jsonl", "json"]),
    default="jsonl",
    show_default=True,
    help="jsonl: one body per line; json: one array.",
)
@click.option(
    "--keep-going", is_flag=True, help="Write the recipients that compiled even if others failed."
)
@click.option(
    "--rejects", metavar="FILE", help="Write failed recipients, with their reasons, as JSONL."
)
@_report_options
def compile_command(
    definition: str,
    data: str | None,
    data_format: str | None,
    delimiter: str | None,
    out: str,
    out_format: str,
    keep_going: bool,
    rejects: str | None,
    error_format: str,
    max_errors: int,
) -> None:
    """Write one request body per recipient, in input order.

    Exit 0 when every recipient compiled; 1 when any failed, with nothing written
    (unless --keep-going).

    \b
    Examples:
      linepress compile welcome.yaml --data users.csv > bodies.jsonl
      linepress compile welcome.yaml --data users.csv --keep-going --rejects bad.jsonl -o ok.jsonl
      linepress compile static.yaml            # no data: one body
    """
    options = CompileOptions(
        definition=definition,
        data=DataOptions(data, data_format, _delimiter(delimiter)),
        out=out,
        format=out_format,  # type: ignore[arg-type]
        keep_going=keep_going,
        rejects=rejects,
        max_errors=max_errors,
    )
    _guard_paths(out, rejects)
    log = compile_definition(options)
    _finish(log, error_format, "compile")


@main.command("check")
@click.argument("definitions", nargs=-1, required=True, type=click.Path(dir_okay=False))
@_data_options
@_report_options
def check_command(
    definitions: tuple[str, ...],
    data: str | None,
    data_format: str | None,
    delimiter: str | None,
    error_format: str,
    max_errors: int,
) -> None:
    """Validate definitions without writing anything (for CI and pre-commit).

    Without --data: everything knowable without recipients (YAML, keys, Jinja
    syntax, imports, the static part of the body). With --data: every row too.

    \b
    Examples:
      linepress check campaigns/*.yaml
      linepress check welcome.yaml --data users.csv --error-format github
    """
    log = check_definitions(
        definitions, DataOptions(data, data_format, _delimiter(delimiter)), max_errors
    )
    _finish(log, error_format, "check")


@main.command("schema")
@click.argument("kind", required=False)
@click.option("--list", "list_kinds", is_flag=True, help="List the schema names.")
def schema_command(kind: str | None, list_kinds: bool) -> None:
    """Print a JSON Schema: the request (default) or one message, template or action kind.

    \b
    Examples:
      linepress schema              # the whole request envelope
      linepress schema carousel
      linepress schema --list
    """
    if list_kinds:
        click.echo("\n".join(schema_names()))
        return
    try:
        schema = load_schema(kind or "request")
    except KeyError:
        raise click.BadParameter(
            f"no schema named {kind!r}; choose from: {', '.join(schema_names())}", param_hint="KIND"
        ) from None
    click.echo(json.dumps(schema, indent=2, ensure_ascii=False))


def _delimiter(value: str | None) -> str | None:
    if value is None:
        return None
    if value in ("\\t", "tab", "TAB"):
        return "\t"
    if len(value) != 1:
        raise click.BadParameter(
            f"must be one character (found {value!r})", param_hint="--delimiter"
        )
    return value


def _guard_paths(*paths: str | None) -> None:
    """Refuse an output path whose folder does not exist, before doing any work."""
    for path in paths:
        if path is None or path == "-":
            continue
        parent = Path(path).parent
        if not parent.is_dir():
            raise click.BadParameter(f"folder {str(parent)!r} does not exist", param_hint=path)


def _finish(log: ProblemLog, error_format: str, verb: str) -> None:
    REPORTERS[error_format](log, sys.stderr, summary_line(log, verb))
    if not log.ok:
        sys.exit(1)
