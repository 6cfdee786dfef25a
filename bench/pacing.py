"""Adaptive pacing against an unknown rate limit: the phases of `bench/send.py --pacing`.

    .venv/bin/python bench/send.py --pacing                 # ~6 min: the table and the chart
    .venv/bin/python bench/pacing.py --seconds 30 --chart docs/pacing.png --json pacing.json
    .venv/bin/python bench/pacing.py --tiny                 # a few seconds (CI)

The sandbox runs in its own process with a token bucket (`limit_rate` R, `limit_burst`
20) and 20 ms latency; `linepress send --payloads FILE --concurrency 64`, with no
`--rate`, sends R x `--seconds` messages (at least 2,000) as the CLI ships. Phases:

- `limit-R`, `limit-R+ra`: R = 50, 200, 1,000; 429s without and with `Retry-After: 1`.
- `change`: the limit moves 200 -> 50 -> 400 (each for a third of `--seconds`, at
  least 8 s) while the sender runs, set through `POST /sandbox/faults`.
- `unpaced`, first and last: no limit at all, the same sender and sandbox: what this
  machine can deliver right now (the ceiling). Each phase's ratio is also given against
  min(R, ceiling), a ratio of ratios: on a loaded machine, R = 1,000 may be above what
  the sender and the sandbox can do together, and that is not the pacer's gap.

From the sandbox's record (`received_at` of every delivery) and its counters:
delivered/s over the run (first to last delivery) as a ratio of R; throttled requests
(429 answers) as a share of messages; for `change`, the time after each change until
every later 1-second window is within 10% of the new limit (`settle`). The chart plots
deliveries per 250 ms against the limit for each phase (matplotlib: `pip install -e
'.[bench]'`; without it, no chart).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from send import KEY, Sandbox, linepress_command, make_bodies, write_payloads

LATENCY = 0.02
BURST = 20
CONCURRENCY = 64
BIN = 0.25  # seconds per point on the chart
TARGETS = {"ratio": 0.90, "ratio_ra": 0.80, "throttled": 0.03, "settle": 5.0}


def send_payloads(sandbox: Sandbox, payloads: Path, folder: Path) -> subprocess.Popen[str]:
    """`linepress send --payloads` as shipped (adaptive pacing on, no --rate), started."""
    journal = Path(tempfile.mkstemp(dir=folder, suffix=".db")[1])
    journal.unlink()
    argv = [*linepress_command(), "send", "--payloads", str(payloads), "--journal", str(journal)]
    argv += ["--concurrency", str(CONCURRENCY), "--no-progress", "--max-attempts", "100"]
    env = {**os.environ, "INFOBIP_BASE_URL": sandbox.url, "INFOBIP_API_KEY": KEY}
    return subprocess.Popen(
        argv, env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True
    )


def faults(limit: float | None, retry_after: int | None) -> dict[str, Any]:
    return {
        "latency": LATENCY,
        "limit_rate": limit,
        "limit_burst": BURST,
        "retry_after": retry_after,
    }


def series(times: list[float], start: float) -> list[tuple[float, float]]:
    """(seconds since start, deliveries/s) per `BIN`."""
    if not times:
        return []
    count = int((times[-1] - start) / BIN) + 1
    bins = [0] * count
    for t in times:
        bins[min(int((t - start) / BIN), count - 1)] += 1
    return [(i * BIN, n / BIN) for i, n in enumerate(bins)]


def window_rate(times: list[float], start: float, end: float) -> float:
    import bisect

    return (bisect.bisect_left(times, end) - bisect.bisect_left(times, start)) / (end - start)


def settle_time(times: list[float], change: float, until: float, limit: float) -> float | None:
    """Seconds after `change` from which every 1-s window up to `until` is within 10% of limit."""
    step = 0.05
    t = until - 1.0
    settled: float | None = None
    while t >= change:
        if abs(window_rate(times, t, t + 1.0) - limit) > 0.1 * limit:
            break
        settled = t
        t -= step
    return None if settled is None else settled - change


def phase(
    sandbox: Sandbox,
    folder: Path,
    name: str,
    schedule: list[tuple[float, float]],
    retry_after: int | None,
    messages: int,
    log: Any,
) -> dict[str, Any]:
    """One run: `schedule` is [(seconds after start, limit)], the first at 0."""
    payloads = write_payloads(folder / f"{name}.jsonl", make_bodies(messages))
    sandbox.control.post("/sandbox/faults", json=faults(schedule[0][1], retry_after))
    sandbox.control.post("/sandbox/reset").raise_for_status()
    log(f"{name}: {messages} messages, limit {' -> '.join(str(lim) for _, lim in schedule)}/s")
    process = send_payloads(sandbox, payloads, folder)
    changes: list[tuple[float, float]] = [(time.time(), schedule[0][1])]

    def change_limits() -> None:
        # The schedule counts from the first delivery, not from the CLI's start-up.
        while process.poll() is None and not sandbox.stats()["deliveries"]:
            time.sleep(0.01)
        started = time.time()
        for at, limit in schedule[1:]:
            delay = started + at - time.time()
            if delay > 0:
                time.sleep(delay)
            if process.poll() is not None:
                return
            sandbox.control.post("/sandbox/faults", json=faults(limit, retry_after))
            changes.append((time.time(), limit))

    changer = threading.Thread(target=change_limits, daemon=True)
    changer.start()
    _, stderr = process.communicate(timeout=3600)
    changer.join()
    if process.returncode != 0:
        raise SystemExit(f"linepress send failed ({process.returncode}): {stderr[-2000:]}")
    times = sandbox.received()
    stats = sandbox.stats()
    throttled = stats["status"].get("429", 0)
    first, last = times[0], times[-1]
    result: dict[str, Any] = {
        "messages": messages,
        "delivered": len(times),
        "seconds": last - first,
        "throttled": throttled,
        "throttled_share": throttled / messages,
        "retry_after": retry_after,
        "summary": stderr.strip().splitlines()[-1] if stderr.strip() else "",
        "series": series(times, first),
        "limits": [(at - first, limit) for at, limit in changes],
    }
    if len(schedule) == 1:
        result["ratio"] = len(times) / (last - first) / schedule[0][1]
    else:
        result["settle"] = []
        bounds = [*[at for at, _ in changes[1:]], last]
        for (at, limit), until in zip(changes[1:], bounds[1:], strict=True):
            result["settle"].append(settle_time(times, at, until, limit))
        # Over the run, against the limit in force at each moment.
        allowed = sum(
            limit * (min(end, last) - max(at, first))
            for (at, limit), end in zip(changes, [*bounds], strict=True)
        )
        result["ratio"] = len(times) / allowed
    log(f"{name}: ratio {result['ratio']:.2f}, throttled {result['throttled_share']:.1%}")
    return result


def unpaced(sandbox: Sandbox, folder: Path, name: str, messages: int, log: Any) -> dict[str, Any]:
    """The ceiling: the same send with no limit; delivered/s from first to last delivery."""
    payloads = write_payloads(folder / f"{name}.jsonl", make_bodies(messages))
    sandbox.control.post("/sandbox/faults", json=faults(None, None))
    sandbox.control.post("/sandbox/reset").raise_for_status()
    log(f"{name}: {messages} messages, no limit")
    process = send_payloads(sandbox, payloads, folder)
    _, stderr = process.communicate(timeout=3600)
    if process.returncode != 0:
        raise SystemExit(f"linepress send failed ({process.returncode}): {stderr[-2000:]}")
    times = sandbox.received()
    rate = len(times) / max(times[-1] - times[0], 1e-9)
    log(f"{name}: {rate:,.0f}/s")
    return {
        "messages": messages,
        "delivered": len(times),
        "seconds": times[-1] - times[0],
        "rate": rate,
        "throttled": sandbox.stats()["status"].get("429", 0),
        "series": series(times, times[0]),
    }


def against_ceiling(results: dict[str, Any], ceiling: float) -> None:
    """Each phase's delivered/s as a share of min(limit, ceiling) over the run."""
    for r in results.values():
        if "limits" not in r:
            continue
        bounds = [*[at for at, _ in r["limits"][1:]], r["seconds"]]
        allowed = sum(
            min(limit, ceiling) * max(0.0, min(end, r["seconds"]) - max(at, 0.0))
            for (at, limit), end in zip(r["limits"], bounds, strict=True)
        )
        r["ceiling"] = ceiling
        r["ratio_ceiling"] = r["delivered"] / allowed if allowed else None


def run(seconds: float, tiny: bool, log: Any, folder: Path, limits: list[int]) -> dict[str, Any]:
    record = folder / "record.jsonl"
    sandbox = Sandbox(record)
    results: dict[str, Any] = {}
    ceiling_messages = 300 if tiny else max(int(1000 * seconds / 5), 3000)
    try:
        ceilings = [unpaced(sandbox, folder, "unpaced", ceiling_messages, log)]
        limits = [200] if tiny else limits
        for limit in limits:
            for retry_after in (None, 1):
                name = f"limit-{limit}" + ("+ra" if retry_after else "")
                messages = max(int(limit * seconds), 300 if tiny else 2000)
                results[name] = phase(
                    sandbox, folder, name, [(0.0, limit)], retry_after, messages, log
                )
        third = 1.0 if tiny else max(seconds / 3, 8.0)
        messages = int((200 + 50 + 400) * third)
        results["change"] = phase(
            sandbox,
            folder,
            "change",
            [(0.0, 200), (third, 50), (2 * third, 400)],
            None,
            messages,
            log,
        )
        ceilings.append(unpaced(sandbox, folder, "unpaced-end", ceiling_messages, log))
    finally:
        sandbox.close()
    # The machine's load drifts: the phases ran between the two measures.
    ceiling = sum(c["rate"] for c in ceilings) / len(ceilings)
    against_ceiling(results, ceiling)
    results["unpaced"], results["unpaced-end"] = ceilings
    return results


def table(results: dict[str, Any], when: str) -> str:
    lines = [
        "| phase | delivered/s ÷ limit | ÷ min(limit, unpaced) | throttled ÷ messages "
        "| settle after each change | target |",
        "| --- | ---: | ---: | ---: | --- | --- |",
    ]
    for name, r in results.items():
        if name.startswith("unpaced"):
            continue
        target = "≥ 0.80, ≤ 3%" if r["retry_after"] else "≥ 0.90, ≤ 3%"
        settle = ""
        if "settle" in r:
            settle = ", ".join("never" if s is None else f"{s:.1f} s" for s in r["settle"])
            target += ", ≤ 5 s"
        of_ceiling = r.get("ratio_ceiling")
        lines.append(
            f"| `{name}` | {r['ratio']:.2f} | "
            f"{'' if of_ceiling is None else f'{of_ceiling:.2f}'} | {r['throttled_share']:.1%} "
            f"({r['throttled']:,}/{r['messages']:,}) | {settle} | {target} |"
        )
    first, last = results.get("unpaced"), results.get("unpaced-end")
    if first and last:
        lines.append(
            f"\nUnpaced (no limit, same sender and sandbox): {first['rate']:,.0f}/s before the "
            f"phases, {last['rate']:,.0f}/s after; their mean is the ceiling."
        )
    lines.append(f"\n{when}")
    return "\n".join(lines)


def chart(results: dict[str, Any], path: Path) -> bool:
    """Deliveries per 250 ms against the limit, one panel per phase; False without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    names = [name for name in results if not name.startswith("unpaced")]
    columns = 2
    rows = -(-len(names) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(11, 2.6 * rows), squeeze=False)
    for index, name in enumerate(names):
        ax = axes[index // columns][index % columns]
        r = results[name]
        xs = [x for x, _ in r["series"]]
        ys = [y for _, y in r["series"]]
        ax.plot(xs, ys, linewidth=0.9, label="delivered/s (per 250 ms)")
        limits = r["limits"]
        end = xs[-1] if xs else 1.0
        for i, (at, limit) in enumerate(limits):
            stop = limits[i + 1][0] if i + 1 < len(limits) else end
            ax.hlines(
                limit, max(at, 0.0), stop, colors="black", linestyles="--", linewidth=0.9,
                label="limit" if i == 0 else None,
            )  # fmt: skip
        if r.get("ceiling") and r["ceiling"] < 1.5 * max(limit for _, limit in limits):
            ax.axhline(
                r["ceiling"], color="grey", linestyle=":", linewidth=0.9,
                label="unpaced (this machine)",
            )  # fmt: skip
        ax.set_title(
            f"{name}: {r['ratio']:.2f} of the limit, {r['throttled_share']:.1%} throttled",
            fontsize=9,
        )
        ax.set_xlabel("seconds", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.set_ylim(bottom=0)
        if index == 0:
            ax.legend(fontsize=7, loc="lower right")
    for index in range(len(names), rows * columns):
        axes[index // columns][index % columns].axis("off")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=90)
    plt.close(figure)
    return True


def describe_machine() -> str:
    cpus = os.cpu_count()
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"{stamp}, {platform.machine()}, {cpus} cores, Python {platform.python_version()}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="length of a phase at R")
    parser.add_argument("--limits", default="50,200,1000", help="the limits R to try")
    parser.add_argument("--tiny", action="store_true", help="one limit, a few seconds (CI)")
    parser.add_argument("--chart", type=Path, help="write the PNG chart here")
    parser.add_argument("--json", type=Path, help="also write every figure here")
    args = parser.parse_args(argv)
    if args.tiny:
        args.seconds = 1.5

    def log(text: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory(prefix="linepress-bench-pacing-") as folder:
        limits = [int(x) for x in args.limits.split(",")]
        results = run(args.seconds, args.tiny, log, Path(folder), limits)
    when = f"Measured {describe_machine()}; `bench/send.py --pacing` (`bench/pacing.py`)."
    print(table(results, when))
    if args.chart is not None:
        if chart(results, args.chart):
            log(f"chart: {args.chart}")
        else:
            log("no chart: matplotlib is not installed (pip install -e '.[bench]')")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
