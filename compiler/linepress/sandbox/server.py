"""A local stand-in for Infobip's `POST /line/1/single`: a real HTTP/1.1 server on loopback.

    linepress sandbox --port 8080        # then INFOBIP_BASE_URL=http://127.0.0.1:8080

It answers as Infobip documents the endpoint (App or Basic auth, classic error bodies,
a PENDING_ACCEPTED success body), checks each body against linepress's own schemas,
records every accepted delivery, and injects faults on demand (429s with or without
`Retry-After`, 500/503, latency, connections dropped before or after delivery, revoked
credentials) so the sender can be rehearsed and tested. Every random choice comes from
one seeded `random.Random`: the same seed and request order give the same faults.

This module is the endpoint's meaning (auth, faults, checks, the control endpoints) and
running it; `http` frames the raw HTTP/1.1 (a framework costs ~6x the CPU, see
shared/notes/measured.md, so benchmarks measure the sender, not the sandbox), `faults`
holds the fault settings and their seeded state, `records` what was accepted, and
`answers` Infobip's response bodies.

Control endpoints, unauthenticated (bind to loopback):

    GET  /sandbox/deliveries   accepted deliveries, oldest first
    GET  /sandbox/stats        counters: responses per status, drops, deliveries, connections
    GET  /sandbox/faults       the current `Faults`
    POST /sandbox/faults       replace them (`Faults.from_dict`; an optional "seed" reseeds)
    POST /sandbox/reset        forget deliveries and counters, truncate the record file, reseed
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import concurrent.futures
import hmac
import signal
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, TypeVar

import orjson

from linepress.errors import format_path
from linepress.sandbox import answers
from linepress.sandbox.faults import FaultPlan, Faults
from linepress.sandbox.http import CLOSE, MAX_BODY, Action, Connection, constant, response
from linepress.sandbox.records import Delivery, Record
from linepress.validate.request_check import RequestChecker

__all__ = ["MAX_BODY", "Delivery", "Faults", "SandboxServer", "running_sandbox", "serve"]

SEND_PATH = "/line/1/single"
DEFAULT_API_KEY = "sandbox-key"

_T = TypeVar("_T")


def _validation_errors(checker: RequestChecker, body: Any) -> dict[str, list[str]]:
    """Infobip-style `validationErrors`: path -> messages; empty when valid."""
    if checker.accepts(body):
        return {}
    errors: dict[str, list[str]] = {}
    for issue in checker.full.issues(body):
        # The root has no path; "body" reads better than "" as a key.
        errors.setdefault(format_path(issue.path) or "body", []).append(issue.message)
    return errors


_CONTROL: dict[bytes, tuple[bytes, ...]] = {
    b"/sandbox/deliveries": (b"GET",),
    b"/sandbox/stats": (b"GET",),
    b"/sandbox/faults": (b"GET", b"POST"),
    b"/sandbox/reset": (b"POST",),
}
_SEND = SEND_PATH.encode()


class SandboxServer:
    """An Infobip `POST /line/1/single` stand-in on a real socket.

    `await start()` in a running loop (or use `running_sandbox()` from sync code),
    then point the sender at `url`. `deliveries`, `count_by_to()`, `stats`, `reset()`
    and `set_faults()` may be called from any thread.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        api_key: str | None = DEFAULT_API_KEY,
        basic: tuple[str, str] | None = None,
        faults: Faults | None = None,
        record_path: str | Path | None = None,
        seed: int = 0,
        memory: bool = True,
    ) -> None:
        """`api_key`/`basic`: accepted credentials (neither: no auth at all).

        `record_path`: deliveries are appended there as JSONL, flushed one by one.
        `memory=False` keeps no delivery in memory (long benchmarks); counts still work.
        """
        self.host = host
        self.port = port
        self._app_key = api_key.encode() if api_key is not None else None
        self._basic = f"{basic[0]}:{basic[1]}".encode() if basic is not None else None
        self._open = api_key is None and basic is None
        self._plan = FaultPlan(faults if faults is not None else Faults(), seed)
        self._record = Record(record_path, memory=memory)
        self._checker = RequestChecker()
        self._connections_total = 0

        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._connections: set[Connection] = set()

    # --- lifecycle ---------------------------------------------------------------

    async def start(self) -> None:
        """Bind and listen; `url` then has the real port."""
        self._loop = asyncio.get_running_loop()
        self._server = await self._loop.create_server(
            lambda: Connection(self), self.host, self.port, backlog=1024
        )
        self.port = self._server.sockets[0].getsockname()[1]
        try:
            self._record.open()
        except OSError:
            await self.close()
            raise

    async def close(self) -> None:
        """Stop listening, close every connection and the record file."""
        if self._server is not None:
            self._server.close()
            for connection in list(self._connections):
                connection.abort()
            await self._server.wait_closed()
            self._server = None
        self._record.close()

    @property
    def url(self) -> str:
        """`http://host:port`, the base URL to give the sender."""
        if self._server is None:
            raise RuntimeError("the sandbox is not started")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def auth_summary(self) -> str:
        """Which credentials are set, never what they are."""
        if self._open:
            return "API key: not set, no authentication"
        summary = "API key: " + ("set" if self._app_key is not None else "not set")
        return summary + (", Basic auth: set" if self._basic is not None else "")

    # --- the connections' handler (`http.Handler`) ---------------------------------

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The loop the server runs on (set by `start()`)."""
        if self._loop is None:
            raise RuntimeError("the sandbox is not started")
        return self._loop

    def opened(self, connection: Connection) -> None:
        self._connections.add(connection)
        self._connections_total += 1

    def closed(self, connection: Connection) -> None:
        self._connections.discard(connection)

    def count(self, status: int) -> None:
        self._record.counts[str(status)] += 1

    def handle(
        self, method: bytes, path: bytes, body: bytes, authorization: bytes | None, mode: int
    ) -> Action:
        """Route one request: the send endpoint, the control endpoints, or 404/405."""
        if path == _SEND:
            if method == b"POST":
                return self._send(authorization, body, mode)
            self.count(405)
            data = constant(405, answers.NOT_ALLOWED, mode, b"Allow: POST\r\n")
        elif path.startswith(b"/sandbox/"):
            data = self._control(method, path, body, mode)
        else:
            self.count(404)
            data = constant(404, answers.NOT_FOUND, mode)
        return 0.0, data, mode == CLOSE

    # --- records -----------------------------------------------------------------

    @property
    def deliveries(self) -> list[Delivery]:
        """A snapshot of the accepted deliveries, oldest first."""
        return self._record.deliveries()

    def count_by_to(self) -> Counter[str]:
        """Accepted deliveries per recipient (kept even with `memory=False`)."""
        return self._record.count_by_to()

    @property
    def stats(self) -> dict[str, Any]:
        """Responses per status code, drops, deliveries, connections."""
        return {
            **self._record.summary(),
            "connections": self._connections_total,
            "open_connections": len(self._connections),
            "storm_left": self._plan.storm_left,
            "limit_tokens": self._plan.tokens,
        }

    @property
    def faults(self) -> Faults:
        return self._plan.faults

    def set_faults(self, faults: Faults, *, seed: int | None = None) -> None:
        """Replace the faults (restarting storm and every-Nth counts); optionally reseed."""
        self._on_loop(lambda: self._plan.apply(faults, seed))

    def reset(self) -> None:
        """Forget deliveries and counters, truncate the record file, reseed; faults stay."""
        self._on_loop(self._reset)

    def _reset(self) -> None:
        self._record.clear()
        self._plan.restart()

    def _on_loop(self, fn: Callable[[], _T]) -> _T:
        """Run `fn` on the server's loop thread (between requests), wait for it."""
        loop = self._loop
        if loop is None or loop.is_closed() or not loop.is_running():
            return fn()
        with suppress(RuntimeError):
            if asyncio.get_running_loop() is loop:
                return fn()
        done: concurrent.futures.Future[_T] = concurrent.futures.Future()

        def call() -> None:
            try:
                done.set_result(fn())
            except BaseException as error:
                done.set_exception(error)

        loop.call_soon_threadsafe(call)
        return done.result(timeout=30)

    # --- requests ----------------------------------------------------------------

    def _authorized(self, header: bytes | None) -> bool:
        if self._open:
            return True
        if header is None:
            return False
        scheme, _, credentials = header.partition(b" ")
        scheme, credentials = scheme.lower(), credentials.strip()
        if scheme == b"app" and self._app_key is not None:
            return hmac.compare_digest(credentials, self._app_key)
        if scheme == b"basic" and self._basic is not None:
            try:
                decoded = base64.b64decode(credentials, validate=True)
            except binascii.Error:
                return False
            return hmac.compare_digest(decoded, self._basic)
        return False

    def _send(self, authorization: bytes | None, raw: bytes, mode: int) -> Action:
        """`POST /line/1/single`: faults, auth, checks, record, answer."""
        plan, record = self._plan, self._record
        faults, rng, counts = plan.faults, plan.rng, record.counts
        delay = faults.latency + (rng.random() * faults.jitter if faults.jitter else 0.0)
        if faults.drop_before and rng.random() < faults.drop_before:
            counts["dropped_before"] += 1
            return delay, None, True
        revoked = faults.unauthorized_after is not None and record.seq >= faults.unauthorized_after
        if revoked or not self._authorized(authorization):
            counts["401"] += 1
            return delay, constant(401, answers.UNAUTHORIZED, mode), mode == CLOSE
        if plan.limited():
            counts["429"] += 1
            retry = (
                b"" if faults.retry_after is None else b"Retry-After: %d\r\n" % faults.retry_after
            )
            return delay, constant(429, answers.TOO_MANY, mode, retry), mode == CLOSE
        if faults.server_errors and rng.random() < faults.server_errors:
            status, error = (
                (500, answers.GENERAL) if rng.random() < 0.5 else (503, answers.UNAVAILABLE)
            )
            counts[str(status)] += 1
            return delay, constant(status, error, mode), mode == CLOSE
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            counts["400"] += 1
            return delay, constant(400, answers.BAD_JSON, mode), mode == CLOSE
        errors = _validation_errors(self._checker, body)
        if errors:
            counts["400"] += 1
            text = answers.infobip_error("BAD_REQUEST", "Bad request", validationErrors=errors)
            return delay, response(400, text, mode), mode == CLOSE
        to: str = body["to"]
        message_id = record.add(to, body)
        if faults.drop_after and rng.random() < faults.drop_after:
            counts["dropped_after"] += 1
            return delay, None, True
        counts["200"] += 1
        return (
            delay,
            response(200, answers.ACCEPTED % (orjson.dumps(to), message_id), mode),
            mode == CLOSE,
        )

    def _control(self, method: bytes, path: bytes, raw: bytes, mode: int) -> bytes:
        """The `/sandbox/...` endpoints (no auth, no faults)."""
        allowed = _CONTROL.get(path)
        if allowed is None:
            self.count(404)
            return constant(404, answers.NOT_FOUND, mode)
        if method not in allowed:
            self.count(405)
            allow = b"Allow: %s\r\n" % b", ".join(allowed)
            return constant(405, answers.NOT_ALLOWED, mode, allow)
        result: Any
        if path == b"/sandbox/deliveries":
            return response(200, self._record.deliveries_json(), mode)
        if path == b"/sandbox/stats":
            result = self.stats
        elif path == b"/sandbox/reset":
            self._reset()
            result = {"reset": True}
        elif method == b"GET":
            result = self._plan.faults.to_dict()
        else:
            try:
                data = orjson.loads(raw)
                if not isinstance(data, dict):
                    raise ValueError("faults must be a JSON object")
                seed = data.pop("seed", None)
                if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
                    raise ValueError(f"seed must be an integer, not {seed!r}")
                faults = Faults.from_dict(data)
            except ValueError as error:  # orjson.JSONDecodeError is a ValueError
                return response(400, orjson.dumps({"error": str(error)}), mode)
            self._plan.apply(faults, seed)
            result = faults.to_dict()
        return response(200, orjson.dumps(result), mode)


# --- running it --------------------------------------------------------------------


@contextmanager
def running_sandbox(**kwargs: Any) -> Iterator[SandboxServer]:
    """A started `SandboxServer` on its own loop in a background thread (for sync code).

    Keyword arguments go to `SandboxServer`; the port defaults to a free one.
    """
    server = SandboxServer(**kwargs)
    loop = asyncio.new_event_loop()
    started = threading.Event()
    failure: list[BaseException] = []

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(server.start())
        except BaseException as error:
            failure.append(error)
            started.set()
            loop.close()
            return
        started.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(server.close())
            loop.close()

    thread = threading.Thread(target=run, name="linepress-sandbox", daemon=True)
    thread.start()
    started.wait()
    if failure:
        raise failure[0]
    try:
        yield server
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)


def serve(host: str = "127.0.0.1", port: int = 8080, **kwargs: Any) -> None:
    """Run a sandbox until SIGINT or SIGTERM (the `linepress sandbox` command)."""

    async def main() -> None:
        server = SandboxServer(host, port, **kwargs)
        await server.start()
        print(
            f"linepress sandbox listening on {server.url} "
            f"(POST {SEND_PATH}, {server.auth_summary})",
            flush=True,
        )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        handled: list[signal.Signals] = []
        for sig in (signal.SIGINT, signal.SIGTERM):
            with suppress(NotImplementedError, RuntimeError):  # not on Windows / main thread
                loop.add_signal_handler(sig, stop.set)
                handled.append(sig)
        try:
            await stop.wait()
        finally:
            for sig in handled:
                loop.remove_signal_handler(sig)
            await server.close()

    with suppress(KeyboardInterrupt):
        asyncio.run(main())
