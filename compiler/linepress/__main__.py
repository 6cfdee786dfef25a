"""`python -m linepress` is the `linepress` command."""

from linepress.cli.main import main

main(prog_name="linepress")
