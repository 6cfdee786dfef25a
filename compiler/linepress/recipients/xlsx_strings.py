"""An .xlsx workbook's shared-string table kept on disk, so memory stays flat with the rows.

Excel stores every distinct text of a workbook once, in `xl/sharedStrings.xml`,
and cells refer to it by index. A list of a million recipients holds a million
IDs and names there, and openpyxl loads them all into a Python list (408 MB of
RSS at 1M rows in bench/compile.py). This table keeps the first strings in
memory and the rest in a temporary file, in blocks of `BLOCK` strings with one
file offset per block in memory: 8 bytes per 256 strings (an offset per string
was still 16 MB at a million rows of two unique columns).

Rows refer to strings roughly in the order the table lists them (Excel appends
a text when it first meets it), so the last few blocks read are kept decoded:
one read from the file per block, not per cell.
"""

from __future__ import annotations

import marshal
import os
import tempfile
from array import array
from typing import IO, Any

#: Strings kept in memory before the rest go to the temporary file.
IN_MEMORY = 50_000
#: Strings per block of the temporary file (a block is read and decoded whole).
BLOCK = 256
#: Decoded blocks kept: enough for a row whose cells point into a few blocks.
CACHED_BLOCKS = 8

_MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_SI, _T, _R = _MAIN + "si", _MAIN + "t", _MAIN + "r"


class SpilledStrings:
    """Indexable like openpyxl's list of shared strings; `close()` removes the file.

    `source` is the `xl/sharedStrings.xml` part, read once here. An index past
    the end raises IndexError, as a list does.
    """

    def __init__(self, source: IO[bytes], *, in_memory: int | None = None) -> None:
        from openpyxl.xml.functions import iterparse  # openpyxl's (defused) parser

        if in_memory is None:
            in_memory = IN_MEMORY
        self._head: list[str] = []
        self._file: IO[bytes] | None = None
        self._fd = -1
        #: File offset where each block starts, and where the last one ends.
        self._offsets = array("q", [0])
        #: The strings after the last full block (never written).
        self._tail: list[str] = []
        self._cache: dict[int, list[str]] = {}
        root = None
        for event, node in iterparse(source, events=("start", "end")):
            if root is None:
                root = node  # <sst>
            if event != "end" or node.tag != _SI:
                continue
            text = _content(node)
            # Cleared elements stay children of <sst>: drop them too, or a million
            # empty elements pile up (about 100 bytes each).
            root.clear()
            if len(self._head) < in_memory:
                self._head.append(text)
                continue
            self._tail.append(text)
            if len(self._tail) == BLOCK:
                self._spill()
        if self._file is not None:
            self._file.flush()
            self._fd = self._file.fileno()

    def _spill(self) -> None:
        if self._file is None:
            # Closed by close(), from the reader's finally.
            self._file = tempfile.TemporaryFile(prefix="linepress-strings-")  # noqa: SIM115
        data = marshal.dumps(self._tail)  # C speed both ways; keeps lone surrogates
        self._file.write(data)
        self._offsets.append(self._offsets[-1] + len(data))
        self._tail = []

    def __len__(self) -> int:
        return len(self._head) + (len(self._offsets) - 1) * BLOCK + len(self._tail)

    def __getitem__(self, index: int) -> str:
        head = self._head
        if 0 <= index < len(head):
            return head[index]
        if index < 0:
            raise IndexError(index)
        block, at = divmod(index - len(head), BLOCK)
        strings = self._cache.get(block)
        if strings is None:
            if block == len(self._offsets) - 1:
                strings = self._tail
            elif block >= len(self._offsets):
                raise IndexError(index)
            else:
                start, end = self._offsets[block], self._offsets[block + 1]
                strings = marshal.loads(os.pread(self._fd, end - start, start))
            if len(self._cache) >= CACHED_BLOCKS:
                del self._cache[next(iter(self._cache))]  # the oldest read
            self._cache[block] = strings
        return strings[at]  # IndexError past the end of the tail

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def _content(node: Any) -> str:
    """The text of a `<si>`: its `<t>`, or its rich-text runs' `<t>`s; phonetic runs left out.

    The same as openpyxl's `Text.from_tree(node).content`, including its removal
    of the `_x005F_` escape prefix.
    """
    parts = []
    for child in node:
        if child.tag == _T:
            parts.append(child.text or "")
        elif child.tag == _R:
            t = child.find(_T)
            if t is not None and t.text:
                parts.append(t.text)
    return "".join(parts).replace("x005F_", "")
