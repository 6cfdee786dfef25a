"""The `linepress` command: flags in, one core call, a report, an exit code.

Each command imports the parts it needs when it runs (sending pulls in httpx and
asyncio, preview a page builder): `compile` and `check` run in every build, so
their start-up time is worth keeping short.

The commands live by subject (`build`, `author`, `send`, `sandbox`); this module only
gathers them under one group.

Exit codes: 0 everything worked, 1 content errors (definition, data, recipients),
2 usage errors (bad flags, unknown schema kind), 70 an internal error (a bug in
linepress: see `_LastResort`), 141 stdout's reader went away (`| head`), quietly.
"""

from __future__ import annotations

import os
import sys
import traceback
from typing import Any

import click

from linepress.cli import author, build, journal, sandbox, send
from linepress.cli.options import reset_verbosity, verbosity_options
from linepress.errors import LinepressError

#: Exit code when stdout's reader went away: what a shell shows for SIGPIPE (128 + 13).
BROKEN_PIPE = 141
#: Exit code of an internal error: sysexits' EX_SOFTWARE, distinct from 1 and 2.
INTERNAL_ERROR = 70
#: Exit code after Ctrl-C: 128 + SIGINT, as shells report it.
INTERRUPTED = 130


class _LastResort(click.Group):
    """Runs a command; what no part of linepress expected becomes one line and exit 70.

    Not a hiding place: every error a user can cause is reported where it happens,
    located. This catches only bugs, so that a user sees one readable line instead
    of a traceback, and `--debug` (or LINEPRESS_DEBUG=1) shows the traceback.
    """

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        reset_verbosity()  # each run starts at normal (tests invoke many in one process)
        return super().make_context(info_name, args, parent, **extra)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except BrokenPipeError:  # the reader left (`| head`): stop quietly, as Unix tools do
            # Python would report the pipe again when it flushes stdout at exit.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            sys.exit(BROKEN_PIPE)
        except KeyboardInterrupt:  # Ctrl-C: the user's choice, one line, the shell's code
            click.echo("linepress: interrupted", err=True)
            sys.exit(INTERRUPTED)
        except LinepressError as exc:  # a user's error that escaped its report: still shown
            for problem in exc.problems:
                click.echo(problem.format(), err=True)
            sys.exit(exc.exit_code)
        except Exception as exc:
            if ctx.params.get("debug"):
                traceback.print_exc()
            detail = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else ""
            click.echo(
                f"linepress: internal error in linepress ({type(exc).__name__}"
                f"{': ' + detail if detail else ''}); rerun with `linepress --debug ...` "
                "for the traceback, and please report it",
                err=True,
            )
            sys.exit(INTERNAL_ERROR)


@click.group(cls=_LastResort, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(None, "-V", "--version", package_name="linepress", prog_name="linepress")
@click.option(
    "--debug",
    is_flag=True,
    envvar="LINEPRESS_DEBUG",
    help="On an internal error, show the Python traceback.",
)
def main(debug: bool) -> None:
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
    author.vars_command,
    send.send_command,
    send.merge_reports_command,
    journal.journal_group,
    sandbox.sandbox_command,
):
    main.add_command(verbosity_options(_command))
    if isinstance(_command, click.Group):  # `journal status -q` too: every command has them
        for _sub in _command.commands.values():
            verbosity_options(_sub)
verbosity_options(main)  # `linepress -q check ...` as well as `linepress check -q ...`
