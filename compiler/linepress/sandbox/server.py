"""A local stand-in for Infobip's `POST /line/1/single`: a real HTTP/1.1 server on loopback.

    linepress sandbox --port 8080        # then INFOBIP_BASE_URL=http://127.0.0.1:8080

It answers as Infobip documents the endpoint (App or Basic auth, classic error bodies,
a PENDING_ACCEPTED success body), checks each body against linepress's own schemas,
records every accepted delivery, and injects faults on demand (429s with or without
`Retry-After`, 500/503, latency, connections dropped before or after delivery, revoked
credentials) so the sender can be rehearsed and tested. Every random choice comes from
one seeded `random.Random`: the same seed and request order give the same faults.

The server is a raw `asyncio.Protocol` (a framework costs ~6x the CPU, see
shared/notes/measured.md) so benchmarks measure the sender, not the sandbox. It speaks
HTTP/1.1 with keep-alive, pipelining and `Content-Length` bodies only.

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
import difflib
import hmac
import math
import random
import signal
import threading
import uuid
from collections import Counter, deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import IO, Any, TypedDict, TypeVar, cast

import orjson

from linepress.errors import format_path
from linepress.validate.request_check import RequestChecker

__all__ = ["Delivery", "Faults", "SandboxServer", "running_sandbox", "serve"]

SEND_PATH = "/line/1/single"
DEFAULT_API_KEY = "sandbox-key"

_T = TypeVar("_T")

# --- faults ------------------------------------------------------------------------

_PROBABILITIES = frozenset({"rate_limit", "server_errors", "drop_before", "drop_after"})
_SECONDS = frozenset({"latency", "jitter"})
_COUNTS = frozenset({"rate_limit_every", "storm"})


@dataclass
class Faults:
    """What the sandbox does wrong, on purpose. The default does nothing wrong.

    Probabilities are per request to the send endpoint, drawn from the server's
    seeded generator; only the faults that are switched on draw a number. Each request
    meets them in this order: drop_before; 401 (bad credentials or unauthorized_after);
    429 (storm, every Nth, probability); 500/503; 400 (not JSON, schema); recorded;
    drop_after; 200. Latency delays whatever the outcome is, drops included.
    """

    #: Probability of a 429 TOO_MANY_REQUESTS.
    rate_limit: float = 0.0
    #: Every Nth request gets a 429 (0: off).
    rate_limit_every: int = 0
    #: Seconds sent as `Retry-After` with each 429; None: no header (Infobip does not document one).
    retry_after: int | None = None
    #: The next K requests all get a 429 (counted from when these faults are set).
    storm: int = 0
    #: Probability of a 500 or a 503 (half each).
    server_errors: float = 0.0
    #: Seconds added before answering, without blocking other connections.
    latency: float = 0.0
    #: Up to this many more seconds, uniformly drawn, on top of `latency`.
    jitter: float = 0.0
    #: Probability of closing the connection after reading the request, before accepting it:
    #: nothing is delivered.
    drop_before: float = 0.0
    #: Probability of recording the delivery, then closing without answering: delivered,
    #: but the client cannot know (Infobip has no idempotency key).
    drop_after: float = 0.0
    #: Once this many deliveries are accepted (since start or reset), every request gets
    #: 401: credentials revoked mid-run. None: never.
    unauthorized_after: int | None = None

    def __post_init__(self) -> None:
        for f in fields(self):
            _check_fault(f.name, getattr(self, f.name))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Faults:
        """Faults from JSON-ish data; missing fields take their defaults.

        Raises ValueError on an unknown name or a value out of range.
        """
        if not isinstance(data, Mapping):
            raise ValueError(f"faults must be a JSON object, not {type(data).__name__}")
        names = [f.name for f in fields(cls)]
        for key in data:
            if key not in names:
                close = difflib.get_close_matches(str(key), names, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise ValueError(f"unknown fault {key!r}{hint}; known: {', '.join(names)}")
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _check_fault(name: str, value: object) -> None:
    number = isinstance(value, int | float) and not isinstance(value, bool)
    integer = isinstance(value, int) and not isinstance(value, bool)
    if name in _PROBABILITIES:
        ok = number and 0.0 <= cast(float, value) <= 1.0
        expected = "a probability between 0 and 1"
    elif name in _SECONDS:
        ok = number and math.isfinite(cast(float, value)) and cast(float, value) >= 0
        expected = "a number of seconds >= 0"
    elif name in _COUNTS:
        ok = integer and cast(int, value) >= 0
        expected = "an integer >= 0"
    else:  # retry_after, unauthorized_after
        ok = value is None or (integer and cast(int, value) >= 0)
        expected = "null or an integer >= 0"
    if not ok:
        raise ValueError(f"fault {name!r} must be {expected}, not {value!r}")


class Delivery(TypedDict):
    """One accepted message, as recorded (and written to the JSONL record file)."""

    seq: int
    message_id: str
    to: str
    body: Any
    received_at: str


# --- schema checks -----------------------------------------------------------------


def _validation_errors(checker: RequestChecker, body: Any) -> dict[str, list[str]]:
    """Infobip-style `validationErrors`: path -> messages; empty when valid."""
    if checker.accepts(body):
        return {}
    errors: dict[str, list[str]] = {}
    for issue in checker.full.issues(body):
        # The root has no path; "body" reads better than "" as a key.
        errors.setdefault(format_path(issue.path) or "body", []).append(issue.message)
    return errors


# --- responses ---------------------------------------------------------------------

_REASONS = {
    200: b"OK",
    400: b"Bad Request",
    401: b"Unauthorized",
    404: b"Not Found",
    405: b"Method Not Allowed",
    411: b"Length Required",
    413: b"Content Too Large",
    429: b"Too Many Requests",
    431: b"Request Header Fields Too Large",
    500: b"Internal Server Error",
    503: b"Service Unavailable",
}
# Connection header modes: HTTP/1.1 default, closing, HTTP/1.0 keep-alive.
_KEEP, _CLOSE, _KEEP_10 = 0, 1, 2
_CONNECTION = (b"", b"Connection: close\r\n", b"Connection: keep-alive\r\n")
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


def _response(status: int, body: bytes, mode: int = _KEEP, extra: bytes = b"") -> bytes:
    return (
        b"HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n%s%s\r\n%s"
        % (
            status,
            _REASONS[status],
            len(body),
            extra,
            _CONNECTION[mode],
            body,
        )
    )


@cache
def _constant(status: int, body: bytes, mode: int, extra: bytes = b"") -> bytes:
    """Prebuilt responses: constant errors cost a dict lookup, not a format."""
    return _response(status, body, mode, extra)


def _infobip_error(message_id: str, text: str, **more: Any) -> bytes:
    exception = {"messageId": message_id, "text": text, **more}
    return orjson.dumps({"requestError": {"serviceException": exception}})


_UNAUTHORIZED = _infobip_error("UNAUTHORIZED", "Invalid login details")
_BAD_JSON = _infobip_error("BAD_REQUEST", "Bad request", validationErrors={})
_TOO_MANY = _infobip_error("TOO_MANY_REQUESTS", "Too many requests")
_GENERAL = _infobip_error("GENERAL_ERROR", "Something went wrong. Please contact support.")
_UNAVAILABLE = _infobip_error("SERVICE_UNAVAILABLE", "Service temporarily unavailable")
_NOT_FOUND = _infobip_error("NOT_FOUND", "Requested URL not found")
_NOT_ALLOWED = _infobip_error("METHOD_NOT_ALLOWED", "Request method not supported")
_MALFORMED = _infobip_error("BAD_REQUEST", "Malformed HTTP request")
_LENGTH = _infobip_error("LENGTH_REQUIRED", "A Content-Length header is required")
_TOO_LARGE = _infobip_error("PAYLOAD_TOO_LARGE", "Request body too large")
_HEADERS_TOO_LARGE = _infobip_error("HEADERS_TOO_LARGE", "Request headers too large")
_ACCEPTED = (
    b'{"to":%s,"messageCount":1,"messageId":"%s","status":{"groupId":1,"groupName":"PENDING",'
    b'"id":26,"name":"PENDING_ACCEPTED","description":"Message sent to next instance"}}'
)

MAX_HEAD = 64 * 1024
MAX_BODY = 1024 * 1024
# Pipelined responses waiting on latency; above this many, stop reading the socket.
_QUEUE_HIGH = 256

#: What to do with one request: (seconds to wait, bytes to send or None, close after).
_Action = tuple[float, bytes | None, bool]


# --- the server --------------------------------------------------------------------


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
        self._faults = faults if faults is not None else Faults()
        self._seed = seed
        self._rng = random.Random(seed)
        self._storm_left = self._faults.storm
        self._nth = 0
        self._record_path = Path(record_path) if record_path is not None else None
        self._memory = memory
        self._checker = RequestChecker()
        # Unique across runs (a restarted sandbox on the same record file), hence not
        # drawn from the seeded generator.
        prefix = uuid.uuid4().hex
        self._id_prefix = f"{prefix[:8]}-{prefix[8:12]}-{prefix[12:16]}-{prefix[16:20]}-"

        # Records are written on the loop thread and read from any: one lock.
        self._lock = threading.Lock()
        # Kept serialized: a million bytes objects cost the garbage collector nothing,
        # a million nested dicts cost pauses of 100+ ms, and memory 5x.
        self._deliveries: list[bytes] = []
        self._by_to: Counter[str] = Counter()
        self._seq = 0
        self._stats: Counter[str] = Counter()
        self._connections_total = 0
        self._file: IO[bytes] | None = None

        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._connections: set[_Connection] = set()

    # --- lifecycle ---------------------------------------------------------------

    async def start(self) -> None:
        """Bind and listen; `url` then has the real port."""
        self._loop = asyncio.get_running_loop()
        self._server = await self._loop.create_server(
            lambda: _Connection(self), self.host, self.port, backlog=1024
        )
        self.port = self._server.sockets[0].getsockname()[1]
        if self._record_path is not None:
            try:
                self._file = self._record_path.open("ab")
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
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None

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

    # --- records -----------------------------------------------------------------

    @property
    def deliveries(self) -> list[Delivery]:
        """A snapshot of the accepted deliveries, oldest first."""
        with self._lock:
            snapshot = list(self._deliveries)
        return [orjson.loads(line) for line in snapshot]

    def _deliveries_json(self) -> bytes:
        with self._lock:
            return b"[" + b",".join(self._deliveries) + b"]"

    def count_by_to(self) -> Counter[str]:
        """Accepted deliveries per recipient (kept even with `memory=False`)."""
        with self._lock:
            return Counter(self._by_to)

    @property
    def stats(self) -> dict[str, Any]:
        """Responses per status code, drops, deliveries, connections."""
        with self._lock:
            counts = dict(self._stats)
            deliveries = self._seq
        return {
            "requests": sum(v for k, v in counts.items() if k.isdigit())
            + counts.get("dropped_before", 0)
            + counts.get("dropped_after", 0),
            "status": {k: v for k, v in sorted(counts.items()) if k.isdigit()},
            "dropped_before": counts.get("dropped_before", 0),
            "dropped_after": counts.get("dropped_after", 0),
            "deliveries": deliveries,
            "connections": self._connections_total,
            "open_connections": len(self._connections),
            "storm_left": self._storm_left,
        }

    @property
    def faults(self) -> Faults:
        return self._faults

    def set_faults(self, faults: Faults, *, seed: int | None = None) -> None:
        """Replace the faults (restarting storm and every-Nth counts); optionally reseed."""
        self._on_loop(lambda: self._apply_faults(faults, seed))

    def reset(self) -> None:
        """Forget deliveries and counters, truncate the record file, reseed; faults stay."""
        self._on_loop(self._reset)

    def _apply_faults(self, faults: Faults, seed: int | None) -> None:
        self._faults = faults
        self._storm_left = faults.storm
        self._nth = 0
        if seed is not None:
            self._seed = seed
            self._rng.seed(seed)

    def _reset(self) -> None:
        with self._lock:
            self._deliveries.clear()
            self._by_to.clear()
            self._seq = 0
            self._stats.clear()
            if self._file is not None:
                self._file.truncate(0)
                self._file.flush()
        self._rng.seed(self._seed)
        self._storm_left = self._faults.storm
        self._nth = 0

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

    def _record(self, to: str, body: Any) -> bytes:
        """Record one accepted delivery; its message id."""
        received_at = datetime.now(UTC).isoformat()
        with self._lock:
            self._seq += 1
            seq = self._seq
            message_id = f"{self._id_prefix}{seq:012x}"
            delivery: Delivery = {
                "seq": seq,
                "message_id": message_id,
                "to": to,
                "body": body,
                "received_at": received_at,
            }
            line = orjson.dumps(delivery)
            if self._memory:
                # A copy: orjson's own result keeps a ~4 KiB buffer (a page fault each).
                self._deliveries.append(bytes(memoryview(line)))
            self._by_to[to] += 1
            if self._file is not None:
                # Flushed per delivery: another process reads it even after a kill -9.
                self._file.write(line + b"\n")
                self._file.flush()
        return message_id.encode()

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

    def _send(self, authorization: bytes | None, raw: bytes, mode: int) -> _Action:
        """`POST /line/1/single`: faults, auth, checks, record, answer."""
        faults, rng, stats = self._faults, self._rng, self._stats
        delay = faults.latency + (rng.random() * faults.jitter if faults.jitter else 0.0)
        if faults.drop_before and rng.random() < faults.drop_before:
            stats["dropped_before"] += 1
            return delay, None, True
        revoked = faults.unauthorized_after is not None and self._seq >= faults.unauthorized_after
        if revoked or not self._authorized(authorization):
            stats["401"] += 1
            return delay, _constant(401, _UNAUTHORIZED, mode), mode == _CLOSE
        if self._limited(faults, rng):
            stats["429"] += 1
            retry = (
                b"" if faults.retry_after is None else b"Retry-After: %d\r\n" % faults.retry_after
            )
            return delay, _constant(429, _TOO_MANY, mode, retry), mode == _CLOSE
        if faults.server_errors and rng.random() < faults.server_errors:
            status, error = (500, _GENERAL) if rng.random() < 0.5 else (503, _UNAVAILABLE)
            stats[str(status)] += 1
            return delay, _constant(status, error, mode), mode == _CLOSE
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            stats["400"] += 1
            return delay, _constant(400, _BAD_JSON, mode), mode == _CLOSE
        errors = _validation_errors(self._checker, body)
        if errors:
            stats["400"] += 1
            text = _infobip_error("BAD_REQUEST", "Bad request", validationErrors=errors)
            return delay, _response(400, text, mode), mode == _CLOSE
        to: str = body["to"]
        message_id = self._record(to, body)
        if faults.drop_after and rng.random() < faults.drop_after:
            stats["dropped_after"] += 1
            return delay, None, True
        stats["200"] += 1
        return (
            delay,
            _response(200, _ACCEPTED % (orjson.dumps(to), message_id), mode),
            mode == _CLOSE,
        )

    def _limited(self, faults: Faults, rng: random.Random) -> bool:
        if self._storm_left > 0:
            self._storm_left -= 1
            return True
        if faults.rate_limit_every:
            self._nth += 1
            if self._nth % faults.rate_limit_every == 0:
                return True
        return bool(faults.rate_limit) and rng.random() < faults.rate_limit

    def _control(self, method: bytes, path: bytes, raw: bytes, mode: int) -> bytes:
        """The `/sandbox/...` endpoints (no auth, no faults)."""
        allowed = _CONTROL.get(path)
        if allowed is None:
            self._stats["404"] += 1
            return _constant(404, _NOT_FOUND, mode)
        if method not in allowed:
            self._stats["405"] += 1
            allow = b"Allow: %s\r\n" % b", ".join(allowed)
            return _constant(405, _NOT_ALLOWED, mode, allow)
        result: Any
        if path == b"/sandbox/deliveries":
            return _response(200, self._deliveries_json(), mode)
        if path == b"/sandbox/stats":
            result = self.stats
        elif path == b"/sandbox/reset":
            self._reset()
            result = {"reset": True}
        elif method == b"GET":
            result = self._faults.to_dict()
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
                return _response(400, orjson.dumps({"error": str(error)}), mode)
            self._apply_faults(faults, seed)
            result = faults.to_dict()
        return _response(200, orjson.dumps(result), mode)


_CONTROL: dict[bytes, tuple[bytes, ...]] = {
    b"/sandbox/deliveries": (b"GET",),
    b"/sandbox/stats": (b"GET",),
    b"/sandbox/faults": (b"GET", b"POST"),
    b"/sandbox/reset": (b"POST",),
}
_SEND = SEND_PATH.encode()


class _Connection(asyncio.Protocol):
    """One client connection: parse requests as they arrive, answer in order."""

    def __init__(self, server: SandboxServer) -> None:
        self._server = server
        self._loop = cast(asyncio.AbstractEventLoop, server._loop)
        self._transport: asyncio.Transport | None = None
        self._buffer = b""
        # Answers waiting for their latency, in request order: (due, data, close).
        self._queue: deque[tuple[float, bytes | None, bool]] = deque()
        self._timer: asyncio.TimerHandle | None = None
        self._closing = False  # a close is decided: read no further requests
        self._write_paused = False
        self._read_paused = False
        self._continue_sent = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)
        self._server._connections.add(self)
        self._server._connections_total += 1

    def connection_lost(self, exc: Exception | None) -> None:
        self._server._connections.discard(self)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._queue.clear()

    def eof_received(self) -> bool | None:
        # A half-closed client may still wait for delayed answers: close once sent.
        self._closing = True
        return True if self._queue else None

    def abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()

    def pause_writing(self) -> None:
        self._write_paused = True
        self._flow()

    def resume_writing(self) -> None:
        self._write_paused = False
        self._flow()

    def _flow(self) -> None:
        # Stop reading while the client does not read, or too many answers wait.
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        pause = self._write_paused or len(self._queue) > _QUEUE_HIGH
        if pause != self._read_paused:
            self._read_paused = pause
            if pause:
                transport.pause_reading()
            else:
                transport.resume_reading()

    def data_received(self, data: bytes) -> None:
        if self._closing:
            return
        buf = self._buffer + data if self._buffer else data
        out: list[bytes] = []
        pos = self._parse(buf, out)
        self._buffer = b"" if self._closing else buf[pos:]
        transport = cast(asyncio.Transport, self._transport)
        if out:
            transport.write(b"".join(out))
        if self._closing and not self._queue:
            transport.close()  # flushes what was written first
        elif self._queue:
            self._flow()

    def _parse(self, buf: bytes, out: list[bytes]) -> int:
        """Handle every complete request in `buf`; where the unparsed rest starts."""
        pos, size = 0, len(buf)
        while pos < size and not self._closing:
            first = buf[pos]
            if first == 13 or first == 10:  # stray CRLF between requests is allowed
                pos += 1
                continue
            if not 65 <= first <= 90:
                # Not a method token (e.g. a TLS handshake): answer now, not after 64 KiB.
                self._fail(400, _MALFORMED, out)
                break
            end = buf.find(b"\r\n\r\n", pos)
            if end < 0:
                if size - pos > MAX_HEAD:
                    self._fail(431, _HEADERS_TOO_LARGE, out)
                break
            lines = buf[pos:end].split(b"\r\n")
            parts = lines[0].split(b" ")
            if len(parts) != 3 or end - pos > MAX_HEAD:
                self._fail(400, _MALFORMED, out)
                break
            method, target, version = parts
            length: int | None = None
            authorization: bytes | None = None
            connection = b""
            chunked = expect = bad = False
            for line in lines[1:]:
                colon = line.find(b":")
                name = line[:colon].lower()
                if colon <= 0 or b" " in name or b"\t" in name:
                    bad = True  # no colon, empty name, obs-fold or space before the colon
                    break
                value = line[colon + 1 :].strip()
                if name == b"content-length":
                    if not value.isdigit() or len(value) > 15 or length not in (None, int(value)):
                        bad = True
                        break
                    length = int(value)
                elif name == b"authorization":
                    authorization = value
                elif name == b"connection":
                    connection = value.lower()
                elif name == b"transfer-encoding":
                    chunked = True
                elif name == b"expect":
                    expect = value.lower() == b"100-continue"
            if version == b"HTTP/1.1":
                mode = _CLOSE if b"close" in connection else _KEEP
            elif version == b"HTTP/1.0":
                mode = _KEEP_10 if b"keep-alive" in connection else _CLOSE
            else:
                bad = True
            if bad:
                self._fail(400, _MALFORMED, out)
                break
            # Bodies are framed by Content-Length only: without one, the rest of the
            # stream cannot be trusted, so answer and close.
            if chunked or (length is None and method == b"POST"):
                self._fail(411, _LENGTH, out)
                break
            length = length or 0
            if length > MAX_BODY:
                self._fail(413, _TOO_LARGE, out)
                break
            start = end + 4
            if size - start < length:
                if expect and not self._continue_sent and not self._queue:
                    out.append(_CONTINUE)
                    self._continue_sent = True
                break
            self._continue_sent = False
            body = buf[start : start + length]
            pos = start + length
            self._emit(self._dispatch(method, target, body, authorization, mode), out)
        return pos

    def _fail(self, status: int, body: bytes, out: list[bytes]) -> None:
        """Answer a request that cannot be framed or trusted, then close."""
        self._server._stats[str(status)] += 1
        self._emit((0.0, _constant(status, body, _CLOSE), True), out)

    def _dispatch(
        self, method: bytes, target: bytes, body: bytes, authorization: bytes | None, mode: int
    ) -> _Action:
        server = self._server
        if target.startswith(b"http://") or target.startswith(b"https://"):
            target = b"/" + target.split(b"/", 3)[-1]  # absolute-form
        path = target.split(b"?", 1)[0]
        if path == _SEND:
            if method == b"POST":
                return server._send(authorization, body, mode)
            server._stats["405"] += 1
            action = _constant(405, _NOT_ALLOWED, mode, b"Allow: POST\r\n")
        elif path.startswith(b"/sandbox/"):
            action = server._control(method, path, body, mode)
        else:
            server._stats["404"] += 1
            action = _constant(404, _NOT_FOUND, mode)
        if method == b"HEAD":
            action = action[: action.index(b"\r\n\r\n") + 4]
        return 0.0, action, mode == _CLOSE

    def _emit(self, action: _Action, out: list[bytes]) -> None:
        delay, data, close = action
        if close:
            self._closing = True
        if delay <= 0 and not self._queue:
            if data is not None:
                out.append(data)
            return
        # Later answers wait behind earlier ones: HTTP/1.1 answers in request order.
        self._queue.append((self._loop.time() + delay, data, close))
        if self._timer is None:
            self._timer = self._loop.call_at(self._queue[0][0], self._due)

    def _due(self) -> None:
        self._timer = None
        transport = self._transport
        if transport is None or transport.is_closing():
            self._queue.clear()
            return
        now = self._loop.time()
        out: list[bytes] = []
        while self._queue and self._queue[0][0] <= now:
            _, data, close = self._queue.popleft()
            if data is not None:
                out.append(data)
            if close:
                self._queue.clear()
                transport.write(b"".join(out))
                transport.close()
                return
        if out:
            transport.write(b"".join(out))
        if self._queue:
            self._timer = self._loop.call_at(self._queue[0][0], self._due)
        elif self._closing:
            transport.close()
            return
        self._flow()


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
