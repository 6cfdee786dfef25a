"""Recipient data as a stream of records, each knowing where it came from.

`open_records()` reads CSV (with a header row), a JSON array of objects, or
JSON Lines, from a file or standard input, and yields one `Record` per data
record, or a `BadRecord` for a record that cannot be used (a ragged CSV row, a
JSON element that is not an object) so the caller can report it and go on.
Problems that make the whole file unusable (missing file, not UTF-8, broken
JSON syntax, a bad CSV header) raise `DataError` instead.

Everything is streamed: only the current record (and one read-ahead chunk)
is held in memory, so a million-row file costs no more than a ten-row one.

This module opens the input and picks the reader; the readers live in
`delimited` (CSV) and `jsonrecords` (JSON, JSONL), the record types in `source`.
"""

from __future__ import annotations

import codecs
import io
import os
import sys
import weakref
from collections.abc import Iterator
from contextlib import AbstractContextManager, nullcontext
from typing import IO

from linepress.errors import DataError, Location, Problem, UsageError, describe
from linepress.recipients.delimited import read_csv
from linepress.recipients.jsonrecords import read_json, read_jsonl
from linepress.recipients.source import (
    BadRecord,
    Format,
    Item,
    Reader,
    Ready,
    Record,
    RecordSource,
    Row,
    make_record,
)

__all__ = [
    "CHUNK_SIZE",
    "EXTENSIONS",
    "STDIN_NAME",
    "BadRecord",
    "Format",
    "Item",
    "Record",
    "RecordSource",
    "Row",
    "open_records",
]

#: Bytes read at a time from JSON input and while sniffing (tests shrink it).
CHUNK_SIZE = 64 * 1024

#: File name extensions we recognise, and the format each one means.
EXTENSIONS: dict[str, Format] = {
    ".csv": "csv",
    ".tsv": "csv",
    ".json": "json",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}

STDIN_NAME = "<stdin>"


def open_records(
    source: str | os.PathLike[str] | None,
    *,
    format: Format | None = None,
    delimiter: str = ",",
    stdin: IO[bytes] | None = None,
) -> RecordSource:
    """Records from the file `source`, or from standard input for "-" or None.

    `format` None guesses from the extension (.csv, .tsv, .json, .jsonl,
    .ndjson); standard input and unknown extensions are sniffed: `[` means a
    JSON array, `{` JSON Lines, anything else CSV. A .tsv file defaults to a
    tab delimiter. Nothing is opened until the records (or columns) are asked
    for, so errors about the file itself surface then, as `DataError`.
    """
    if format not in (None, "csv", "json", "jsonl"):
        raise UsageError(
            Problem(f"unknown data format {format!r}: expected csv, json or jsonl", found=None)
        )
    if not isinstance(delimiter, str) or len(delimiter) != 1 or delimiter in '"\r\n':
        raise UsageError(
            Problem(
                "the CSV delimiter must be one character other than a quote or a newline",
                found=describe(delimiter),
            )
        )
    if source is None or source == "-":
        return _StreamSource(None, STDIN_NAME, format, delimiter, stdin)
    path = os.fspath(source)
    extension = os.path.splitext(path)[1].lower()
    if extension == ".tsv" and delimiter == ",":
        delimiter = "\t"
    return _StreamSource(path, path, format or EXTENSIONS.get(extension), delimiter, stdin)


class _StreamSource(RecordSource):
    def __init__(
        self,
        path: str | None,
        name: str,
        format: Format | None,
        delimiter: str,
        stdin: IO[bytes] | None,
    ) -> None:
        self.name = name
        self._path = path
        self._format = format
        self._delimiter = delimiter
        self._stdin = stdin
        self._columns: tuple[str, ...] | None = None
        # A reader started early (to learn the CSV header) that the next
        # iteration takes over, so stdin is not read twice.
        self._pending: Reader | None = None
        self._stdin_taken = False
        self._live: weakref.WeakSet[Reader] = weakref.WeakSet()

    @property
    def columns(self) -> tuple[str, ...] | None:
        if self._format in ("json", "jsonl"):
            return None
        if self._columns is None and self._pending is None:
            self._pending = self._start()
        return self._columns

    def __iter__(self) -> Iterator[Item]:
        reader, self._pending = self._pending or self._start(), None
        if self._format == "csv":  # known once a reader has started
            return self._records(reader)  # type: ignore[arg-type]  # past Ready
        return reader  # type: ignore[return-value]  # past Ready, only items follow

    def rows(self) -> Iterator[Row | BadRecord] | None:
        if self.columns is None:  # JSON: no columns to index by
            return None
        reader, self._pending = self._pending or self._start(), None
        return reader  # type: ignore[return-value]  # past Ready: rows, see read_csv

    def _records(self, rows: Iterator[Row | BadRecord]) -> Iterator[Item]:
        """CSV rows as `Record`s."""
        name, columns = self.name, self._columns
        assert columns is not None
        for item in rows:
            if isinstance(item, BadRecord):
                yield item
                continue
            number, line, values = item
            yield make_record(number, name, line, dict(zip(columns, values, strict=True)))

    def close(self) -> None:
        for reader in list(self._live):
            reader.close()
        self._pending = None

    def _start(self) -> Reader:
        """A new reader, advanced past its Ready (so opening errors raise here)."""
        if self._path is None:
            if self._stdin_taken:
                raise RuntimeError("standard input can only be read once")
            self._stdin_taken = True
        reader = self._read()
        self._live.add(reader)
        ready = next(reader)
        assert isinstance(ready, Ready)
        if ready.columns is not None:
            self._columns = ready.columns
        return reader

    def _read(self) -> Reader:
        try:
            with self._open() as raw:
                stream, fmt = raw, self._format
                if fmt is None:
                    fmt, stream = _sniff(raw)
                    self._format = fmt
                if fmt == "csv":
                    yield from read_csv(stream, self.name, self._delimiter)
                elif fmt == "json":
                    yield from read_json(stream, self.name, CHUNK_SIZE)
                else:
                    yield from read_jsonl(stream, self.name)
        except OSError as exc:
            raise DataError(_open_problem(self.name, exc)) from None

    def _open(self) -> AbstractContextManager[IO[bytes]]:
        if self._path is None:
            # Not ours to close: the caller (or the interpreter) owns stdin.
            return nullcontext(self._stdin or sys.stdin.buffer)
        try:
            return open(self._path, "rb")
        except OSError as exc:
            raise DataError(_open_problem(self.name, exc)) from None


def _sniff(raw: IO[bytes]) -> tuple[Format, IO[bytes]]:
    """Guess the format from the first non-blank byte; replay what was read."""
    head = b""
    read = getattr(raw, "read1", raw.read)
    first = b""
    while True:
        chunk = read(CHUNK_SIZE)
        if not chunk:
            break
        head += chunk
        first = head.removeprefix(codecs.BOM_UTF8).lstrip(b" \t\r\n")[:1]
        if first:
            break
    fmt: Format = "json" if first == b"[" else "jsonl" if first == b"{" else "csv"
    return fmt, io.BufferedReader(_Replay(head, raw), CHUNK_SIZE)


class _Replay(io.RawIOBase):
    """`head` again, then the rest of `rest`: un-reads what sniffing consumed."""

    def __init__(self, head: bytes, rest: IO[bytes]) -> None:
        super().__init__()
        self._head = memoryview(head)
        self._rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        if self._head:
            n = min(len(buffer), len(self._head))
            buffer[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        data = self._rest.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def _open_problem(name: str, exc: OSError) -> Problem:
    location = Location(name)
    if isinstance(exc, FileNotFoundError):
        return Problem("no such file", location, code="data-missing")
    if isinstance(exc, IsADirectoryError) or (
        isinstance(exc, PermissionError) and os.path.isdir(name)
    ):
        return Problem("is a directory, expected a data file", location, code="data-unreadable")
    if isinstance(exc, PermissionError):
        return Problem("permission denied: cannot read it", location, code="data-unreadable")
    reason = exc.strerror or str(exc)
    return Problem(f"cannot be read: {reason}", location, code="data-unreadable")
