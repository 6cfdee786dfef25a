"""The JSON-array and JSON Lines readers: one `Record` per object, located by line and column."""

from __future__ import annotations

import json
import re
from functools import partial
from typing import IO

from linepress.errors import DataError, Location, Problem, describe
from linepress.recipients.encoding import (
    DEFAULT_MAX_RECORD,
    Utf8Chunks,
    check_bom,
    not_utf8,
    size_text,
    too_long,
)
from linepress.recipients.jsonkeys import RepeatedKey, repeated_key
from linepress.recipients.source import BadRecord, Reader, Ready, bad_record, object_record


def read_json(
    raw: IO[bytes], name: str, chunk_size: int, limit: int = DEFAULT_MAX_RECORD
) -> Reader:
    """Records of the JSON array `raw`, read `chunk_size` bytes at a time.

    Yields `Ready()` once the opening `[` is found, then a `Record` per object and
    a `BadRecord` per other element. Broken JSON syntax, or an element larger than
    `limit` bytes (found while reading it: the rest is never held), raise
    `DataError`, located at the element's first line.
    """
    cur = _JsonCursor(Utf8Chunks(raw, name), chunk_size, limit)
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
    yield Ready()

    number = 0
    ch = cur.skip_space()
    if ch == "]":
        cur.pos += 1
        ch = ""
    else:
        while True:
            if not ch:
                raise cur.error("the file ends inside the JSON array: expected a record", cur.pos)
            if ch == "]":
                raise cur.error(f"expected a record after ',' following record {number}", cur.pos)
            cur.record = number + 1
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
                except json.JSONDecodeError as exc:  # (before ValueError: a subclass)
                    if not cur.eof and (
                        exc.pos >= len(buf) - _MAY_CONTINUE
                        or exc.msg.startswith("Unterminated string")
                    ):
                        cur.fill(grow=True)
                        continue
                    raise cur.error(f"invalid JSON: {exc.msg}", exc.pos) from None
                except ValueError:  # an integer past Python's digit limit: a bad record
                    value, end = _TOO_LONG, _end_of_value(cur)
                    pos = cur.pos
                    break
                # A number or literal ending at the buffer's end may go on.
                if end >= len(buf) - _MAY_CONTINUE and not cur.eof:
                    cur.fill(grow=True)
                    continue
                break
            number += 1
            line, col = cur.locate(pos)
            if value is _TOO_DEEP:
                yield bad_record(
                    name, number, line, _TOO_DEEP_MESSAGE, "data-json-depth", column=col
                )
            elif value is _TOO_LONG:
                yield bad_record(
                    name, number, line, _TOO_LONG_MESSAGE, "data-json-number", column=col
                )
            elif type(value) is dict and (repeated := repeated_key(value, buf, pos, end)):
                at_line, at_col = cur.locate(repeated.offset)
                yield _repeated(name, number, line, repeated, at_line, at_col)
            else:
                yield object_record(number, name, line, value, column=col)
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


def read_jsonl(raw: IO[bytes], name: str, limit: int = DEFAULT_MAX_RECORD) -> Reader:
    """Records of the JSON Lines `raw`: one per non-blank line.

    Yields `Ready()` at once, then a `Record` per object line and a `BadRecord` per
    line that is not JSON or not an object. Bytes that are not UTF-8, or a line
    longer than `limit` bytes (read no further), raise `DataError`.
    """
    decode = json.JSONDecoder().decode
    yield Ready()
    number = 0
    offset = 0  # file offset of the current line, for encoding errors
    for lineno, line in enumerate(iter(partial(raw.readline, limit + 2), b""), 1):
        if len(line) > limit and len(line.rstrip(b"\r\n")) > limit:
            raise too_long(name, lineno, limit, "a JSON Lines")
        bom = check_bom(line, name) if lineno == 1 else 0
        try:
            # Without its line break, an error at the end stays on this line.
            text = line[bom:].decode().rstrip("\r\n")
        except UnicodeDecodeError as exc:
            raise not_utf8(name, exc, line=lineno, offset=offset + bom) from None
        offset += len(line)
        if not text.strip():
            continue
        number += 1
        try:
            value = decode(text)
        except RecursionError:
            yield bad_record(name, number, lineno, _TOO_DEEP_MESSAGE, "data-json-depth", column=1)
            continue
        except json.JSONDecodeError as exc:
            yield bad_record(
                name,
                number,
                lineno,
                f"invalid JSON: {exc.msg}",
                "data-json-syntax",
                column=exc.colno,
                found=_found_at(text, exc.pos, "the end of the line"),
            )
            continue
        except ValueError:  # an integer past Python's digit limit (after JSONDecodeError)
            yield bad_record(name, number, lineno, _TOO_LONG_MESSAGE, "data-json-number", column=1)
            continue
        if type(value) is dict and (repeated := repeated_key(value, text, 0, len(text))):
            yield _repeated(name, number, lineno, repeated, lineno, repeated.offset + 1)
            continue
        yield object_record(number, name, lineno, value)


def _repeated(
    name: str, number: int, line: int, repeated: RepeatedKey, at_line: int, at_col: int
) -> BadRecord:
    """Record `number` (from `line`) as a bad record: it repeats a key, at `at_line:at_col`."""
    return bad_record(
        name,
        number,
        line,
        repeated.message(),
        "data-json-duplicate-key",
        column=at_col,
        path=repeated.path,
        problem_line=at_line,
    )


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
#: Stands for a JSON record holding an integer Python will not convert (over 4,300 digits).
_TOO_LONG = object()
_TOO_LONG_MESSAGE = (
    "the record holds a number of more than 4,300 digits, more than Python converts; "
    "recipient data holds IDs and amounts: write such a value as a string"
)
_NUMBER = re.compile(r"[-+0-9.eE]*")

_NESTING = re.compile(r'[\[\]{}"]')
_IN_STRING = re.compile(r'["\\]')


def _end_of_value(cur: _JsonCursor) -> int:
    """Where the array element at `cur.pos` ends: an object or list, or a bare number."""
    if cur.buf[cur.pos] in "[{":
        return _end_of_nested(cur)
    while True:
        match = _NUMBER.match(cur.buf, cur.pos)
        end = match.end() if match is not None else cur.pos
        if end < len(cur.buf) or cur.eof:
            return end
        cur.fill(grow=True)


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
    the last located position to the next, so it stays linear. The window from
    `pos` never grows past `limit` bytes: record `record` is too large then.
    """

    __slots__ = (
        "_chunk",
        "_limit",
        "_line",
        "_line_start",
        "_mark",
        "_text",
        "base",
        "buf",
        "eof",
        "pos",
        "record",
    )

    def __init__(self, text: Utf8Chunks, chunk_size: int, limit: int) -> None:
        self._text = text
        self._chunk = chunk_size
        self._limit = limit
        #: The number of the record being read, for the error when it is too large.
        self.record = 0
        self.buf = ""
        self.pos = 0
        self.base = 0
        self.eof = False
        self._line = 1  # line number at absolute offset _mark
        self._line_start = 0  # absolute offset where that line starts
        self._mark = 0

    def fill(self, *, grow: bool = False) -> None:
        """Drop what has been consumed and read more; `grow` doubles the window.

        Growing a window already holding more than the cap raises `DataError`.
        """
        if grow and self._over_limit():
            raise self._too_large()
        self.locate(self.pos)
        self.buf = self.buf[self.pos :]
        self.base += self.pos
        self.pos = 0
        more = self._text.read(max(self._chunk, len(self.buf)) if grow else self._chunk)
        if more:
            self.buf += more
        else:
            self.eof = True

    def _over_limit(self) -> bool:
        chars = len(self.buf) - self.pos
        if chars > self._limit:
            return True
        # A character is 1 to 4 bytes of UTF-8: count the bytes only when that matters.
        if chars * 4 <= self._limit:
            return False
        return len(self.buf[self.pos :].encode("utf-8", "surrogatepass")) > self._limit

    def _too_large(self) -> DataError:
        line, col = self.locate(self.pos)
        return DataError(
            Problem(
                f"record {self.record} is larger than {size_text(self._limit)}, the cap on one "
                "record: raise it with --max-record-size if the record is right",
                Location(self._text.name, line, col),
                found=f"more than {self._limit:,} bytes without the record ending",
                code="data-too-large",
            )
        )

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
