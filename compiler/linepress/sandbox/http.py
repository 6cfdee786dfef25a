"""The sandbox's HTTP/1.1: a raw `asyncio.Protocol` that frames requests and answers in order.

A framework costs ~6x the CPU per request (see shared/notes/measured.md), and the send
benchmark needs a cheap peer, so this speaks just enough HTTP/1.1 by hand: keep-alive,
pipelining, `Expect: 100-continue`, `Content-Length` bodies only (chunked bodies get a
411 and a close). What a request means is the `Handler`'s business; this module knows
framing, answer order, delayed answers and flow control.
"""

from __future__ import annotations

import asyncio
from collections import deque
from functools import cache
from typing import Protocol, cast

from linepress.sandbox import answers

__all__ = ["CLOSE", "KEEP", "MAX_BODY", "MAX_HEAD", "Action", "Connection", "Handler", "response"]

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
KEEP, CLOSE, KEEP_10 = 0, 1, 2
_CONNECTION = (b"", b"Connection: close\r\n", b"Connection: keep-alive\r\n")
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"

MAX_HEAD = 64 * 1024
MAX_BODY = 1024 * 1024
# Pipelined responses waiting on latency; above this many, stop reading the socket.
_QUEUE_HIGH = 256

#: What to do with one request: (seconds to wait, bytes to send or None, close after).
Action = tuple[float, bytes | None, bool]


def response(status: int, body: bytes, mode: int = KEEP, extra: bytes = b"") -> bytes:
    """A whole JSON response; `extra` is more header lines, each ending in CRLF."""
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
def constant(status: int, body: bytes, mode: int, extra: bytes = b"") -> bytes:
    """Prebuilt responses: constant errors cost a dict lookup, not a format."""
    return response(status, body, mode, extra)


class Handler(Protocol):
    """What a `Connection` serves: the sandbox server."""

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The loop the connections run on."""

    def opened(self, connection: Connection) -> None:
        """A client connected."""

    def closed(self, connection: Connection) -> None:
        """A client's connection is gone."""

    def count(self, status: int) -> None:
        """A request was answered `status` by the protocol itself (unframeable)."""

    def handle(
        self, method: bytes, path: bytes, body: bytes, authorization: bytes | None, mode: int
    ) -> Action:
        """The answer to one framed request (`path` without its query)."""
        ...


class Connection(asyncio.Protocol):
    """One client connection: parse requests as they arrive, answer in order."""

    def __init__(self, handler: Handler) -> None:
        self._handler = handler
        self._loop = handler.loop
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
        self._handler.opened(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self._handler.closed(self)
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
                self._fail(400, answers.MALFORMED, out)
                break
            end = buf.find(b"\r\n\r\n", pos)
            if end < 0:
                if size - pos > MAX_HEAD:
                    self._fail(431, answers.HEADERS_TOO_LARGE, out)
                break
            lines = buf[pos:end].split(b"\r\n")
            parts = lines[0].split(b" ")
            if len(parts) != 3 or end - pos > MAX_HEAD:
                self._fail(400, answers.MALFORMED, out)
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
                mode = CLOSE if b"close" in connection else KEEP
            elif version == b"HTTP/1.0":
                mode = KEEP_10 if b"keep-alive" in connection else CLOSE
            else:
                bad = True
            if bad:
                self._fail(400, answers.MALFORMED, out)
                break
            # Bodies are framed by Content-Length only: without one, the rest of the
            # stream cannot be trusted, so answer and close. The control endpoints
            # take no body, so `curl -X POST .../sandbox/reset` (no length) is fine.
            control = target.startswith(b"/sandbox/")
            if chunked or (length is None and method == b"POST" and not control):
                self._fail(411, answers.LENGTH, out)
                break
            length = length or 0
            if length > MAX_BODY:
                self._fail(413, answers.TOO_LARGE, out)
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
        self._handler.count(status)
        self._emit((0.0, constant(status, body, CLOSE), True), out)

    def _dispatch(
        self, method: bytes, target: bytes, body: bytes, authorization: bytes | None, mode: int
    ) -> Action:
        if target.startswith(b"http://") or target.startswith(b"https://"):
            target = b"/" + target.split(b"/", 3)[-1]  # absolute-form
        path = target.split(b"?", 1)[0]
        action = self._handler.handle(method, path, body, authorization, mode)
        data = action[1]
        if method == b"HEAD" and data is not None:
            return action[0], data[: data.index(b"\r\n\r\n") + 4], action[2]
        return action

    def _emit(self, action: Action, out: list[bytes]) -> None:
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
