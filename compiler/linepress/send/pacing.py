"""Pacing: when the next request may start, found from the endpoint's 429s.

Infobip (like LINE) limits an account's requests per second with a token bucket and
answers 429 beyond it; the number is never told. `Pacer` finds it:

- **Slow start** (TCP): from `INITIAL_RATE`, the pace doubles every `DOUBLING` seconds
  until the first 429, never above twice what was actually sent in the last second
  (botocore's cap: a run bound by `--concurrency` or the CPU does not inflate the pace).
- **On a 429** for a request sent after the last cut (one cut per reaction, as TCP cuts
  once per window): the limit estimate becomes the lower of the pace and the rate the
  endpoint *accepted* (since the last 429 or over the last `RECENT` s, whichever is
  more; while throttled, that is the bucket's refill rate), and the pace drops to
  `BACKOFF` times it.
- **Then CUBIC** (botocore's `throttling.py`, TCP CUBIC): a concave climb back towards the
  estimate over `RECOVER` seconds, a plateau just below it, then a convex probe above it
  whose gain is proportional to the estimate (scale-free: the same shape at 50/s and
  1,000/s). Past `FAST` times the plateau with no 429 the limit has clearly risen, and the
  probe doubles every `FAST_DOUBLING` s (CUBIC's fast convergence, as slow start): a limit
  that moves from 50/s to 400/s is found within about 3 s. The 429 that ends such a
  probe reads the accepted rate over its last doubling (`FAST_RECENT`), not `RECENT`.
- **Noise is not a limit**: a few 429s (under `NOISE` of the answers) while the pace is at
  or under the estimate come from a burst on the way (a stall of the endpoint, the
  network, or the machine, after which what queued reaches the bucket at once): the
  estimate stays (`KEEP`), the pace eases to `EASE` of it.
- **`Retry-After`** pauses everyone (the server's word for the whole account); slots
  resume spaced at the pace, never as a burst of what waited. After one, probing is
  `CAREFUL` times slower, since every 429 then costs a whole pause, and each probe that
  finds the limit where it was doubles the hold (up to `PATIENCE` times).

Requests wait in FIFO order; only the first sleeps, and the spacing is computed from
the pace at the moment its slot comes, so a cut slows everyone at once. Falling behind
builds no credit beyond `CATCH_UP` slots, made up at once. `--rate` is a hard ceiling (and the starting pace: the user's word).

The pacer's findings are a small `PaceState` (pace, limit estimate, last 429 as Unix
time) that `state()` gives and `restore()` takes, so workers could share them.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from linepress.send.ratewindow import RateWindow

__all__ = ["PaceState", "Pacer", "RateWindow"]

#: Requests/s before anything is known (TCP's initial window, in time).
INITIAL_RATE = 50.0
#: Seconds per doubling in slow start.
DOUBLING = 0.1
#: The pace after a 429, as a share of the limit estimate.
BACKOFF = 0.9
#: The cut when the last one was less than `AGAIN` seconds ago.
DEEP = 0.7
AGAIN = 0.25
#: The plateau, as a share of the limit estimate: probing above it is what costs 429s.
PLATEAU = 0.98
#: The plateau after a `Retry-After` (a probe then costs a whole pause).
PLATEAU_CAREFUL = 0.95
#: Seconds to climb back to the plateau after a cut.
RECOVER = 1.0
#: Seconds on the plateau before probing above it, and at least this many requests:
#: each probe costs a few 429s, so at low rates they come less often.
HOLD = 1.0
HOLD_REQUESTS = 50
HOLD_MAX = 3.0
#: After a `Retry-After`, each probe that finds the limit where it was (within `SAME`)
#: doubles the hold, up to `PATIENCE` times: a stable limit is probed less and less.
SAME = 0.1
PATIENCE = 8.0
#: A probe past this many times the plateau with no 429 doubles every `FAST_DOUBLING` s.
FAST = 1.5
FAST_DOUBLING = 0.25
#: Seconds of probing for the pace to double the estimate (cubic: slow at first).
PROBE = 1.0
#: After a `Retry-After`, the climb, hold and probe take this many times longer.
CAREFUL = 4.0
#: Cut below this share of the last evidenced estimate, slow start again once answers
#: come back 2xx (a storm of 429s is not a limit).
COLLAPSE = 0.25
#: A slot may be taken this early (seconds): the event loop's timers are no finer (epoll
#: counts milliseconds), and sleeping for less than that per request capped a fast run
#: at a third below what it reached unpaced. The schedule is kept, so no rate changes.
EARLY = 0.002
#: Slots (and at most seconds) of lag behind the schedule made up at once: a sender
#: scheduled a few milliseconds late, again and again on a busy machine, otherwise
#: delivered that much less (`--rate 200`: 1-second windows of 170-188 at a load of 5
#: on 2 cores). A 1-second window holds at most the pace + `CATCH_UP` + 1, and a
#: catch-up is a burst of at most `CATCH_UP` (a bucket of 20 holds it).
CATCH_UP = 4
CATCH_UP_SECONDS = 0.03
#: Longer than this (seconds) behind the schedule is no moment's delay: no catch-up.
HELD_UP = 0.25
#: Never slower than this (requests/s): a run always moves.
MIN_RATE = 0.5
#: Shortest time between two 429s from which the limit is estimated (seconds).
MIN_SPAN = 0.3
#: 429s under this share of the answers over the last `RECENT` seconds, while the pace
#: is at most the estimate, are noise (a stall on the way delivered a burst): the
#: estimate keeps `KEEP` of itself, the pace eases to `EASE` of it. Without this, every
#: such 429 cut the estimate to the pace of the moment, and at 1,000/s with a bucket of
#: 20 (20 ms of sending) a loaded machine's stalls walked the pace down to 600-800/s.
NOISE = 0.05
EASE = 0.95
KEEP = 0.99
#: Seconds before a 429 over which the accepted rate is read.
RECENT = 0.5
#: The same when the 429 ends a doubling probe (`FAST`): about its last doubling.
#: Shorter reads the bucket's burst as rate (at 50/s, 20 tokens in 0.2 s is +100/s).
FAST_RECENT = 0.3


class Stop(Protocol):
    """The run's stop flag (`stopsignal.StopSignal`)."""

    def is_set(self) -> bool: ...

    def sleep(self, seconds: float) -> Awaitable[None]: ...


@dataclass(frozen=True, slots=True)
class PaceState:
    """What the pacer has found, small enough to save and share.

    `rate`: the current pace, requests/s (None: not limited yet, still in slow start).
    `limit`: the estimate of the endpoint's limit, requests/s (None: no 429 yet).
    `throttled_at`: Unix time of the last 429 (None: never).
    """

    rate: float | None
    limit: float | None
    throttled_at: float | None


class Pacer:
    """Spaces request starts: adaptive by default, with `ceiling` (`--rate`) as a hard cap.

    `await wait()` before each request (first attempts and retries alike), then
    `answered()` with its outcome. `pause_until()` holds everyone back (Retry-After).
    `clock`/`sleep` are the event loop's by default; tests pass a fake clock.
    """

    def __init__(
        self,
        ceiling: float | None = None,
        *,
        adaptive: bool = True,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        initial_rate: float = INITIAL_RATE,
    ) -> None:
        self.ceiling = ceiling
        self.adaptive = adaptive
        self._clock = clock
        self._sleep = sleep
        self._initial = min(initial_rate, ceiling) if ceiling else initial_rate
        self._next = 0.0
        self._started: float | None = None
        self._fast = False  # the probe is doubling (`FAST`): see `answered`
        self._unbound = False  # slow start outran what is sent: not pacing (see rate_at)
        # After the first 429: the cut (time, pace), the limit estimate, the curve's pace.
        self._cut_at: float | None = None
        self._cut_rate = 0.0
        self._limit: float | None = None
        self._careful = 1.0
        # After a Retry-After, holds grow while probes keep finding the same limit.
        self._patience = 1.0
        # The last estimate backed by evidence (accepted counts), not by cuts alone.
        self._anchor = 0.0
        self._rate = ceiling if (ceiling and not adaptive) else self._initial
        if ceiling and adaptive:
            self._rate = ceiling  # the user's own figure: start there, adapt down if told
            self._initial = ceiling
        self._throttled_at: float | None = None  # loop time of the last 429
        # Accepted answers since the last 429 that counted (see `answered`).
        self._throttled_before = False
        self._counted_from = 0.0
        self._accepted_since = 0
        self._paused_since_count = 0.0
        self._throttled_wall: float | None = None
        #: Counts `pause_until` calls and cuts: a waiter that slept through one re-checks.
        self._pauses = 0
        self._sent = RateWindow()
        self._accepted = RateWindow()
        self._refused = RateWindow()  # 429 answers
        self.throttled = 0  # 429 answers seen
        # FIFO of waiters: only the head sleeps.
        self._busy = False
        self._queue: deque[asyncio.Future[None]] = deque()

    # --- the clock -------------------------------------------------------------------

    def now(self) -> float:
        return self._clock() if self._clock is not None else asyncio.get_running_loop().time()

    # --- what the pace is ---------------------------------------------------------------

    @property
    def rate(self) -> float | None:
        """The current pace, requests/s; None when unpaced (no ceiling, not adaptive)."""
        if not self.adaptive:
            return self.ceiling
        return self._rate

    @property
    def adapted(self) -> bool:
        """Whether a 429 has shaped the pace (the progress line says so)."""
        return self._limit is not None

    def rate_at(self, now: float) -> float | None:
        """The pace at `now`, requests/s (None: unpaced)."""
        if not self.adaptive:
            return self.ceiling
        if self._started is None:
            self._started = now
        if self._cut_at is None:  # slow start
            if self.ceiling and self._initial >= self.ceiling:
                rate = self.ceiling
            else:
                rate = self._initial * 2.0 ** min((now - self._started) / DOUBLING, 40.0)
                # A run bound by --concurrency or the CPU stops climbing: at most 8x what
                # was sent over the last second (a second's average of a climb doubling
                # every 0.1 s is a seventh of its end; on a loaded machine the sender runs
                # in bursts, which a tighter cap would hold back).
                recent = self._sent.rate(now, self._started)
                cap = max(8.0 * recent, self._initial)
                # Bound elsewhere: no spacing at all (answers come back in bursts, and
                # spreading each burst cost a third of an unlimited run's speed), but
                # the pace stays what a first 429 would be measured against.
                self._unbound = rate > cap
                rate = min(rate, cap)
        else:
            rate = self._curve(now)
        rate = max(rate, MIN_RATE)
        if self.ceiling:
            rate = min(rate, self.ceiling)
        self._rate = rate
        return rate

    def _curve(self, now: float) -> float:
        """CUBIC's shape after a cut: concave climb, plateau, convex probe."""
        limit = self._limit or self._cut_rate
        plateau = limit * (PLATEAU if self._careful == 1.0 else PLATEAU_CAREFUL)
        tau = now - (self._cut_at or now)
        if tau <= 0:
            return self._cut_rate
        hold = min(max(HOLD, HOLD_REQUESTS / limit), HOLD_MAX)
        recover, hold, probe = (x * self._careful for x in (RECOVER, hold, PROBE))
        hold *= self._patience
        if tau < recover:
            return plateau - (plateau - self._cut_rate) * (1.0 - tau / recover) ** 3
        tau -= recover + hold
        if tau <= 0:
            return plateau
        # Cubic until `FAST` times the plateau with no 429: the limit has risen, and
        # it is found by doubling every `FAST_DOUBLING` (CUBIC's convex region grown
        # steeper, as slow start); the cap below still binds it to what is sent.
        fast_at = probe * (FAST - 1.0) ** (1 / 3)
        self._fast = tau > fast_at
        if tau <= fast_at:
            rate = plateau * (1.0 + (tau / probe) ** 3)
        else:
            doublings = min((tau - fast_at) / (FAST_DOUBLING * self._careful), 40.0)
            rate = plateau * FAST * 2.0**doublings
        # Not above twice what is actually sent: a run bound elsewhere stops probing.
        return min(rate, max(2.0 * self._sent.rate(now), plateau))

    # --- waiting ---------------------------------------------------------------------

    async def wait(self, stop: Stop | None = None) -> float:
        """Until this request's slot; the time it may start. Early when `stop` is set.

        One waiter sleeps until the next slot; the others wait in line, and when the
        sleeper's slot comes it wakes as many as have slots due (one loop turn for a
        batch, not one per request), plus one to sleep for the rest.
        """
        queued = False
        while True:
            now = self.now()
            if stop is not None and stop.is_set():
                self._release(everyone=True)
                return now
            if self._busy:
                future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
                if queued:
                    self._queue.appendleft(future)  # woken but beaten to it: keep our place
                else:
                    self._queue.append(future)
                queued = True
                await future
                continue
            delay = self.try_start(now)
            if delay <= 0:
                if self._queue and not self._busy:
                    self._release(one=True)  # nobody sleeps for those behind: pass it on
                return now
            self._busy = True
            try:
                await (stop.sleep(delay) if stop is not None else self._sleep(delay))
            finally:
                self._busy = False
                self._release(everyone=stop is not None and stop.is_set())

    def _release(self, *, everyone: bool = False, one: bool = False) -> None:
        """Wake the waiters whose slots are due now, and one more to sleep for the rest."""
        wake = 1 if one else len(self._queue)
        if not (everyone or one):
            now = self.now()
            rate = self.rate_at(now)
            if rate is not None:
                due = (now + EARLY - self._next) * rate
                wake = 2 + max(int(due), 0)  # the sleeper itself takes a slot first
        while self._queue and wake > 0:
            future = self._queue.popleft()
            if not future.done():
                future.set_result(None)
                wake -= 1

    def try_start(self, now: float) -> float:
        """Take the slot if it has come (0.0), or the seconds until it comes.

        The synchronous core of `wait()`, for the head of the queue (and simulations).
        """
        rate = self.rate_at(now)
        if rate is None:
            return 0.0
        if self._unbound and self._cut_at is None:
            self._sent.add(now)
            return 0.0
        interval = 1.0 / rate
        if now + EARLY < self._next:
            return self._next - now
        # A timer that fires late keeps the schedule, and so does a sender held up for
        # a moment (scheduled late on a busy machine, opening a connection): up to
        # `CATCH_UP` slots of it are made up at once. A longer gap (the start, a slow
        # patch, nothing to send) builds no credit.
        lag = now - self._next
        if lag < interval:
            slot = self._next
        elif lag <= HELD_UP:
            slot = now - min(lag, CATCH_UP * interval, CATCH_UP_SECONDS)
        else:
            slot = now
        self._next = slot + interval
        self._sent.add(now)
        return 0.0

    def pause_until(self, when: float) -> None:
        """Hold every request back until `when` (loop time); then resume at the pace."""
        if when > self._next:
            self._paused_since_count += when - max(self._next, self.now())
            self._next = when
            self._pauses += 1
            if self._cut_at is not None and self._cut_at < when:
                self._cut_at = when  # the climb starts when sending does

    # --- what the endpoint said ------------------------------------------------------

    def answered(
        self, sent_at: float, *, accepted: bool, throttled: bool, retry_after: float | None = None
    ) -> None:
        """Record one answer to a request started at `sent_at` (loop time).

        `accepted`: 2xx. `throttled`: 429 (with its `Retry-After` seconds, if any).
        """
        now = self.now()
        if accepted:
            self._accepted.add(now)
            self._accepted_since += 1
            if (
                self._limit is not None
                and self._limit < COLLAPSE * self._anchor
                and self._cut_at is not None
                and sent_at >= self._cut_at
            ):
                self._restart(now)
            return
        if not throttled:
            return
        self.throttled += 1
        self._refused.add(now)
        self._throttled_at = now
        self._throttled_wall = time.time()
        if not self.adaptive:
            return
        if retry_after:  # Retry-After: 0 costs no pause
            self._careful = CAREFUL
        if self._cut_at is not None and sent_at < self._cut_at:
            return  # sent at the old pace: this cut already answered it
        pace = self.rate_at(now) or self._initial
        # What was really sent: less than the pace when the CPU (or --concurrency) binds.
        sending = min(pace, self._sent.rate(now))
        if (
            not retry_after
            and self._limit is not None
            and sending <= self._limit
            and self._noise(now)
        ):
            # A few 429s while we kept under the estimate: a burst on the way (the
            # endpoint or the network stalled, then took what queued at once), not a
            # lower limit. Keep the estimate; ease off a little so the bucket refills.
            # (With a Retry-After each 429 costs a pause: those are all taken seriously.)
            self._limit *= KEEP  # an estimate a little high looks the same: let it sink
            self._cut_rate = max(min(pace, self._limit * EASE), MIN_RATE)
            self._cut_at = now
            self._rate = self._cut_rate
            self._next = max(self._next, now + 1.0 / self._cut_rate)
            self._pauses += 1
            return
        estimate = pace
        anchored = False
        # The bucket was empty at the last 429 and is empty again now: what it accepted
        # in between is its refill rate times the time between them (less what it could
        # not hold while we sent below the limit, or paused: then this reads low, and
        # the probe corrects). The sharpest estimate there is, when long enough to count.
        span = now - self._counted_from - self._paused_since_count
        if not self._throttled_before and self._started is not None:
            # The end of slow start: the bucket's burst let the pace overshoot unseen.
            # What was accepted since the start reads near the limit when the pace grew
            # well past it; TCP's halving bounds it when the climb was short.
            since_start = self._accepted_since / max(now - self._started, MIN_SPAN)
            estimate = min(pace, max(since_start, pace / 2))
            anchored = True
        elif span >= MIN_SPAN and self._accepted_since:
            # What the endpoint accepted: since the last 429 (a lower bound, reading low
            # when the bucket overflowed while we ran below the limit), or over the last
            # moments (when we ran above it; a probe's rise makes it lag, never lead).
            sample = self._accepted_since / span
            recent = self._accepted.rate(now, now - RECENT)
            if self._fast:
                # A probe doubling every FAST_DOUBLING s: half a second back reads a
                # fraction of where it ended (200 -> 50 -> 400 estimated 239 for 400).
                recent = max(recent, self._accepted.rate(now, now - FAST_RECENT))
            estimate = min(pace, max(sample, recent))
            anchored = True
        self._throttled_before = True
        self._counted_from = now
        self._accepted_since = 0
        self._paused_since_count = 0.0
        # Cut again within a moment of the last cut: the pace is far off (the end of slow
        # start, a limit that fell): cut deeper, as botocore's CUBIC does every time.
        recent = self._cut_at is not None and now - self._cut_at < AGAIN * self._careful
        previous = self._limit
        self._limit = max(estimate, MIN_RATE)
        if retry_after and previous is not None and abs(self._limit - previous) <= SAME * previous:
            # The probe found what we knew and cost a pause: probe half as often.
            self._patience = min(self._patience * 2.0, PATIENCE)
        else:
            self._patience = 1.0
        if anchored:
            self._anchor = self._limit
        self._cut_rate = max(self._limit * (DEEP if recent else BACKOFF), MIN_RATE)
        self._cut_at = now
        self._rate = self._cut_rate
        # Requests already waiting take slots at the new pace.
        self._next = max(self._next, now + 1.0 / self._cut_rate)
        self._pauses += 1

    def _noise(self, now: float) -> bool:
        """Whether the 429s of the last moments are a small share of the answers."""
        refused = self._refused.rate(now, now - RECENT)
        return refused < NOISE * (refused + self._accepted.rate(now, now - RECENT))

    def _restart(self, now: float) -> None:
        """Slow start again from the pace: cuts without evidence (a storm of 429s, not
        a bucket) took it far below the last estimate, and the endpoint accepts again.
        TCP does the same after a timeout."""
        self._initial = max(self._rate, MIN_RATE)
        self._started = now
        self._cut_at = None
        self._throttled_before = False
        self._accepted_since = 0
        self._anchor = 0.0
        self._pauses += 1

    # --- sharing ---------------------------------------------------------------------

    def state(self) -> PaceState:
        """The pacer's findings, to save or share."""
        rate = self._rate if self._limit is not None else None
        return PaceState(rate, self._limit, self._throttled_wall)

    def restore(self, state: PaceState) -> None:
        """Start from findings saved earlier (by this or another worker)."""
        if state.limit is None or not self.adaptive:
            return
        now = self.now()
        self._started = now
        self._limit = state.limit
        self._cut_rate = min(state.rate or state.limit * BACKOFF, state.limit * PLATEAU)
        if self.ceiling:
            self._cut_rate = min(self._cut_rate, self.ceiling)
        self._cut_at = now
        self._throttled_wall = state.throttled_at
