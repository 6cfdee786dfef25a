"""Sending planned messages: concurrency, pacing, retries, and the journal as we go.

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
  answer are read (`transport.exchange`).
"""

from __future__ import annotations

import asyncio
import email.utils
import gc
import json
import random
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import httpx

from linepress.send.breaker import DEFAULT_THRESHOLD, Breaker, classify
from linepress.send.endpoint import Endpoint
from linepress.send.journal import (
    CampaignJournal,
    JournalUnavailable,
    JournalWriteError,
    Outcome,
    Status,
)
from linepress.send.pacing import Pacer, PaceState
from linepress.send.transport import ExchangeTimeout, exchange, sending_transport

ERROR_TEXT_LIMIT = 500


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


Action = Literal["sent", "retry", "failed", "unknown", "stop"]


@dataclass(frozen=True, slots=True)
class Verdict:
    """What one HTTP exchange means for its message."""

    action: Action
    http_status: int | None = None
    message_id: str | None = None
    error: str | None = None
    retry_after: float | None = None


def judge_response(response: httpx.Response) -> Verdict:
    status = response.status_code
    if 200 <= status < 300:
        return Verdict("sent", status, message_id=_message_id(response))
    error = f"HTTP {status}: {_error_text(response)}"
    if status == 429 or status >= 500:
        return Verdict("retry", status, error=error, retry_after=_retry_after(response))
    if status in (401, 403, 407):
        return Verdict("stop", status, error=f"{error} (check the credentials)")
    if 300 <= status < 400 or status in (404, 405):
        # Every other recipient would get the same answer: do not burn the list.
        return Verdict("stop", status, error=f"{error} (check the base URL)")
    return Verdict("failed", status, error=error)


#: Failures that happen before any byte of the request is sent: safe to retry.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
#: Failures of the request itself (bad URL, bad header), also before sending: stop.
_CANNOT_SEND = (httpx.UnsupportedProtocol, httpx.LocalProtocolError, httpx.InvalidURL)


def judge_exception(exc: Exception) -> Verdict:
    name = type(exc).__name__
    if isinstance(exc, ExchangeTimeout):
        return Verdict("unknown", error=f"{exc}; it may have been delivered")
    if isinstance(exc, _NOT_SENT):
        return Verdict("retry", error=f"{name}: could not connect ({exc})")
    if isinstance(exc, _CANNOT_SEND):
        # Not str(exc): a LocalProtocolError quotes the offending header, credentials included.
        return Verdict(
            "stop",
            error=f"{name}: the request could not be made; check the base URL and credentials",
        )
    # Anything else may have happened after the request reached Infobip (a timeout,
    # a dropped connection, an answer that cannot be decoded): never resend blindly.
    return Verdict(
        "unknown",
        error=f"{name}: no usable answer after the request was sent; it may have been delivered",
    )


def _message_id(response: httpx.Response) -> str | None:
    try:
        data = response.json()
    except ValueError:
        return None
    if isinstance(data, dict):
        if isinstance(data.get("messageId"), str):
            return str(data["messageId"])
        messages = data.get("messages")
        if isinstance(messages, list) and messages and isinstance(messages[0], dict):
            found = messages[0].get("messageId")
            return str(found) if found is not None else None
    return None


def _error_text(response: httpx.Response) -> str:
    """Infobip's own words: classic `requestError` bodies and the newer `errorCode` ones."""
    try:
        data: Any = response.json()
    except ValueError:
        return (response.text or response.reason_phrase)[:ERROR_TEXT_LIMIT]
    text = ""
    if isinstance(data, dict):
        exception = (
            data.get("requestError", {}).get("serviceException")
            if isinstance(data.get("requestError"), dict)
            else None
        )
        if isinstance(exception, dict):
            text = " ".join(str(exception.get(k, "")) for k in ("messageId", "text")).strip()
            errors = exception.get("validationErrors")
            if errors:
                text += " " + json.dumps(errors, ensure_ascii=False)
        elif "errorCode" in data or "description" in data:
            text = " ".join(str(data.get(k, "")) for k in ("errorCode", "description")).strip()
            if data.get("violations"):
                text += " " + json.dumps(data["violations"], ensure_ascii=False)
    return (text or json.dumps(data, ensure_ascii=False))[:ERROR_TEXT_LIMIT]


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


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
        self._thread: ThreadPoolExecutor | None = None
        #: The commit running in the thread, and what it writes.
        self._running: tuple[Future[BaseException | None], _Batch] | None = None

    async def inflight(self, row: int) -> None:
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
        limits = httpx.Limits(
            max_connections=self.settings.concurrency,
            max_keepalive_connections=self.settings.concurrency,
        )
        timeout = httpx.Timeout(self.settings.timeout, connect=min(10.0, self.settings.timeout))
        transport = self._transport or sending_transport(self.settings.concurrency)
        # What exists by now (modules, the plan) lives until the end: keep it out of the
        # collector's full passes. One, about 3 s into a 1000/s run, paused sending for
        # 30-40 ms, and a 1-second window fell to 929 messages (--rate allows 950).
        # (Not when something else froze already, e.g. another dispatcher: its unfreeze
        # is its own.)
        froze = gc.get_freeze_count() == 0
        if froze:
            gc.freeze()
        try:
            await self._dispatch(transport, limits, timeout, on_progress)
        finally:
            if froze:
                gc.unfreeze()

    async def _dispatch(
        self,
        transport: httpx.AsyncBaseTransport,
        limits: httpx.Limits,
        timeout: httpx.Timeout,
        on_progress: Callable[[Tally], None] | None,
    ) -> None:
        queue: asyncio.Queue[Job | None] = asyncio.Queue(maxsize=self.settings.concurrency * 2)
        async with httpx.AsyncClient(transport=transport, limits=limits, timeout=timeout) as client:
            workers = [
                asyncio.create_task(self._work(client, queue))
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

    async def _feed(self, queue: asyncio.Queue[Job | None]) -> None:
        after = 0
        while not self.stopping:
            try:
                batch = self.journal.to_send(
                    resend_unknown=self.resend_unknown, after=after, limit=500
                )
                # A shared journal: other workers may still hand rows back.
                later = None if batch else self.journal.more_later()
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

    async def _work(self, client: httpx.AsyncClient, queue: asyncio.Queue[Job | None]) -> None:
        while True:
            job = await queue.get()
            if job is None:
                return
            if self.stopping:
                continue  # drain: queued jobs stay `pending` in the journal
            try:
                outcome = await self._deliver(client, job)
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

    async def _deliver(self, client: httpx.AsyncClient, job: Job) -> Outcome | None:
        """Send one message until it is settled; None when the run stopped first."""
        tries = 0
        while True:
            sent_at = await self._pacer.wait(self._stopping)
            if self.stopping:
                return None  # still `pending` in the journal
            try:
                await self._writer.inflight(job.row)
            except JournalUnavailable:
                return None  # not sent: the run stops (`Dispatcher.journal_error`)
            job.attempts += 1
            tries += 1
            self.in_flight += 1
            try:
                response = await exchange(
                    client,
                    self.endpoint.send_url,
                    content=job.body,
                    headers=self._headers,
                    deadline=self.settings.timeout,
                )
                verdict = judge_response(response)
                self.breaker.answered()
            except Exception as exc:  # every failure gets a verdict: no row is left in flight
                verdict = judge_exception(exc)
                if not isinstance(exc, httpx.HTTPError):
                    self.stop(f"unexpected {type(exc).__name__}; the run stopped")
                outage = classify(exc, self.endpoint.base_url)
                if outage is not None and self.breaker.failed(outage):
                    self.stop(self.breaker.reason(self.endpoint.base_url))
            finally:
                self.in_flight -= 1
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
