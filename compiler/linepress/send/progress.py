"""Progress while sending: a redrawn bar on a terminal, plain periodic lines otherwise."""

from __future__ import annotations

import time
from typing import IO

from linepress.send.dispatch import Tally

_BAR = 24


class Progress:
    """Called with the live tally; prints at most every `interval` seconds."""

    def __init__(
        self, total: int, stream: IO[str], *, tty: bool, interval: float | None = None
    ) -> None:
        self.total = total
        self.stream = stream
        self.tty = tty
        self.interval = interval if interval is not None else (0.2 if tty else 10.0)
        self._started = time.monotonic()
        self._last = float("-inf")  # the first call always prints
        self._drawn = False

    def __call__(self, tally: Tally) -> None:
        now = time.monotonic()
        if now - self._last < self.interval and tally.done < self.total:
            return
        self._last = now
        line = self.line(tally, now - self._started)
        if self.tty:
            self.stream.write("\r\x1b[2K" + line)
            self._drawn = True
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def line(self, tally: Tally, elapsed: float) -> str:
        done, total = tally.done, max(self.total, 1)
        rate = done / elapsed if elapsed > 0 else 0.0
        eta = (self.total - done) / rate if rate > 0 else None
        filled = int(_BAR * min(done, total) / total)
        counts = " ".join(f"{k} {v}" for k, v in sorted(tally.by_status.items()))
        bar = f"[{'#' * filled}{'.' * (_BAR - filled)}] " if self.tty else ""
        text = f"{bar}{done}/{self.total} {rate:,.0f}/s"
        if eta is not None and done < self.total:
            text += f" ETA {_clock(eta)}"
        if tally.pace is not None:
            text += f", pacing at {tally.pace:,.0f}/s after 429s"
        if tally.throttled:
            counts = f"{counts} throttled {tally.throttled}".lstrip()
        return f"{text}  {counts}".rstrip()

    def close(self) -> None:
        if self.tty and self._drawn:
            self.stream.write("\n")
            self.stream.flush()


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
