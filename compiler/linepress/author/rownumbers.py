"""`--rows 1,7,20-25`: record numbers held as ranges, never as one number each.

`--rows 1-300000000` is a few bytes here; a list of its numbers would take gigabytes
before a single record is read.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterable, Iterator, Sequence
from typing import overload

from linepress.errors import Problem, UsageError

__all__ = ["RowNumbers", "parse_rows"]


class RowNumbers(Sequence[int]):
    """Sorted, distinct record numbers, as merged inclusive ranges `(low, high)`."""

    def __init__(self, ranges: Iterable[tuple[int, int]]) -> None:
        merged: list[tuple[int, int]] = []
        for low, high in sorted(ranges):
            if merged and low <= merged[-1][1] + 1:
                merged[-1] = (merged[-1][0], max(merged[-1][1], high))
            else:
                merged.append((low, high))
        self.ranges = merged
        self._lows = [low for low, _ in merged]
        self._length = sum(high - low + 1 for low, high in merged)

    @classmethod
    def of(cls, numbers: Iterable[int]) -> RowNumbers:
        """The numbers of any iterable (a list given by library callers)."""
        if isinstance(numbers, RowNumbers):
            return numbers
        return cls((n, n) for n in numbers)

    def __contains__(self, number: object) -> bool:
        if not isinstance(number, int):
            return False
        index = bisect_right(self._lows, number) - 1
        return index >= 0 and number <= self.ranges[index][1]

    def __len__(self) -> int:
        return self._length

    def __iter__(self) -> Iterator[int]:
        for low, high in self.ranges:
            yield from range(low, high + 1)

    @overload
    def __getitem__(self, index: int) -> int: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[int]: ...
    def __getitem__(self, index: int | slice) -> int | Sequence[int]:
        if isinstance(index, slice):
            return list(self)[index]  # not used on large selections
        if index < 0:
            index += self._length
        for low, high in self.ranges:
            if index <= high - low:
                return low + index
            index -= high - low + 1
        raise IndexError(index)

    def above(self, number: int) -> list[tuple[int, int]]:
        """The ranges of the numbers greater than `number`."""
        return [(max(low, number + 1), high) for low, high in self.ranges if high > number]


def parse_rows(text: str) -> RowNumbers:
    """`"1,7,20-25"` as record numbers; `UsageError` for anything else."""
    ranges: list[tuple[int, int]] = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        match = re.fullmatch(r"(\d+)(?:\s*-\s*(\d+))?", part)
        if match is None:
            raise UsageError(
                Problem(
                    "--rows takes row numbers and ranges like 1,7,20-25",
                    found=repr(part),
                    code="usage",
                )
            )
        low, high = int(match[1]), int(match[2] or match[1])
        if high < low:
            raise UsageError(Problem(f"the range {part} is backwards", code="usage"))
        ranges.append((low, high))
    if not ranges:
        raise UsageError(Problem("--rows needs at least one row number", code="usage"))
    return RowNumbers(ranges)
