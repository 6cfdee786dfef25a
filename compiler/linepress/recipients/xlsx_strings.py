"""An .xlsx workbook's shared-string table kept on disk, so memory stays flat with the rows.

Excel stores every distinct text of a workbook once, in `xl/sharedStrings.xml`,
and cells refer to it by index. A list of a million recipients holds a million
IDs and names there, and openpyxl loads them all into a Python list (408 MB of
RSS at 1M rows in bench/compile.py). This table keeps the first strings in
memory and the rest in a temporary file, read back by offset: 8 bytes of memory
per string instead of about 100.
"""

from __future__ import annotations

import os
import tempfile
from array import array
from typing import IO, Any

#: Strings kept in memory before the rest go to the temporary file.
IN_MEMORY = 50_000

_MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_SI, _T, _R = _MAIN + "si", _MAIN + "t", _MAIN + "r"


class SpilledStrings:
    """Indexable like openpyxl's list of shared strings; `close()` removes the file."""

    def __init__(self, source: IO[bytes], *, in_memory: int | None = None) -> None:
        from openpyxl.xml.functions import iterparse  # openpyxl's (defused) parser

        if in_memory is None:
            in_memory = IN_MEMORY
        self._head: list[str] = []
        self._file: IO[bytes] | None = None
        self._offsets = array("q", [0])
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
            if self._file is None:
                # Closed by close(), from the reader's finally.
                self._file = tempfile.TemporaryFile(prefix="linepress-strings-")  # noqa: SIM115
            data = text.encode("utf-8", "surrogatepass")
            self._file.write(data)
            self._offsets.append(self._offsets[-1] + len(data))
        if self._file is not None:
            self._file.flush()
            self._fd = self._file.fileno()

    def __len__(self) -> int:
        return len(self._head) + len(self._offsets) - 1

    def __getitem__(self, index: int) -> str:
        head = self._head
        if index < len(head):
            return head[index]
        at = index - len(head)
        start, end = self._offsets[at], self._offsets[at + 1]  # IndexError past the end
        return os.pread(self._fd, end - start, start).decode("utf-8", "surrogatepass")

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
