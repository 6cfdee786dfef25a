"""`bench/send.py --workers`: several `linepress send` processes sharing a PostgreSQL journal.

Rows:

- `pg-workers-N`: N workers (1, 2, 4) started together on one campaign of M messages
  (`--payloads`), 100 in flight each, against the sandbox at 50 ms added latency (10 ms
  with --tiny). Messages/s is M over the span from the first to the last delivery at
  the sandbox (planning, done once, is excluded), and over the wall clock from the
  first start to the last exit. Checked: every message delivered exactly once.
- `pg-rate-N`: N workers (1, 2, 4) with `--rate R` (200/s; 100/s with --tiny), the
  campaign's rate, counted at the sandbox's record after the campaign's first second
  (target: within 10% of R), with each whole 1-second window after the first, and the
  whole span beside it.
- `journal-sqlite@50`, `journal-pg@50`: one worker, 100 in flight, 50 ms latency (10 ms
  and 25 with --tiny), the same messages with the SQLite journal and with the PostgreSQL
  one (target: the PostgreSQL journal within 25% of SQLite's sending span).
- `journal-sqlite@0`, `journal-pg@0`: the same with 16 in flight at 0 ms latency, where
  the journal's cost shows most (as close as it gets).

The journal rows are `--repeat` runs (3 by default), SQLite and PostgreSQL alternated, so
a burst of load elsewhere on the machine hits both: each row gives the median and the
spread (lowest–highest), and the cost is the median of each pair's ratio. `--journal-cost`
runs only these rows.

The database is `--journal-url` when given, else a throw-away cluster started the way
the tests start one (tests/postgres.py: PostgreSQL's binaries from /usr/lib/postgresql,
a Unix socket in a temp folder, fsync on as a real server would have it).
"""

from __future__ import annotations

import contextlib
import os
import statistics
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))


@contextlib.contextmanager
def database(url: str | None) -> Iterator[str]:
    """`url`, or a throw-away cluster's database (with fsync, unlike the tests' cluster)."""
    if url:
        yield url
        return
    from postgres import throwaway_cluster

    with throwaway_cluster(durable=True) as cluster:
        yield cluster.dsn("postgres")


def _workers(
    sandbox: Any,
    linepress: list[str],
    payloads: Path,
    url: str,
    workers: int,
    concurrency: int,
    key: str,
    rate: float | None = None,
) -> dict[str, Any]:
    campaign = f"bench-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "INFOBIP_BASE_URL": sandbox.url, "INFOBIP_API_KEY": key}
    argv = [*linepress, "send", "--payloads", str(payloads), "--journal", url,
            "--campaign", campaign, "--concurrency", str(concurrency), "--no-progress"]  # fmt: skip
    if rate is not None:
        argv += ["--rate", str(rate)]
    started = time.perf_counter()
    processes = [
        subprocess.Popen(
            argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
        for _ in range(workers)
    ]
    errors = [p.communicate(timeout=3600)[1] for p in processes]
    wall = time.perf_counter() - started
    failed = [e for p, e in zip(processes, errors, strict=True) if p.returncode != 0]
    if failed:
        raise SystemExit(f"a worker failed: {failed[0][-2000:]}")
    return {"wall": wall}


def _sqlite(
    sandbox: Any, linepress: list[str], payloads: Path, folder: Path, key: str, concurrency: int
) -> float:
    journal = folder / f"{uuid.uuid4().hex[:8]}.db"
    env = {**os.environ, "INFOBIP_BASE_URL": sandbox.url, "INFOBIP_API_KEY": key}
    argv = [*linepress, "send", "--payloads", str(payloads), "--journal", str(journal),
            "--concurrency", str(concurrency), "--no-progress"]  # fmt: skip
    started = time.perf_counter()
    subprocess.run(argv, env=env, capture_output=True, check=True, timeout=3600)
    return time.perf_counter() - started


def _span(sandbox: Any) -> float:
    times = sandbox.received()
    return times[-1] - times[0] if len(times) > 1 else 0.0


def _exactly_once(sandbox: Any, count: int) -> bool:
    seen: Counter[str] = Counter()
    with sandbox.record.open("rb") as handle:
        for line in handle:
            if line.strip():
                seen[str(orjson.loads(line)["to"])] += 1
    return len(seen) == count and set(seen.values()) == {1}


def phases(
    *,
    sandbox: Any,
    linepress: list[str],
    payloads: Path,
    count: int,
    folder: Path,
    url: str | None,
    tiny: bool,
    key: str,
    row: Callable[..., dict[str, Any]],
    windows: Callable[[list[float], float], dict[str, Any]],
    log: Callable[[str], None],
    parts: tuple[str, ...] = ("workers", "rate", "journal"),
    repeat: int = 3,
) -> list[dict[str, Any]]:
    """The shared-journal rows (see the module's docstring); `parts` picks which."""
    rows: list[dict[str, Any]] = []
    latency = 0.01 if tiny else 0.05
    concurrency = 25 if tiny else 100
    with database(url) as dsn:
        if "workers" in parts:
            _throughput(rows, sandbox, linepress, payloads, count, dsn, latency, concurrency,
                        key, row, log)  # fmt: skip
        if "rate" in parts:
            _rate(rows, sandbox, linepress, payloads, count, folder, dsn, tiny, key, row,
                  windows, log)  # fmt: skip
        if "journal" in parts:
            for at, inflight in ((latency, concurrency), (0.0, 16)):
                _journal_cost(rows, sandbox, linepress, payloads, count, folder, dsn, at,
                              inflight, key, row, log, repeat)  # fmt: skip
    return rows


def _throughput(
    rows: list[dict[str, Any]], sandbox: Any, linepress: list[str], payloads: Path, count: int,
    dsn: str, latency: float, concurrency: int, key: str, row: Callable[..., dict[str, Any]],
    log: Callable[[str], None],
) -> None:  # fmt: skip
    """`pg-workers-N`: 1, 2, 4 workers on one campaign, messages/s over the sending span."""
    base: float | None = None
    for workers in (1, 2, 4):
        sandbox.configure(latency)
        log(f"{workers} worker(s) on one PostgreSQL campaign: {count} messages")
        out = _workers(sandbox, linepress, payloads, dsn, workers, concurrency, key)
        span = _span(sandbox)
        once = _exactly_once(sandbox, count)
        rate = (count - 1) / span if span else 0.0
        base = base or rate
        rows.append(
            row(f"pg-workers-{workers}", f"{workers} × linepress send, one PostgreSQL journal",
                latency, concurrency * workers, count, rate, None, "each message once", once,
                f"sending span {span:.1f} s; wall {out['wall']:.1f} s "
                f"({count / out['wall']:,.0f}/s with start-up and planning); "
                f"{rate / base:.2f}× one worker")
        )  # fmt: skip


def _rate(
    rows: list[dict[str, Any]], sandbox: Any, linepress: list[str], payloads: Path, count: int,
    folder: Path, dsn: str, tiny: bool, key: str, row: Callable[..., dict[str, Any]],
    windows: Callable[[list[float], float], dict[str, Any]], log: Callable[[str], None],
) -> None:  # fmt: skip
    """`pg-rate-N`: 1, 2, 4 workers with the campaign's `--rate`."""
    target = 100.0 if tiny else 200.0
    # About 15 s of sending at the target rate (3 s with --tiny) is plenty of windows.
    paced = min(count, int(target * (3 if tiny else 15)))
    rate_payloads = folder / "paced.jsonl"
    with payloads.open("rb") as source, rate_payloads.open("wb") as out:
        for _, line in zip(range(paced), source, strict=False):
            out.write(line)
    for workers in (1, 2, 4):
        sandbox.configure(0.0)
        log(f"{workers} worker(s), --rate {target:.0f} for the campaign")
        _workers(sandbox, linepress, rate_payloads, dsn, workers, 16, key, rate=target)
        times = sandbox.received()
        found = windows(times, target)
        seconds = _seconds(times)
        after = _after_first_second(times)
        within = sum(abs(c / target - 1) <= 0.10 for c in seconds)
        rows.append(
            row(f"pg-rate-{workers}", f"{workers} × linepress send --rate {target:.0f}, one "
                "campaign (after its first second)", 0.0, 16 * workers, paced, after, None,
                "within 10% of --rate", abs(after / target - 1) <= 0.10,
                f"whole span {found.get('overall') or 0:.0f}/s over {found.get('span', 0):.1f} s; "
                f"whole 1-second windows after the first: {within} of {len(seconds)} within 10%, "
                f"{min(seconds, default=0)}–{max(seconds, default=0)} messages "
                f"(median {statistics.median(seconds) if seconds else 0:.0f}); sliding "
                f"windows {found.get('window_min')}–{found.get('window_max')}")
        )  # fmt: skip


def _after_first_second(times: list[float]) -> float:
    """Deliveries per second from one second after the first to the last."""
    if len(times) < 2 or times[-1] - times[0] <= 1.0:
        return 0.0
    start = times[0] + 1.0
    return sum(t >= start for t in times) / (times[-1] - start)


def _seconds(times: list[float]) -> list[int]:
    """Deliveries in each whole 1-second window after the first second: [1, 2), [2, 3), …"""
    if not times:
        return []
    counts = Counter(int(t - times[0]) for t in times)
    last = int(times[-1] - times[0])  # the last window is cut short by the end: left out
    return [counts.get(k, 0) for k in range(1, last)]


def _journal_cost(
    rows: list[dict[str, Any]], sandbox: Any, linepress: list[str], payloads: Path, count: int,
    folder: Path, dsn: str, at: float, inflight: int, key: str,
    row: Callable[..., dict[str, Any]], log: Callable[[str], None], repeat: int,
) -> None:  # fmt: skip
    """`journal-sqlite@L`, `journal-pg@L`: one worker, alternated runs, medians and spread."""
    spans: dict[str, list[float]] = {"sqlite": [], "pg": []}
    walls: dict[str, list[float]] = {"sqlite": [], "pg": []}
    for attempt in range(max(1, repeat)):
        for name in ("sqlite", "pg") if attempt % 2 == 0 else ("pg", "sqlite"):
            sandbox.configure(at)
            log(f"one worker, {name} journal, {at * 1000:.0f} ms, {inflight} in flight "
                f"(run {attempt + 1} of {repeat})")  # fmt: skip
            if name == "sqlite":
                wall = _sqlite(sandbox, linepress, payloads, folder, key, inflight)
            else:
                wall = _workers(sandbox, linepress, payloads, dsn, 1, inflight, key)["wall"]
            spans[name].append(_span(sandbox))
            walls[name].append(wall)
    rates = {name: [(count - 1) / s for s in found if s] for name, found in spans.items()}
    # Each pair's ratio (the runs next to each other), then their median.
    costs = [p / q - 1 for p, q in zip(spans["pg"], spans["sqlite"], strict=True) if q]
    cost = statistics.median(costs) if costs else None
    for name in ("sqlite", "pg"):
        found = rates[name]
        rows.append(
            row(f"journal-{name}@{at * 1000:.0f}", f"one worker, the {name} journal", at,
                inflight, count, statistics.median(found) if found else 0.0, None,
                "≤ 25% slower than sqlite" if name == "pg" else "",
                None if name != "pg" or cost is None else cost <= 0.25,
                f"median of {len(found)} alternated runs, spread "
                f"{min(found, default=0):,.0f}–{max(found, default=0):,.0f}/s; "
                f"wall {statistics.median(walls[name]):.1f} s"
                + ("" if name != "pg" or cost is None else
                   f"; {cost:+.0%} against sqlite (pairs: "
                   + ", ".join(f"{c:+.0%}" for c in costs) + ")"))
        )  # fmt: skip
