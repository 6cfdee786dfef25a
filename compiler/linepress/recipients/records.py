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
import shutil
import sys
import tempfile
import weakref
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import IO

from linepress.errors import DataError, Location, Problem, UsageError, describe
from linepress.recipients.delimited import read_csv
from linepress.recipients.encoding import (
    DEFAULT_MAX_RECORD,
    MAX_RECORD_CAP,
    RecordWatch,
    Replay,
    check_encoding,
    text_lines,
)
from linepress.recipients.guess import SAMPLE_SIZE
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
    Tally,
    make_record,
)
from linepress.recipients.xlsx import read_xlsx

__all__ = [
    "CHUNK_SIZE",
    "DEFAULT_MAX_RECORD",
    "EXTENSIONS",
    "STDIN_NAME",
    "BadRecord",
    "Format",
    "Item",
    "ReadOptions",
    "Record",
    "RecordSource",
    "Row",
    "check_options",
    "open_records",
]

#: Bytes read at a time from JSON input and while sniffing (tests shrink it).
CHUNK_SIZE = 64 * 1024

#: File name extensions we recognise, and the format each one means.
EXTENSIONS: dict[str, Format | None] = {
    ".csv": "csv",
    ".tsv": "csv",
    # Excel's "Unicode Text" and "Text (Tab delimited)": sniffed and read by content.
    ".txt": None,
    ".json": "json",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".xlsx": "xlsx",
    ".xlsm": "xlsx",
}

STDIN_NAME = "<stdin>"


def open_records(
    source: str | os.PathLike[str] | None,
    *,
    format: Format | None = None,
    delimiter: str | None = None,
    encoding: str | None = None,
    sheet: str | None = None,
    max_record_size: int = DEFAULT_MAX_RECORD,
    stdin: IO[bytes] | None = None,
) -> RecordSource:
    """Records from the file `source`, or from standard input for "-" or None.

    `format` None guesses from the extension (.csv, .tsv, .txt, .json, .jsonl,
    .ndjson); standard input and unknown extensions are sniffed: `[` means a
    JSON array, `{` JSON Lines, anything else CSV. `delimiter` None means the
    delimiter rule (see `delimited`): `,` (tab for .tsv) unless the header says
    otherwise. `encoding` (CSV only; any Python codec) None means UTF-8 unless a
    byte order mark says otherwise. `max_record_size` (bytes) caps one line or
    record. Nothing is opened until the records (or columns) are asked for, so
    errors about the file itself surface then, as `DataError`; bad options raise
    `UsageError` at once.
    """
    if format not in (None, "csv", "json", "jsonl", "xlsx"):
        raise UsageError(
            Problem(
                f"unknown data format {format!r}: expected csv, json, jsonl or xlsx", found=None
            )
        )
    if delimiter is not None and (
        not isinstance(delimiter, str) or len(delimiter) != 1 or delimiter in '"\r\n'
    ):
        raise UsageError(
            Problem(
                "the CSV delimiter must be one character other than a quote or a newline",
                found=describe(delimiter),
            )
        )
    if encoding is not None:
        encoding = check_encoding(encoding)
    if not isinstance(max_record_size, int) or not 1 <= max_record_size <= MAX_RECORD_CAP:
        raise UsageError(
            Problem(
                "the record size cap must be from 1 byte to 2 GiB",
                found=describe(max_record_size),
            )
        )
    options = _Options(delimiter, encoding, max_record_size, sheet)
    if source is None or source == "-":
        return _StreamSource(None, STDIN_NAME, format, options, stdin)
    path = os.fspath(source)
    extension = os.path.splitext(path)[1].lower()
    if extension == ".tsv":
        options.default = "\t"
    # A .csv or .tsv name says which delimiter the file has; a .txt export, standard
    # input or an unknown name does not, so only those may take one from the header.
    options.declared = extension in (".csv", ".tsv")
    if extension == ".xls" and format is None:
        raise DataError(
            Problem(
                "is an Excel 97-2003 workbook (.xls), which linepress does not read: "
                "save it from Excel as .xlsx (or as CSV UTF-8)",
                Location(path),
                code="data-xlsx",
            )
        )
    check_options(path, format=format, delimiter=delimiter, encoding=encoding, sheet=sheet)
    return _StreamSource(path, path, format or EXTENSIONS.get(extension), options, stdin)


def check_options(
    source: str | os.PathLike[str] | None,
    *,
    format: Format | None = None,
    delimiter: str | None = None,
    encoding: str | None = None,
    sheet: str | None = None,
) -> None:
    """UsageError when a reading option does nothing for the data `source` (never ignored).

    `--delimiter` and `--encoding` apply to CSV/TSV, `--sheet` to .xlsx. The format is
    `format`, else the extension's, else (.txt, unknown names) the file's first bytes'.
    Standard input is checked once it is sniffed, when it is read.
    """
    if source is None or source == "-" or (delimiter, encoding, sheet) == (None, None, None):
        return
    path = os.fspath(source)
    format = format or EXTENSIONS.get(os.path.splitext(path)[1].lower())
    if format is None:
        # A .txt export or an unknown name: which options apply depends on the content.
        format = _peek_format(path)
    _check_applies(format, _Options(delimiter, encoding, 0, sheet), path)


#: The reading options that apply to each format, and what each is for.
_APPLIES: dict[str, tuple[str, tuple[Format, ...]]] = {
    "delimiter": ("CSV/TSV", ("csv",)),
    "encoding": ("CSV/TSV (JSON is UTF-8; an .xlsx says its own)", ("csv",)),
    "sheet": (".xlsx", ("xlsx",)),
}


def _check_applies(format: Format, options: _Options, name: str) -> None:
    """UsageError for an option given that does nothing for `format` (never ignored silently).

    A flag that does not apply is a sign the user has another file in mind (an
    --encoding for the CSV export, given with the .xlsx): saying so beats a
    reading that silently differs from what was asked.
    """
    given = {
        "delimiter": options.delimiter,
        "encoding": options.encoding,
        "sheet": options.sheet,
    }
    for flag, value in given.items():
        what, formats = _APPLIES[flag]
        if value is not None and format not in formats:
            kind = {"csv": "CSV", "json": "JSON", "jsonl": "JSON Lines", "xlsx": ".xlsx"}[format]
            raise UsageError(
                Problem(
                    f"--{flag} applies to {what} data only, and {name} is read as {kind}: "
                    f"leave out --{flag}",
                    found=f"--{flag} {value}",
                    code="usage-option",
                )
            )


@dataclass(frozen=True, slots=True)
class ReadOptions:
    """How to read recipient data, beyond its path, format and delimiter."""

    #: Text encoding of CSV/TSV (any Python codec); None: UTF-8 unless a byte order mark says.
    encoding: str | None = None
    #: The worksheet of an .xlsx file; None: the first.
    sheet: str | None = None
    #: Cap on one line or record, in bytes.
    max_record_size: int = DEFAULT_MAX_RECORD


@dataclass(slots=True)
class _Options:
    delimiter: str | None
    encoding: str | None
    limit: int
    sheet: str | None
    #: The delimiter when none is given and the header does not say otherwise.
    default: str = ","
    #: Whether the file's name declares `default` (.csv, .tsv): then a header that splits
    #: on another delimiter is refused with the flag to pass, never read silently.
    declared: bool = False


class _StreamSource(RecordSource):
    def __init__(
        self,
        path: str | None,
        name: str,
        format: Format | None,
        options: _Options,
        stdin: IO[bytes] | None,
    ) -> None:
        self.name = name
        self._path = path
        self._format = format
        self._options = options
        self._tally = Tally()
        self._stdin = stdin
        self._columns: tuple[str, ...] | None = None
        # A reader started early (to learn the CSV header) that the next
        # iteration takes over, so stdin is not read twice.
        self._pending: Reader | None = None
        self._stdin_taken = False
        self._live: weakref.WeakSet[Reader] = weakref.WeakSet()
        #: Columns that feed recipient keys, besides to/from (see `key_columns`).
        self._watched: set[str] = set()

    @property
    def columns(self) -> tuple[str, ...] | None:
        if self._format in ("json", "jsonl"):
            return None
        if self._columns is None and self._pending is None:
            self._pending = self._start()
        return self._columns

    def __iter__(self) -> Iterator[Item]:
        reader, self._pending = self._pending or self._start(), None
        if self._format in ("csv", "xlsx"):  # known once a reader has started
            return self._records(reader)  # type: ignore[arg-type]  # past Ready
        return reader  # type: ignore[return-value]  # past Ready, only items follow

    def rows(self) -> Iterator[Row | BadRecord] | None:
        if self.columns is None:  # JSON: no columns to index by
            return None
        reader, self._pending = self._pending or self._start(), None
        return reader  # type: ignore[return-value]  # past Ready: rows, see read_csv

    @property
    def blank_rows(self) -> int:
        return self._tally.blank_rows

    def key_columns(self, names: Iterable[str]) -> None:
        self._watched.update(names)

    @property
    def notes(self) -> list[Problem]:
        return self._tally.notes

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
        if self._format == "xlsx" and self._path is not None:
            # The workbook is a zip: openpyxl opens (and seeks in) the file itself.
            self._tally = Tally()
            try:
                yield from read_xlsx(
                    self._path,
                    self.name,
                    sheet=self._options.sheet,
                    tally=self._tally,
                    watched=self._watched,
                )
            except OSError as exc:
                raise DataError(_open_problem(self.name, exc)) from None
            return
        try:
            with self._open() as raw:
                stream, fmt = raw, self._format
                if fmt is None:
                    fmt, stream = _sniff(raw)
                    _check_applies(fmt, self._options, self.name)
                    self._format = fmt
                if fmt == "xlsx":  # from standard input: spooled to a seekable file
                    with tempfile.SpooledTemporaryFile(CHUNK_SIZE * 64) as spool:
                        shutil.copyfileobj(stream, spool)
                        spool.seek(0)
                        self._tally = Tally()
                        yield from read_xlsx(
                            spool,
                            self.name,
                            sheet=self._options.sheet,
                            tally=self._tally,
                            watched=self._watched,
                        )
                elif fmt == "csv":
                    if _is_workbook(stream):
                        # A workbook saved under a .csv name: say so, not "not UTF-8".
                        raise DataError(
                            Problem(
                                "is an Excel workbook (.xlsx), not CSV text: name it .xlsx "
                                "or pass --data-format xlsx",
                                Location(self.name),
                                code="data-format",
                            )
                        )
                    yield from self._csv(stream)
                elif fmt == "json":
                    yield from read_json(stream, self.name, CHUNK_SIZE, self._options.limit)
                else:
                    yield from read_jsonl(stream, self.name, self._options.limit)
        except OSError as exc:
            raise DataError(_open_problem(self.name, exc)) from None
        except UnicodeError as exc:  # a codec's own refusal (`utf-16` with no BOM, `punycode`)
            # Decoding errors with a position are located where they happen; this is
            # what a codec raises about the whole stream.
            hint = ""
            if "BOM" in str(exc):  # UTF-16/32 with no byte order mark: name the order
                hint = "; name the byte order, e.g. --encoding utf-16-le (Excel on Windows)"
            raise DataError(
                Problem(
                    f"cannot be read as {self._options.encoding or 'its encoding'} text: "
                    f"{exc}{hint}",
                    Location(self.name, 1),
                    found=f"--encoding {self._options.encoding}"
                    if self._options.encoding
                    else None,
                    code="data-encoding",
                )
            ) from None

    def _csv(self, stream: IO[bytes]) -> Reader:
        options = self._options
        self._tally = Tally()  # each reading counts afresh
        watch = RecordWatch()
        lines = text_lines(
            stream,
            self.name,
            encoding=options.encoding,
            limit=options.limit,
            sample=self._sample if self._path is not None else None,
            watch=watch,
        )
        return read_csv(
            lines,
            self.name,
            delimiter=options.delimiter,
            default=options.default,
            declared=options.declared,
            limit=options.limit,
            tally=self._tally,
            watch=watch,
        )

    def _sample(self) -> bytes:
        """The file's first bytes, for the encoding hint (read again: errors only)."""
        assert self._path is not None
        try:
            with open(self._path, "rb") as again:
                return again.read(SAMPLE_SIZE)
        except OSError:
            return b""

    def _open(self) -> AbstractContextManager[IO[bytes]]:
        if self._path is None:
            # Not ours to close: the caller (or the interpreter) owns stdin.
            return nullcontext(self._stdin or sys.stdin.buffer)
        try:
            return open(self._path, "rb")
        except OSError as exc:
            raise DataError(_open_problem(self.name, exc)) from None


#: The first bytes of a zip file, which an .xlsx workbook is.
ZIP_MAGIC = b"PK\x03\x04"


def _is_workbook(stream: IO[bytes]) -> bool:
    """Whether a file opened as CSV starts like a zip (an .xlsx under another name).

    Peeked, not read: the CSV reader still sees every byte. Streams that cannot
    peek (standard input is sniffed instead) count as text.
    """
    peek = getattr(stream, "peek", None)
    return peek is not None and bytes(peek(len(ZIP_MAGIC))[: len(ZIP_MAGIC)]) == ZIP_MAGIC


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
    if head.startswith(ZIP_MAGIC):  # a zip: an .xlsx workbook
        fmt = "xlsx"
    return fmt, io.BufferedReader(Replay(head, raw), CHUNK_SIZE)


def _peek_format(path: str) -> Format:
    """The format `_sniff` will find in the file at `path` (csv when it cannot be read)."""
    try:
        with open(path, "rb") as raw:
            return _sniff(raw)[0]
    except OSError:
        return "csv"  # the reading reports it, located


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
