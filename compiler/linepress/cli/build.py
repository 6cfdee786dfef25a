"""`linepress compile`, `check` and `schema`: the commands every build runs."""

from __future__ import annotations

import os
from collections.abc import Sequence

import click

from linepress.cli.options import (
    data_options,
    finish,
    guard_paths,
    parse_delimiter,
    reading_options,
    refuse_overwriting_inputs,
    report,
    report_options,
)
from linepress.operations.compile import (
    CompileOptions,
    DataOptions,
    check_definitions,
    check_ok_line,
    compile_definition,
)
from linepress.operations.inputs import definition_inputs
from linepress.validate.schema import load_schema, schema_names


@click.command("compile")
@click.argument("definition", type=click.Path(dir_okay=False))
@data_options
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
@click.option(
    "--rows",
    metavar="1,7,20-25",
    help="Only these recipients (numbered as in error messages): to look at one body.",
)
@click.option("--strict", is_flag=True, help="Lint too, and treat its warnings as errors.")
@click.option(
    "--allow-duplicates",
    is_flag=True,
    help="Rows repeating an earlier row's recipient (`to`) are intended: no warning.",
)
@report_options
def compile_command(
    definition: str,
    data: str | None,
    data_format: str | None,
    delimiter: str | None,
    out: str,
    out_format: str,
    keep_going: bool,
    rejects: str | None,
    rows: str | None,
    strict: bool,
    allow_duplicates: bool,
    error_format: str,
    max_errors: int,
) -> None:
    """Write one request body per recipient, in input order.

    Exit 0 when every recipient compiled; 1 when any failed, with nothing written
    (unless --keep-going). Rows repeating an earlier row's recipient and data
    without recipients are warnings (errors with --strict).

    \b
    Examples:
      linepress compile welcome.yaml --data users.csv > bodies.jsonl
      linepress compile welcome.yaml --data users.csv --keep-going --rejects bad.jsonl -o ok.jsonl
      linepress compile static.yaml            # no data: one body
      linepress compile welcome.yaml --data users.csv --rows 7 --format json   # row 7's body
    """
    chosen = _rows(rows, data)
    options = CompileOptions(
        definition=definition,
        data=DataOptions(data, data_format, parse_delimiter(delimiter), reading_options()),
        out=out,
        format=out_format,  # type: ignore[arg-type]
        keep_going=keep_going,
        rejects=rejects,
        max_errors=max_errors,
        strict=strict,
        remember=True,  # the proven schema verdict: see compiler/linepress/validate/verdicts.py
        rows=chosen,
        allow_duplicates=allow_duplicates,
    )
    guard_paths(out, rejects)
    refuse_overwriting_inputs(
        outputs=[out, rejects], inputs=[definition, data, *definition_inputs(definition)]
    )
    log = compile_definition(options)
    finish(log, error_format, "compile")


def _rows(rows: str | None, data: str | None) -> Sequence[int] | None:
    if rows is None:
        return None
    from linepress.author.select import parse_rows
    from linepress.errors import UsageError

    if data is None:
        raise click.UsageError("--rows picks recipients from --data: give --data too")
    try:
        return parse_rows(rows)
    except UsageError as exc:
        raise click.BadParameter(
            "; ".join(p.message for p in exc.problems), param_hint="--rows"
        ) from None


@click.command("check")
@click.argument("definitions", nargs=-1, required=True, type=click.Path(dir_okay=False))
@data_options
@click.option("--strict", is_flag=True, help="Treat lint warnings as errors.")
@click.option(
    "--allow-duplicates",
    is_flag=True,
    help="Rows repeating an earlier row's recipient (`to`) are intended: no warning.",
)
@report_options
def check_command(
    definitions: tuple[str, ...],
    data: str | None,
    data_format: str | None,
    delimiter: str | None,
    strict: bool,
    allow_duplicates: bool,
    error_format: str,
    max_errors: int,
) -> None:
    """Validate and lint definitions without writing anything (for CI and pre-commit).

    Without --data: everything knowable without recipients (YAML, keys, Jinja
    syntax, imports, the static part of the body). With --data: every row too.
    Lint warnings (valid but probably wrong: a media URL without its file
    extension, an unused column, text cut by truncate, an imagemap area outside
    the image, recipient data in a URL without urlencode) fail only with --strict.
    So do rows repeating an earlier row's recipient (`send` would skip them;
    --allow-duplicates when intended) and data without any recipient.

    \b
    Examples:
      linepress check campaigns/*.yaml
      linepress check welcome.yaml --data users.csv --error-format github
    """
    # The same file named twice (`A.yaml A.yaml`, `./A.yaml`, a link) is checked once.
    unique: dict[str, str] = {}
    for named in definitions:
        unique.setdefault(os.path.realpath(named), named)
    definitions = tuple(unique.values())
    log = check_definitions(
        definitions,
        DataOptions(data, data_format, parse_delimiter(delimiter), reading_options()),
        max_errors,
        strict=strict,
        remember=True,
        allow_duplicates=allow_duplicates,
    )
    if log.ok:
        summary = check_ok_line(log, len(definitions), data is not None)
        report(log, error_format, summary)
        return
    finish(log, error_format, "check")


@click.command("schema")
@click.argument("kind", required=False)
@click.option("--list", "list_kinds", is_flag=True, help="List the schema names.")
def schema_command(kind: str | None, list_kinds: bool) -> None:
    """Print a JSON Schema: the request (default), one message, template or
    action kind, or `definition` (the authoring schema for editors).

    \b
    Examples:
      linepress schema              # the whole request envelope
      linepress schema carousel
      linepress schema definition > linepress-definition.schema.json
      linepress schema --list
    """
    if list_kinds:
        click.echo("\n".join([*schema_names(), "definition"]))
        return
    try:
        schema = load_schema(kind or "request")
    except KeyError:
        raise click.BadParameter(
            f"no schema named {kind!r}; choose from: {', '.join(schema_names())}", param_hint="KIND"
        ) from None
    from linepress.validate.schemagen import dumps

    click.echo(dumps(schema), nl=False)  # the same bytes as the shipped file
