"""The dispatcher's journal writes, grouped into one commit per event-loop turn (or per
commit, for a journal whose commits wait on a server)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from linepress.send.journal import (
    CampaignJournal,
    JournalUnavailable,
    JournalWriteError,
    Outcome,
)


class JournalWriter:
    """Groups journal writes made in one event-loop turn into one commit.

    `inflight()` returns only once the mark is committed, so no request leaves
    before the journal knows about it; outcomes are written on the next turn.

    A journal whose commits wait on a server (`commits_wait`: PostgreSQL, which waits
    for its disk) is written from a thread, one commit at a time: the loop keeps
    sending meanwhile, and what arrives during a commit goes into the next one (a
    group commit), so a slow commit makes batches bigger, not sending slower.
    """

    #: Seconds between WAL checkpoints: a journal copied without its `-wal` file
    #: then lacks at most this much (an attack run lost 411 of 2,000 records).
    CHECKPOINT_EVERY = 2.0

    def __init__(
        self,
        journal: CampaignJournal,
        on_failure: Callable[[JournalWriteError], None] | None = None,
        on_lost: Callable[[JournalUnavailable], None] | None = None,
    ) -> None:
        self._journal = journal
        self._checkpointed = time.monotonic()
        #: The first write that failed (a full disk): nothing more is written after it.
        self.failure: JournalWriteError | None = None
        self._on_failure = on_failure
        self._inflight: list[int] = []
        self._waiters: list[asyncio.Future[None]] = []
        self._outcomes: list[Outcome] = []
        self._scheduled = False
        self._on_lost = on_lost
        #: Set once the journal could not be written: nothing more is sent.
        self.lost: JournalUnavailable | None = None
        self._threaded = bool(getattr(journal, "commits_wait", False))
        #: A journal that marks rows ahead says which are marked (see `PgJournal.take_marked`).
        self._take_marked: Callable[[int], bool] | None = getattr(journal, "take_marked", None)
        self._thread: ThreadPoolExecutor | None = None
        #: The commit running in the thread, and what it writes.
        self._running: tuple[Future[BaseException | None], _Batch] | None = None

    async def inflight(self, row: int) -> None:
        """Return once `row` is committed `inflight` (its request may then leave)."""
        if (
            self._take_marked is not None
            and self.lost is None
            and self.failure is None
            and self._take_marked(row)
        ):
            return  # marked ahead by an earlier commit (a shared journal's `take_marked`)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._inflight.append(row)
        self._waiters.append(future)
        self._schedule()
        await future

    def record(self, outcome: Outcome) -> None:
        self._outcomes.append(outcome)
        self._schedule()

    def _schedule(self) -> None:
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._turn)

    def _turn(self) -> None:
        self._scheduled = False
        if not self._threaded:
            self.flush()
            return
        if self._running is not None:
            return  # its end starts the next commit, with everything gathered meanwhile
        batch = self._take()
        if not batch.outcomes and not batch.inflight:
            return
        if self._thread is None:
            self._thread = ThreadPoolExecutor(1, thread_name_prefix="linepress-journal")
        future = self._thread.submit(self._commit, batch)
        self._running = (future, batch)
        loop = asyncio.get_running_loop()
        future.add_done_callback(lambda _: loop.call_soon_threadsafe(self._committed, future))

    def _committed(self, future: Future[BaseException | None]) -> None:
        if self._running is None or self._running[0] is not future:
            return  # `flush()` settled it already
        batch = self._running[1]
        self._running = None
        self._settle(batch, future.result())
        if self._outcomes or self._inflight:
            self._schedule()

    def flush(self) -> None:
        """Write everything gathered so far; returns once it is committed (or failed)."""
        self._scheduled = False
        if self._running is not None:
            future, batch = self._running
            self._running = None
            self._settle(batch, future.result())
        batch = self._take()
        self._settle(batch, self._commit(batch))
        if self._thread is not None:
            self._thread.shutdown(wait=False)
            self._thread = None

    def _take(self) -> _Batch:
        batch = _Batch(self._outcomes, self._inflight, self._waiters)
        self._outcomes, self._inflight, self._waiters = [], [], []
        return batch

    def _commit(self, batch: _Batch) -> BaseException | None:
        """Write one batch (on the loop or in the thread); the error, if any, is returned."""
        try:
            if self.lost is not None:
                raise self.lost
            if self.failure is not None:
                raise self.failure
            # Outcomes first: a retried message's `pending` comes before its new `inflight`.
            self._journal.apply(batch.outcomes, batch.inflight)
            now = time.monotonic()
            if now - self._checkpointed >= self.CHECKPOINT_EVERY:
                self._checkpointed = now
                self._journal.checkpoint()
        except BaseException as exc:
            return exc
        return None

    def _settle(self, batch: _Batch, error: BaseException | None) -> None:
        """Wake the requests waiting for their marks: to be sent, or to fail with `error`."""
        waiters = batch.waiters
        if isinstance(error, JournalUnavailable):
            # A shared journal's database went away (or took our rows): no request may
            # leave without its mark, so the waiting ones fail, and the run stops. What
            # was in flight stays `inflight` there and becomes `unknown`.
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_exception(error)
            if self.lost is None:
                self.lost = error
                if self._on_lost is not None:
                    self._on_lost(error)
            return
        if isinstance(error, JournalWriteError):
            # Not raised from this callback (the loop would only log it): the run stops,
            # no request leaves unrecorded, and `send` reports it.
            first = self.failure is None
            self.failure = error
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_exception(error)
            if first and self._on_failure is not None:
                self._on_failure(error)
            return
        if error is not None:
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_exception(error)
            raise error
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)


@dataclass(slots=True)
class _Batch:
    """What one commit writes: outcomes, rows to mark in flight, and who waits for the marks."""

    outcomes: list[Outcome]
    inflight: list[int]
    waiters: list[asyncio.Future[None]]
