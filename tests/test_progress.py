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


def test_a_shared_campaign_shows_its_own_progress_and_this_workers_sends_apart() -> None:
    # Issue 15's rule: this run's sends and the campaign's totals, separately. Other
    # workers sent 60 of the 100 meanwhile; this one sent 25 of them at 5/s.
    left: list[int | None] = [None]
    out = io.StringIO()
    progress = Progress(100, out, tty=True, interval=0, campaign_left=lambda: left[0])
    # Not counted yet: this worker's line, as alone.
    assert progress.line(tally(5), elapsed=1.0).startswith("[#.......................] 5/100")
    left[0] = 15
    assert progress.line(tally(25), elapsed=5.0) == (
        "[####################....] campaign 85/100 ETA 0:00; this worker 25 at 5/s  sent 25"
    )
    plain = Progress(100, out, tty=False, interval=3600, campaign_left=lambda: left[0])
    assert plain.line(tally(25), elapsed=5.0).startswith("campaign 85/100 ETA 0:00; this worker")
    # The campaign is done though this worker sent only 25: the last line shows.
    out.seek(0)
    out.truncate()
    plain(tally(20))
    left[0] = 0
    plain(tally(25))
    lines = out.getvalue().splitlines()
    assert len(lines) == 2 and lines[-1].startswith("campaign 100/100; this worker 25")
