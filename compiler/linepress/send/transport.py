"""One POST and its answer: the sender's transport, aiohttp directly.

`send` used httpx's API over aiohttp's pool (httpx-aiohttp). Profiled with py-spy
(bench/send.py, 0 latency, 16 in flight) the httpx layers (request and URL models,
header copies, cookies, the adapter) took ~30% of a send's CPU on top of
aiohttp's own ~40%; a bare aiohttp loop costs ~190 µs per message against ~900
for the whole send. So the sending path talks to aiohttp itself, behind this
small interface (`Sender.post` -> `Answer`), and keeps the guarantees:

- at most `BODY_CAP` bytes of an answer are read; once a 2xx status arrived the
  message was accepted, and a body that is huge, garbled or too slow is cut off;
- `deadline` bounds the whole exchange (connect, send, answer): no status in time
  is `ExchangeTimeout` (it may have arrived);
- failures say whether the request may have arrived: only a connection that was
  never made is `httpx.ConnectError`/`ConnectTimeout` (safe to retry); a
  connection lost after sending is `httpx.RemoteProtocolError` (unknown). The
  aiohttp error stays the `__cause__`, so the breaker still sees the refused
  socket, the DNS failure or the TLS error under it.

httpx's exception classes stay the vocabulary of failures (`answers.py` and
`breaker.py` read them, and tests and the dry run pass an
`httpx.AsyncBaseTransport`, served by `HttpxSender`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any, Protocol

import aiohttp
import httpx
import orjson

#: How much of an answer is read. Infobip's answers are a few hundred bytes; a
#: 50 MB one, read whole at 16 in flight, took 1.7 GB.
BODY_CAP = 64 * 1024


class ExchangeTimeout(httpx.ReadTimeout):
    """The whole exchange (connect, send, answer) overran its deadline; it may have arrived."""


class Answer:
    """An HTTP answer as the sender keeps it: status, headers, at most `BODY_CAP` bytes."""

    __slots__ = ("content", "headers", "reason_phrase", "status_code")

    def __init__(
        self, status_code: int, headers: Mapping[str, str], content: bytes, reason_phrase: str = ""
    ) -> None:
        self.status_code = status_code
        #: Case-insensitive (aiohttp's CIMultiDictProxy or httpx.Headers).
        self.headers = headers
        self.content = content
        self.reason_phrase = reason_phrase

    @property
    def is_success(self) -> bool:
        return 200 <= self.status_code < 300

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    def json(self) -> Any:
        """The body as JSON; raises ValueError when it is not."""
        return orjson.loads(self.content)


class Sender(Protocol):
    """Sends one message body and returns its answer; see the module's docstring."""

    async def post(self, url: str, content: bytes, deadline: float) -> Answer:
        """POST `content` to `url` within `deadline` seconds; httpx's errors on failure."""
        ...

    async def aclose(self) -> None:
        """Close the connections."""
        ...


def _timed_out(deadline: float) -> ExchangeTimeout:
    return ExchangeTimeout(f"no complete answer within --timeout {deadline:g} s", request=None)


class AiohttpSender:
    """`Sender` over one aiohttp session whose pool holds `concurrency` connections.

    Must be made inside the running event loop (aiohttp binds its session to it).
    """

    def __init__(
        self, concurrency: int, headers: Mapping[str, str], connect_timeout: float
    ) -> None:
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=concurrency),
            headers=dict(headers),
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=connect_timeout),
            # No cookies: an endpoint's Set-Cookie must not change later requests.
            cookie_jar=aiohttp.DummyCookieJar(),
        )

    async def aclose(self) -> None:
        await self._session.close()

    async def post(self, url: str, content: bytes, deadline: float) -> Answer:
        status: int | None = None
        headers: Mapping[str, str] = {}
        reason = ""
        body = bytearray()
        try:
            async with asyncio.timeout(deadline):
                async with self._session.post(url, data=content) as response:
                    status, headers, reason = (
                        response.status,
                        response.headers,
                        response.reason or "",
                    )
                    stream = response.content
                    while len(body) < BODY_CAP:
                        chunk = await stream.read(BODY_CAP - len(body))
                        if not chunk:
                            break
                        body += chunk
        # aiohttp's connect timeout is a TimeoutError too: this clause comes first.
        except aiohttp.ConnectionTimeoutError as exc:
            raise httpx.ConnectTimeout(f"connect timed out ({exc})") from exc
        except aiohttp.ClientConnectorError as exc:  # refused, DNS, TLS: nothing was sent
            raise httpx.ConnectError(f"could not connect ({exc})") from exc
        except TimeoutError:
            if status is None or not 200 <= status < 300:
                raise _timed_out(deadline) from None
        except aiohttp.ClientError as exc:
            if status is None or not 200 <= status < 300:
                raise httpx.RemoteProtocolError(
                    f"connection lost after sending ({type(exc).__name__})"
                ) from exc
        except ValueError:
            # A header aiohttp refuses (a newline in it). Not str(exc): it may quote the
            # credentials.
            raise httpx.LocalProtocolError("aiohttp refused the request's headers") from None
        assert status is not None
        return Answer(status, headers, bytes(body), reason)


class HttpxSender:
    """`Sender` over an httpx transport: the dry run's, and tests' `httpx.MockTransport`."""

    def __init__(
        self,
        transport: httpx.AsyncBaseTransport,
        concurrency: int,
        headers: Mapping[str, str],
        connect_timeout: float,
    ) -> None:
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        self._headers = dict(headers)
        self._client = httpx.AsyncClient(
            transport=transport, limits=limits, timeout=httpx.Timeout(None, connect=connect_timeout)
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def post(self, url: str, content: bytes, deadline: float) -> Answer:
        response: httpx.Response | None = None
        body = bytearray()
        try:
            async with asyncio.timeout(deadline):
                async with self._client.stream(
                    "POST", url, content=content, headers=self._headers
                ) as response:
                    try:
                        async for chunk in response.aiter_raw():
                            body += chunk
                            if len(body) >= BODY_CAP:
                                break
                    except httpx.StreamConsumed:  # an answer made in memory (MockTransport)
                        body += response.content[:BODY_CAP]
        except TimeoutError:
            if response is None or not response.is_success:
                raise _timed_out(deadline) from None
        except httpx.HTTPError:
            if response is None or not response.is_success:
                raise
        assert response is not None
        return Answer(
            response.status_code, response.headers, bytes(body[:BODY_CAP]), response.reason_phrase
        )
