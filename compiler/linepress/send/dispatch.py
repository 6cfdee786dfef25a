"""Sending planned messages: concurrency, pacing, retries, and the journal as we go.

What an answer means is `answers.py`; the journal writes are grouped by
`journal_writer.py`; when requests may start is `pacing.py`.

Per message:

    pending --mark inflight (committed)--> request --> sent | failed | unknown
                                               \\--> retry later (429, 5xx, no connection)

- A connection that could not be made, 429 and 5xx are retried with exponential
  backoff and full jitter, honouring `Retry-After`, up to `max_attempts` per run.
- 400 (and other 4xx) fail that recipient for good, keeping Infobip's text.
- 401/403/404 stop the whole run: the remaining recipients stay `pending`, so bad
  credentials or a wrong base URL do not burn the list.
- A request that may have reached the server (timeout or connection lost after
  sending) is `unknown`: without an idempotency key, resending could deliver twice.
- The endpoint failing the same way again and again (refused, DNS, TLS, cut
  connections) trips the breaker (`breaker.py`): the run stops, the rest pending.
- A `Retry-After` longer than `max_wait` stops the run (the rest pending) rather
  than wait longer than the user agreed to.
- `--timeout` bounds each whole exchange, and at most `BODY_CAP` bytes of an
  answer are read (`transport.Sender`: aiohttp directly, or a given httpx transport).
"""

from __future__ import annotations

import asyncio
import gc
import random
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import httpx

from linepress.send.answers import Verdict, judge_exception, judge_response
from linepress.send.breaker import (
    DEFAULT_THRESHOLD,
    Breaker,
    Gate,
    classify,
    server_down,
    server_error,
)
from linepress.send.endpoint import Endpoint
from linepress.send.journal import (
    CampaignJournal,
    JournalUnavailable,
    JournalWriteError,
    Outcome,
    Status,
)
from linepress.send.journal_writer import JournalWriter
from linepress.send.pacing import Pacer, PaceState
from linepress.send.stopsignal import StopSignal
from linepress.send.transport import AiohttpSender, HttpxSender, Sender

__all__ = ["DispatchSettings", "Dispatcher", "Job", "Tally"]


@dataclass(frozen=True, slots=True)
class DispatchSettings:
    concurrency: int = 16
    #: Messages per second at most, spread evenly; None: no ceiling.
    rate: float | None = None
    #: Find the endpoint's rate limit from its 429s (`pacing.Pacer`); False: pace at
    #: `rate` exactly, or not at all.
    adaptive: bool = True
    max_attempts: int = 5
    timeout: float = 30.0
    backoff_base: float = 0.5
    backoff_cap: float = 30.0
    #: The longest Retry-After the run waits out; a longer one stops it (seconds).
    max_wait: float = 60.0
    #: Consecutive failures of one kind that stop the run (0: never); see breaker.py.
    breaker_threshold: int = DEFAULT_THRESHOLD


@dataclass(slots=True)
class Tally:
    """Live counts for progress and the summary."""

    by_status: dict[str, int] = field(default_factory=dict)
    done: int = 0
    #: 429 answers (each retried through the pacer).
    throttled: int = 0
    #: The pace (requests/s) once 429s have shaped it; None before.
    pace: float | None = None

    def add(self, status: Status) -> None:
        self.by_status[status] = self.by_status.get(status, 0) + 1
        self.done += 1


@dataclass(slots=True)
class Job:
    row: int
    body: bytes
    attempts: int


class Dispatcher:
    """Sends the journal's sendable messages with `settings.concurrency` in flight."""

    def __init__(
        self,
        journal: CampaignJournal,
        endpoint: Endpoint,
        settings: DispatchSettings,
        *,
        resend_unknown: bool = False,
        transport: httpx.AsyncBaseTransport | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.journal = journal
        self.endpoint = endpoint
        self.settings = settings
        self.resend_unknown = resend_unknown
        self.tally = Tally()
        self.stop_reason: str | None = None
        self._transport = transport
        self._rng = rng or random.Random()
        self._writer = JournalWriter(
            journal, on_failure=self._journal_failed, on_lost=self._journal_lost
        )
        #: Why the journal could not be used (a shared journal's database went away).
        self.journal_error: JournalUnavailable | None = None
        self._pacer = Pacer(settings.rate, adaptive=settings.adaptive)
        self.breaker = Breaker(settings.breaker_threshold)
        #: Holds new requests back while the endpoint may be hanging (few `unknown` rows).
        self._gate = Gate()
        #: Requests sent and not yet answered (for the Ctrl-C message).
        self.in_flight = 0
        self._stopping = StopSignal()
        self._headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if endpoint.credentials is not None:
            self._headers["Authorization"] = endpoint.credentials.header()

    def stop(self, reason: str) -> None:
        """Take no new work; requests already in flight finish."""
        if self.stop_reason is None:
            self.stop_reason = reason
        self._stopping.set()

    def _journal_lost(self, error: JournalUnavailable) -> None:
        self.journal_error = self.journal_error or error
        self.stop(f"the journal is unavailable: {error}")

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    @property
    def journal_failure(self) -> JournalWriteError | None:
        """Why the journal could not be written, when that stopped the run."""
        return self._writer.failure

    def _journal_failed(self, exc: JournalWriteError) -> None:
        self.stop("the journal could not be written")

    async def run(self, on_progress: Callable[[Tally], None] | None = None) -> None:
        # What exists by now (modules, the plan) lives until the end: keep it out of the
        # collector's full passes. One, about 3 s into a 1000/s run, paused sending for
        # 30-40 ms, and a 1-second window fell to 929 messages (--rate allows 950).
        # (Not when something else froze already, e.g. another dispatcher: its unfreeze
        # is its own.)
        froze = gc.get_freeze_count() == 0
        if froze:
            gc.freeze()
        try:
            await self._dispatch(on_progress)
        finally:
            if froze:
                gc.unfreeze()

    def _sender(self) -> Sender:
        """aiohttp directly; a given httpx transport (the dry run, tests) through httpx."""
        connect = min(10.0, self.settings.timeout)
        concurrency = self.settings.concurrency
        if self._transport is None:
            return AiohttpSender(concurrency, self._headers, connect)
        return HttpxSender(self._transport, concurrency, self._headers, connect)

    async def _dispatch(self, on_progress: Callable[[Tally], None] | None) -> None:
        queue: asyncio.Queue[Job | None] = asyncio.Queue(maxsize=self.settings.concurrency * 2)
        sender = self._sender()
        try:
            workers = [
                asyncio.create_task(self._work(sender, queue))
                for _ in range(self.settings.concurrency)
            ]
            ticker = asyncio.create_task(self._tick(on_progress)) if on_progress else None
            sharer = asyncio.create_task(self._share())
            try:
                await self._feed(queue)
                for _ in workers:
                    await queue.put(None)
                await asyncio.gather(*workers)
            finally:
                for worker in workers:
                    worker.cancel()
                await asyncio.gather(*workers, return_exceptions=True)
                if ticker is not None:
                    ticker.cancel()
                if sharer is not None:
                    sharer.cancel()
                self._writer.flush()
                if on_progress:
                    on_progress(self.tally)
        finally:
            await sender.aclose()

    def _claim(self, after: int) -> tuple[list[tuple[int, bytes, int]], float | None]:
        """The next rows to send, and when none: seconds to wait before asking again."""
        batch = self.journal.to_send(resend_unknown=self.resend_unknown, after=after, limit=500)
        # A shared journal: other workers may still hand rows back.
        return batch, None if batch else self.journal.more_later()

    async def _feed(self, queue: asyncio.Queue[Job | None]) -> None:
        after = 0
        # A journal on a server claims rows in a round trip: from a thread, so the loop
        # (and the pace) does not stall meanwhile (3-5 ms a claim on a loaded machine).
        remote = self.journal.commits_wait
        while not self.stopping:
            try:
                if remote:
                    batch, later = await asyncio.to_thread(self._claim, after)
                else:
                    batch, later = self._claim(after)
            except JournalUnavailable as exc:
                self._journal_lost(exc)
                return
            if not batch:
                if later is None:
                    return
                await self._stopping.sleep(later)
                after = 0
                continue
            for row, body, attempts in batch:
                if self.stopping:
                    return
                await queue.put(Job(row, body, attempts))
            after = batch[-1][0]

    async def _work(self, sender: Sender, queue: asyncio.Queue[Job | None]) -> None:
        while True:
            job = await queue.get()
            if job is None:
                return
            if self.stopping:
                continue  # drain: queued jobs stay `pending` in the journal
            try:
                outcome = await self._deliver(sender, job)
            except JournalWriteError:
                continue  # its in-flight mark failed: nothing was sent, the row stays as it was
            except Exception as exc:  # a bug of ours must not hang the run or lose the row
                self.stop(f"unexpected {type(exc).__name__}; the run stopped")
                outcome = Outcome(
                    job.row, "unknown", job.attempts, error=f"{type(exc).__name__} while sending"
                )
            if outcome is not None:
                self._writer.record(outcome)
                self.tally.add(outcome.status)

    async def _deliver(self, sender: Sender, job: Job) -> Outcome | None:
        """Send one message until it is settled; None when the run stopped first."""
        tries = 0
        gate = self._gate
        while True:
            while not gate.open and not self.stopping:
                await self._stopping.sleep(0.02)  # rare: a probe or a hang is being waited out
            if self.stopping:
                return None  # still `pending` in the journal
            gate.enter()
            try:
                sent_at = await self._pacer.wait(self._stopping)
            except BaseException:
                gate.leave(answered=False, unanswered=False)
                raise
            if self.stopping:
                gate.leave(answered=False, unanswered=False)
                return None  # still `pending` in the journal
            try:
                await self._writer.inflight(job.row)
            except JournalUnavailable:
                gate.leave(answered=False, unanswered=False)
                return None  # not sent: the run stops (`Dispatcher.journal_error`)
            except BaseException:
                gate.leave(answered=False, unanswered=False)
                raise
            job.attempts += 1
            tries += 1
            self.in_flight += 1
            answered = unanswered = False
            try:
                response = await sender.post(
                    self.endpoint.send_url, job.body, self.settings.timeout
                )
                verdict = judge_response(response)
                answered = True
                if server_error(response.status_code):  # the endpoint's servers fail
                    if self.breaker.failed(server_down(response.status_code)):
                        self.stop(self.breaker.reason(self.endpoint.base_url))
                else:
                    self.breaker.answered(response.status_code)
            except Exception as exc:  # every failure gets a verdict: no row is left in flight
                verdict = judge_exception(exc)
                # No answer in time: the hang guard (a cut connection is the breaker's).
                unanswered = verdict.action == "unknown" and isinstance(exc, httpx.TimeoutException)
                if not isinstance(exc, httpx.HTTPError):
                    self.stop(f"unexpected {type(exc).__name__}; the run stopped")
                outage = classify(exc, self.endpoint.base_url)
                if outage is not None and self.breaker.failed(outage):
                    self.stop(self.breaker.reason(self.endpoint.base_url))
            finally:
                self.in_flight -= 1
                hung = gate.leave(answered=answered, unanswered=unanswered)
            if hung and self.breaker.tripped is None:
                # Every request since the first unanswered one went unanswered: stop before
                # more rows become `unknown` (a person checks each by hand).
                self.stop(self.breaker.trip(self.endpoint.base_url))
            if verdict.error is not None:
                # An endpoint may echo the Authorization header in an error body.
                verdict = replace(verdict, error=self.endpoint.redact(verdict.error))
            if verdict.action == "retry" and self.breaker.tripped is not None:
                verdict = replace(verdict, action="stop")  # the breaker stopped the run
            if (
                verdict.action == "retry"
                and verdict.retry_after is not None
                and verdict.retry_after > self.settings.max_wait
            ):
                self.stop(
                    f"the endpoint asked to wait {_duration(verdict.retry_after)} (Retry-After), "
                    f"more than --max-wait {_duration(self.settings.max_wait)}: the rest stay "
                    "pending; re-run the same command later"
                )
                verdict = replace(verdict, action="stop")
            throttled = verdict.http_status == 429
            self._pacer.answered(
                sent_at,
                accepted=verdict.action == "sent",
                throttled=throttled,
                retry_after=verdict.retry_after,
            )
            if throttled:
                self.tally.throttled += 1
            if verdict.action == "sent":
                return Outcome(
                    job.row, "sent", job.attempts, verdict.http_status, verdict.message_id
                )
            if verdict.action == "unknown":
                return Outcome(
                    job.row, "unknown", job.attempts, verdict.http_status, error=verdict.error
                )
            if verdict.action == "failed":
                return Outcome(
                    job.row, "failed", job.attempts, verdict.http_status, error=verdict.error
                )
            if verdict.action == "stop":
                self.stop(verdict.error or "stopped")
                # Not delivered: back to pending, so a corrected re-run sends it.
                self._writer.record(
                    Outcome(
                        job.row, "pending", job.attempts, verdict.http_status, error=verdict.error
                    )
                )
                return None
            if tries >= self.settings.max_attempts:
                return Outcome(
                    job.row,
                    "failed",
                    job.attempts,
                    verdict.http_status,
                    error=f"gave up after {tries} attempts: {verdict.error}",
                    retryable=True,
                )
            self._writer.record(
                Outcome(job.row, "pending", job.attempts, verdict.http_status, error=verdict.error)
            )
            await self._back_off(tries, verdict)

    async def _back_off(self, tries: int, verdict: Verdict) -> None:
        retry_after = verdict.retry_after
        if verdict.http_status == 429 and self._pacer.adaptive:
            # The pacer has slowed everyone (and paused for a Retry-After): the retry
            # queues for a slot like any request, with no back-off of its own.
            if retry_after is not None:
                self._pacer.pause_until(
                    self._pacer.now() + min(retry_after, self.settings.max_wait)
                )
            return
        if retry_after is not None:
            delay = retry_after  # at most max_wait: a longer one stopped the run
            # A Retry-After speaks for the whole account: everyone waits.
            self._pacer.pause_until(self._pacer.now() + delay)
        else:
            ceiling = min(self.settings.backoff_cap, self.settings.backoff_base * 2 ** (tries - 1))
            delay = self._rng.uniform(0, ceiling)  # full jitter: retries do not arrive in waves
        await self._stopping.sleep(delay)

    async def _share(self) -> None:
        """Pace as one of the campaign's workers (a shared journal; alone, nothing changes).

        - `--rate` is the campaign's: with N workers sending, each one's ceiling is 1/N.
        - The adaptive pacer's findings are shared: each worker publishes its share of
          the endpoint's limit; one that starts without findings starts from the
          campaign's (their sum, split N ways), so it does not rediscover the limit
          with 429s. When N changes, each worker rescales its share (N/M).

        The journal's heartbeat counts the workers and reads the findings about once
        a second; this follows it four times a second.
        """
        workers = 1
        rate = self.settings.rate
        while True:
            now = max(1, self.journal.live_workers)
            if now != workers:
                if rate:
                    # The pacer's ceiling is `--rate`; adaptive or not, it never goes above it.
                    self._pacer.ceiling = rate / now
                state = self._pacer.state()
                if state.limit is not None:
                    scale = workers / now
                    self._pacer.restore(
                        PaceState(
                            state.rate * scale if state.rate else None,
                            state.limit * scale,
                            state.throttled_at,
                        )
                    )
                workers = now
            state = self._pacer.state()
            shared = self.journal.campaign_pace
            if state.limit is None and shared is not None:
                total, throttled_at = shared
                self._pacer.restore(PaceState(None, total / workers, throttled_at))
                state = self._pacer.state()
            self.journal.share_pace(state.limit, state.throttled_at)
            await asyncio.sleep(0.25)

    async def _tick(self, on_progress: Callable[[Tally], None]) -> None:
        while True:
            await asyncio.sleep(0.5)
            if self._pacer.adapted:
                self.tally.pace = self._pacer.rate_at(self._pacer.now())
            on_progress(self.tally)


def _duration(seconds: float) -> str:
    """`99999999` -> `1157 days 9 h`, `90` -> `90 s`: a wait as a person reads it."""
    if seconds < 120:
        return f"{seconds:g} s"
    minutes = seconds / 60
    if minutes < 120:
        return f"{minutes:.0f} min"
    hours = minutes / 60
    if hours < 48:
        return f"{hours:.1f} h"
    return f"{hours // 24:.0f} days {hours % 24:.0f} h"
