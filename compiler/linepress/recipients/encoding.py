"""Bytes to text for the readers: byte order marks, codecs, lines of bounded size, located errors.

CSV/TSV may come in any Python codec (`--encoding`); a UTF-8, UTF-16 or UTF-32
byte order mark decides by itself. JSON and JSON Lines are UTF-8 (RFC 8259).
Lines are read with a cap (`limit`, bytes) so a file without line breaks cannot
grow memory without bound.
"""

from __future__ import annotations

import codecs
import io
from collections.abc import Callable, Iterator
from functools import partial
from itertools import chain
from typing import IO

from linepress.errors import DataError, Location, Problem, UsageError, describe

#: The default cap on one line (and one record) of recipient data, in bytes.
DEFAULT_MAX_RECORD = 16 * 1024 * 1024
#: The largest cap accepted (bytes): past it "bounded memory" means nothing, and Python's
#: csv field limit is a C long.
MAX_RECORD_CAP = 2 * 1024 * 1024 * 1024

#: Byte order marks and the codec each one means (UTF-32 first: its LE mark starts like UTF-16's).
_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig", "UTF-8"),
    (codecs.BOM_UTF32_LE, "utf-32", "UTF-32"),
    (codecs.BOM_UTF32_BE, "utf-32", "UTF-32"),
    (codecs.BOM_UTF16_LE, "utf-16", "UTF-16"),
    (codecs.BOM_UTF16_BE, "utf-16", "UTF-16"),
)

#: Where a byte 0x0A can be part of another character, lines cannot be split on bytes.
_WIDE = ("utf-16", "utf-32")


def check_encoding(name: str) -> str:
    """The codec's canonical name for `name` (any Python text codec), or UsageError."""
    try:
        info = codecs.lookup(name)
    except LookupError:
        info = None
    # base64, rot13 and the like are codecs too, but not of text.
    if info is None or not getattr(info, "_is_text_encoding", True):
        raise UsageError(
            Problem(
                f"unknown text encoding {name!r}: expected a Python codec name such as "
                "utf-8, cp932 (Japanese Excel), cp874 (Thai), cp950 (Big5), gb18030 (GBK), utf-16",
                found=describe(name),
            )
        )
    return info.name


def size_text(size: int) -> str:
    """16777216 -> "16 MiB"; 204800 -> "200 KiB"; other sizes in bytes."""
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size >= scale and size % scale == 0:
            return f"{size // scale} {unit}"
    return f"{size:,} bytes"


def text_lines(
    raw: IO[bytes],
    name: str,
    *,
    encoding: str | None,
    limit: int,
    sample: Callable[[], bytes] | None = None,
    watch: RecordWatch | None = None,
) -> Iterator[str]:
    """The lines of `raw` as text, each with its line break; the start is decoded as found.

    `watch` (the CSV reader says where its current record started) caps a record
    over several lines (quoted line breaks) at `limit` too, while it is read.

    A byte order mark wins (and contradicting `encoding` is a DataError); without
    one, `encoding` or UTF-8. A line longer than `limit` bytes (characters for
    UTF-16/32) or bytes that do not decode raise a located `DataError`; when no
    encoding was given, `sample()` (the file's first bytes) feeds the hint for one.
    """
    raw = _peekable(raw)
    head = raw.peek(4)[:4]
    codec, label = (encoding or "utf-8"), None
    for bom, bom_codec, bom_label in _BOMS:
        if head.startswith(bom):
            if encoding is not None and not codecs.lookup(encoding).name.startswith(
                bom_label.lower()
            ):
                raise DataError(
                    Problem(
                        f"starts with a {bom_label} byte order mark, which says how it is "
                        f"encoded, but --encoding {encoding} was given: leave out --encoding",
                        Location(name, 1),
                        code="data-encoding",
                    )
                )
            codec, label = bom_codec, bom_label
            break
    if codecs.lookup(codec).name.startswith(_WIDE):
        return _wide_lines(raw, name, codec, limit, watch or RecordWatch())
    if label is None:
        order = utf16_order(raw.peek(_NUL_SAMPLE)[:_NUL_SAMPLE])
        if order is not None:
            raise DataError(
                Problem(
                    f"looks like UTF-16 {order} text without a byte order mark (a NUL byte "
                    f"beside every Latin letter), not {encoding or 'UTF-8'}: pass --encoding "
                    f"utf-16-{order.lower()}",
                    Location(name, 1),
                    code="data-encoding",
                )
            )
    if codec == "utf-8-sig":
        raw.read(len(codecs.BOM_UTF8))
        codec = "utf-8"
    hint = (sample or (lambda: b"")) if encoding is None and label is None else None
    return _byte_lines(raw, name, codec, limit, hint, watch or RecordWatch())


#: Bytes looked at for the NUL bytes of UTF-16 without a byte order mark.
_NUL_SAMPLE = 4096


def utf16_order(head: bytes) -> str | None:
    """ "LE" or "BE" when `head` reads as UTF-16 without a byte order mark, else None.

    Text in an 8-bit or UTF-8 encoding has no NUL bytes; UTF-16 has one in every
    ASCII character (letters, digits, separators, line breaks), on the odd bytes
    for little-endian and the even ones for big-endian. A CJK character may put a
    NUL on the other side (U+4E00 is 00 4E), so one side must clearly dominate.
    """
    pairs = len(head) // 2
    if pairs < 2:
        return None
    odd, even = head[1 : 2 * pairs : 2].count(0), head[0 : 2 * pairs : 2].count(0)
    if odd >= max(2, pairs // 10) and odd > 4 * even:
        return "LE"
    if even >= max(2, pairs // 10) and even > 4 * odd:
        return "BE"
    return None


#: Bytes decoded at a time by `_byte_lines`.
BATCH = 64 * 1024


def _byte_lines(
    raw: IO[bytes],
    name: str,
    codec: str,
    limit: int,
    hint: Callable[[], bytes] | None,
    watch: RecordWatch,
) -> Iterator[str]:
    """Lines split after each b"\\n", for codecs where that byte is only ever a line break.

    Python code runs once per batch of lines (checking sizes, decoding), never
    per line: the lines reach csv.reader through `chain` and `map`, in C.
    """
    return chain.from_iterable(_batches(raw, name, codec, limit, hint, watch))


def _batches(
    raw: IO[bytes],
    name: str,
    codec: str,
    limit: int,
    hint: Callable[[], bytes] | None,
    watch: RecordWatch,
) -> Iterator[list[str]]:
    decode = bytes.decode if codec == "utf-8" else partial(bytes.decode, encoding=codec)
    read = raw.read
    pending = b""  # the start of a line whose end is not read yet
    done = 0  # lines yielded so far
    offset = 0  # file offset of `pending` (after any BOM), for errors
    last: list[bytes] = []  # the lines of the batch the reader just took
    open_size = 0  # bytes of a record still being read, up to the end of `last`
    while True:
        if last and watch.since is not None:
            # The reader has taken every line so far: is a record still open (quoted
            # line breaks), and how large is it? Checked once a batch, never per line.
            start = watch.since() + 1
            first = done - len(last) + 1
            if start > done:
                open_size = 0
            else:
                open_size = (open_size if start < first else 0) + sum(
                    map(len, last[max(0, start - first) :])
                )
                if open_size > limit:
                    raise record_too_large(name, start, limit)
        chunk = read(BATCH)
        data = pending + chunk if pending else chunk
        if not data:
            return
        lines = io.BytesIO(data).readlines()  # split after b"\\n" only, in C
        # A line without its break may go on in the next chunk.
        pending = lines.pop() if chunk and not lines[-1].endswith(b"\n") else b""
        if len(pending) > limit:
            raise too_long(name, done + len(lines) + 1, limit)
        if lines and max(map(len, lines)) > limit:
            for index, line in enumerate(lines):
                if len(line.rstrip(b"\r\n")) > limit:
                    raise too_long(name, done + index + 1, limit)
        try:
            texts = list(map(decode, lines))
        except UnicodeDecodeError:
            # The lines before the bad one are still read (their rows counted), then the error.
            at, good = offset, []
            for index, line in enumerate(lines):
                try:
                    good.append(decode(line))
                except UnicodeDecodeError as exc:
                    error = _undecodable(name, codec, exc, done + index + 1, at, hint)
                    break
                at += len(line)
            else:
                raise
            if good:
                yield good
            raise error from None
        done += len(lines)
        offset += len(data) - len(pending)
        last = lines
        yield texts


def _wide_lines(
    raw: IO[bytes], name: str, codec: str, limit: int, watch: RecordWatch
) -> Iterator[str]:
    """Lines of UTF-16/32 text: decoded in chunks, then split on "\\n"."""
    decoder = codecs.getincrementaldecoder(codec)()
    pending = ""
    lineno = 1
    open_size = 0  # characters of the record being read, as in _batches
    while True:
        data = raw.read(64 * 1024)
        try:
            text = decoder.decode(data, final=not data)
        except UnicodeDecodeError as exc:
            seen = pending + exc.object[: exc.start].decode(codec, "replace")
            raise DataError(
                Problem(
                    f"is not valid {codec.upper()} text: it cannot be decoded at line "
                    f"{lineno + seen.count(chr(10))}",
                    Location(name, lineno + seen.count("\n")),
                    code="data-encoding",
                )
            ) from None
        pending += text
        lines = pending.split("\n")
        pending = lines.pop()
        for line in lines:
            if len(line) > limit:
                raise too_long(name, lineno, limit)
            lineno += 1
            yield line + "\n"
            if watch.since is not None:  # the reader took the line: is its record still open?
                start = watch.since() + 1
                open_size = 0 if start >= lineno else open_size + len(line) + 1
                if open_size > limit:
                    raise record_too_large(name, start, limit)
        if len(pending) > limit:
            raise too_long(name, lineno, limit)
        if not data:
            if pending:
                yield pending
            return


class RecordWatch:
    """Where the CSV reader's current record started, for the reading below it to cap.

    `since` (set by the reader) returns the last line of the last whole record: the
    lines after it belong to the record being read.
    """

    __slots__ = ("since",)

    def __init__(self) -> None:
        self.since: Callable[[], int] | None = None


def record_too_large(name: str, line: int, limit: int) -> DataError:
    """The located error for a record (over several lines) larger than the cap."""
    return DataError(
        Problem(
            f"the record starting on line {line} is larger than {size_text(limit)}, the cap on "
            "one record (all its fields and separators): a quote that is never closed, or raise "
            "it with --max-record-size if the record is right",
            Location(name, line),
            found=f"more than {limit:,} bytes in one record",
            code="data-too-large",
        )
    )


def too_long(name: str, line: int, limit: int, kind: str = "a CSV") -> DataError:
    """The located error for a line longer than the cap on one record (`kind`: of file)."""
    return DataError(
        Problem(
            f"line {line} is longer than {size_text(limit)}, the cap on one record: "
            f"raise it with --max-record-size if the line is right (is this {kind} file?)",
            Location(name, line),
            found=f"more than {limit:,} bytes before a line break",
            code="data-too-large",
        )
    )


def _undecodable(
    name: str,
    codec: str,
    exc: UnicodeDecodeError,
    line: int,
    offset: int,
    hint: Callable[[], bytes] | None,
) -> DataError:
    """The located error for a line (exc.object) that does not decode in `codec`."""
    column = len(exc.object[: exc.start].decode(codec, "replace")) + 1
    byte = exc.object[exc.start]
    where = f"byte 0x{byte:02X} at line {line}, byte offset {offset + exc.start}"
    if codec == "utf-8":
        message = f"is not UTF-8 text: {where}, cannot be decoded; "
        guess = None
        if hint is not None:
            from linepress.recipients.guess import encoding_hint  # only when it is needed

            guess = encoding_hint(hint() or exc.object)
        message += guess or (
            "save the file as UTF-8 (in Excel: CSV UTF-8), or name its encoding with "
            "--encoding (cp932 for Japanese Excel, cp874 Thai, cp950 Big5, gb18030 GBK)"
        )
    else:
        message = (
            f"is not {codec} text: {where}, cannot be decoded; check --encoding "
            "(or save the file as UTF-8)"
        )
    return DataError(Problem(message, Location(name, line, column), code="data-encoding"))


# --------------------------------------------------------------------------- #
# UTF-8 only (JSON, JSON Lines)


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


def check_bom(head: bytes, name: str) -> int:
    """Length of a UTF-8 byte order mark at the start; DataError for UTF-16/32 (JSON)."""
    if head.startswith(codecs.BOM_UTF8):
        return len(codecs.BOM_UTF8)
    for bom, _codec, label in _BOMS[1:]:
        if head.startswith(bom):
            raise DataError(
                Problem(
                    f"is {label} text, not UTF-8: JSON must be UTF-8; save the file as UTF-8",
                    Location(name, 1),
                    code="data-encoding",
                )
            )
    return 0


# --------------------------------------------------------------------------- #
# Streams


class Replay(io.RawIOBase):
    """`head` again, then the rest of `rest`: un-reads what was read ahead."""

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


def _peekable(raw: IO[bytes]) -> io.BufferedReader:
    """`raw` if it can peek (a file, a sniffed stream), else a buffered wrapper that can."""
    if isinstance(raw, io.BufferedReader):
        return raw
    return io.BufferedReader(Replay(b"", raw), 64 * 1024)
