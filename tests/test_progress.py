"""Progress while sending: a bar with rate and ETA on a terminal, plain lines otherwise."""

from __future__ import annotations

import io

from linepress.send.dispatch import Tally
from linepress.send.progress import Progress


def tally(done: int) -> Tally:
    t = Tally()
    for _ in range(done):
        t.add("sent")
    return t


def test_a_terminal_gets_a_redrawn_bar_with_rate_and_eta() -> None:
    out = io.StringIO()
    progress = Progress(100, out, tty=True, interval=0)
    assert (
        progress.line(tally(25), elapsed=5.0)
        == "[######..................] 25/100 5/s ETA 0:15  sent 25"
    )
    progress(tally(25))
    assert out.getvalue().startswith("\r\x1b[2K[")
    progress.close()
    assert out.getvalue().endswith("\n")


def test_elsewhere_plain_lines_without_control_characters() -> None:
    out = io.StringIO()
    progress = Progress(100, out, tty=False, interval=0)
    assert progress.line(tally(50), elapsed=10.0) == "50/100 5/s ETA 0:10  sent 50"
    progress(tally(50))
    progress(tally(100))
    lines = out.getvalue().splitlines()
    assert len(lines) == 2 and "\x1b" not in out.getvalue() and "ETA" not in lines[-1]


def test_lines_are_throttled_but_the_last_one_always_shows() -> None:
    out = io.StringIO()
    progress = Progress(3, out, tty=False, interval=3600)
    progress(tally(1))
    progress(tally(2))
    progress(tally(3))
    assert [line.split()[0] for line in out.getvalue().splitlines()] == ["1/3", "3/3"]
