"""Problems a user can cause, and the one exception tree that carries them.

A `Problem` is a value: where (definition file, line, column; data row), which
field, what is wrong and what was found. Code that can find many problems
collects them and keeps going; code that cannot go on raises an exception
that carries its problems. The CLI prints them with a reporter and exits with
the exception's `exit_code`.

    LinepressError                 exit 1: content errors
    ├── DefinitionError            the definition file cannot be used
    ├── DataError                  the recipient data cannot be read
    └── UsageError                 exit 2: bad options or arguments
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Literal

Severity = Literal["error", "warning"]

#: How many characters of a found value an error message shows.
FOUND_LIMIT = 60


@dataclass(frozen=True, slots=True)
class Location:
    """A place in a file; line and column count from 1."""

    file: str
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        parts = [self.file]
        if self.line is not None:
            parts.append(str(self.line))
            if self.column is not None:
                parts.append(str(self.column))
        return ":".join(parts)


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong, with everything needed to find and fix it."""

    message: str
    location: Location | None = None
    path: str = ""
    found: str | None = None
    #: Recipient record number, counting data records from 1.
    row: int | None = None
    #: The data file and line where that record starts, when it helps to say so.
    data_location: Location | None = None
    severity: Severity = "error"
    #: Machine-readable kind, e.g. "yaml-syntax", "unknown-key", "schema".
    code: str = "error"
    #: The text report shows the file's line with a caret under the column
    #: (YAML mistakes, where seeing the line is most of the fix).
    show_source: bool = False

    def at_row(self, row: int, data_location: Location | None = None) -> Problem:
        """The same problem, stamped with the recipient it happened for."""
        return replace(self, row=row, data_location=data_location)

    def format(self) -> str:
        """`FILE:LINE:COL: [row N (data.csv:L):] field.path: message (found X)`."""
        head = str(self.location) if self.location else "linepress"
        parts = [head]
        if self.row is not None:
            where = f"row {self.row}"
            # The data file's line helps where it differs from the row (a header,
            # multi-line fields); a problem already placed in the data file has it.
            if (
                self.data_location is not None
                and self.data_location.line is not None
                and self.data_location != self.location
            ):
                where += f" ({self.data_location})"
            parts.append(where)
        if self.path:
            parts.append(self.path)
        text = self.message
        if self.found is not None:
            text += f" (found {self.found})"
        if self.severity == "warning":
            text = "warning: " + text
        parts.append(text)
        return ": ".join(parts)

    def __str__(self) -> str:
        return self.format()


def describe(value: object) -> str:
    """A short, safe rendering of a found value for an error message."""
    if isinstance(value, str):
        shown = value if len(value) <= FOUND_LIMIT else value[: FOUND_LIMIT - 1] + "…"
        return repr(shown)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, dict):
        return f"an object with keys {', '.join(map(str, list(value)[:6]))}" if value else "{}"
    if isinstance(value, list):
        return f"a list of {len(value)}"
    return type(value).__name__


def type_name(value: object) -> str:
    """The JSON name of a Python value's type."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


class LinepressError(Exception):
    """Base of every error a user can cause; carries one or more problems."""

    exit_code = 1

    def __init__(self, problems: Problem | Iterable[Problem]) -> None:
        self.problems = [problems] if isinstance(problems, Problem) else list(problems)
        super().__init__("\n".join(p.format() for p in self.problems))

    def __str__(self) -> str:
        return "\n".join(p.format() for p in self.problems)


class DefinitionError(LinepressError):
    """The definition file cannot be used: YAML, keys, types or Jinja syntax."""


class DataError(LinepressError):
    """The recipient data cannot be read: missing file, encoding, shape."""


class UsageError(LinepressError):
    """Bad options or arguments on the command line."""

    exit_code = 2


_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


def format_path(path: Iterable[str | int]) -> str:
    """`("message", "template", "columns", 0, "text")` -> `message.template.columns[0].text`."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _IDENTIFIER.match(part):
            out += f".{part}" if out else part
        else:
            out += f"[{json.dumps(part, ensure_ascii=False)}]"
    return out
