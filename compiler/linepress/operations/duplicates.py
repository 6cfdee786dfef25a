"""Rows that repeat an earlier row's recipient (`to`), found in one streaming pass.

`send` keys its journal by `to`, so a second row for the same person is skipped
there; `check` and `compile` say so beforehand ("row 9: same recipient as row 4").

Cheap per row (CPU within a few % of a compile without the check): each row is
queued as (row, line, to); every few thousand rows the queue is packed at C
speed: the recipients' 64-bit string hashes into a set of every hash seen (a
repeat shows as the set growing by less than the batch), and into three flat
arrays (hash, row, line: 16 bytes a row). Only when there are repeats, at the
end, the repeated hashes are counted (`Counter`, in C) and one pass over the
arrays names the rows. No `to` string
is kept. Two different IDs with the same 64-bit hash would count as one person:
about one chance in 10^7 for a million rows.
"""

from __future__ import annotations

import itertools
import operator
from array import array
from collections import Counter
from collections.abc import Iterator
from typing import Any

from linepress.errors import Location, Problem, Severity

_ROW, _LINE, _RECIPIENT = (operator.itemgetter(i) for i in range(3))
#: Rows queued before they are packed into the arrays.
_BATCH = 4096


class RepeatedRecipients:
    """Collects each row's `to`; `problems()` lists the rows repeating an earlier one.

    `data_name` is the data file as messages name it; `severity` is "warning"
    (`check`, `compile`) or "error" (their `--strict`).
    """

    def __init__(self, data_name: str, *, severity: Severity = "warning") -> None:
        self._name = data_name
        self._severity: Severity = severity
        self._hashes = array("q")
        #: Every recipient hash seen; whether one was seen twice.
        self._seen: set[int] = set()
        self._repeats = False
        self._rows = array("I")  # 32 bits: four billion rows is more than any list
        self._lines = array("I")
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
        if len(queue) >= _BATCH:
            self.pack()

    def pack(self) -> None:
        """Move the queue into the set and the arrays, at C speed."""
        queue = self.queue
        if not queue:
            return
        hashes = list(map(hash, map(_RECIPIENT, queue)))
        seen = self._seen
        before = len(seen)
        seen.update(hashes)
        if len(seen) - before != len(hashes):
            self._repeats = True  # someone is listed twice: `problems` finds whom
        self._hashes.fromlist(hashes)
        self._rows.extend(map(_ROW, queue))
        self._lines.extend(map(_LINE, queue))
        queue.clear()

    def problems(self, chunk: int = 0) -> Iterator[Problem]:
        """One problem per row whose recipient an earlier row has, in row order.

        A generator: a list of one person on every row yields a million problems
        that the caller's `ProblemLog` counts without keeping. (`chunk` is unused,
        kept for callers of the sorting version.)
        """
        self.pack()
        if not self._repeats:
            return
        self._seen = set()  # not needed any more: its memory goes back before the pass
        hashes = self._hashes
        repeated = {key for key, count in Counter(hashes).items() if count > 1}
        first: dict[int, int] = {}
        for index in itertools.compress(itertools.count(), map(repeated.__contains__, hashes)):
            row, key = self._rows[index], hashes[index]
            earlier = first.setdefault(key, row)
            if earlier != row:
                yield self._problem(row, self._lines[index] or None, earlier)

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
