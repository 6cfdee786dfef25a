"""The adaptive pacer, driven deterministically: a fake clock and a simulated token bucket.

No test here reads a real clock: `pacing_sim` runs the pacer's own slot logic against a
token bucket in virtual time, so "converges to 0.9 of the limit" is a count of virtual
answers, the same on a loaded machine as on an idle one.
"""

from __future__ import annotations

import asyncio
import bisect
import itertools
import math

import pytest
from pacing_sim import simulate

from linepress.send.pacing import CATCH_UP, Pacer, PaceState, RateWindow


def delivered_ratio(run_end: float, messages: int, limit: float) -> float:
    return messages / run_end / limit


@pytest.mark.parametrize("limit", [50, 200, 1000])
def test_it_converges_near_an_unknown_limit(limit: int) -> None:
    messages = 20 * limit  # 20 s at the limit
    run = simulate(messages, lambda t: limit)
    assert delivered_ratio(run.end, messages, limit) >= 0.9
    assert run.throttled <= 0.03 * messages
    # Settled: every later second delivers near the limit, none far above it.
    for start in range(5, int(run.end) - 1):
        assert 0.85 * limit <= run.delivered_rate(start, start + 1) <= 1.25 * limit, start


@pytest.mark.parametrize("limit", [50, 200, 1000])
def test_with_retry_after_it_pauses_rarely(limit: int) -> None:
    messages = 30 * limit
    run = simulate(messages, lambda t: limit, retry_after=1.0)
    assert delivered_ratio(run.end, messages, limit) >= 0.8
    assert run.throttled <= 0.03 * messages


def test_a_pause_ends_paced_not_in_a_burst() -> None:
    # 64 requests wait through each Retry-After pause; after it they leave one slot apart.
    run = simulate(4000, lambda t: 200, retry_after=1.0, concurrency=64)
    starts = [t for t, _ in run.starts]
    gaps = [(b - a, b) for a, b in itertools.pairwise(starts) if b - a > 0.5]
    assert gaps, "the run had no pause"
    for _, resumed in gaps:
        after = [t for t in starts if resumed <= t < resumed + 0.1]
        pace = dict(run.starts)[resumed]
        # A burst would be the whole concurrency at once; paced is pace x 0.1 s.
        assert len(after) <= pace * 0.1 + 2, (resumed, len(after), pace)


def test_it_follows_a_limit_that_changes() -> None:
    def limit(t: float) -> float:
        return 200 if t < 10 else (50 if t < 20 else 400)

    run = simulate(200 * 10 + 50 * 10 + 400 * 10, limit)
    assert run.end >= 25
    for start, end, target in ((15, 20, 50), (25, int(run.end), 400)):
        rate = run.delivered_rate(start, end)
        assert 0.85 * target <= rate <= 1.1 * target, (start, rate)
    assert run.throttled <= 0.03 * (200 * 10 + 50 * 10 + 400 * 10)


def settle_time(run_accepted: list[float], change: float, until: float, limit: float) -> float:
    """Seconds after `change` from which every 1-s window up to `until` is within 10%."""
    times = sorted(run_accepted)
    t, settled = until - 1.0, until
    while t >= change:
        window = bisect.bisect_left(times, t + 1.0) - bisect.bisect_left(times, t)
        if abs(window - limit) > 0.1 * limit:
            break
        settled, t = t, t - 0.05
    return settled - change


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_limit_that_rises_is_found_within_5_s(seed: int) -> None:
    # 200 -> 50 -> 400, 10 s each: after the rise every 1-s window from 5 s on is within
    # 10% of 400 (the plateau at 50 probes, and past 1.5x it the probe doubles).
    def limit(t: float) -> float:
        return 200 if t < 10 else (50 if t < 20 else 400)

    run = simulate(6500, limit, seed=seed)
    assert settle_time(run.accepted_at, 20.0, run.end, 400) <= 5.0
    assert settle_time(run.accepted_at, 10.0, 20.0, 50) <= 5.0
    assert run.throttled <= 0.03 * 6500


def test_stalls_on_the_way_do_not_walk_the_pace_down() -> None:
    # A loaded machine: twice a second the endpoint stalls ~20 ms, then takes what queued
    # at once, and its bucket of 20 (20 ms at 1,000/s) answers 429 to a sender that never
    # exceeded the limit. Those 429s are noise: the pace stays near the limit (it used to
    # wander down to 600-800/s, about 0.75 of it over a run).
    ratios = []
    for seed in range(6):
        run = simulate(20_000, lambda t: 1000, stalls=2.0, stall_length=0.02, seed=seed)
        ratios.append(delivered_ratio(run.end, 20_000, 1000))
        assert run.throttled <= 0.03 * 20_000
    assert sum(ratios) / len(ratios) >= 0.8, ratios
    assert min(ratios) >= 0.7, ratios


@pytest.mark.parametrize("limit", [200, 1000])
def test_a_sender_short_of_cpu_is_not_read_as_a_lower_limit(limit: int) -> None:
    # The machine lets the sender start 0.6-1.25x the limit's requests/s, varying over
    # seconds, and the endpoint stalls twice a second: what the endpoint accepted while
    # the CPU bound us is no measure of its limit, so the run delivers near
    # min(limit, what the CPU allows) at each moment.
    def cpu(t: float) -> float:
        return limit * (0.925 + 0.325 * math.sin(t / 2.0))

    ratios = []
    for seed in range(4):
        run = simulate(
            20 * limit, lambda t: limit, stalls=2.0, stall_length=0.02, seed=seed, sender=cpu
        )
        allowed = sum(min(limit, cpu(i / 100)) for i in range(int(run.end * 100))) / 100
        ratios.append(20 * limit / allowed)
        assert run.throttled <= 0.03 * 20 * limit
    assert sum(ratios) / len(ratios) >= 0.85, ratios


def test_with_retry_after_a_stable_limit_is_probed_less_and_less() -> None:
    # Each probe that finds the limit where it was cost a whole pause: the next one waits
    # twice as long. After the first 10 s, a 60-s run at 200/s pauses at most 4 times
    # (it paused 7 times when every probe came as soon as the last).
    run = simulate(200 * 60, lambda t: 200, retry_after=1.0)
    starts = [t for t, _ in run.starts]
    pauses = [b for a, b in itertools.pairwise(starts) if b - a > 0.5 and b > 10]
    assert len(pauses) <= 4, pauses
    assert delivered_ratio(run.end, 200 * 60, 200) >= 0.85


def test_the_ceiling_holds_and_the_start_is_the_ceiling() -> None:
    run = simulate(1000, lambda t: 1000, ceiling=100)
    assert run.throttled == 0
    for start in range(int(run.end) - 1):
        assert run.delivered_rate(start, start + 1) <= 101
    assert 0.95 <= delivered_ratio(run.end, 1000, 100) <= 1.01


def test_without_a_limit_concurrency_is_the_bound_and_the_pace_does_not_run_away() -> None:
    clock = [0.0]
    pacers: list[Pacer] = []

    def make(now: object) -> Pacer:
        pacers.append(Pacer(clock=now))  # type: ignore[arg-type]
        return pacers[-1]

    del clock
    # 4 in flight at 20 ms: 200/s at most, whatever the pacer allows.
    run = simulate(2000, lambda t: 1e9, burst=1e9, concurrency=4, jitter=0.0, make_pacer=make)
    assert run.throttled == 0
    assert run.delivered_rate(3, 8) >= 190
    rate = pacers[0].rate
    assert rate is not None and rate <= 8 * 200  # slow start stops at 8x what was sent


def test_a_storm_of_429s_is_not_mistaken_for_a_tiny_limit() -> None:
    # Everything refused for 2 s, then no limit: the pacer must come back up quickly.
    run = simulate(2000, lambda t: 1e-4 if t < 2 else 1e9, burst=1.0, concurrency=16, latency=0.005)
    assert run.end < 6


@pytest.mark.parametrize("limit", [50, 100, 400])
@pytest.mark.parametrize("burst", [5, 20, 40])
@pytest.mark.parametrize("latency", [0.005, 0.03])
def test_buckets_of_other_shapes_are_found_too(limit: int, burst: int, latency: float) -> None:
    # Not covered: a bucket of 1 (the limit reads low: ~0.7-0.85), and small limits with a
    # big bucket and slow answers (more 429s); see README "Pacing".
    messages = 20 * limit
    run = simulate(messages, lambda t: limit, burst=burst, latency=latency, seed=limit + burst)
    assert delivered_ratio(run.end, messages, limit) >= 0.9
    assert run.throttled <= 0.05 * messages


def test_the_state_can_be_saved_and_restored() -> None:
    clock = [0.0]
    pacer = Pacer(clock=lambda: clock[0])
    assert pacer.state() == PaceState(None, None, None)
    pacer.rate_at(0.0)
    clock[0] = 1.0
    pacer.answered(0.99, accepted=False, throttled=True)
    state = pacer.state()
    assert state.limit is not None and state.rate is not None and state.throttled_at
    other = Pacer(clock=lambda: clock[0])
    other.restore(state)
    assert other.adapted
    rate = other.rate_at(clock[0])
    assert rate is not None and rate <= state.limit


def test_the_rate_window_counts_per_bucket() -> None:
    window = RateWindow(span=1.0, slots=10)
    for i in range(100):
        window.add(i / 100)
    assert window.rate(0.999) == pytest.approx(100, rel=0.01)
    assert window.rate(1.95) == pytest.approx(5, abs=5)  # most buckets have expired
    assert window.rate(5.0) == 0


def test_waiters_queue_in_order_and_a_retry_after_holds_them_all() -> None:
    clock = [0.0]

    async def sleep(seconds: float) -> None:
        clock[0] += seconds
        await asyncio.sleep(0)

    async def main() -> list[float]:
        pacer = Pacer(10, clock=lambda: clock[0], sleep=sleep)
        starts: list[float] = []

        async def one(i: int) -> None:
            starts.append(await pacer.wait())
            if i == 0:
                pacer.answered(0.0, accepted=False, throttled=True, retry_after=2.0)
                pacer.pause_until(clock[0] + 2.0)

        await asyncio.gather(*(one(i) for i in range(5)))
        return starts

    starts = asyncio.run(main())
    assert starts[0] == 0.0
    assert all(t >= 2.0 for t in starts[1:]), starts
    gaps = [round(b - a, 6) for a, b in itertools.pairwise(starts[1:])]
    assert min(gaps) > 0.05, gaps  # paced after the pause, not a burst


def test_the_progress_line_shows_the_pace_once_it_adapts() -> None:
    import io

    from linepress.send.dispatch import Tally
    from linepress.send.progress import Progress

    tally = Tally(by_status={"sent": 40}, done=40)
    progress = Progress(100, io.StringIO(), tty=False)
    assert "pacing" not in progress.line(tally, 1.0)
    tally.pace, tally.throttled = 187.4, 3
    line = progress.line(tally, 1.0)
    assert "pacing at 187/s after 429s" in line
    assert "throttled 3" in line


@pytest.mark.parametrize("ceiling", [None, 2000.0, 300.0])
def test_many_waiters_all_get_through(ceiling: float | None) -> None:
    # 200 tasks wait for slots again and again, as 200 workers would: none is left
    # waiting with nobody to wake it (the guard is for a hang, not a timing).
    async def main() -> int:
        pacer = Pacer(ceiling)
        starts = 0

        async def worker() -> None:
            nonlocal starts
            for _ in range(3):
                await pacer.wait()
                starts += 1
                await asyncio.sleep(0)

        await asyncio.wait_for(asyncio.gather(*(worker() for _ in range(200))), timeout=120)
        return starts

    assert asyncio.run(main()) == 600


def test_a_stop_releases_every_waiter() -> None:
    from linepress.send.stopsignal import StopSignal

    async def main() -> int:
        pacer, stop = Pacer(1.0), StopSignal()
        done = 0

        async def worker() -> None:
            nonlocal done
            await pacer.wait(stop)
            done += 1

        tasks = [asyncio.create_task(worker()) for _ in range(20)]
        await asyncio.sleep(0.01)
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks), timeout=60)
        return done

    assert asyncio.run(main()) == 20


def test_with_stalls_on_the_way_a_rise_still_settles_within_5_s() -> None:
    # 200 -> 50 -> 400 on a loaded machine (the endpoint stalls ~20 ms twice a second):
    # the 429 that ends the doubling probe after the rise used to read the accepted rate
    # over half a second, a fraction of where the probe ended (215/s for 400), and the
    # pace held there for seconds. Over 10 seeded runs 4 settled within 5 s; now 7
    # (the others: a later stall's cut dips one window below 360).
    def limit(t: float) -> float:
        return 200 if t < 10 else (50 if t < 20 else 400)

    settled = 0
    for seed in range(10):
        run = simulate(2000 + 500 + 400 * 12, limit, seed=seed, stalls=2.0, stall_length=0.02)
        settled += settle_time(run.accepted_at, 20.0, run.end, 400) <= 5.0
        assert run.throttled <= 0.03 * (2000 + 500 + 400 * 12)
    assert settled >= 6, settled


def test_a_sender_held_up_for_a_moment_makes_it_up_in_a_small_burst() -> None:
    # --rate 200 (a slot every 5 ms); the sender is held up for 15 ms at each 0.1 s (a
    # busy machine schedules it late), then asks as often as it can. Those slots used to
    # be lost, 15% of them here (170/s). Up to CATCH_UP slots of a delay are made up at
    # once, so nothing is lost, and no 1-second window holds more than 200 + CATCH_UP + 1.
    clock = [0.0]
    pacer = Pacer(200.0, adaptive=False, clock=lambda: clock[0])
    starts = []
    while clock[0] < 3.0:
        if clock[0] % 0.1 >= 0.015 and pacer.try_start(clock[0]) == 0.0:
            starts.append(clock[0])
        clock[0] += 0.0001
    windows = [sum(t <= s < t + 1.0 for s in starts) for t in (i * 0.05 for i in range(41))]
    assert max(windows) <= 200 + CATCH_UP + 1, max(windows)
    assert min(windows) >= 199, min(windows)
    bursts = [sum(t <= s < t + 0.001 for s in starts) for t in starts]
    assert max(bursts) <= CATCH_UP + 1
