"""The `linepress` command: flags in, one core call, a report, an exit code.

Each command imports the parts it needs when it runs (sending pulls in httpx and
asyncio, preview a page builder): `compile` and `check` run in every build, so
their start-up time is worth keeping short.

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

from compiler.errors import LinepressError, UsageError
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
@click.option("--strict", is_flag=True, help="Lint too, and treat its warnings as errors.")
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
    strict: bool,
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
        strict=strict,
        remember=True,  # the proven schema verdict: see compiler/verdicts.py
    )
    _guard_paths(out, rejects)
    log = compile_definition(options)
    _finish(log, error_format, "compile")


@main.command("check")
@click.argument("definitions", nargs=-1, required=True, type=click.Path(dir_okay=False))
@_data_options
@click.option("--strict", is_flag=True, help="Treat lint warnings as errors.")
@_report_options
def check_command(
    definitions: tuple[str, ...],
    data: str | None,
    data_format: str | None,
    delimiter: str | None,
    strict: bool,
    error_format: str,
    max_errors: int,
) -> None:
    """Validate and lint definitions without writing anything (for CI and pre-commit).

    Without --data: everything knowable without recipients (YAML, keys, Jinja
    syntax, imports, the static part of the body). With --data: every row too.
    Lint warnings (valid but probably wrong: a media URL without its file
    extension, an unused column, text cut by truncate, an imagemap area outside
    the image, recipient data in a URL without urlencode) fail only with --strict.

    \b
    Examples:
      linepress check campaigns/*.yaml
      linepress check welcome.yaml --data users.csv --error-format github
    """
    log = check_definitions(
        definitions,
        DataOptions(data, data_format, _delimiter(delimiter)),
        max_errors,
        strict=strict,
        remember=True,
    )
    _finish(log, error_format, "check")


@main.command("schema")
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
    from compiler.schemagen import dumps

    click.echo(dumps(schema), nl=False)  # the same bytes as the shipped file


@main.command("preview")
@click.argument("definition", type=click.Path(dir_okay=False))
@_data_options
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
@_report_options
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
    from compiler.preview import write_preview
    from compiler.preview_select import parse_rows

    if sum(bool(x) for x in (rows, sample, edge_cases)) > 1:
        raise click.UsageError("choose one of --rows, --sample and --edge-cases")
    try:
        chosen = parse_rows(rows) if rows else None
    except UsageError as exc:
        raise click.BadParameter(
            "; ".join(p.message for p in exc.problems), param_hint="--rows"
        ) from None
    _guard_paths(str(out))
    log = write_preview(
        definition,
        data,
        data_format=data_format,
        delimiter=_delimiter(delimiter),
        rows=chosen,
        sample=sample,
        edge_cases=edge_cases,
        out=out,
    )
    log.limit = max_errors
    click.echo(f"wrote {out}", err=True)
    _finish(log, error_format, "preview")


@main.command("new")
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
    from compiler.starters import new_definition

    try:
        written = new_definition(kind, file, force=force)
    except UsageError as exc:
        raise click.UsageError("; ".join(p.message for p in exc.problems)) from None
    for path in written:
        click.echo(f"wrote {path}", err=True)


@main.command("send")
@click.argument("definition", required=False, type=click.Path(dir_okay=False, path_type=Path))
@_data_options
@click.option(
    "--payloads",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Send the bodies `compile` wrote (JSONL) instead of compiling a DEFINITION.",
)
@click.option(
    "--journal",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The SQLite send ledger (default: next to the definition).",
)
@click.option(
    "--new-run", is_flag=True, help="Empty the journal and start over (resending everyone)."
)
@click.option(
    "--resend-unknown",
    is_flag=True,
    help="Resend messages whose delivery is unknown (may deliver twice).",
)
@click.option(
    "--allow-duplicates",
    is_flag=True,
    help="Send identical messages to the same recipient more than once.",
)
@click.option(
    "--keep-going",
    is_flag=True,
    help="Send the valid rows even if others are invalid (those fail).",
)
@click.option("--dry-run", is_flag=True, help="Do everything except the HTTP requests.")
@click.option(
    "--shard",
    metavar="K/N",
    help="Send only shard K of N (split by recipient; one journal per shard).",
)
@click.option(
    "--report",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Per-recipient report: .jsonl or .csv.",
)
@click.option(
    "--concurrency",
    type=click.IntRange(1, 1000),
    default=16,
    show_default=True,
    help="Requests in flight.",
)
@click.option(
    "--rate",
    type=click.FloatRange(min=0, min_open=True),
    help="Messages per second, evenly spaced.",
)
@click.option(
    "--max-attempts",
    type=click.IntRange(1, 100),
    default=5,
    show_default=True,
    help="Attempts per message and run.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=30.0,
    show_default=True,
    help="Seconds per request.",
)
@click.option(
    "--backoff-base",
    type=click.FloatRange(min=0),
    default=0.5,
    show_default=True,
    help="The first retry waits up to this many seconds, doubling each time.",
)
@click.option(
    "--backoff-cap",
    type=click.FloatRange(min=0),
    default=30.0,
    show_default=True,
    help="The longest wait between retries (a Retry-After answer decides its own).",
)
@click.option(
    "--base-url", help="Infobip base URL (default: $INFOBIP_BASE_URL); a bare host gets https://."
)
@click.option(
    "--api-key-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="File holding the API key (default: $INFOBIP_API_KEY).",
)
@click.option(
    "--basic-auth-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="File holding `username:password` (default: $INFOBIP_USERNAME / $INFOBIP_PASSWORD).",
)
@click.option(
    "--progress/--no-progress", default=True, show_default=True, help="Show progress on stderr."
)
@_report_options
def send_command(
    definition: Path | None,
    data: str | None,
    data_format: str | None,
    delimiter: str | None,
    payloads: Path | None,
    journal: Path | None,
    new_run: bool,
    resend_unknown: bool,
    allow_duplicates: bool,
    keep_going: bool,
    dry_run: bool,
    shard: str | None,
    report: Path | None,
    concurrency: int,
    rate: float | None,
    max_attempts: int,
    timeout: float,
    backoff_base: float,
    backoff_cap: float,
    base_url: str | None,
    api_key_file: Path | None,
    basic_auth_file: Path | None,
    progress: bool,
    error_format: str,
    max_errors: int,
) -> None:
    """Compile and send a campaign to Infobip, resumably.

    Every body is checked before the first request; nothing is sent if any row
    is invalid (unless --keep-going). The journal records each recipient, so
    re-running the same command after a crash, Ctrl-C, 429 storm or network
    failure finishes the job without sending anyone the same message twice.

    \b
    Examples:
      export INFOBIP_BASE_URL=xyz.api.infobip.com INFOBIP_API_KEY=...
      linepress send spring.yaml --data users.csv --rate 50 --report sent.csv
      linepress send --payloads build/spring.jsonl --shard 2/4
      linepress send spring.yaml --data users.csv --dry-run
    """
    from compiler.dispatch import DispatchSettings
    from compiler.sending import SendOptions, Shard, send

    if (definition is None) == (payloads is None):
        raise click.UsageError("give a DEFINITION or --payloads FILE (not both)")
    if payloads is not None and data is not None:
        raise click.UsageError("--data goes with a DEFINITION, not with --payloads")
    try:
        parsed_shard = Shard.parse(shard) if shard else None
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--shard") from None
    _guard_paths(str(report) if report else None, str(journal) if journal else None)
    options = SendOptions(
        definition=definition,
        payloads=payloads,
        data=DataOptions(data, data_format, _delimiter(delimiter)),
        journal=journal,
        new_run=new_run,
        resend_unknown=resend_unknown,
        allow_duplicates=allow_duplicates,
        keep_going=keep_going,
        dry_run=dry_run,
        shard=parsed_shard,
        report=report,
        settings=DispatchSettings(
            concurrency=concurrency,
            rate=rate,
            max_attempts=max_attempts,
            timeout=timeout,
            backoff_base=backoff_base,
            backoff_cap=backoff_cap,
        ),
        base_url=base_url,
        api_key_file=api_key_file,
        basic_auth_file=basic_auth_file,
        max_errors=max_errors,
    )
    _refuse_overwriting_inputs(
        outputs=[report, journal],
        inputs=[definition, payloads, Path(data) if data and data != "-" else None],
    )
    try:
        result = send(options, progress=sys.stderr if progress else None, handle_signals=True)
    except UsageError as exc:
        for problem in exc.problems:
            click.echo(f"linepress: {problem.format()}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:  # while planning: nothing was sent, the journal was rolled back
        click.echo("linepress send: interrupted while planning; nothing was sent", err=True)
        sys.exit(130)
    if result.log.errors or result.summary is None:
        tail = "; nothing was sent" if result.summary is None else ""
        REPORTERS[error_format](result.log, sys.stderr, summary_line(result.log, "send") + tail)
    if result.summary is not None:
        click.echo(result.summary.line(), err=True)
    if result.interrupted:
        sys.exit(130)
    if not result.ok:
        sys.exit(1)


@main.command("merge-reports")
@click.argument(
    "reports", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option(
    "--out",
    "-o",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The merged report (.jsonl or .csv).",
)
def merge_reports_command(reports: tuple[Path, ...], out: Path) -> None:
    """Merge the reports of a sharded send into one, in row order.

    \b
    Example:
      linepress merge-reports report-1.jsonl report-2.jsonl report-3.jsonl -o report.jsonl
    """
    from compiler.send_report import merge_reports

    try:
        counts = merge_reports(list(reports), out)
    except LinepressError as exc:
        for problem in exc.problems:
            click.echo(problem.format(), err=True)
        sys.exit(1)
    parts = ", ".join(f"{status} {count}" for status, count in counts.items() if count)
    click.echo(
        f"linepress: merged {len(reports)} reports: {sum(counts.values())} recipients: {parts}",
        err=True,
    )
    if counts.get("sent", 0) + counts.get("skipped", 0) != sum(counts.values()):
        sys.exit(1)


@main.command("sandbox")
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on (keep it on loopback).",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8080,
    show_default=True,
    help="0: any free port.",
)
@click.option(
    "--api-key",
    default="sandbox-key",
    show_default=True,
    help="The (fake) API key the sandbox accepts.",
)
@click.option(
    "--record",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Append accepted deliveries to this JSONL file.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for the random faults.")
@click.option(
    "--faults",
    "faults_json",
    metavar="JSON",
    help='Faults to inject, e.g. \'{"rate_limit": 0.1, "retry_after": 2}\'.',
)
@click.option("--latency", type=click.FloatRange(min=0), help="Seconds added to every answer.")
@click.option("--rate-limit", type=click.FloatRange(0, 1), help="Probability of a 429.")
@click.option("--retry-after", type=click.IntRange(min=0), help="Send Retry-After with each 429.")
@click.option("--server-errors", type=click.FloatRange(0, 1), help="Probability of a 500 or 503.")
@click.option(
    "--drop-before",
    type=click.FloatRange(0, 1),
    help="Probability of dropping the connection undelivered.",
)
@click.option(
    "--drop-after",
    type=click.FloatRange(0, 1),
    help="Probability of delivering, then dropping the connection.",
)
@click.option(
    "--unauthorized-after",
    type=click.IntRange(min=0),
    help="Answer 401 once this many are delivered.",
)
def sandbox_command(
    host: str,
    port: int,
    api_key: str,
    record: Path | None,
    seed: int,
    faults_json: str | None,
    **fault_options: float | int | None,
) -> None:
    """Run a local stand-in for Infobip's LINE endpoint, to rehearse a campaign.

    It answers POST /line/1/single as the documentation describes: 401 without
    valid credentials, 400 with Infobip's error body for a body our schemas
    reject, 200 with a message id otherwise, and can inject faults on request.
    Runtime control: GET /sandbox/deliveries, GET /sandbox/stats,
    POST /sandbox/faults, POST /sandbox/reset.

    \b
    Example:
      linepress sandbox --port 8080 --rate-limit 0.05 --retry-after 1 &
      INFOBIP_BASE_URL=http://127.0.0.1:8080 INFOBIP_API_KEY=sandbox-key \\
          linepress send spring.yaml --data users.csv
    """
    from compiler.sandbox import Faults, serve  # the server is only loaded when asked for

    try:
        settings = json.loads(faults_json) if faults_json else {}
        if not isinstance(settings, dict):
            raise ValueError("expected a JSON object")
        settings.update({k: v for k, v in fault_options.items() if v is not None})
        faults = Faults.from_dict(settings)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--faults") from None
    try:
        serve(host, port, api_key=api_key, faults=faults, record_path=record, seed=seed)
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror}") from None


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


def _refuse_overwriting_inputs(outputs: list[Path | None], inputs: list[Path | None]) -> None:
    """An output path that names an input file would destroy it: refuse before any work."""
    sources = {p.resolve() for p in inputs if p is not None}
    for output in outputs:
        if output is not None and output.resolve() in sources:
            raise click.BadParameter(f"{str(output)!r} is an input file; choose another path")


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
