"""A run's stop flag, with timed waits that end early when it is set."""

from __future__ import annotations

import asyncio


class StopSignal:
    """A run's stop flag, with timed waits that end early when it is set.

    Like `asyncio.Event` plus `wait_for(event.wait(), timeout)`, without the task
    and the TimeoutError that costs per wait: the pacer waits once per request,
    and those per-request exceptions (reference cycles) kept the garbage
    collector busy enough to show as gaps in `--rate`.
    """

    def __init__(self) -> None:
        self._set = False
        self._sleepers: set[asyncio.Future[None]] = set()

    def set(self) -> None:
        self._set = True
        for sleeper in self._sleepers:
            _wake(sleeper)

    def is_set(self) -> bool:
        return self._set

    async def sleep(self, seconds: float) -> None:
        """Sleep `seconds`, or until set."""
        if self._set or seconds <= 0:
            return
        loop = asyncio.get_running_loop()
        sleeper: asyncio.Future[None] = loop.create_future()
        timer = loop.call_later(seconds, _wake, sleeper)
        self._sleepers.add(sleeper)
        try:
            await sleeper
        finally:
            timer.cancel()
            self._sleepers.discard(sleeper)


def _wake(sleeper: asyncio.Future[None]) -> None:
    if not sleeper.done():
        sleeper.set_result(None)
