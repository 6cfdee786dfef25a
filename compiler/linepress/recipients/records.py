"""Recipient data as a stream of records, each knowing where it came from.

`open_records()` reads CSV (with a header row), a JSON array of objects, or
JSON Lines, from a file or standard input, and yields one `Record` per data
record, or a `BadRecord` for a record that cannot be used (a ragged CSV row, a
JSON element that is not an object) so the caller can report it and go on.
Problems that make the whole file unusable (missing file, not UTF-8, broken
JSON syntax, a bad CSV header) raise `DataError` instead.

Everything is streamed: only the current record (and one read-ahead chunk)
is held in memory, so a million-row file costs no more than a ten-row one.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import os
import re
import sys
import weakref
from abc import ABC, abstractmethod
from collections.abc import Callable, Generator, Iterator, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from itertools import chain
from types import TracebackType
from typing import IO, Literal

from linepress.errors import DataError, Location, Problem, UsageError, describe, type_name

Format = Literal["csv", "json", "jsonl"]

#: Bytes read at a time from JSON input (tests shrink it to split elements).
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


@dataclass(frozen=True, slots=True)
class Record:
    """One recipient's data."""

    #: Data record number, counting from 1 (a CSV header is not a record).
    number: int
    #: The data file and the line where the record starts; column None.
    location: Location
    #: Field name -> value (CSV: str; JSON: any JSON value).
    fields: Mapping[str, object]


@dataclass(frozen=True, slots=True)
class BadRecord:
    """A record that cannot be used; the problem says why."""

    number: int
    location: Location
    #: Already stamped with row=number and data_location=location.
    problem: Problem


Item = Record | BadRecord
#: A good CSV record as `RecordSource.rows()` gives it: (number, line, values).
Row = tuple[int, int, list[str]]


class RecordSource(ABC):
    """Where records come from: iterate it for `Record`s and `BadRecord`s.

    Use it as a context manager (or call `close()`) to release the file early
    when iteration stops before the end.
    """

    #: Display name: the path as given, or "<stdin>".
    name: str

    @property
    @abstractmethod
    def columns(self) -> tuple[str, ...] | None:
        """The CSV header, known before the first record; None for JSON."""

    @abstractmethod
    def __iter__(self) -> Iterator[Item]: ...

    def rows(self) -> Iterator[Row | BadRecord] | None:
        """The records as plain rows, for consumers that index by column: or None.

        CSV only: each good record is a `Row` (number, the line it starts on, its
        values in `columns` order); bad records come as usual. It skips making a
        dict and a `Record` per row. Like iterating, it reads the data once.
        """
        return None

    def close(self) -> None:  # noqa: B027 - optional hook, nothing to release by default
        """Release any open file."""

    def __enter__(self) -> RecordSource:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


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


# --------------------------------------------------------------------------- #
# The source


class _Ready:
    """Yielded once by a reader when the file is open (and any header read)."""


_READY = _Ready()

_Reader = Generator[Item | Row | _Ready, None, None]


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
        self._pending: _Reader | None = None
        self._stdin_taken = False
        self._live: weakref.WeakSet[_Reader] = weakref.WeakSet()

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
            return self._records(reader)  # type: ignore[arg-type]  # past _READY
        return reader  # type: ignore[return-value]  # past _READY, only items follow

    def rows(self) -> Iterator[Row | BadRecord] | None:
        if self.columns is None:  # JSON: no columns to index by
            return None
        reader, self._pending = self._pending or self._start(), None
        return reader  # type: ignore[return-value]  # past _READY: rows, see _csv

    def _records(self, rows: Iterator[Row | BadRecord]) -> Iterator[Item]:
        """CSV rows as `Record`s."""
        name, columns = self.name, self._columns
        assert columns is not None
        for item in rows:
            if isinstance(item, BadRecord):
                yield item
                continue
            number, line, values = item
            yield _record(number, name, line, dict(zip(columns, values, strict=True)))

    def close(self) -> None:
        for reader in list(self._live):
            reader.close()
        self._pending = None

    def _start(self) -> _Reader:
        """A new reader, advanced past its _READY (so opening errors raise here)."""
        if self._path is None:
            if self._stdin_taken:
                raise RuntimeError("standard input can only be read once")
            self._stdin_taken = True
        reader = self._read()
        self._live.add(reader)
        next(reader)
        return reader

    def _read(self) -> _Reader:
        try:
            with self._open() as raw:
                stream, fmt = raw, self._format
                if fmt is None:
                    fmt, stream = _sniff(raw)
                    self._format = fmt
                if fmt == "csv":
                    yield from self._csv(stream)
                elif fmt == "json":
                    yield from self._json(stream)
                else:
                    yield from self._jsonl(stream)
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

    # ----------------------------------------------------------------- CSV

    def _csv(self, raw: IO[bytes]) -> _Reader:
        name = self.name
        first = raw.readline()
        bom = _check_bom(first, name)
        try:
            first_text = first[bom:].decode()
        except UnicodeDecodeError as exc:
            raise _not_utf8(name, exc, line=1, offset=bom) from None
        # Bytes split on b"\n" and decoded line by line: faster than a
        # TextIOWrapper, and a decoding error names its exact line.
        reader = csv.reader(
            chain((first_text,), map(bytes.decode, raw)), delimiter=self._delimiter, strict=True
        )

        header: list[str] | None = None
        header_line = 1
        try:
            for row in reader:
                if row and (len(row) > 1 or row[0].strip()):
                    header = row
                    break
                header_line = reader.line_num + 1
        except csv.Error as exc:
            raise DataError(
                Problem(
                    f"the header row is not valid CSV: {exc}",
                    Location(name, header_line),
                    code="data-csv",
                )
            ) from None
        except UnicodeDecodeError as exc:
            raise _not_utf8(name, exc, line=reader.line_num + 1, offset=_tell(raw, exc)) from None
        if header is None:
            raise DataError(
                Problem("is empty: expected a header row", Location(name), code="data-empty")
            )
        columns = _check_header(header, Location(name, header_line))
        self._columns = columns
        yield _READY

        ncols = len(columns)
        wide = ncols > 1  # with one column, a blank line is not an empty value
        number = 0
        prev = reader.line_num
        while True:
            try:
                # The hot loop: keep it to csv.reader and one tuple per row.
                for row in reader:
                    start = prev + 1
                    prev = reader.line_num
                    if len(row) == ncols and (wide or row[0].strip()):
                        number += 1
                        yield number, start, row  # a Row: see rows()
                    elif row and (len(row) > 1 or row[0].strip()):
                        number += 1
                        yield _ragged(name, number, start, row, columns, self._delimiter)
                break
            except csv.Error as exc:
                start = prev + 1
                if reader.line_num < start:  # no progress: never loop on one error
                    raise DataError(
                        Problem(f"is not valid CSV: {exc}", Location(name, start), code="data-csv")
                    ) from None
                prev = reader.line_num
                number += 1
                yield _bad(name, number, start, _csv_message(exc, start), "data-csv")
            except UnicodeDecodeError as exc:
                raise _not_utf8(
                    name, exc, line=reader.line_num + 1, offset=_tell(raw, exc)
                ) from None

    # ---------------------------------------------------------------- JSON

    def _json(self, raw: IO[bytes]) -> _Reader:
        name = self.name
        cur = _JsonCursor(_Utf8Chunks(raw, name))
        decode = json.JSONDecoder().raw_decode

        ch = cur.skip_space()
        if not ch:
            raise DataError(
                Problem("is empty: expected a JSON array", Location(name), code="data-empty")
            )
        if ch != "[":
            hint = (
                "; for one object per line use JSON Lines (.jsonl, --data-format jsonl)"
                if ch == "{"
                else ""
            )
            raise cur.error(f"expected a JSON array of records, starting with '['{hint}", cur.pos)
        cur.pos += 1
        yield _READY

        number = 0
        ch = cur.skip_space()
        if ch == "]":
            cur.pos += 1
            ch = ""
        else:
            while True:
                if not ch:
                    raise cur.error(
                        "the file ends inside the JSON array: expected a record", cur.pos
                    )
                if ch == "]":
                    raise cur.error(
                        f"expected a record after ',' following record {number}", cur.pos
                    )
                # Decode one element; if it may run past what is buffered,
                # read more and retry. The buffer at least doubles on each
                # retry, so a huge element costs linear time, not quadratic.
                while True:
                    buf, pos = cur.buf, cur.pos
                    try:
                        value, end = decode(buf, pos)
                    except RecursionError:  # thousands of levels: skip it, a bad record
                        value, end = _TOO_DEEP, _end_of_nested(cur)
                        pos = cur.pos
                        break
                    except json.JSONDecodeError as exc:
                        if not cur.eof and (
                            exc.pos >= len(buf) - _MAY_CONTINUE
                            or exc.msg.startswith("Unterminated string")
                        ):
                            cur.fill(grow=True)
                            continue
                        raise cur.error(f"invalid JSON: {exc.msg}", exc.pos) from None
                    # A number or literal ending at the buffer's end may go on.
                    if end >= len(buf) - _MAY_CONTINUE and not cur.eof:
                        cur.fill(grow=True)
                        continue
                    break
                number += 1
                line, col = cur.locate(pos)
                if value is _TOO_DEEP:
                    yield _bad(name, number, line, _TOO_DEEP_MESSAGE, "data-json-depth", column=col)
                else:
                    yield _object_record(number, name, line, value, column=col)
                cur.pos = end
                ch = cur.skip_space()
                if ch == ",":
                    cur.pos += 1
                    ch = cur.skip_space()
                elif ch == "]":
                    cur.pos += 1
                    break
                elif not ch:
                    raise cur.error(
                        f"the file ends inside the JSON array: expected ',' or ']' "
                        f"after record {number}",
                        cur.pos,
                    )
                else:
                    raise cur.error(f"expected ',' or ']' after record {number}", cur.pos)
        ch = cur.skip_space()
        if ch:
            raise cur.error("unexpected data after the end of the JSON array", cur.pos)

    # --------------------------------------------------------------- JSONL

    def _jsonl(self, raw: IO[bytes]) -> _Reader:
        name = self.name
        decode = json.JSONDecoder().decode
        yield _READY
        number = 0
        offset = 0  # file offset of the current line, for encoding errors
        for lineno, line in enumerate(raw, 1):
            bom = _check_bom(line, name) if lineno == 1 else 0
            try:
                # Without its line break, an error at the end stays on this line.
                text = line[bom:].decode().rstrip("\r\n")
            except UnicodeDecodeError as exc:
                raise _not_utf8(name, exc, line=lineno, offset=offset + bom) from None
            offset += len(line)
            if not text.strip():
                continue
            number += 1
            try:
                value = decode(text)
            except RecursionError:
                yield _bad(name, number, lineno, _TOO_DEEP_MESSAGE, "data-json-depth", column=1)
                continue
            except json.JSONDecodeError as exc:
                yield _bad(
                    name,
                    number,
                    lineno,
                    f"invalid JSON: {exc.msg}",
                    "data-json-syntax",
                    column=exc.colno,
                    found=_found_at(text, exc.pos, "the end of the line"),
                )
                continue
            yield _object_record(number, name, lineno, value)


# --------------------------------------------------------------------------- #
# Building records fast

# A Record and its Location are made once per data row. The frozen
# dataclasses' __init__ (object.__setattr__ per field, defaults handling)
# costs as much as csv.reader parsing a 10-field row, so the hot paths fill
# the slots directly. The result is an ordinary, equal instance.
_new = object.__new__


def _slot_setter(cls: type, name: str) -> Callable[[object, object], None]:
    return vars(cls)[name].__set__  # type: ignore[no-any-return]  # the slot's descriptor


_set_file = _slot_setter(Location, "file")
_set_line = _slot_setter(Location, "line")
_set_column = _slot_setter(Location, "column")
_set_number = _slot_setter(Record, "number")
_set_location = _slot_setter(Record, "location")
_set_fields = _slot_setter(Record, "fields")


def _record(number: int, file: str, line: int, fields: Mapping[str, object]) -> Record:
    """Record(number, Location(file, line), fields), at half the cost."""
    loc = _new(Location)
    _set_file(loc, file)
    _set_line(loc, line)
    _set_column(loc, None)
    rec = _new(Record)
    _set_number(rec, number)
    _set_location(rec, loc)
    _set_fields(rec, fields)
    return rec


def _object_record(
    number: int, file: str, line: int, value: object, *, column: int | None = None
) -> Record | BadRecord:
    """A JSON value as a record: an object is one, anything else is a bad record."""
    if type(value) is dict:
        return _record(number, file, line, value)
    return _bad(
        file,
        number,
        line,
        f"is a JSON {type_name(value)}, expected an object",
        "data-not-object",
        column=column,
        found=describe(value),
    )


def _bad(
    file: str,
    number: int,
    line: int,
    message: str,
    code: str,
    *,
    column: int | None = None,
    found: str | None = None,
) -> BadRecord:
    where = Location(file, line)
    problem = Problem(
        message,
        Location(file, line, column),
        found=found,
        row=number,
        data_location=where,
        code=code,
    )
    return BadRecord(number, where, problem)


# --------------------------------------------------------------------------- #
# CSV helpers


def _check_header(row: list[str], where: Location) -> tuple[str, ...]:
    """Header names, stripped; every one named and unique, or DataError."""
    names = tuple(cell.strip() for cell in row)
    problems: list[Problem] = []
    seen: dict[str, int] = {}
    for index, column in enumerate(names, 1):
        if not column:
            problems.append(
                Problem(
                    f"column {index} of the header row has no name: every column needs one "
                    "(delete empty columns)",
                    where,
                    code="data-header",
                )
            )
        elif column in seen:
            problems.append(
                Problem(
                    f"column {index} of the header row, {describe(column)}, repeats column "
                    f"{seen[column]}: column names must be unique",
                    where,
                    code="data-header",
                )
            )
        else:
            seen[column] = index
    if problems:
        raise DataError(problems)
    return names


def _ragged(
    name: str, number: int, line: int, row: list[str], columns: tuple[str, ...], delimiter: str
) -> BadRecord:
    found = f"{len(row)} field{'' if len(row) == 1 else 's'}"
    message = f"has {found} but the header has {len(columns)}"
    if len(row) > len(columns):
        message += f" (a value containing {delimiter!r} must be in double quotes)"
    return _bad(name, number, line, message, "data-ragged-row")


def _csv_message(exc: csv.Error, start: int) -> str:
    text = str(exc)
    if "unexpected end of data" in text:
        return f"a quoted field starting on or after line {start} is never closed"
    if "expected after '\"'" in text:
        return f"is not valid CSV: {text} (a closing quote must end its field)"
    return f"is not valid CSV: {text}"


# --------------------------------------------------------------------------- #
# JSON helpers

#: How near the end of the buffer a JSON error (or a successful decode) must
#: be to mean "maybe incomplete": `false`, `\uXXXX` and a number's tail fit.
_MAY_CONTINUE = 8

_SPACE = re.compile(r"[ \t\r\n]*")


#: Stands for a JSON record too deeply nested for Python's decoder.
_TOO_DEEP = object()
_TOO_DEEP_MESSAGE = (
    "the record is nested too deeply (hundreds of levels of lists or objects); "
    "recipient data is a few levels deep"
)
_NESTING = re.compile(r'[\[\]{}"]')
_IN_STRING = re.compile(r'["\\]')


def _end_of_nested(cur: _JsonCursor) -> int:
    """Where the value at `cur.pos` ends, found by counting brackets (no recursion).

    Reads more of the file as needed, as the decoding loop does.
    """
    while True:
        buf, depth, at = cur.buf, 0, cur.pos
        while True:
            match = _NESTING.search(buf, at)
            if match is None:
                break
            char, at = match.group(), match.end()
            if char == '"':  # skip the string, escapes included
                while (inner := _IN_STRING.search(buf, at)) is not None:
                    at = inner.end() + (inner.group() == "\\")
                    if inner.group() == '"':
                        break
                else:
                    break
            elif char in "[{":
                depth += 1
            else:
                depth -= 1
                if depth == 0:
                    return at
        if cur.eof:
            raise cur.error("the file ends inside a record nested too deeply", cur.pos)
        cur.fill(grow=True)


class _JsonCursor:
    """A sliding window over decoded JSON text that knows line numbers.

    `buf[pos]` is the next character to look at; `base` is the absolute offset
    of `buf[0]`. Line counting is incremental: newlines are counted once, from
    the last located position to the next, so it stays linear.
    """

    __slots__ = ("_line", "_line_start", "_mark", "_text", "base", "buf", "eof", "pos")

    def __init__(self, text: _Utf8Chunks) -> None:
        self._text = text
        self.buf = ""
        self.pos = 0
        self.base = 0
        self.eof = False
        self._line = 1  # line number at absolute offset _mark
        self._line_start = 0  # absolute offset where that line starts
        self._mark = 0

    def fill(self, *, grow: bool = False) -> None:
        """Drop what has been consumed and read more; `grow` doubles the window."""
        self.locate(self.pos)
        self.buf = self.buf[self.pos :]
        self.base += self.pos
        self.pos = 0
        more = self._text.read(max(CHUNK_SIZE, len(self.buf)) if grow else CHUNK_SIZE)
        if more:
            self.buf += more
        else:
            self.eof = True

    def skip_space(self) -> str:
        """Move to the next non-space character and return it ("" at the end)."""
        while True:
            self.pos = _SPACE.match(self.buf, self.pos).end()  # type: ignore[union-attr]
            if self.pos < len(self.buf):
                return self.buf[self.pos]
            if self.eof:
                return ""
            self.fill()

    def locate(self, pos: int) -> tuple[int, int]:
        """Line and column of `buf[pos]`; later calls must not go backwards."""
        start = self._mark - self.base
        newlines = self.buf.count("\n", start, pos)
        if newlines:
            self._line += newlines
            self._line_start = self.base + self.buf.rfind("\n", start, pos) + 1
        self._mark = self.base + pos
        return self._line, self._mark - self._line_start + 1

    def error(self, message: str, pos: int) -> DataError:
        line, col = self.locate(pos)
        return DataError(
            Problem(
                message,
                Location(self._text.name, line, col),
                found=_found_at(self.buf, pos, "the end of the file"),
                code="data-json-syntax",
            )
        )


def _found_at(text: str, pos: int, end: str) -> str:
    """What is at text[pos], for "(found ...)"; `end` when only spaces are left."""
    if pos >= len(text) or (text[pos].isspace() and not text[pos : pos + 80].strip()):
        return end
    return describe(text[pos])


# --------------------------------------------------------------------------- #
# Bytes, encodings and files


class _Utf8Chunks:
    """Decodes a byte stream chunk by chunk, and says where bad bytes are."""

    __slots__ = ("_decoder", "_first", "_line", "_offset", "_raw", "_tail", "name")

    def __init__(self, raw: IO[bytes], name: str) -> None:
        self._raw = raw
        self.name = name
        self._decoder = codecs.getincrementaldecoder("utf-8")()
        self._first = True
        self._offset = 0  # bytes read so far
        self._line = 1  # line number at the end of the decoded text
        self._tail = 0  # characters decoded since the last newline

    def read(self, size: int) -> str:
        """At least one character, or "" at the end of the stream."""
        while True:
            data = self._raw.read(size)
            if self._first:
                # Enough bytes to recognise any byte order mark.
                while data and len(data) < 4:
                    more = self._raw.read(size)
                    if not more:
                        break
                    data += more
                self._first = False
                bom = _check_bom(data, self.name)
                data = data[bom:]
                self._offset += bom
            pending = len(self._decoder.getstate()[0])
            try:
                text = self._decoder.decode(data, final=not data)
            except UnicodeDecodeError as exc:
                raise self._error(exc, pending) from None
            self._offset += len(data)
            newline = text.rfind("\n")
            if newline >= 0:
                self._line += text.count("\n")
                self._tail = len(text) - newline - 1
            else:
                self._tail += len(text)
            if text or not data:
                return text

    def _error(self, exc: UnicodeDecodeError, pending: int) -> DataError:
        # exc.object is the decoder's pending bytes followed by this chunk.
        seen = exc.object[: exc.start]
        newline = seen.rfind(b"\n")
        line = self._line + seen.count(b"\n")
        column = len(seen[newline + 1 :].decode("utf-8", "replace")) + 1
        if newline < 0:
            column += self._tail
        return _encoding_error(
            self.name, exc.object[exc.start], line, column, self._offset - pending + exc.start
        )


def _not_utf8(name: str, exc: UnicodeDecodeError, *, line: int, offset: int | None) -> DataError:
    """The error for a line (exc.object) that is not UTF-8; offset is the line's."""
    column = len(exc.object[: exc.start].decode("utf-8", "replace")) + 1
    where = None if offset is None else offset + exc.start
    return _encoding_error(name, exc.object[exc.start], line, column, where)


def _encoding_error(name: str, byte: int, line: int, column: int, offset: int | None) -> DataError:
    at = f"byte offset {offset}" if offset is not None else f"column {column}"
    return DataError(
        Problem(
            f"is not UTF-8 text: byte 0x{byte:02X} at line {line}, {at}, cannot be decoded; "
            "save the file as UTF-8 (in Excel: CSV UTF-8)",
            Location(name, line, column),
            code="data-encoding",
        )
    )


def _tell(raw: IO[bytes], exc: UnicodeDecodeError) -> int | None:
    """File offset of the line that failed to decode, if the stream can say."""
    try:
        return raw.tell() - len(exc.object)
    except (OSError, ValueError):
        return None


def _check_bom(head: bytes, name: str) -> int:
    """Length of a UTF-8 byte order mark at the start; DataError for UTF-16/32."""
    if head.startswith(codecs.BOM_UTF8):
        return len(codecs.BOM_UTF8)
    for bom, encoding in (
        (codecs.BOM_UTF32_LE, "UTF-32"),
        (codecs.BOM_UTF32_BE, "UTF-32"),
        (codecs.BOM_UTF16_LE, "UTF-16"),
        (codecs.BOM_UTF16_BE, "UTF-16"),
    ):
        if head.startswith(bom):
            raise DataError(
                Problem(
                    f"is {encoding} text, not UTF-8: save the file as UTF-8 (in Excel: CSV UTF-8)",
                    Location(name, 1),
                    code="data-encoding",
                )
            )
    return 0


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
