"""Progress while sending: a redrawn bar on a terminal, plain periodic lines otherwise."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import IO

from linepress.send.dispatch import Tally

_BAR = 24


class Progress:
    """Called with the live tally; prints at most every `interval` seconds.

    `total`: the messages to send when the run started. With `campaign_left` (a shared
    journal: other workers send the same campaign) the bar is the campaign's, `total`
    minus what `campaign_left()` says is left (None: not counted yet), and this
    worker's own sends and rate are shown beside it, apart.
    """

    def __init__(
        self,
        total: int,
        stream: IO[str],
        *,
        tty: bool,
        interval: float | None = None,
        campaign_left: Callable[[], int | None] | None = None,
        dry_run: bool = False,
    ) -> None:
        self.total = total
        #: A dry run sends nothing: its `sent` is shown as `would send`.
        self._dry_run = dry_run
        self._campaign_left = campaign_left
        self.stream = stream
        self.tty = tty
        self.interval = interval if interval is not None else (0.2 if tty else 10.0)
        self._started = time.monotonic()
        self._last = float("-inf")  # the first call always prints
        self._drawn = False

    def __call__(self, tally: Tally) -> None:
        now = time.monotonic()
        left = self._campaign_left() if self._campaign_left is not None else None
        finished = left == 0 if left is not None else tally.done >= self.total
        if now - self._last < self.interval and not finished:
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
        left = self._campaign_left() if self._campaign_left is not None else None
        if left is not None:
            return self._campaign_line(tally, elapsed, left)
        done, total = tally.done, max(self.total, 1)
        rate = done / elapsed if elapsed > 0 else 0.0
        eta = (self.total - done) / rate if rate > 0 else None
        filled = int(_BAR * min(done, total) / total)
        counts = self._counts(tally)
        bar = f"[{'#' * filled}{'.' * (_BAR - filled)}] " if self.tty else ""
        text = f"{bar}{done}/{self.total} {rate:,.0f}/s"
        if eta is not None and done < self.total:
            text += f" ETA {_clock(eta)}"
        if tally.pace is not None:
            text += f", pacing at {tally.pace:,.0f}/s after 429s"
        if tally.throttled:
            counts = f"{counts} throttled {tally.throttled}".lstrip()
        return f"{text}  {counts}".rstrip()

    def _campaign_line(self, tally: Tally, elapsed: float, left: int) -> str:
        """The campaign's bar and ETA, then this worker's sends: shared, they differ."""
        total = max(self.total, 1)
        done = min(max(self.total - left, 0), self.total)
        rate = done / elapsed if elapsed > 0 else 0.0
        filled = int(_BAR * done / total)
        bar = f"[{'#' * filled}{'.' * (_BAR - filled)}] " if self.tty else ""
        text = f"{bar}campaign {done}/{self.total}"
        if rate > 0 and left:
            text += f" ETA {_clock(left / rate)}"
        mine = tally.done / elapsed if elapsed > 0 else 0.0
        text += f"; this worker {tally.done} at {mine:,.0f}/s"
        if tally.pace is not None:
            text += f", pacing at {tally.pace:,.0f}/s after 429s"
        counts = self._counts(tally)
        if tally.throttled:
            counts = f"{counts} throttled {tally.throttled}".lstrip()
        return f"{text}  {counts}".rstrip()

    def _counts(self, tally: Tally) -> str:
        counts = sorted(tally.by_status.items())
        if self._dry_run:
            counts = [("would send" if k == "sent" else k, v) for k, v in counts]
        return " ".join(f"{k} {v}" for k, v in counts)

    def close(self) -> None:
        if self.tty and self._drawn:
            self.stream.write("\n")
            self.stream.flush()


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
