"""`linepress preview` and `new`: the commands of the author's loop."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path
from typing import TYPE_CHECKING

import click

from linepress.cli.options import (
    data_options,
    finish,
    guard_paths,
    info,
    parse_delimiter,
    reading_options,
    refuse_overwriting_inputs,
    report,
    report_options,
    usage_text,
)
from linepress.errors import UsageError
from linepress.operations.inputs import definition_inputs

if TYPE_CHECKING:
    from linepress.author.preview import PreviewRequest


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
    type=click.Path(dir_okay=False, path_type=Path),
    help="The HTML file to write (needed without --watch).",
)
@click.option(
    "--images",
    type=click.Choice(["placeholder", "fetch"]),
    default="placeholder",
    show_default=True,
    help="placeholder: draw labelled frames, fetch nothing. fetch: load the media too "
    "(their links may carry recipient IDs).",
)
@click.option(
    "--watch",
    is_flag=True,
    help="Serve the page on 127.0.0.1 and redraw it whenever the definition, its "
    "imports or the data change; the open page reloads itself. Ctrl-C stops.",
)
@click.option(
    "--port",
    type=click.IntRange(min=0, max=65535),
    default=0,
    help="Port for --watch (default: any free port; the address is printed).",
)
@click.option("--open", "open_browser", is_flag=True, help="Open the page in a browser.")
@report_options
def preview_command(
    definition: str,
    data: str | None,
    data_format: str | None,
    delimiter: str | None,
    rows: str | None,
    sample: int | None,
    edge_cases: bool,
    out: Path | None,
    images: str,
    watch: bool,
    port: int,
    open_browser: bool,
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
      linepress preview spring.yaml --data users.csv --watch --open   # live, as you type
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
    if out is None and not watch:
        raise click.UsageError("give --out FILE.html to write the page, or --watch to serve it")
    if out is not None:
        guard_paths(str(out))
        refuse_overwriting_inputs([out], [definition, data, *definition_inputs(definition)])
    if watch:
        _refuse_unwatchable(data)
        from linepress.author.preview import PreviewRequest

        request = PreviewRequest(
            definition,
            data,
            data_format,
            parse_delimiter(delimiter),
            chosen,
            sample,
            edge_cases,
            images,
            reading_options(),
        )
        _serve(request, port, out, open_browser, max_errors)
        return
    assert out is not None
    log = write_preview(
        definition,
        data,
        data_format=data_format,
        delimiter=parse_delimiter(delimiter),
        rows=chosen,
        sample=sample,
        edge_cases=edge_cases,
        images=images,
        out=out,
        reading=reading_options(),
    )
    log.limit = max_errors
    info(f"wrote {out}")
    if open_browser:
        click.launch(out.resolve().as_uri())
    finish(log, error_format, "preview")


def _refuse_unwatchable(data: str | None) -> None:
    """--watch reads the data again on every save: only a regular file can be read twice.

    `-`, a pipe (`<(cat list.csv)`) or a FIFO would be empty, or block, the second time.
    """
    if data is None:
        return
    if data == "-":
        raise click.BadParameter(
            "--watch reads the data file again on every change: give a file, not -",
            param_hint="--data",
        )
    try:
        mode = os.stat(data).st_mode
    except OSError:
        return  # missing or unreadable: the render says so, located, and a fix is seen
    if not stat.S_ISREG(mode):
        raise click.BadParameter(
            f"{data} is not a regular file (a pipe or device can be read only once); "
            "--watch reads the data again on every change: give a file",
            param_hint="--data",
        )


def _serve(
    request: PreviewRequest, port: int, out: Path | None, open_browser: bool, max_errors: int
) -> None:
    """`preview --watch`: serve, redraw on every change, until Ctrl-C."""
    from linepress.author.live import LiveServer, watch
    from linepress.author.preview import Rendered, write_page
    from linepress.operations.compile import summary_line

    try:
        server = LiveServer(request, port)
    except OSError as exc:
        raise click.BadParameter(
            f"cannot listen on 127.0.0.1:{port}: {exc.strerror or exc}", param_hint="--port"
        ) from None

    def shown(rendered: Rendered) -> None:
        log = rendered.log
        if out is not None:
            write_page(out, rendered.page, log, inputs=(request.definition, request.data))
        log.limit = max_errors
        report(log, "text", summary_line(log, "preview"))
        stamp = time.strftime("%H:%M:%S")
        info(f"[{stamp}] drawn: {server.url} (version {server.version})")

    try:  # Ctrl-C is how --watch stops, at any moment: the first render included
        first = server.refresh()
        server.start()
        click.echo(f"serving {server.url} (Ctrl-C stops)", err=True)
        shown(first)
        if open_browser:
            click.launch(server.url)
        watch(server, first.files, shown)
    except KeyboardInterrupt:
        pass
    finally:
        server.close()


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
    except UsageError as exc:  # with the file's name: which file would be overwritten
        raise click.UsageError(usage_text(exc.problems)) from None
    for path in written:
        info(f"wrote {path}")


@click.command("vars")
@click.argument("definition", type=click.Path(dir_okay=False))
def vars_command(definition: str) -> None:
    """List the data columns DEFINITION reads: what the recipient file must have.

    One column a line, as a template writes it, with where it is first read.

    \b
    Example:
      linepress vars campaigns/spring.yaml
    """
    from linepress.author.needs import needed_columns
    from linepress.errors import LinepressError
    from linepress.pipeline import Compiler

    try:
        needs, whole_row = needed_columns(Compiler(definition))
    except LinepressError as exc:
        for problem in exc.problems:
            click.echo(problem.format(), err=True)
        raise SystemExit(exc.exit_code) from None
    if not needs:
        info("no columns: the definition reads no recipient data")
    for need in needs:
        why = f" ({need.note})" if need.note else ""
        click.echo(f"{need.written}\t{need.location}{why}")
    if whole_row:
        info("note: a template reads `row` as a whole: every column may be used")
