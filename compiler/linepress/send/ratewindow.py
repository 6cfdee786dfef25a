"""Events per second over a sliding span, in constant memory (the pacer's counters)."""

from __future__ import annotations

#: Span (seconds) over which sent and accepted rates are measured.
SPAN = 1.0


class RateWindow:
    """Events per second over the last `span` seconds, in `slots` fixed buckets.

    Constant memory and O(1) per event: a count per bucket, not a timestamp per event.
    """

    __slots__ = ("_counts", "_ids", "_slots", "_width")

    def __init__(self, span: float = SPAN, slots: int = 10) -> None:
        self._width = span / slots
        self._slots = slots
        self._counts = [0] * slots
        self._ids = [-1] * slots

    def add(self, now: float, n: int = 1) -> None:
        slot = int(now / self._width)
        i = slot % self._slots
        if self._ids[i] != slot:
            self._ids[i] = slot
            self._counts[i] = 0
        self._counts[i] += n

    def rate(self, now: float, since: float | None = None) -> float:
        """Events per second over the span (or since `since`, if later), ending now.

        Whole buckets only: the result is as fine as one bucket (`span / slots`).
        """
        slot = int(now / self._width)
        oldest = slot - self._slots + 1
        if since is not None:
            oldest = max(oldest, int(since / self._width))
        total = sum(c for c, s in zip(self._counts, self._ids, strict=True) if s >= oldest)
        span = max(now - oldest * self._width, self._width)
        return total / span
