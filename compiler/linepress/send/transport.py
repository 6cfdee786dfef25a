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

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport

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
