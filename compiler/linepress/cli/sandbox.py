"""`linepress sandbox`: the local stand-in for the endpoint, as a command."""

from __future__ import annotations

import json
from pathlib import Path

import click


@click.command("sandbox")
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
@click.option(
    "--limit-rate",
    type=click.FloatRange(min=0, min_open=True),
    help="A token bucket: admit this many requests/s, 429 beyond (an account's limit).",
)
@click.option(
    "--limit-burst",
    type=click.FloatRange(min=1),
    help="The bucket's size: requests admitted at once after a quiet spell "
    "(default: a tenth of --limit-rate, at least 1).",
)
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
    from linepress.sandbox.server import Faults, serve  # the server is only loaded when asked for

    try:
        settings = json.loads(faults_json) if faults_json else {}
        if not isinstance(settings, dict):
            raise ValueError("expected a JSON object")
        settings.update({k: v for k, v in fault_options.items() if v is not None})
        faults = Faults.from_dict(settings)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--faults") from None
    if not _is_loopback(host):
        click.echo(
            f"warning: --host {host} listens beyond this machine: anyone who can reach it "
            "can use the sandbox (and see what it recorded); use 127.0.0.1 unless you mean it",
            err=True,
        )
    # The key to send with: the sandbox accepts exactly this one.
    click.echo(f"send with INFOBIP_API_KEY={api_key}", err=True)
    try:
        serve(host, port, api_key=api_key, faults=faults, record_path=record, seed=seed)
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror}") from None


def _is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 or localhost: reachable from this machine only."""
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
