"""The `linepress` command: flags in, one core call, a report, an exit code.

Each command imports the parts it needs when it runs (sending pulls in httpx and
asyncio, preview a page builder): `compile` and `check` run in every build, so
their start-up time is worth keeping short.

The commands live by subject (`build`, `author`, `send`, `sandbox`); this module only
gathers them under one group.

Exit codes: 0 everything worked, 1 content errors (definition, data, recipients),
2 usage errors (bad flags, unknown schema kind).
"""

from __future__ import annotations

import click

from linepress.cli import author, build, journal, sandbox, send


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="linepress")
def main() -> None:
    """Compile YAML/Jinja LINE message definitions into Infobip request bodies.

    \b
    Example:
      linepress compile examples/campaign/definition.yaml \\
          --data examples/campaign/recipients.csv --out bodies.jsonl
    """


for _command in (
    build.compile_command,
    build.check_command,
    build.schema_command,
    author.preview_command,
    author.new_command,
    send.send_command,
    send.merge_reports_command,
    journal.journal_group,
    sandbox.sandbox_command,
):
    main.add_command(_command)
