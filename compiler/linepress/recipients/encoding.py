"""Bytes to text for the readers: byte order marks, decoding, and located encoding errors."""

from __future__ import annotations

import codecs
from typing import IO

from linepress.errors import DataError, Location, Problem


class Utf8Chunks:
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
                bom = check_bom(data, self.name)
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
        return encoding_error(
            self.name, exc.object[exc.start], line, column, self._offset - pending + exc.start
        )


def not_utf8(name: str, exc: UnicodeDecodeError, *, line: int, offset: int | None) -> DataError:
    """The error for a line (exc.object) that is not UTF-8; offset is the line's."""
    column = len(exc.object[: exc.start].decode("utf-8", "replace")) + 1
    where = None if offset is None else offset + exc.start
    return encoding_error(name, exc.object[exc.start], line, column, where)


def encoding_error(name: str, byte: int, line: int, column: int, offset: int | None) -> DataError:
    """Byte `byte` at `line`/`column` (file offset `offset`, if known) is not UTF-8."""
    at = f"byte offset {offset}" if offset is not None else f"column {column}"
    return DataError(
        Problem(
            f"is not UTF-8 text: byte 0x{byte:02X} at line {line}, {at}, cannot be decoded; "
            "save the file as UTF-8 (in Excel: CSV UTF-8)",
            Location(name, line, column),
            code="data-encoding",
        )
    )


def tell(raw: IO[bytes], exc: UnicodeDecodeError) -> int | None:
    """File offset of the line that failed to decode, if the stream can say."""
    try:
        return raw.tell() - len(exc.object)
    except (OSError, ValueError):
        return None


def check_bom(head: bytes, name: str) -> int:
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
