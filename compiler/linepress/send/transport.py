"""The HTTP transport under the sender's httpx client.

httpx's own async connection pool re-scans its connections on every request, so
its CPU cost per message grows with the number in flight: measured here
(bench/send.py, 100 in flight, 50 ms latency) 130 messages/s against ~1,500/s
with `httpx_aiohttp.AiohttpTransport`. The code keeps httpx's API; only the
transport changes.

But that transport reports *every* lost connection as `httpx.ConnectTimeout`,
including one lost after the request was sent. linepress retries connect
failures (nothing was sent) and records the others as `unknown` (it may have
been delivered), so as-is it would send some messages twice. `SafeAiohttpTransport`
re-maps the errors by their aiohttp cause: only a connection that was never made
is a connect error.
"""

from __future__ import annotations

import asyncio

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport

#: How much of an answer is read. Infobip's answers are a few hundred bytes; a
#: 50 MB one, read whole at 16 in flight, took 1.7 GB.
BODY_CAP = 64 * 1024

#: Headers that describe the body as it came over the wire, not as we keep it.
_WIRE_HEADERS = frozenset({"content-encoding", "content-length", "transfer-encoding"})

#: aiohttp errors raised before any byte of the request left: safe to retry.
_NEVER_CONNECTED: tuple[type[BaseException], ...] = (
    aiohttp.ClientConnectorError,
    aiohttp.ConnectionTimeoutError,
)


class SafeAiohttpTransport(AiohttpTransport):  # type: ignore[misc]
    """AiohttpTransport whose errors say whether the request may have arrived."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            response: httpx.Response = await super().handle_async_request(request)
        except httpx.TransportError as exc:
            cause = exc.__cause__
            if isinstance(cause, aiohttp.ConnectionTimeoutError):
                raise httpx.ConnectTimeout(str(exc), request=request) from cause
            if isinstance(cause, _NEVER_CONNECTED):
                raise httpx.ConnectError(str(exc), request=request) from cause
            if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
                # Mapped as "connect" by httpx_aiohttp, but the connection existed:
                # the request may have reached the server.
                raise httpx.RemoteProtocolError(
                    f"connection lost after sending ({type(cause).__name__})", request=request
                ) from cause
            raise
        return response


def sending_transport(concurrency: int) -> httpx.AsyncBaseTransport:
    """The transport `send` uses: one aiohttp pool sized to the concurrency."""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    return SafeAiohttpTransport(limits=limits)


class ExchangeTimeout(httpx.ReadTimeout):
    """The whole exchange (connect, send, answer) overran its deadline; it may have arrived."""


async def exchange(
    client: httpx.AsyncClient,
    url: str,
    *,
    content: bytes,
    headers: dict[str, str],
    deadline: float,
) -> httpx.Response:
    """POST `content` and read at most `BODY_CAP` bytes of the answer, all within `deadline` s.

    `--timeout` used to bound each socket read only, so a server dripping a byte
    every 2 s kept a request alive for minutes. Once a 2xx status has arrived,
    the message was accepted: a body that is huge, garbled or too slow is cut
    off, and the answer (with what was read) is returned. Raises
    `ExchangeTimeout` when no status arrived in time, and httpx's errors.
    """
    response: httpx.Response | None = None
    body = bytearray()
    try:
        async with asyncio.timeout(deadline):
            async with client.stream("POST", url, content=content, headers=headers) as response:
                try:
                    async for chunk in response.aiter_raw():
                        body += chunk
                        if len(body) >= BODY_CAP:
                            break
                except httpx.StreamConsumed:  # an answer made in memory (MockTransport)
                    body += response.content[:BODY_CAP]
    except TimeoutError:
        if response is None or not response.is_success:
            raise ExchangeTimeout(
                f"no complete answer within --timeout {deadline:g} s", request=None
            ) from None
    except httpx.HTTPError:
        if response is None or not response.is_success:
            raise
    assert response is not None
    kept = [(k, v) for k, v in response.headers.multi_items() if k.lower() not in _WIRE_HEADERS]
    return httpx.Response(
        response.status_code, headers=kept, content=bytes(body[:BODY_CAP]), request=response.request
    )
