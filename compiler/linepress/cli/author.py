"""`linepress preview` and `new`: the commands of the author's loop."""

from __future__ import annotations

from pathlib import Path

import click

from linepress.cli.options import (
    data_options,
    finish,
    guard_paths,
    parse_delimiter,
    report_options,
)
from linepress.errors import UsageError


@click.command("preview")
@click.argument("definition", type=click.Path(dir_okay=False))
@data_options
@click.option(
    "--rows", metavar="1,7,20-25", help="These recipients (rows numbered as in error messages)."
)
@click.option(
    "--sample",
    type=click.IntRange(min=1),
    help="N recipients spread over the list (deterministic).",
)
@click.option(
    "--edge-cases", is_flag=True, help="The rows most likely to break the layout, each with why."
)
@click.option(
    "--out",
    "-o",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The HTML file to write.",
)
@report_options
def preview_command(
    definition: str,
    data: str | None,
    data_format: str | None,
    delimiter: str | None,
    rows: str | None,
    sample: int | None,
    edge_cases: bool,
    out: Path,
    error_format: str,
    max_errors: int,
) -> None:
    """Write one self-contained HTML page showing messages as LINE shows them.

    For each chosen recipient: the chat bubble or card, the recipient's data,
    the JSON body, and any errors or warnings. No network is needed to open it.

    \b
    Examples:
      linepress preview spring.yaml --data users.csv --edge-cases --out preview.html
      linepress preview spring.yaml --data users.csv --rows 1,7,20 --out preview.html
      linepress preview welcome.yaml --out preview.html      # no data: the one body
    """
    from linepress.author.preview import write_preview
    from linepress.author.select import parse_rows

    if sum(bool(x) for x in (rows, sample, edge_cases)) > 1:
        raise click.UsageError("choose one of --rows, --sample and --edge-cases")
    try:
        chosen = parse_rows(rows) if rows else None
    except UsageError as exc:
        raise click.BadParameter(
            "; ".join(p.message for p in exc.problems), param_hint="--rows"
        ) from None
    guard_paths(str(out))
    log = write_preview(
        definition,
        data,
        data_format=data_format,
        delimiter=parse_delimiter(delimiter),
        rows=chosen,
        sample=sample,
        edge_cases=edge_cases,
        out=out,
    )
    log.limit = max_errors
    click.echo(f"wrote {out}", err=True)
    finish(log, error_format, "preview")


@click.command("new")
@click.argument("kind")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Overwrite an existing FILE.")
def new_command(kind: str, file: Path, force: bool) -> None:
    """Write a commented starter definition for a message KIND to FILE.

    Also writes `linepress-definition.schema.json` beside it (when missing or
    outdated), which the file's first line points editors at.

    \b
    Example:
      linepress new carousel campaigns/spring-sale.yaml
    """
    from linepress.author.starters import new_definition

    try:
        written = new_definition(kind, file, force=force)
    except UsageError as exc:
        raise click.UsageError("; ".join(p.message for p in exc.problems)) from None
    for path in written:
        click.echo(f"wrote {path}", err=True)
