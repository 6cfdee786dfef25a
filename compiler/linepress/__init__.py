"""linepress: compile LINE message definitions into checked Infobip request bodies.

    >>> from linepress import Compiler
    >>> compiler = Compiler("examples/doc/01-text.yaml")
    >>> compiler.compile().json()
    b'{"from":"8F0792F86035A9F4290821F1EE6BC06A",...}'

`compile_file` streams one `Result` per recipient; `compile_definition` and
`check_definitions` are the CLI's `compile` and `check` as functions.
"""

from __future__ import annotations

from linepress.definition import Definition, load_definition, parse_definition
from linepress.errors import (
    DataError,
    DefinitionError,
    LinepressError,
    Location,
    Problem,
    UsageError,
)
from linepress.operations.compile import (
    CompileOptions,
    DataOptions,
    check_definitions,
    compile_definition,
)
from linepress.pipeline import Compiler, Result, compile_file
from linepress.recipients.records import BadRecord, Record, open_records
from linepress.report import ProblemLog

__all__ = [
    "BadRecord",
    "CompileOptions",
    "Compiler",
    "DataError",
    "DataOptions",
    "Definition",
    "DefinitionError",
    "LinepressError",
    "Location",
    "Problem",
    "ProblemLog",
    "Record",
    "Result",
    "UsageError",
    "check_definitions",
    "compile_definition",
    "compile_file",
    "load_definition",
    "open_records",
    "parse_definition",
]
