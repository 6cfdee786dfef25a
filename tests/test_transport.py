"""The sending transport says whether a failed request may have reached the server.

These drive `AiohttpSender` (what `send` uses) against real loopback sockets.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Awaitable, Callable

import httpx
import pytest

from linepress.send.answers import judge_exception, judge_response
from linepress.send.breaker import classify
from linepress.send.transport import BODY_CAP, AiohttpSender, Answer, ExchangeTimeout

Serve = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def post(url: str, deadline: float = 5.0) -> Answer | Exception:
    sender = AiohttpSender(4, {"Authorization": "App secret"}, connect_timeout=5)
    try:
        return await sender.post(url, b"{}", deadline)
    except Exception as exc:
        return exc
    finally:
        await sender.aclose()


async def serving(serve: Serve, deadline: float = 5.0) -> Answer | Exception:
    """POST to a one-off server that answers with `serve`; its connections closed after."""
    writers: list[asyncio.StreamWriter] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            await serve(reader, writer)
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        result = await post(f"http://127.0.0.1:{port}/line/1/single", deadline)
    for writer in writers:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
    return result


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_refused_connection_is_a_connect_error_retried_and_named_for_the_breaker() -> None:
    error = asyncio.run(post(f"http://127.0.0.1:{free_port()}/line/1/single"))
    assert isinstance(error, httpx.ConnectError)
    assert judge_exception(error).action == "retry"
    outage = classify(error, "http://127.0.0.1")
    assert outage is not None and outage.kind == "connection refused"


@pytest.mark.parametrize("answer", [b"", b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{"])
def test_a_connection_lost_after_sending_is_unknown_never_retried(answer: bytes) -> None:
    async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")  # the request arrived...
        writer.write(answer)  # ...and the answer never completes
        await writer.drain()
        writer.close()

    result = asyncio.run(serving(swallow))
    if answer:  # a 2xx status arrived: accepted, with what was read
        assert isinstance(result, Answer) and result.status_code == 200
        assert judge_response(result).action == "sent"
        return
    assert isinstance(result, Exception)
    assert not isinstance(result, httpx.ConnectError | httpx.ConnectTimeout), repr(result)
    assert judge_exception(result).action == "unknown"


def test_an_error_status_cut_short_is_unknown() -> None:
    async def cut(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 500 Oops\r\nContent-Length: 100\r\n\r\n{")
        await writer.drain()
        writer.close()

    result = asyncio.run(serving(cut))
    assert isinstance(result, httpx.RemoteProtocolError)
    assert judge_exception(result).action == "unknown"


def test_no_status_before_the_deadline_is_an_exchange_timeout() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        await reader.read()  # no answer; the client gives up and closes
        writer.close()

    result = asyncio.run(serving(silent, deadline=0.3))
    assert isinstance(result, ExchangeTimeout)
    assert judge_exception(result).action == "unknown"


def test_a_huge_answer_is_read_up_to_the_cap_and_its_headers_kept() -> None:
    async def huge(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        size = BODY_CAP * 20
        writer.write(
            b"HTTP/1.1 429 Too Many\r\nRetry-After: 2\r\n"
            + f"Content-Length: {size}\r\n\r\n".encode()
        )
        for _ in range(20):  # the client stops reading at the cap and closes
            writer.write(b"x" * BODY_CAP)
            await writer.drain()

    result = asyncio.run(serving(huge))
    assert isinstance(result, Answer)
    assert result.status_code == 429 and len(result.content) == BODY_CAP
    verdict = judge_response(result)
    assert verdict.action == "retry" and verdict.retry_after == 2.0


def test_the_answers_json_and_header_case() -> None:
    async def ok(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        body = b'{"messageId": "m-1"}'
        writer.write(
            b"HTTP/1.1 200 OK\r\nX-Thing: a\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        await writer.drain()
        writer.close()

    result = asyncio.run(serving(ok))
    assert isinstance(result, Answer)
    assert result.headers.get("x-thing") == "a"
    assert judge_response(result).message_id == "m-1"
