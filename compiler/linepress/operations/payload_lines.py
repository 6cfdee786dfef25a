"""The text of a payload file's lines, read forward once, for locating problems.

Bodies are parsed by the record reader, which keeps no positions. Only a body with
a problem needs its line again: `PayloadLines` reads the file a second time, only
as far as the last line asked for and only when asked, so a clean file costs
nothing and memory stays one line.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import IO

from linepress.errors import Location
from linepress.validate.json_position import value_column

#: A line longer than this is not scanned for a column (the line number still says).
MAX_LINE = 8 * 1024 * 1024


class PayloadLines:
    """`locate(location, path)`: the record's location with the column of `path`."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._file: IO[str] | None = None
        self._number = 0  # the number of the line last read
        self._text = ""
        self._failed = not path.is_file()  # stdin, a FIFO: located by line only

    def __enter__(self) -> PayloadLines:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._file is not None:
            self._file.close()

    def locate(
        self, location: Location, path: Sequence[str | int], *, key: bool = False
    ) -> Location:
        """`location` (a record's file and line) with the column where the value at
        `path` (or its key) is written; as it was when that cannot be found."""
        line = self._line(location.line)
        if line is None:
            return location
        column = value_column(line, path, key=key)
        return location if column is None else Location(location.file, location.line, column)

    def _line(self, number: int | None) -> str | None:
        if self._failed or number is None or number < self._number:
            return None
        try:
            if self._file is None:
                # As the record reader decodes it: UTF-8, a BOM dropped.
                self._file = self._path.open(encoding="utf-8-sig", errors="replace", newline="\n")
            while self._number < number:
                self._text = self._file.readline(MAX_LINE + 1)
                if not self._text:
                    self._failed = True
                    return None
                if len(self._text) > MAX_LINE:  # too long to scan: its rest skipped
                    rest = self._text
                    while rest and not rest.endswith("\n"):
                        rest = self._file.readline(MAX_LINE)
                    self._text = ""
                self._number += 1
        except OSError:
            self._failed = True
            return None
        return self._text or None
