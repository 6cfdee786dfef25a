"""A deterministic simulation of the pacer against a token-bucket endpoint, in virtual time.

Workers (`concurrency` of them) queue FIFO for the pacer's slots exactly as
`Pacer.wait()` does (through its synchronous core `try_start`); each request reaches
the endpoint after half the latency, where a token bucket (refill `rate`/s, `burst`)
admits it or answers 429, and the answer arrives after the other half. Throttled
messages queue again. No real time passes: the tests use it to assert convergence
with no timed assertions, and it was used to choose the pacer's constants.
"""

from __future__ import annotations

import asyncio
import heapq
import random
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

from linepress.send.pacing import Pacer

T = TypeVar("T")


@dataclass
class Bucket:
    """The endpoint's limit: `limit(t)` tokens/s, at most `burst` saved; starts full."""

    limit: Callable[[float], float]
    burst: float
    tokens: float = -1.0
    at: float = 0.0

    def admit(self, now: float) -> bool:
        if self.tokens < 0:
            self.tokens = self.burst
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.limit(now))
        self.at = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


@dataclass
class Run:
    """What happened: per answer (time, accepted), per start (time, pace)."""

    accepted_at: list[float] = field(default_factory=list)
    throttled: int = 0
    starts: list[tuple[float, float]] = field(default_factory=list)
    end: float = 0.0
    burst_max: int = 0  # most starts within any 10 ms

    def delivered_rate(self, start: float, end: float) -> float:
        return sum(start <= t < end for t in self.accepted_at) / (end - start)


def simulate(
    messages: int,
    limit: Callable[[float], float],
    *,
    burst: float = 20.0,
    latency: float = 0.02,
    jitter: float = 0.002,
    concurrency: int = 64,
    retry_after: float | None = None,
    ceiling: float | None = None,
    seed: int = 0,
    make_pacer: Callable[[Callable[[], float]], Pacer] | None = None,
    stalls: float = 0.0,
    stall_length: float = 0.03,
    sender: Callable[[float], float] | None = None,
) -> Run:
    """Send `messages` through a pacer to a token bucket; everything in virtual time.

    `stalls`: how often (per second, on average) the endpoint's process is not
    scheduled for about `stall_length` seconds (exponential), as on a loaded machine:
    what arrives meanwhile reaches the bucket at once when it runs again, so a limit
    of 1,000/s with a burst of 20 answers 429 to a sender that never exceeded it.
    `sender(t)`: the most requests/s the sender's CPU can start at time t (None: no
    bound), as on a machine shared with other work.
    """
    clock = [0.0]
    now_fn = lambda: clock[0]  # noqa: E731
    pacer = make_pacer(now_fn) if make_pacer else Pacer(ceiling, clock=now_fn)
    rng = random.Random(seed)
    bucket = Bucket(limit, burst)
    frozen = random.Random(seed + 1)
    stall_end = 0.0  # the endpoint runs again at this time
    next_stall = frozen.expovariate(stalls) if stalls else float("inf")
    run = Run()
    events: list[tuple[float, int, str, object]] = []
    seq = 0
    fifo: list[int] = []  # workers waiting, as a count (they are interchangeable)
    waiting = 0
    wake_at: float | None = None
    left = messages
    done = 0

    def push(at: float, kind: str, data: object = None) -> None:
        nonlocal seq
        seq += 1
        heapq.heappush(events, (at, seq, kind, data))

    cpu_free = 0.0  # the sender can start its next request from this time

    def pump(now: float) -> None:
        nonlocal waiting, wake_at, cpu_free
        while waiting:
            if sender is not None and now < cpu_free:
                if wake_at is None or cpu_free < wake_at:
                    wake_at = cpu_free
                    push(wake_at, "wake")
                return
            delay = pacer.try_start(now)
            if delay > 0:
                if wake_at is None or now + delay < wake_at:
                    wake_at = now + delay
                    push(wake_at, "wake")
                return
            waiting -= 1
            if sender is not None:
                cpu_free = max(cpu_free, now) + 1.0 / sender(now)
            run.starts.append((now, pacer.rate or 0.0))
            there = latency / 2 + rng.random() * jitter / 2
            push(now + there, "arrive", now)

    del fifo
    start_workers = min(concurrency, messages)
    left -= start_workers
    waiting = start_workers
    pump(0.0)
    while events and done < messages:
        now, _, kind, data = heapq.heappop(events)
        clock[0] = now
        if kind == "wake":
            if wake_at is not None and now >= wake_at:
                wake_at = None
            pump(now)
        elif kind == "arrive":
            while next_stall <= now:  # the endpoint was descheduled in between
                stall_end = max(stall_end, next_stall + frozen.expovariate(1 / stall_length))
                next_stall += frozen.expovariate(stalls)
            if now < stall_end:
                push(stall_end, "arrive", data)
                continue
            ok = bucket.admit(now)
            back = latency / 2 + rng.random() * jitter / 2
            push(now + back, "answer", (data, ok))
        else:
            sent_at, ok = data  # type: ignore[misc]
            if ok:
                run.accepted_at.append(now)
                pacer.answered(sent_at, accepted=True, throttled=False)
                done += 1
                if left:
                    left -= 1
                    waiting += 1
            else:
                run.throttled += 1
                pacer.answered(sent_at, accepted=False, throttled=True, retry_after=retry_after)
                if retry_after is not None:
                    pacer.pause_until(now + retry_after)
                waiting += 1
            pump(now)
    run.end = clock[0]
    starts = [t for t, _ in run.starts]
    j = 0
    for i, t in enumerate(starts):
        while starts[j] < t - 0.01:
            j += 1
        run.burst_max = max(run.burst_max, i - j + 1)
    return run


class VirtualTime:
    """Virtual time for asyncio code: `sleep` parks a task until `run` advances the clock.

    `run(main)` drives `main` on a real event loop, but whenever every task is parked it
    jumps the clock to the earliest wake-up, so sleeps take no real time and what a test
    asserts about time is exact on any machine. Also a stop flag (`pacing.Stop`) that is
    never set, for `Pacer.wait(stop)`.
    """

    def __init__(self) -> None:
        self.clock = 0.0
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = 0

    def now(self) -> float:
        return self.clock

    async def sleep(self, seconds: float) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._seq += 1
        heapq.heappush(self._sleepers, (self.clock + max(seconds, 0.0), self._seq, future))
        await future

    # The `Stop` protocol: never set; its sleeps are virtual.
    def is_set(self) -> bool:
        return False

    def run(self, main: Coroutine[Any, Any, T]) -> T:
        async def drive() -> T:
            task = asyncio.ensure_future(main)
            while not task.done():
                for _ in range(50):  # let every runnable task run until it parks
                    await asyncio.sleep(0)
                if task.done() or not self._sleepers:
                    continue
                at, _, future = heapq.heappop(self._sleepers)
                self.clock = max(self.clock, at)
                future.set_result(None)
            return task.result()

        return asyncio.run(drive())
