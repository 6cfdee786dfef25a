"""Benchmark of `linepress send` against the sandbox in a separate process, in one run.

    .venv/bin/python bench/send.py                    # 10,000 messages per phase, ~10 min
    .venv/bin/python bench/send.py --messages 20000 --json send.json --keep-profiles prof/
    .venv/bin/python bench/send.py --tiny             # 100 messages, 10 ms (CI)
    .venv/bin/python bench/send.py --workers          # 1, 2, 4 workers on a PostgreSQL journal
    .venv/bin/python bench/send.py --journal-cost     # one worker: PostgreSQL vs SQLite journal

Phases, each beside a sequential `httpx.Client` loop measured in the same run at the
same added latency (the sandbox's `latency` fault, set through `POST /sandbox/faults`):

1. `seq@L`, `seq@0`: the sequential keep-alive baseline at L (50 ms; 10 ms with --tiny) and 0.
2. `cli@L`, `cli@0`: `linepress send --payloads FILE --no-progress` as a subprocess, 100 in
   flight at L (25 with --tiny) and 16 at 0, end to end; `cli@0+progress` with --progress.
   `plan` / `plan-csv`: planning alone (payloads; definition + CSV), timed in process as
   `send(dry_run=True)` minus its dispatch, beside the CLI's `--dry-run` wall time.
3. `journal-…`: `linepress.operations.send.send()` in this process with the real journal vs its
   writes (`Journal.apply`) made no-ops, at 0 latency, per transport.
4. `rate-R`: `linepress send --rate R` for ~5 s (`rate-R-aiohttp`: the library with the
   aiohttp transport); the sandbox's record file (`received_at`) gives the rate over every
   1-second sliding window (10 ms steps) and in the first 100 ms.
5. `httpx@…`, `httpx-sharded@…`, `aiohttp@…`: `send(..., transport=...)` with httpx's own
   pool, several small httpx pools (both through `HttpxSender`), and the shipped transport
   (`AiohttpSender`: aiohttp directly, `compiler/linepress/send/transport.py`, what the CLI uses); `aiohttp-bare@…` is a plain aiohttp loop, the ceiling. Then, with py-spy
   when installed, where the sender's CPU goes while dispatching.

Library rows give the dispatch rate (`Summary.rate`: planning excluded) and the client
CPU per message while dispatching. CLI rows give messages / wall-clock seconds of the
whole command; the sending span (first to last delivery at the sandbox) is in the notes.
Repeat runs on a 2-core machine vary by ±30%: trust ratios, not small gaps.
"""

from __future__ import annotations

import argparse
import bisect
import contextlib
import datetime as dt
import importlib.metadata
import json
import os
import platform
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson

from linepress.operations import send as sending
from linepress.operations.compile import DataOptions
from linepress.operations.send import SendOptions, send
from linepress.send.dispatch import DispatchSettings
from linepress.send.sqlite_journal import SqliteJournal as Journal

KEY = "bench-sandbox-key"
SENDER = "8F0792F86035A9F4290821F1EE6BC06A"
SEND_PATH = "/line/1/single"
DEFINITION = (
    "from: "
    + SENDER
    + "\nmessage:\n  type: TEXT\n  text: 'Hello {{ name }}! Your code is {{ code }}.'\n"
)


# --- inputs ------------------------------------------------------------------------


def make_bodies(count: int) -> list[bytes]:
    """Small valid TEXT bodies, each with its own `to` and text (no cache hit at the sandbox)."""
    return [
        orjson.dumps(
            {
                "from": SENDER,
                "to": f"user-{i:07d}",
                "message": {"type": "TEXT", "text": f"Hello {i}! Your code is {i * 7}."},
            }
        )
        for i in range(count)
    ]


def write_payloads(path: Path, bodies: list[bytes]) -> Path:
    path.write_bytes(b"".join(body + b"\n" for body in bodies))
    return path


def write_campaign(folder: Path, count: int) -> tuple[Path, Path]:
    """The same messages as a definition + CSV, to time planning with compilation."""
    definition = folder / "campaign.yaml"
    definition.write_text(DEFINITION)
    data = folder / "users.csv"
    data.write_text("to,name,code\n" + "".join(f"user-{i:07d},{i},{i * 7}\n" for i in range(count)))
    return definition, data


# --- the sandbox, in its own process ---------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process, from /proc (Linux); 0 elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def linepress_command() -> list[str]:
    script = Path(sys.executable).with_name("linepress")
    return [str(script)] if script.exists() else [sys.executable, "-m", "linepress"]


class Sandbox:
    """`linepress sandbox --port 0` as a subprocess; faults and counters over its control API."""

    def __init__(self, record: Path) -> None:
        self.record = record
        argv = [*linepress_command(), "sandbox", "--port", "0", "--api-key", KEY]
        argv += ["--record", str(record)]
        self.process = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        line = self.process.stdout.readline()  # "linepress sandbox listening on URL (...)"
        if "listening on " not in line:
            self.process.kill()
            raise SystemExit(f"the sandbox did not start: {line!r}")
        self.url = line.split("listening on ", 1)[1].split()[0]
        self.send_url = self.url + SEND_PATH
        self.control = httpx.Client(base_url=self.url, timeout=30)

    def configure(self, latency: float) -> None:
        """Set the latency fault and forget deliveries, counters and the record file."""
        self.control.post("/sandbox/faults", json={"latency": latency}).raise_for_status()
        self.control.post("/sandbox/reset").raise_for_status()

    def stats(self) -> dict[str, Any]:
        response = self.control.get("/sandbox/stats")
        response.raise_for_status()
        return dict(response.json())

    def received(self) -> list[float]:
        """Seconds since the epoch of every recorded delivery, in order."""
        times = []
        with self.record.open("rb") as handle:
            for line in handle:
                if line.strip():
                    stamp = orjson.loads(line)["received_at"]
                    times.append(dt.datetime.fromisoformat(stamp).timestamp())
        return sorted(times)

    def cpu(self) -> float:
        return cpu_seconds(self.process.pid)

    def close(self) -> None:
        self.control.close()
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


# --- the measurements ----------------------------------------------------------------


def headers() -> dict[str, str]:
    return {
        "Authorization": f"App {KEY}",
        "Content-Type": "application/json",
        "Accept": "application/json",
    }


def sequential(sandbox: Sandbox, bodies: list[bytes], seconds: float) -> dict[str, Any]:
    """One keep-alive `httpx.Client`, one POST after the other, for `seconds` (≥ 20 requests)."""
    with httpx.Client(headers=headers(), timeout=30) as client:
        client.post(sandbox.send_url, content=bodies[-1]).raise_for_status()  # connect first
        count, cpu0, started = 0, time.process_time(), time.perf_counter()
        while count < len(bodies) - 1 and (time.perf_counter() - started < seconds or count < 20):
            client.post(sandbox.send_url, content=bodies[count]).raise_for_status()
            count += 1
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu0
    return {
        "messages": count,
        "seconds": elapsed,
        "rate": count / elapsed,
        "cpu_us": cpu / count * 1e6,
    }


_SUMMARY = re.compile(r"; ([\d.]+) s, ([\d,]+) messages/s")


def cli_send(
    sandbox: Sandbox,
    folder: Path,
    source: list[str],
    *,
    concurrency: int,
    rate: float | None = None,
    dry_run: bool = False,
    progress: bool = False,
) -> dict[str, Any]:
    """`linepress send` as a subprocess with a fresh journal; wall time, CPU, what it printed."""
    journal = Path(tempfile.mkstemp(dir=folder, suffix=".db")[1])
    journal.unlink()
    argv = [*linepress_command(), "send", *source, "--journal", str(journal)]
    argv += ["--concurrency", str(concurrency), "--progress" if progress else "--no-progress"]
    if rate is not None:
        argv += ["--rate", str(rate)]
    if dry_run:
        argv.append("--dry-run")
    env = {**os.environ, "INFOBIP_BASE_URL": sandbox.url, "INFOBIP_API_KEY": KEY}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=3600, check=False)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"linepress send failed ({done.returncode}): {done.stderr[-2000:]}")
    found = _SUMMARY.search(done.stderr)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {
        "wall": wall,
        "cpu": cpu,
        "summary_seconds": float(found.group(1)) if found else None,
        "summary_rate": float(found.group(2).replace(",", "")) if found else None,
        "stderr": done.stderr.strip().splitlines()[-1:] if done.stderr else [],
    }


class ShardedTransport(httpx.AsyncBaseTransport):
    """Several small httpx pools, the least busy one first.

    httpcore's pool looks at every one of its connections (`has_expired`, `is_idle`, a
    `getpeername` per socket) each time a request comes or goes, so its CPU per request
    grows with the pool's size. Pools of `per_pool` connections keep that scan short.
    """

    def __init__(self, concurrency: int, per_pool: int = 8) -> None:
        count = max(1, -(-concurrency // per_pool))
        size = -(-concurrency // count)
        limits = httpx.Limits(max_connections=size, max_keepalive_connections=size)
        self._pools = [httpx.AsyncHTTPTransport(limits=limits) for _ in range(count)]
        self._busy = [0] * count

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        index = min(range(len(self._busy)), key=self._busy.__getitem__)
        self._busy[index] += 1
        try:
            return await self._pools[index].handle_async_request(request)
        finally:
            self._busy[index] -= 1

    async def aclose(self) -> None:
        for pool in self._pools:
            await pool.aclose()


def new_transport(name: str, concurrency: int) -> httpx.AsyncBaseTransport | None:
    """None: the Dispatcher's own choice, `linepress.send.transport.sending_transport` (the CLI's)."""
    # An injected transport does not get the AsyncClient's limits: give it the same.
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    if name == "httpx":
        return httpx.AsyncHTTPTransport(limits=limits)
    if name == "httpx-sharded":
        return ShardedTransport(concurrency)
    return None  # "aiohttp": httpx over aiohttp's pool, as shipped


def aiohttp_available() -> bool:
    try:
        import aiohttp  # noqa: F401
    except ImportError:
        return False
    return True


@contextlib.contextmanager
def journal_writes(noop: bool) -> Iterator[dict[str, float]]:
    """Count (or skip) the dispatcher's journal commits: `Journal.apply`, patched in this run only."""
    original = Journal.apply
    stats = {"commits": 0, "rows": 0, "seconds": 0.0}

    def apply(self: Journal, outcomes: Any, inflight: Any = ()) -> None:
        stats["commits"] += 1
        stats["rows"] += len(outcomes) + len(inflight)
        if noop:
            return
        started = time.perf_counter()
        original(self, outcomes, inflight)
        stats["seconds"] += time.perf_counter() - started

    Journal.apply = apply  # type: ignore[method-assign]
    try:
        yield stats
    finally:
        Journal.apply = original  # type: ignore[method-assign]


@contextlib.contextmanager
def dispatch_cpu() -> Iterator[list[float]]:
    """[CPU seconds, wall seconds] of this process in `sending._run`: the dispatch alone."""
    original = sending._run
    spent: list[float] = []

    def timed(*args: Any) -> bool:
        cpu, wall = time.process_time(), time.perf_counter()
        try:
            return original(*args)
        finally:
            spent[:] = [time.process_time() - cpu, time.perf_counter() - wall]

    sending._run = timed
    try:
        yield spent
    finally:
        sending._run = original


def library_send(
    url: str,
    payloads: Path,
    journal: Path,
    *,
    transport: str,
    concurrency: int,
    noop_journal: bool = False,
    rate: float | None = None,
) -> dict[str, Any]:
    """`linepress.operations.send.send()` in this process, fresh journal; dispatch rate and CPU."""
    options = SendOptions(
        payloads=payloads,
        journal=journal,
        settings=DispatchSettings(concurrency=concurrency, rate=rate),
    )
    environ = {"INFOBIP_BASE_URL": url, "INFOBIP_API_KEY": KEY}
    started = time.perf_counter()
    with journal_writes(noop_journal) as writes, dispatch_cpu() as cpu:
        result = send(options, transport=new_transport(transport, concurrency), environ=environ)
    wall = time.perf_counter() - started
    summary = result.summary
    if summary is None:
        raise SystemExit(f"send planned nothing: {[p.format() for p in result.log.problems]}")
    done = round(summary.rate * summary.elapsed)
    if not noop_journal and summary.counts.get("sent") != done:
        raise SystemExit(f"send did not deliver everything: {summary.line()}")
    return {
        "messages": done,
        "seconds": summary.elapsed,
        "rate": summary.rate,
        "wall": wall,
        "cpu_us": cpu[0] / max(done, 1) * 1e6,
        "commits": writes["commits"],
        "rows_per_commit": writes["rows"] / max(writes["commits"], 1),
        "commit_us": writes["seconds"] / max(writes["commits"], 1) * 1e6,
        "commit_share": writes["seconds"] / summary.elapsed if summary.elapsed else 0.0,
    }


def library_plan(options: SendOptions) -> dict[str, float]:
    """An in-process `send(dry_run=True)`: seconds of planning (the whole call minus dispatch)."""
    started = time.perf_counter()
    with dispatch_cpu() as spent:
        result = send(options, environ={})
    wall = time.perf_counter() - started
    if result.summary is None:
        raise SystemExit(f"dry run planned nothing: {[p.format() for p in result.log.problems]}")
    return {"wall": wall, "dispatch": spent[1], "planning": wall - spent[1]}


def windows(times: list[float], rate: float) -> dict[str, Any]:
    """Achieved rate overall, over every 1 s window (10 ms steps), and in the first 100 ms."""
    if len(times) < 2:
        return {"deliveries": len(times)}
    start, span = times[0], times[-1] - times[0]
    rel = [t - start for t in times]
    counts = []
    step = 0.0
    while step + 1.0 <= span + 1e-9:
        counts.append(bisect.bisect_left(rel, step + 1.0) - bisect.bisect_left(rel, step))
        step += 0.01
    first = bisect.bisect_left(rel, 0.1)
    low, high = (min(counts), max(counts)) if counts else (None, None)
    return {
        "deliveries": len(times),
        "span": span,
        "overall": (len(times) - 1) / span if span else None,
        "window_min": low,
        "window_max": high,
        "windows": len(counts),
        "first_100ms": first,
        "first_100ms_expected": rate * 0.1,
        "ok": low is not None and high is not None and low >= 0.95 * rate and high <= 1.05 * rate,
    }


# --- profile -----------------------------------------------------------------------


def child(arguments: str) -> None:
    """`--profile-child JSON`: one library send, for py-spy to sample."""
    spec = json.loads(arguments)
    out = library_send(
        spec["url"],
        Path(spec["payloads"]),
        Path(spec["journal"]),
        transport=spec["transport"],
        concurrency=spec["concurrency"],
    )
    print(json.dumps(out))


_CATEGORIES: list[tuple[str, tuple[str, ...]]] = [
    (
        "journal: SQLite commits (sqlite_journal.py, ledger.py)",
        ("compiler/linepress/send/sqlite_journal.py", "compiler/linepress/send/ledger.py"),
    ),
    (
        "aiohttp (and httpx-aiohttp, before)",
        ("aiohttp/", "yarl/", "multidict/", "httpx_aiohttp/", "aiohttp."),
    ),
    ("httpcore pool + h11 + anyio", ("httpcore/", "h11/", "anyio/", "sniffio/")),
    ("httpx AsyncClient (Request, headers, URL, cookies)", ("httpx/",)),
    ("JSON (response.json)", ("json/",)),
    ("asyncio loop + socket syscalls", ("asyncio/", "selectors.py", "ssl.py", "socket.py")),
    (
        "dispatch.py, answers.py, pacing.py (workers, verdicts, pacer)",
        (
            "compiler/linepress/send/dispatch.py",
            "compiler/linepress/send/answers.py",
            "compiler/linepress/send/pacing.py",
            "compiler/linepress/send/stopsignal.py",
            "compiler/linepress/send/journal_writer.py",
        ),
    ),
]
_FAILED_IMPORT = "failed `import sniffio` per httpcore lock"


def _where(frame: str) -> tuple[str, str]:
    """py-spy's `Class.function (path/file.py:line)` -> (function, path)."""
    name, _, rest = frame.partition(" (")
    return name.rpartition(".")[2], rest.rpartition(":")[0]


def classify(frames: list[str]) -> str:
    """Self time: the module of the innermost Python frame."""
    if any(f.startswith("current_async_library (httpcore") for f in frames):
        return _FAILED_IMPORT
    _, path = _where(frames[-1])
    for name, prefixes in _CATEGORIES:
        if any(path.startswith(p) or (p.endswith(".") and p in frames[-1]) for p in prefixes):
            return name
    return "other"


#: Inclusive shares: samples with a frame of this function in a file whose path holds this.
_INCLUSIVE = {
    "AsyncClient.post": ("post", "httpx/_client.py"),
    "the transport": ("post", "compiler/linepress/send/transport.py"),
    "Journal.apply": ("apply", "compiler/linepress/send/sqlite_journal.py"),
    "judge_response + response.json": ("judge_response", "compiler/linepress/send/answers.py"),
    "Pacer.wait": ("wait", "compiler/linepress/send/pacing.py"),
}


def profile(
    sandbox: Sandbox, payloads: Path, folder: Path, transport: str, concurrency: int, rate_hz: int
) -> dict[str, Any] | None:
    """py-spy's samples of one library send while it dispatches, as shares of its CPU time."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(spy).exists():
        return None
    raw = folder / f"profile-{transport}.txt"
    spec = {
        "url": sandbox.url,
        "payloads": str(payloads),
        "journal": str(folder / f"profile-{transport}.db"),
        "transport": transport,
        "concurrency": concurrency,
    }
    argv = [spy, "record", "-r", str(rate_hz), "-f", "raw", "-o", str(raw), "--"]
    argv += [sys.executable, __file__, "--profile-child", json.dumps(spec)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=1800, check=False)
    if done.returncode != 0 or not raw.exists():
        return {"error": (done.stderr or done.stdout).strip()[-500:]}
    # py-spy writes its own lines to stdout too: the child's result is the JSON line.
    found = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if not found:
        return {
            "error": f"no result from the profiled run: {done.stdout[-300:]} {done.stderr[-300:]}"
        }
    run = json.loads(found[-1])
    selfs: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = other = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = stack.split(";")
        if not any(f.startswith("_run (compiler/linepress/operations/send.py") for f in frames):
            other += int(count)  # start-up, imports, planning, the report
            continue
        total += int(count)
        selfs[classify(frames)] += int(count)
        places = [_where(f) for f in frames]
        for name, (func, path) in _INCLUSIVE.items():
            if any(f == func and path in p for f, p in places):
                inclusive[name] += int(count)
    return {
        "transport": transport,
        "rate": run["rate"],
        "cpu_us": run["cpu_us"],
        "samples": total,
        "samples_outside_dispatch": other,
        "self": {k: v / total for k, v in selfs.most_common()} if total else {},
        "inclusive": {k: inclusive[k] / total for k in _INCLUSIVE} if total else {},
        "raw": str(raw),
    }


def aiohttp_ceiling(sandbox: Sandbox, bodies: list[bytes], concurrency: int) -> dict[str, Any]:
    """A bare aiohttp loop, no httpx layer, no journal: the most a Python client gets here."""
    import asyncio

    import aiohttp

    async def main() -> tuple[int, float]:
        connector = aiohttp.TCPConnector(limit=concurrency)
        async with aiohttp.ClientSession(connector=connector, headers=headers()) as session:
            work = iter(bodies)
            done = 0

            async def worker() -> None:
                nonlocal done
                for body in work:
                    async with session.post(sandbox.send_url, data=body) as response:
                        await response.read()
                        if response.status != 200:
                            raise SystemExit(f"aiohttp loop: HTTP {response.status}")
                    done += 1

            started = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(concurrency)))
            return done, time.perf_counter() - started

    cpu0 = time.process_time()
    done, elapsed = asyncio.run(main())
    cpu = time.process_time() - cpu0
    return {
        "messages": done,
        "seconds": elapsed,
        "rate": done / elapsed,
        "cpu_us": cpu / done * 1e6,
    }


# --- the run -----------------------------------------------------------------------


def machine() -> dict[str, Any]:
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    versions = {}
    names = ("httpx", "httpcore", "h11", "anyio", "sniffio", "aiohttp", "httpx-aiohttp", "orjson")
    for name in names:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "host": platform.node(),
        "cpu": model,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": versions,
        "load_before": os.getloadavg(),
    }


Row = dict[str, Any]


def row(
    key: str, what: str, latency: float, concurrency: int, messages: int, rate: float | None,
    baseline: float | None, target: str = "", ok: bool | None = None, notes: str = "",
) -> Row:  # fmt: skip
    return {
        "id": key,
        "what": what,
        "latency_ms": round(latency * 1000),
        "in_flight": concurrency,
        "messages": messages,
        "rate": rate,
        "baseline": baseline,
        "ratio": rate / baseline if rate is not None and baseline else None,
        "target": target,
        "ok": ok,
        "notes": notes,
    }


TRANSPORTS = {
    "httpx": "httpx AsyncHTTPTransport (httpx's own pool)",
    "httpx-sharded": "httpx, pools of 8 connections (bench-only ShardedTransport)",
    "aiohttp": "AiohttpSender, aiohttp directly (the CLI's)",
}


def run(args: argparse.Namespace, folder: Path, log: Callable[[str], None]) -> dict[str, Any]:
    tiny = args.tiny
    lat = 0.01 if tiny else 0.05  # "L": the added latency of the slow phases
    count = args.messages or (100 if tiny else 10_000)
    seq_seconds = 0.3 if tiny else 4.0
    rate_seconds = 1.2 if tiny else 5.0
    rates = (50.0, 100.0) if tiny else (200.0, 1000.0)
    bodies = make_bodies(max(count, int(max(rates) * rate_seconds)) + 1)
    payloads = write_payloads(folder / "payloads.jsonl", bodies[:count])
    campaign, data = write_campaign(folder, count)
    have_aiohttp = aiohttp_available()
    transports = ["httpx", "httpx-sharded"] + (["aiohttp"] if have_aiohttp else [])
    rows: list[Row] = []
    details: dict[str, Any] = {}
    lib: dict[str, dict[str, Any]] = {}
    profiles: list[dict[str, Any]] = []
    # (latency, in flight) of the two regimes; --tiny keeps httpx's pool small to stay quick.
    phases = ((lat, 25 if tiny else 100), (0.0, 16))
    tag = {lat: f"{lat * 1000:.0f}", 0.0: "0"}
    sandbox = Sandbox(folder / "record.jsonl")
    try:
        # 1. The sequential baseline.
        base: dict[float, float] = {}
        for latency, _ in phases:
            sandbox.configure(latency)
            log(f"sequential httpx.Client at {latency * 1000:.0f} ms")
            seq = sequential(sandbox, bodies, seq_seconds)
            base[latency] = seq["rate"]
            rows.append(
                row(f"seq@{tag[latency]}", "sequential httpx.Client (keep-alive)", latency, 1,
                    seq["messages"], seq["rate"], seq["rate"],
                    notes=f"client CPU {seq['cpu_us']:.0f} µs/msg")
            )  # fmt: skip

        # 2. The CLI end to end, and planning.
        source = ["--payloads", str(payloads)]
        for latency, conc in phases:
            sandbox.configure(latency)
            log(f"linepress send: {count} messages, {conc} in flight, {latency * 1000:.0f} ms")
            cpu0 = sandbox.cpu()
            out = cli_send(sandbox, folder, source, concurrency=conc)
            delivered = sandbox.stats()["deliveries"]
            times = sandbox.received()
            span = times[-1] - times[0] if len(times) > 1 else 0.0
            rate = count / out["wall"]
            need = conc // 2 if latency else 1  # 50× for 100 in flight: half the ceiling
            rows.append(
                row(f"cli@{tag[latency]}", "linepress send --payloads, end to end", latency, conc,
                    count, rate, base[latency], f"≥ {need}× seq",
                    rate >= need * base[latency] and delivered == count,
                    f"wall {out['wall']:.1f} s, sending span {span:.1f} s "
                    f"({(count - 1) / span if span else 0:,.0f}/s); CPU per message: client "
                    f"{out['cpu'] / count * 1e6:,.0f} µs (whole command), sandbox "
                    f"{(sandbox.cpu() - cpu0) / count * 1e6:.0f} µs; delivered {delivered}")
            )  # fmt: skip
            details[f"cli@{tag[latency]}"] = {**out, "span": span, "delivered": delivered}
        sandbox.configure(0.0)
        log("linepress send --progress at 0 ms")
        out = cli_send(sandbox, folder, source, concurrency=16, progress=True)
        rows.append(
            row("cli@0+progress", "same as cli@0, with --progress (stderr not a tty)", 0.0, 16,
                count, count / out["wall"], base[0.0], notes=f"wall {out['wall']:.1f} s")
        )  # fmt: skip
        log("planning: --dry-run (payloads, and definition + CSV)")
        startup = _startup(1 if tiny else 3)
        for key, argv, what in (
            ("plan", source, "--dry-run --payloads: planning"),
            (
                "plan-csv",
                [str(campaign), "--data", str(data)],
                "--dry-run DEF --data CSV: planning",
            ),
        ):
            out = cli_send(sandbox, folder, argv, concurrency=100, dry_run=True)
            options = (
                SendOptions(payloads=payloads, dry_run=True)
                if key == "plan"
                else SendOptions(definition=campaign, data=DataOptions(str(data)), dry_run=True)
            )
            timed = library_plan(options)
            planning = timed["planning"]
            rows.append(
                row(key, what, 0.0, 100, count, count / planning, None,
                    notes=f"msg/s = recipients planned per second, in process: {planning:.2f} s "
                    f"({planning / count * 1e6:.0f} µs/msg), then a dry-run dispatch of "
                    f"{timed['dispatch']:.2f} s; the CLI's --dry-run takes {out['wall']:.2f} s "
                    f"wall, of which start-up ≈ {startup:.2f} s (`linepress --help`)")
            )  # fmt: skip
            details[key] = {**out, "startup": startup, **timed}

        # 3 + 5. Library sends: the transports, and the journal's cost at 0 latency.
        for latency, conc in phases:
            for transport in transports:
                journal_pair = latency == 0.0 and transport != "httpx-sharded"
                modes = (False, True) if journal_pair else (False,)
                rounds = args.repeat if journal_pair else 1
                runs: dict[bool, list[dict[str, Any]]] = {mode: [] for mode in modes}
                for turn in range(rounds):  # real/no-op alternately, so drift hits both alike
                    for noop in modes if turn % 2 == 0 else modes[::-1]:
                        sandbox.configure(latency)
                        key = f"{transport}@{tag[latency]}" + ("-nojournal" if noop else "")
                        log(f"library send(): {key}, {count} messages, {conc} in flight")
                        out = library_send(
                            sandbox.url, payloads, folder / f"{key}-{turn}.db", transport=transport,
                            concurrency=conc, noop_journal=noop,
                        )  # fmt: skip
                        runs[noop].append(out)
                for noop in modes:
                    key = f"{transport}@{tag[latency]}" + ("-nojournal" if noop else "")
                    done = sorted(runs[noop], key=lambda out: out["rate"])
                    out = lib[key] = {**done[len(done) // 2], "rates": [o["rate"] for o in done]}
                    spread = (
                        f"median of {len(done)}: " + "/".join(f"{o['rate']:,.0f}" for o in done) + "; "
                        if len(done) > 1 else ""
                    )  # fmt: skip
                    commits = (
                        f"{out['commits']} commits, {out['rows_per_commit']:.1f} rows each, "
                        f"{out['commit_us']:.0f} µs each = {out['commit_share']:.0%} of the time"
                        if not noop else f"{out['commits']} commits skipped"
                    )  # fmt: skip
                    rows.append(
                        row(key, f"send(), {TRANSPORTS[transport]}"
                            + (", journal writes no-op" if noop else ""),
                            latency, conc, out["messages"], out["rate"], base[latency],
                            notes=f"{spread}client CPU {out['cpu_us']:,.0f} µs/msg while "
                            f"dispatching; {commits}")
                    )  # fmt: skip
            if not have_aiohttp:
                rows.append(
                    row(f"aiohttp@{tag[latency]}", "send(), AiohttpSender",
                        latency, conc, 0, None, base[latency], notes="aiohttp not installed")
                )  # fmt: skip
            if have_aiohttp:
                sandbox.configure(latency)
                log(f"bare aiohttp loop, {conc} in flight, {latency * 1000:.0f} ms")
                out = aiohttp_ceiling(sandbox, bodies[:count], conc)
                rows.append(
                    row(f"aiohttp-bare@{tag[latency]}", "bare aiohttp loop: no httpx, no journal",
                        latency, conc, out["messages"], out["rate"], base[latency],
                        notes=f"client CPU {out['cpu_us']:.0f} µs/msg: the ceiling for Python here")
                )  # fmt: skip
        for transport in ("httpx", "aiohttp"):
            if f"{transport}@0-nojournal" not in lib:
                continue
            real, noop = lib[f"{transport}@0"], lib[f"{transport}@0-nojournal"]
            cost = 1 - real["rate"] / noop["rate"]
            cpu = real["cpu_us"] - noop["cpu_us"]
            rows.append(
                row(f"journal-{transport}", f"journal cost with {TRANSPORTS[transport]}", 0.0, 16,
                    real["messages"], real["rate"] / noop["rate"], None, "cost ≤ 20%", cost <= 0.20,
                    f"msg/s column = real / no-op throughput (medians): the journal costs "
                    f"{cost:.0%} ({real['rate']:,.0f} vs {noop['rate']:,.0f}/s; {cpu:+.0f} µs "
                    f"CPU/msg); inside Journal.apply {real['commit_share']:.0%} of the time")
            )  # fmt: skip

        # 4. --rate accuracy: the CLI as shipped, then the Pacer with a transport that keeps up.
        conc = phases[0][1]
        for rate in rates:
            n = int(rate * rate_seconds)
            pay = write_payloads(folder / f"rate-{rate:.0f}.jsonl", bodies[:n])
            for how in ("cli", "aiohttp") if have_aiohttp else ("cli",):
                sandbox.configure(lat)
                key = f"rate-{rate:.0f}" + ("" if how == "cli" else "-aiohttp")
                log(f"{key}: {n} messages at {lat * 1000:.0f} ms")
                if how == "cli":
                    what = f"linepress send --rate {rate:.0f}"
                    cli_send(sandbox, folder, ["--payloads", str(pay)], concurrency=conc, rate=rate)
                else:
                    what = f"send(rate={rate:.0f}), the library"
                    library_send(
                        sandbox.url, pay, folder / f"{key}.db", transport="aiohttp",
                        concurrency=conc, rate=rate,
                    )  # fmt: skip
                w = windows(sandbox.received(), rate)
                details[key] = w
                rows.append(
                    row(key, f"{what} (msg/s: achieved overall)", lat, conc, n, w.get("overall"),
                        base[lat], f"{rate:.0f}/s ± 5%", w.get("ok"),
                        f"1 s windows ({w.get('windows')}): min {w.get('window_min')}, max "
                        f"{w.get('window_max')} (± 5% = {0.95 * rate:.0f}..{1.05 * rate:.0f}); "
                        f"first 100 ms: {w.get('first_100ms')} (evenly paced: {rate * 0.1:.0f})")
                )  # fmt: skip

        # 5b. Where the sender's CPU goes.
        if args.profile:
            sandbox.configure(0.0)
            for transport in ("httpx", "aiohttp") if have_aiohttp else ("httpx",):
                log(f"py-spy: send(), {transport}, 0 ms, 16 in flight")
                found = profile(sandbox, payloads, folder, transport, 16, args.profile_rate)
                if found is None:
                    log("py-spy is not installed: no profile")
                    break
                profiles.append(found)
                if args.keep_profiles and "raw" in found:
                    keep = Path(args.keep_profiles)
                    keep.mkdir(parents=True, exist_ok=True)
                    shutil.copy(found["raw"], keep / Path(found["raw"]).name)
    finally:
        sandbox.close()
    info = machine()
    info["load_after"] = os.getloadavg()
    return {
        "machine": info,
        "settings": {"latency": lat, "messages": count, "tiny": tiny, "rates": rates},
        "rows": rows,
        "details": details,
        "library": lib,
        "profiles": profiles,
    }


def _startup(tries: int) -> float:
    """Seconds for the CLI to start and exit (`linepress --help`), best of `tries`."""
    best = float("inf")
    for _ in range(tries):
        started = time.perf_counter()
        subprocess.run([*linepress_command(), "--help"], capture_output=True, check=True)
        best = min(best, time.perf_counter() - started)
    return best


# --- output ------------------------------------------------------------------------


def table(result: dict[str, Any]) -> str:
    m = result["machine"]
    versions = ", ".join(f"{k} {v}" for k, v in m["versions"].items() if v)
    missing = ", ".join(k for k, v in m["versions"].items() if not v)
    load = "/".join(f"{x:.1f}" for x in m["load_before"][:1] + m["load_after"][:1])
    lines = [
        f"linepress send benchmark, {m['date']}, {m['host']}: {m['cpu']}, {m['cores']} cores, "
        f"Python {m['python']}; load average before/after {load}",
        f"  {versions}" + (f"; not installed: {missing}" if missing else ""),
        "",
    ]
    head = ("id", "latency", "in flight", "msgs", "msg/s", "seq msg/s", "ratio", "target", "ok")
    body = []
    for r in result["rows"]:
        if r["rate"] is None:
            rate = "-"
        elif r["id"].startswith("journal-"):
            rate = f"{r['rate']:.2f}"
        else:
            rate = f"{r['rate']:,.0f}"
        body.append(
            (r["id"], f"{r['latency_ms']} ms", str(r["in_flight"]), str(r["messages"]), rate,
             "" if r["baseline"] is None else f"{r['baseline']:,.1f}",
             "" if r["ratio"] is None else f"{r['ratio']:.1f}×", r["target"],
             {True: "yes", False: "NO", None: ""}[r["ok"]])
        )  # fmt: skip
    widths = [max(len(cells[i]) for cells in [head, *body]) for i in range(len(head))]

    def fmt(cells: tuple[str, ...]) -> str:
        return "  ".join(
            cell.rjust(widths[i]) if i in (3, 4, 5, 6) else cell.ljust(widths[i])
            for i, cell in enumerate(cells)
        ).rstrip()

    lines += [fmt(head), "  ".join("-" * w for w in widths), *map(fmt, body), ""]
    lines += [f"  {r['id']}: {r['what']}. {r['notes']}".rstrip(". ") for r in result["rows"]]
    lib = result["library"]
    for latency in sorted({k.split("@")[1] for k in lib if "nojournal" not in k}, key=float):
        found = {t: lib[f"{t}@{latency}"]["rate"] for t in TRANSPORTS if f"{t}@{latency}" in lib}
        if len(found) > 1:
            base = found["httpx"]
            parts = ", ".join(f"{t} {r:,.0f}/s ({r / base:.1f}×)" for t, r in found.items())
            lines.append(f"\ntransports at {latency} ms: {parts}")
    for p in result["profiles"]:
        if "error" in p:
            lines.append(f"\nprofile: py-spy failed: {p['error']}")
            continue
        lines.append(
            f"\nwhere the sender's CPU goes while dispatching ({p['transport']}, 0 ms, 16 in flight, "
            f"{p['rate']:,.0f} msg/s, {p['cpu_us']:,.0f} µs CPU/msg; py-spy, {p['samples']} samples):"
        )
        lines += [f"  {share:6.1%}  {name}" for name, share in p["self"].items()]
        lines.append("  inclusive: " + "; ".join(f"{k} {s:.0%}" for k, s in p["inclusive"].items()))
    return "\n".join(lines)


def workers(args: argparse.Namespace, folder: Path, log: Callable[[str], None]) -> dict[str, Any]:
    """`--workers`: the shared PostgreSQL journal's rows (see bench/pgworkers.py)."""
    import pgworkers

    count = args.messages or (200 if args.tiny else 10_000)
    measured_on = machine()
    payloads = write_payloads(folder / "payloads.jsonl", make_bodies(count))
    sandbox = Sandbox(folder / "record.jsonl")
    try:
        rows = pgworkers.phases(
            sandbox=sandbox, linepress=linepress_command(), payloads=payloads, count=count,
            folder=folder, url=args.journal_url, tiny=args.tiny, key=KEY, row=row, windows=windows,
            log=log, parts=("journal",) if args.journal_cost else tuple(args.parts.split(",")),
            repeat=args.repeat,
        )  # fmt: skip
    finally:
        sandbox.close()
    measured_on["load_after"] = os.getloadavg()
    return {"machine": measured_on, "rows": rows, "details": {}, "library": {}, "profiles": []}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, help="messages per phase (10,000; 200 with --tiny)")
    parser.add_argument("--tiny", action="store_true", help="a few hundred messages, 10 ms (CI)")
    parser.add_argument("--json", type=Path, help="also write every figure here")
    parser.add_argument(
        "--profile", action=argparse.BooleanOptionalAction, default=None,
        help="profile the sender with py-spy, when installed (default: on; off with --tiny)",
    )  # fmt: skip
    parser.add_argument(
        "--repeat", type=int, help="real/no-op journal runs, median taken (3; 1 with --tiny)"
    )
    parser.add_argument("--profile-rate", type=int, default=250, help="py-spy samples per second")
    parser.add_argument("--keep-profiles", metavar="DIR", help="keep py-spy's raw stacks here")
    parser.add_argument("--profile-child", help=argparse.SUPPRESS)
    parser.add_argument(
        "--workers", action="store_true",
        help="only the shared-journal rows: 1, 2 and 4 workers on PostgreSQL (bench/pgworkers.py)",
    )  # fmt: skip
    parser.add_argument(
        "--journal-url", help="with --workers: this database (default: a throw-away cluster)"
    )
    parser.add_argument(
        "--parts", default="workers,rate,journal",
        help="with --workers: which rows (workers: 1, 2, 4 workers' throughput; rate: "
        "--rate for the campaign; journal: the journal's cost), comma-separated",
    )  # fmt: skip
    parser.add_argument(
        "--journal-cost", action="store_true",
        help="only the one-worker rows of --workers: SQLite vs PostgreSQL journal, --repeat "
        "alternated runs at 50 and 0 ms",
    )  # fmt: skip
    parser.add_argument(
        "--pacing", action="store_true",
        help="run the adaptive-pacing phases instead (bench/pacing.py: limits 50, 200, "
        "1,000/s with and without Retry-After, and a changing one)",
    )  # fmt: skip
    parser.add_argument("--chart", type=Path, help="with --pacing: write the PNG chart here")
    args = parser.parse_args()
    if args.pacing:
        from pacing import main as pacing_main  # bench/ is on sys.path when run as a script

        argv = ["--tiny"] if args.tiny else []
        argv += ["--chart", str(args.chart)] if args.chart else []
        argv += ["--json", str(args.json)] if args.json else []
        pacing_main(argv)
        return
    if args.profile_child:
        child(args.profile_child)
        return
    if args.profile is None:
        args.profile = not args.tiny
    if args.repeat is None:
        args.repeat = 1 if args.tiny else 3

    # A plain SIGTERM would skip the `finally` that stops the sandbox subprocess.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    def log(text: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory(prefix="linepress-bench-send-") as folder:
        shared = args.workers or args.journal_cost
        result = workers(args, Path(folder), log) if shared else run(args, Path(folder), log)
    print(table(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
