"""Rows that repeat an earlier row's recipient (`to`), found in one streaming pass.

`send` keys its journal by `to`, so a second row for the same person is skipped
there; `check` and `compile` say so beforehand ("row 9: same recipient as row 4").

Cheap per row and small for big lists: no `to` string is kept for long. Each
row is queued as (row, line, to); every few thousand rows the queue becomes
three flat arrays (the recipient's 64-bit string hash, the row and the line as
32-bit numbers: 16 bytes a row). At the end the hashes are sorted in runs of
256k (a sorted run is a list of Python ints, ~10 MB while it sorts; kept as an
array, 8 bytes a row): equal neighbours are repeats within a run; across runs,
one run's set (~15 MB) is checked against the later ones in C, or for more than
8 runs (2M rows) the runs are merged. The rows holding a repeat are named. Two different IDs with the same 64-bit hash would count as one
person: about one chance in 10^7 for a million rows.
"""

from __future__ import annotations

import heapq
import itertools
import operator
from array import array
from collections.abc import Iterator
from typing import Any

from linepress.errors import Location, Problem, Severity

#: Hashes sorted at once when the run ends (a list of this many ints is ~10 MB).
CHUNK = 1 << 18
#: Up to this many runs are compared pairwise as sets; more are merged.
_FEW_RUNS = 8
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
        """Move the queue into the arrays, at C speed."""
        queue = self.queue
        if not queue:
            return
        self._hashes.extend(map(hash, map(_RECIPIENT, queue)))
        self._rows.extend(map(_ROW, queue))
        self._lines.extend(map(_LINE, queue))
        queue.clear()

    def problems(self, chunk: int = CHUNK) -> Iterator[Problem]:
        """One problem per row whose recipient an earlier row has, in row order.

        A generator: a list of one person on every row yields a million problems
        that the caller's `ProblemLog` counts without keeping.
        """
        self.pack()
        repeated = self._repeated_hashes(chunk)
        if not repeated:
            return
        hashes = self._hashes
        first: dict[int, int] = {}
        for index in itertools.compress(itertools.count(), map(repeated.__contains__, hashes)):
            row, key = self._rows[index], hashes[index]
            earlier = first.setdefault(key, row)
            if earlier != row:
                yield self._problem(row, self._lines[index] or None, earlier)

    def _repeated_hashes(self, chunk: int) -> set[int]:
        """The hashes noted more than once, found in runs of `chunk` without a Python loop
        per row where the runs are few."""
        hashes = self._hashes
        # Sorted runs kept as arrays (8 bytes a row); one run is a list while it sorts.
        runs = [array("q", sorted(hashes[i : i + chunk])) for i in range(0, len(hashes), chunk)]
        repeated: set[int] = set()
        for run in runs:  # within a run: equal neighbours
            repeated.update(itertools.compress(run, map(operator.eq, run, run[1:])))
        if len(runs) <= _FEW_RUNS:
            # Across runs: one run's set (~15 MB) against the later runs, lookups in C.
            for index, run in enumerate(runs[:-1]):
                seen = set(run)
                for later in runs[index + 1 :]:
                    repeated.update(filter(seen.__contains__, later))
            return repeated
        previous: int | None = None  # many runs: merge them (a Python step per row)
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
