"""Rows that repeat an earlier row's recipient (`to`), found in one streaming pass.

`send` keys its journal by `to`, so a second row for the same person is skipped
there; `check` and `compile` say so beforehand ("row 9: same recipient as row 4").

Cheap per row and small for big lists: no `to` string is kept for long. Each
row is queued as (row, line, to); every few thousand rows the queue becomes
three flat arrays (the recipient's 64-bit string hash, the row and the line as
32-bit numbers: 16 bytes a row). At the end the hashes are sorted in runs of
256k (a sorted run is a list of Python ints, ~10 MB while it sorts; kept as an
array, 8 bytes a row) and merged, which finds those seen twice; the rows holding
them are named. Two different IDs with the same 64-bit hash would count as one
person: about one chance in 10^7 for a million rows.
"""

from __future__ import annotations

import heapq
import itertools
import operator
from array import array

from linepress.errors import Location, Problem, Severity

#: Hashes sorted at once when the run ends (a list of this many ints is ~10 MB).
CHUNK = 1 << 18
#: Rows queued before they are packed into the arrays.
_BATCH = 4096
_ROW, _LINE, _RECIPIENT = (operator.itemgetter(i) for i in range(3))


class RepeatedRecipients:
    """Collects each row's `to`; `problems()` lists the rows repeating an earlier one.

    `data_name` is the data file as messages name it; `severity` is "warning"
    (`check`, `compile`) or "error" (their `--strict`).
    """

    def __init__(self, data_name: str, *, severity: Severity = "warning") -> None:
        self._name = data_name
        self._severity: Severity = severity
        self._hashes = array("q")
        self._rows = array("I")  # 32 bits: four billion rows is more than any list
        self._lines = array("I")
        self._queue: list[tuple[int, int, str]] = []

    def note(self, row: int, line: int | None, to: object) -> None:
        """Record that data row `row` (starting at file line `line`, if known) is for `to`.

        `to` is a checked body's recipient: a string (the schema says so).
        """
        queue = self._queue
        queue.append((row, line or 0, to))  # type: ignore[arg-type]
        if len(queue) >= _BATCH:
            self._pack()

    def _pack(self) -> None:
        """Move the queue into the arrays, at C speed."""
        if not self._queue:
            return
        queue = self._queue
        self._hashes.extend(map(hash, map(_RECIPIENT, queue)))
        self._rows.extend(map(_ROW, queue))
        self._lines.extend(map(_LINE, queue))
        queue.clear()

    def problems(self, chunk: int = CHUNK) -> list[Problem]:
        """One problem per row whose recipient an earlier row has, in row order."""
        self._pack()
        repeated = self._repeated_hashes(chunk)
        if not repeated:
            return []
        hashes = self._hashes
        first: dict[int, int] = {}
        found = []
        for index in itertools.compress(itertools.count(), map(repeated.__contains__, hashes)):
            row, key = self._rows[index], hashes[index]
            earlier = first.setdefault(key, row)
            if earlier != row:
                found.append(self._problem(row, self._lines[index] or None, earlier))
        return found

    def _repeated_hashes(self, chunk: int) -> set[int]:
        """The hashes noted more than once: sorted runs of `chunk`, merged."""
        hashes = self._hashes
        if len(hashes) <= chunk:
            ordered = sorted(hashes)
            # Equal neighbours in sorted order, compared without a Python loop.
            return set(itertools.compress(ordered, map(operator.eq, ordered, ordered[1:])))
        runs = [array("q", sorted(hashes[i : i + chunk])) for i in range(0, len(hashes), chunk)]
        repeated: set[int] = set()
        previous: int | None = None
        for key in heapq.merge(*runs):
            if key == previous:
                repeated.add(key)
            previous = key
        return repeated

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
