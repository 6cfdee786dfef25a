"""The sending transport says whether a failed request may have reached the server."""

from __future__ import annotations

import asyncio
import socket

import httpx
import pytest

from linepress.send.answers import judge_exception
from linepress.send.transport import sending_transport


async def post(url: str) -> Exception:
    async with httpx.AsyncClient(transport=sending_transport(4), timeout=5) as client:
        try:
            await client.post(url, content=b"{}")
        except Exception as exc:
            return exc
    raise AssertionError("the request should have failed")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_refused_connection_is_a_connect_error_and_retried() -> None:
    error = asyncio.run(post(f"http://127.0.0.1:{free_port()}/line/1/single"))
    assert isinstance(error, httpx.ConnectError)
    assert judge_exception(error).action == "retry"


@pytest.mark.parametrize("answer", [b"", b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{"])
def test_a_connection_lost_after_sending_is_unknown_never_retried(answer: bytes) -> None:
    async def main() -> Exception:
        async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readuntil(b"\r\n\r\n")  # the request arrived...
            writer.write(answer)  # ...and the answer never completes
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(swallow, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        async with server:
            return await post(f"http://127.0.0.1:{port}/line/1/single")

    error = asyncio.run(main())
    assert not isinstance(error, httpx.ConnectError | httpx.ConnectTimeout), repr(error)
    assert judge_exception(error).action == "unknown"
