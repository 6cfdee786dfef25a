"""`python -m compiler` is the `linepress` command."""

from compiler.cli import main

main(prog_name="linepress")
