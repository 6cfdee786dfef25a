"""Load generator for the sandbox: how many `POST /line/1/single` per second it answers.

    .venv/bin/python bench/sandbox_load.py                     # 10 s, 64 connections
    .venv/bin/python bench/sandbox_load.py -c 32 -d 5 --pipeline 8
    .venv/bin/python bench/sandbox_load.py --url http://127.0.0.1:8080 -n 100000
    .venv/bin/python bench/sandbox_load.py --wrk               # also run wrk if installed

Unless --url is given it starts the sandbox in its own process (validation on, as
shipped) and also reports the sandbox's CPU time per request from /proc: on a
2-core machine the client competes for CPU, so the ceiling of the sandbox alone is
1 s / (its CPU per request). The client is a raw asyncio protocol: C keep-alive
connections, each with `--pipeline` requests in flight; bodies are small valid TEXT
messages with a different `to` and text each (`--same-text`: one text for all, as in a
static campaign, where the sandbox's verdict cache hits). wrk sends the same mix.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

import orjson

API_KEY = "sandbox-key"
# More distinct messages than the sandbox caches verdicts for (4096): every check runs.
DISTINCT_BODIES = 20_000


def requests_bytes(host: str, port: int, same_text: bool) -> list[bytes]:
    """Prebuilt requests: the client should cost as little as possible."""
    out = []
    for i in range(DISTINCT_BODIES):
        text = "Hello! Our sale starts today." if same_text else f"Hello {i}! Your code is {i * 7}."
        body = orjson.dumps(
            {
                "from": "8F0792F86035A9F4290821F1EE6BC06A",
                "to": f"user-{i:06d}",
                "message": {"type": "TEXT", "text": text},
            }
        )
        head = (
            f"POST /line/1/single HTTP/1.1\r\nHost: {host}:{port}\r\n"
            f"Authorization: App {API_KEY}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        out.append(head + body)
    return out


class Client(asyncio.Protocol):
    """One keep-alive connection with `pipeline` requests in flight."""

    def __init__(self, load: Load) -> None:
        self.load = load
        self.buffer = b""
        self.transport: asyncio.Transport | None = None
        self.in_flight = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.fill()

    def fill(self) -> None:
        batch = []
        while self.in_flight < self.load.pipeline and self.load.take():
            batch.append(self.load.next_request())
            self.in_flight += 1
        if batch:
            assert self.transport is not None
            self.transport.write(b"".join(batch))
        elif self.in_flight == 0:
            self.load.connection_done()

    def data_received(self, data: bytes) -> None:
        buf = self.buffer + data if self.buffer else data
        pos = 0
        while True:
            end = buf.find(b"\r\n\r\n", pos)
            if end < 0:
                break
            cl_at = buf.find(b"Content-Length: ", pos, end)
            length = int(buf[cl_at + 16 : buf.find(b"\r\n", cl_at)])
            if len(buf) - end - 4 < length:
                break
            self.load.statuses[buf[pos + 9 : pos + 12]] += 1
            pos = end + 4 + length
            self.in_flight -= 1
        self.buffer = buf[pos:]
        self.fill()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.in_flight:
            self.load.errors += 1
            self.load.connection_done()


class Load:
    def __init__(self, requests: list[bytes], total: int | None, deadline: float, pipeline: int):
        self.requests = requests
        self.remaining = total
        self.deadline = deadline
        self.pipeline = pipeline
        self.statuses: Counter[bytes] = Counter()
        self.errors = 0
        self.i = 0
        self.open = 0
        self.done = asyncio.get_running_loop().create_future()
        self.check = 0

    def take(self) -> bool:
        if self.remaining is not None:
            if self.remaining <= 0:
                return False
            self.remaining -= 1
            return True
        # time.monotonic() per request is measurable; look at the clock every 256.
        self.check += 1
        if self.check & 255 == 0 and time.monotonic() > self.deadline:
            self.remaining = 0
            return False
        return True

    def next_request(self) -> bytes:
        self.i += 1
        return self.requests[self.i % len(self.requests)]

    def connection_done(self) -> None:
        self.open -= 1
        if self.open == 0 and not self.done.done():
            self.done.set_result(None)


async def run_load(
    url: str, connections: int, total: int | None, seconds: float, pipeline: int, same_text: bool
) -> tuple[Counter[bytes], int, float]:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    requests = requests_bytes(host, port, same_text)
    load = Load(requests, total, time.monotonic() + seconds, pipeline)
    loop = asyncio.get_running_loop()
    load.open = connections
    started = time.perf_counter()
    transports = [
        (await loop.create_connection(lambda: Client(load), host, port))[0]
        for _ in range(connections)
    ]
    await load.done
    elapsed = time.perf_counter() - started
    for transport in transports:
        transport.close()
    return load.statuses, load.errors, elapsed


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_sandbox(record: Path | None, memory: bool) -> tuple[subprocess.Popen[str], str]:
    code = (
        "import sys; from linepress.sandbox.server import serve; "
        "serve('127.0.0.1', 0, record_path=sys.argv[1] or None, memory=sys.argv[2] == '1')"
    )
    argv = [sys.executable, "-c", code, str(record or ""), "1" if memory else "0"]
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, bufsize=1)
    assert process.stdout is not None
    line = process.stdout.readline()
    if "listening on " not in line:
        process.kill()
        raise SystemExit(f"sandbox did not start: {line!r}")
    return process, line.split("listening on ", 1)[1].split()[0]


def run_wrk(url: str, seconds: float, connections: int, same_text: bool) -> None:
    if shutil.which("wrk") is None:
        print("wrk: not installed (apt-get install -y wrk)")
        return
    text = (
        '"Hello! Our sale starts today."'
        if same_text
        else '"Hello " .. n .. "! Your code is " .. n * 7 .. "."'
    )
    script = f"""
n = 0
headers = {{["Content-Type"] = "application/json", ["Authorization"] = "App {API_KEY}"}}
request = function()
  n = n + 1
  local body = '{{"from":"8F0792F86035A9F4290821F1EE6BC06A","to":"user-' .. n ..
    '","message":{{"type":"TEXT","text":' .. '"' .. {text} .. '"' .. '}}}}'
  return wrk.format("POST", nil, headers, body)
end
"""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as lua:
        lua.write(script)
    try:
        command = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "-s", lua.name]
        result = subprocess.run(
            [*command, url + "/line/1/single"], capture_output=True, text=True, check=False
        )
        print("wrk (1 thread):", result.stdout.strip().replace("\n", "\n  "), result.stderr)
    finally:
        os.unlink(lua.name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="an already running sandbox (default: start one)")
    parser.add_argument("-c", "--connections", type=int, default=64)
    parser.add_argument("-d", "--duration", type=float, default=10.0, help="seconds")
    parser.add_argument("-n", "--requests", type=int, help="stop after N requests instead")
    parser.add_argument("--pipeline", type=int, default=1, help="requests in flight per connection")
    parser.add_argument("--record", type=Path, help="the sandbox appends deliveries here")
    parser.add_argument("--no-memory", action="store_true", help="sandbox keeps no deliveries")
    parser.add_argument(
        "--same-text",
        action="store_true",
        help="one text for every recipient (a static campaign: the sandbox's verdict cache hits)",
    )
    parser.add_argument("--wrk", action="store_true", help="also measure with wrk")
    args = parser.parse_args()

    process = None
    url = args.url
    if url is None:
        process, url = start_sandbox(args.record, not args.no_memory)
    try:
        before = cpu_seconds(process.pid) if process else 0.0
        statuses, errors, elapsed = asyncio.run(
            run_load(
                url, args.connections, args.requests, args.duration, args.pipeline, args.same_text
            )
        )
        done = sum(statuses.values())
        shown = {k.decode(): v for k, v in sorted(statuses.items())}
        print(
            f"{done} requests in {elapsed:.2f} s over {args.connections} connections "
            f"(pipeline {args.pipeline}): {done / elapsed:,.0f} req/s; statuses {shown}; "
            f"connection errors {errors}"
        )
        if process is not None and done:
            cpu = cpu_seconds(process.pid) - before
            per = cpu / done * 1e6
            print(
                f"sandbox CPU: {cpu:.2f} s = {per:.1f} µs/request -> ceiling on one core "
                f"≈ {1e6 / per:,.0f} req/s (sandbox busy {cpu / elapsed:.0%} of the run)"
            )
        if args.wrk:
            run_wrk(url, args.duration, args.connections, args.same_text)
    finally:
        if process is not None:
            process.terminate()
            process.wait(timeout=10)


if __name__ == "__main__":
    main()
