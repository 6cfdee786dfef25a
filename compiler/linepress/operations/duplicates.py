"""Rows that repeat an earlier row's recipient (`to`), found in one streaming pass.

`send` keys its journal by `to`, so a second row for the same person is skipped
there; `check` and `compile` say so beforehand ("row 9: same recipient as row 4").

Memory: 24 bytes a row in flat arrays (24 MB for a million rows), never a
Python object per row and never a `to` string. Each row is queued as (row,
line, to); every few thousand rows the queue is packed at C speed into arrays
of the recipients' 64-bit string hashes, rows and lines, and the batch's
hashes, sorted, are split by value into `PARTITIONS` more arrays. At the end
each partition in turn is checked for a repeated hash (a `set` of one
partition, then `Counter` only where there is a repeat), and only when some
hash repeats does one pass over the arrays name the rows. The previous design
kept a set of every hash: ~60 bytes a row more, 109 MB for a million rows
against 27 MB now, for about 0.15 us a row more CPU.

Two different IDs with the same 64-bit hash would count as one person: about
one chance in 10^7 for a million rows.
"""

from __future__ import annotations

import itertools
import operator
from array import array
from bisect import bisect_left
from collections import Counter
from collections.abc import Iterator
from typing import Any

from linepress.errors import Location, Problem, Severity

_ROW, _LINE, _RECIPIENT = (operator.itemgetter(i) for i in range(3))
#: Rows queued before they are packed into the arrays.
_BATCH = 4096
#: How many ranges of hash values the arrays are split into; the check at the
#: end holds one range in a set at a time.
PARTITIONS = 64
#: The lowest hash of each partition but the first (hashes are signed 64-bit).
_BOUNDS = [-(2**63) + p * (2**64 // PARTITIONS) for p in range(1, PARTITIONS)]


class RepeatedRecipients:
    """Collects each row's `to`; `problems()` lists the rows repeating an earlier one.

    `data_name` is the data file as messages name it; `severity` is "warning"
    (`check`, `compile`) or "error" (their `--strict`).
    """

    def __init__(self, data_name: str, *, severity: Severity = "warning") -> None:
        self._name = data_name
        self._severity: Severity = severity
        #: Each row's hash, row and line, in the list's order.
        self._hashes = array("q")
        self._rows = array("I")  # 32 bits: four billion rows is more than any list
        self._lines = array("I")
        #: The same hashes, split by value into `PARTITIONS` ranges.
        self._parts = [array("q") for _ in range(PARTITIONS)]
        #: Rows not packed yet, (row, line or 0, to); the compiler appends here directly.
        self.queue: list[tuple[int, int, Any]] = []
        #: How many rows `queue` holds before `pack()`.
        self.batch = _BATCH

    def note(self, row: int, line: int | None, to: object) -> None:
        """Record that data row `row` (starting at file line `line`, if known) is for `to`.

        `to` is a checked body's recipient: a string (the schema says so).
        """
        queue = self.queue
        queue.append((row, line or 0, to))
        if len(queue) >= self.batch:
            self.pack()

    def pack(self) -> None:
        """Move the queue into the arrays, at C speed."""
        queue = self.queue
        if not queue:
            return
        hashes = list(map(hash, map(_RECIPIENT, queue)))
        self._hashes.fromlist(hashes)
        self._rows.extend(map(_ROW, queue))
        self._lines.extend(map(_LINE, queue))
        queue.clear()
        hashes.sort()
        start, parts = 0, self._parts
        for part, bound in enumerate(_BOUNDS):
            end = bisect_left(hashes, bound, start)
            if end > start:
                parts[part].extend(hashes[start:end])
                start = end
        parts[-1].extend(hashes[start:])

    def problems(self, chunk: int = 0) -> Iterator[Problem]:
        """One problem per row whose recipient an earlier row has, in row order.

        A generator: a list of one person on every row yields a million problems
        that the caller's `ProblemLog` counts without keeping. (`chunk` is unused,
        kept for callers of the sorting version.)
        """
        self.pack()
        repeated: set[int] = set()
        for part in self._parts:
            if len(set(part)) != len(part):
                repeated.update(key for key, count in Counter(part).items() if count > 1)
        if not repeated:
            return
        hashes, rows, lines = self._hashes, self._rows, self._lines
        first: dict[int, int] = {}
        for index in itertools.compress(itertools.count(), map(repeated.__contains__, hashes)):
            row, key = rows[index], hashes[index]
            earlier = first.setdefault(key, row)
            if earlier != row:
                yield self._problem(row, lines[index] or None, earlier)

    def _problem(self, row: int, line: int | None, earlier: int) -> Problem:
        where = Location(self._name, line)
        return Problem(
            f"same recipient as row {earlier}: a second message to one person "
            "(`send` skips this row; --allow-duplicates to send each)",
            where,
            path="to",
            severity=self._severity,
            code="duplicate-recipient",
        ).at_row(row, where)
