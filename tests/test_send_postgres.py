"""Workers that cooperate through a PostgreSQL journal: the real CLI, a real server.

Each test starts `linepress send` processes against the sandbox (which counts
deliveries per recipient) and a throw-away PostgreSQL cluster (tests/postgres.py),
then checks the promise: every recipient delivered exactly once, except those the
journal marks `unknown` (at most once), none missing, every row final.
"""

from __future__ import annotations

import bisect
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from postgres import PASSWORD, PASSWORD_ROLE, Cluster

from linepress.sandbox.server import Faults, SandboxServer, running_sandbox

KEY = "sandbox-secret-key-0042"
DEFINITION = "from: APP\nmessage:\n  type: TEXT\n  text: 'Hello {{ name }}'\n"
FINAL = {"sent", "failed", "skipped", "unknown"}


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    with running_sandbox(api_key=KEY, seed=11) as server:
        yield server


@pytest.fixture
def campaign(tmp_path: Path) -> Path:
    (tmp_path / "def.yaml").write_text(DEFINITION)
    return tmp_path


@pytest.fixture
def dsn(pg_cluster: Cluster, pg_database: str) -> str:
    return pg_cluster.dsn(pg_database, user=PASSWORD_ROLE, password=PASSWORD)


def recipients(folder: Path, count: int) -> list[str]:
    users = [f"U{i:05d}" for i in range(1, count + 1)]
    (folder / "users.csv").write_text("to,name\n" + "".join(f"{u},Name {u}\n" for u in users))
    return users


def command(sandbox: SandboxServer, dsn: str, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "linepress", "send", "def.yaml", "--data", "users.csv",
        "--base-url", sandbox.url, "--journal", dsn, "--no-progress", "--lease", "2",
        "--backoff-base", "0.005", "--backoff-cap", "0.05", *extra,
    ]  # fmt: skip


def env(**more: str) -> dict[str, str]:
    return {**os.environ, "INFOBIP_API_KEY": KEY, **more}


def start(folder: Path, sandbox: SandboxServer, dsn: str, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        command(sandbox, dsn, *extra),
        cwd=folder,
        env=env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def run(
    folder: Path, sandbox: SandboxServer, dsn: str, *extra: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command(sandbox, dsn, *extra), cwd=folder, env=env(), capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip


def statuses(dsn: str, campaign: str = "def") -> dict[str, str]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT r.recipient, r.status FROM linepress.recipients r "
            "JOIN linepress.campaigns c ON c.id = r.campaign WHERE c.name = %s",
            (campaign,),
        ).fetchall()
    return {str(to): str(status) for to, status in rows}


def deliveries(sandbox: SandboxServer) -> int:
    return sum(sandbox.count_by_to().values())


def assert_exactly_once_except_unknown(
    sandbox: SandboxServer, users: list[str], dsn: str
) -> dict[str, int]:
    """0 duplicates, 0 lost, every row final; returns the counts by status."""
    delivered = sandbox.count_by_to()
    found = statuses(dsn)
    assert set(found) == set(users)  # nobody forgotten
    counts: dict[str, int] = {}
    for user in users:
        counts[found[user]] = counts.get(found[user], 0) + 1
        if found[user] == "unknown":
            assert delivered.get(user, 0) <= 1, user
        else:
            assert found[user] == "sent", (user, found[user])
            assert delivered[user] == 1, (user, delivered[user])
    return counts


def wait_for(condition: object, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:  # type: ignore[operator]
        time.sleep(0.005)


def test_two_workers_started_together_plan_once_and_share(
    sandbox: SandboxServer, campaign: Path, dsn: str
) -> None:
    users = recipients(campaign, 600)
    sandbox.set_faults(Faults(latency=0.01))
    workers = [start(campaign, sandbox, dsn, "--concurrency", "8") for _ in range(2)]
    outputs = [w.communicate(timeout=120) for w in workers]
    for worker, (_, stderr) in zip(workers, outputs, strict=True):
        assert worker.returncode == 0, stderr
        assert "sent 600" in stderr.splitlines()[-1]
        assert PASSWORD not in stderr
    assert assert_exactly_once_except_unknown(sandbox, users, dsn) == {"sent": 600}
    with psycopg.connect(dsn) as conn:
        by_worker = conn.execute(
            "SELECT count(DISTINCT claimed_by) FROM linepress.recipients"
        ).fetchone()
    assert by_worker == (2,)  # both took part
    # Running the finished campaign again sends nothing more.
    again = run(campaign, sandbox, dsn)
    assert again.returncode == 0, again.stderr
    assert deliveries(sandbox) == 600


@pytest.mark.parametrize("seed", [1])
def test_three_workers_killed_at_random_moments_and_restarted(
    sandbox: SandboxServer, campaign: Path, dsn: str, seed: int
) -> None:
    """Two kills in one campaign (cheaper than two campaigns of one kill each): the first
    worker at a random moment, then the second at a later one, each restarted."""
    users = recipients(campaign, 3000)
    sandbox.set_faults(Faults(latency=0.01, jitter=0.02))
    workers = [start(campaign, sandbox, dsn, "--concurrency", "16") for _ in range(3)]
    chance = random.Random(seed)
    first, second = sorted(chance.sample(range(100, 2600), 2))
    killed_at = []
    for victim, target in ((0, first), (1, max(second, first + 200))):
        doomed = workers[victim]
        wait_for(lambda t=target, w=doomed: deliveries(sandbox) >= t or w.poll() is not None)
        doomed.send_signal(signal.SIGKILL)
        doomed.communicate()
        killed_at.append(deliveries(sandbox))
        workers.append(start(campaign, sandbox, dsn, "--concurrency", "16"))
    assert 0 < killed_at[0] < killed_at[1] < len(users), killed_at
    survivors = [workers[2], workers[3], workers[4]]
    results = [w.communicate(timeout=120) for w in survivors]
    counts = assert_exactly_once_except_unknown(sandbox, users, dsn)
    assert set(statuses(dsn).values()) <= FINAL
    # Per kill, at most what the worker had in flight (16), marked ahead (two claims of
    # 16) and answered since its last commit (a commit's worth: at most the marks ahead).
    assert counts.get("unknown", 0) <= 2 * (16 + 32 + 32)
    assert counts.get("sent", 0) + counts.get("unknown", 0) == 3000
    for worker, (_, stderr) in zip(survivors, results, strict=True):
        assert "Traceback" not in stderr
        assert worker.returncode == (1 if counts.get("unknown") else 0), stderr
    print(f"seed {seed}: killed after {killed_at} deliveries; {counts}")


def test_a_worker_started_mid_campaign_joins(
    sandbox: SandboxServer, campaign: Path, dsn: str
) -> None:
    users = recipients(campaign, 800)
    sandbox.set_faults(Faults(latency=0.01))
    # --rate is the campaign's: 100/s in all, so the campaign lasts about 8 s.
    first = start(campaign, sandbox, dsn, "--concurrency", "4", "--rate", "100")
    wait_for(lambda: deliveries(sandbox) >= 100)
    second = start(campaign, sandbox, dsn, "--concurrency", "4", "--rate", "100")
    for worker in (first, second):
        _, stderr = worker.communicate(timeout=120)
        assert worker.returncode == 0, stderr
    assert_exactly_once_except_unknown(sandbox, users, dsn)
    with psycopg.connect(dsn) as conn:
        shares = conn.execute(
            "SELECT count(*) FROM linepress.recipients GROUP BY claimed_by ORDER BY 1"
        ).fetchall()
    # The late one took a share (how big depends on how fast it starts: not asserted).
    assert len(shares) == 2 and shares[0][0] >= 10


def test_a_lost_database_connection_stops_the_worker_safely_and_a_restart_resumes(
    sandbox: SandboxServer, campaign: Path, dsn: str, pg_cluster: Cluster, pg_database: str
) -> None:
    users = recipients(campaign, 1000)
    sandbox.set_faults(Faults(latency=0.02))
    worker = start(campaign, sandbox, dsn, "--concurrency", "16")
    wait_for(lambda: deliveries(sandbox) >= 200 or worker.poll() is not None)
    assert pg_cluster.terminate("linepress ", pg_database) >= 1
    _, stderr = worker.communicate(timeout=60)
    assert worker.returncode == 1, stderr
    assert "Traceback" not in stderr
    assert "the journal is unavailable" in stderr
    assert PASSWORD not in stderr
    stopped_at = deliveries(sandbox)
    assert stopped_at < len(users)
    left = statuses(dsn)
    assert (
        "inflight" in left.values()
        or "unknown" in left.values()
        or stopped_at == list(left.values()).count("sent")
    )
    sandbox.set_faults(Faults())
    rerun = run(campaign, sandbox, dsn, "--concurrency", "16")
    counts = assert_exactly_once_except_unknown(sandbox, users, dsn)
    # In flight (16), marked ahead (32), answered since the last commit (at most 32).
    assert counts.get("unknown", 0) <= 16 + 32 + 32
    assert rerun.returncode == (1 if counts.get("unknown") else 0), rerun.stderr


def test_a_worker_with_another_list_is_refused_while_others_send(
    sandbox: SandboxServer, campaign: Path, dsn: str
) -> None:
    users = recipients(campaign, 200)
    # Slow answers keep the first worker busy (100 s at this pace) until the checks are done.
    sandbox.set_faults(Faults(latency=1.0))
    first = start(campaign, sandbox, dsn, "--concurrency", "2")
    wait_for(lambda: deliveries(sandbox) >= 2 or first.poll() is not None)
    assert first.poll() is None
    (campaign / "other.csv").write_text("to,name\nU99999,Late\n")
    args = command(sandbox, dsn)
    args[args.index("users.csv")] = "other.csv"
    refused = subprocess.run(args, cwd=campaign, env=env(), capture_output=True, text=True)
    assert refused.returncode == 2, refused.stderr
    assert "other worker(s) are sending this campaign" in refused.stderr
    assert PASSWORD not in refused.stderr
    assert "postgresql://linepress_pw:***@" in refused.stderr
    # Another endpoint is refused whatever runs: pass --campaign NAME for a new campaign.
    args = command(sandbox, dsn, "--base-url", "http://127.0.0.1:9")
    elsewhere = subprocess.run(args, cwd=campaign, env=env(), capture_output=True, text=True)
    assert elsewhere.returncode == 2, elsewhere.stderr
    assert "pass --campaign NAME" in elsewhere.stderr
    assert first.poll() is None
    sandbox.set_faults(Faults())
    _, stderr = first.communicate(timeout=120)
    assert first.returncode == 0, stderr
    assert_exactly_once_except_unknown(sandbox, users, dsn)
    # With nobody sending, the changed list continues the campaign (nobody twice).
    (campaign / "users.csv").write_text(
        "to,name\n" + "".join(f"{u},Again {u}\n" for u in [*users[:50], "U77777"])
    )
    again = run(campaign, sandbox, dsn)
    assert again.returncode == 0, again.stderr
    assert "50 already received an earlier version" in again.stderr
    assert sandbox.count_by_to()["U77777"] == 1
    assert deliveries(sandbox) == 201
    # The same list under another campaign name is a campaign of its own.
    other = run(campaign, sandbox, dsn, "--campaign", "spring-2")
    assert other.returncode == 0, other.stderr
    assert deliveries(sandbox) == 252


def test_journal_from_the_environment_and_no_password_anywhere(
    sandbox: SandboxServer, campaign: Path, dsn: str, pg_cluster: Cluster, pg_database: str
) -> None:
    users = recipients(campaign, 30)
    args = command(sandbox, dsn, "--report", "report.jsonl")
    at = args.index("--journal")
    del args[at : at + 2]
    done = subprocess.run(
        args, cwd=campaign, env=env(LINEPRESS_JOURNAL=dsn), capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert_exactly_once_except_unknown(sandbox, users, dsn)
    report = (campaign / "report.jsonl").read_text()
    assert json.loads(report.splitlines()[-1])["summary"]["sent"] == 30
    for path in campaign.iterdir():
        assert PASSWORD.encode() not in path.read_bytes(), path
    assert PASSWORD not in done.stderr + done.stdout
    dump = pg_cluster.psql("SELECT * FROM linepress.campaigns", pg_database)
    assert PASSWORD not in dump
    # A wrong password: a usage error naming the database, without any password.
    wrong = pg_cluster.dsn(pg_database, user=PASSWORD_ROLE, password="not-" + PASSWORD)
    refused = run(campaign, sandbox, wrong)
    assert refused.returncode == 2
    assert "password authentication failed" in refused.stderr
    assert PASSWORD not in refused.stderr
    assert "Traceback" not in refused.stderr


def test_journal_commands_read_and_settle_a_shared_campaign(
    sandbox: SandboxServer, campaign: Path, dsn: str
) -> None:
    users = recipients(campaign, 60)
    sandbox.set_faults(Faults(drop_after=0.2))
    done = run(campaign, sandbox, dsn, "--concurrency", "4")
    assert done.returncode == 1, done.stderr  # some deliveries are unknown
    unknown = [u for u, s in statuses(dsn).items() if s == "unknown"]
    assert unknown
    base = [sys.executable, "-m", "linepress", "journal"]
    status = subprocess.run(
        [*base, "status", dsn, "--campaign", "def"], cwd=campaign, capture_output=True, text=True
    )
    assert status.returncode == 0, status.stderr
    assert f"unknown (may have been delivered): {len(unknown)}" in status.stdout
    assert PASSWORD not in status.stdout + status.stderr
    report = subprocess.run(
        [*base, "report", dsn, "--campaign", "def", "-o", "r.jsonl"],
        cwd=campaign, capture_output=True, text=True,
    )  # fmt: skip
    assert report.returncode == 0, report.stderr
    rows = [json.loads(line) for line in (campaign / "r.jsonl").read_text().splitlines()]
    assert [r["to"] for r in rows[:-1]] == users
    settle = subprocess.run(
        [*base, "settle", dsn, "--campaign", "def", "--as", "sent", "--all-unknown"],
        cwd=campaign, capture_output=True, text=True,
    )  # fmt: skip
    assert settle.returncode == 0, settle.stderr
    assert set(statuses(dsn).values()) == {"sent"}
    missing = subprocess.run(
        [*base, "status", dsn, "--campaign", "nope"], cwd=campaign, capture_output=True, text=True
    )
    assert missing.returncode == 2
    assert "no campaign of this name" in missing.stderr
    assert PASSWORD not in missing.stderr


def _times(sandbox: SandboxServer) -> list[float]:
    return sorted(datetime.fromisoformat(d["received_at"]).timestamp() for d in sandbox.deliveries)


def test_the_rate_is_the_campaigns_across_workers(
    sandbox: SandboxServer, campaign: Path, dsn: str
) -> None:
    # Three workers, --rate 60: together 60/s, not 3 x 60. Counted where it matters,
    # at the sandbox: deliveries in every 1-second window of the run's middle (the
    # first and last second, when workers join and leave, are left out).
    users = recipients(campaign, 360)
    workers = [
        start(campaign, sandbox, dsn, "--concurrency", "4", "--rate", "60") for _ in range(3)
    ]
    for worker in workers:
        _, stderr = worker.communicate(timeout=120)
        assert worker.returncode == 0, stderr
    assert_exactly_once_except_unknown(sandbox, users, dsn)
    times = _times(sandbox)
    start_at, end_at = times[0] + 1.0, times[-1] - 1.0
    middle = [t for t in times if start_at <= t <= end_at]
    windows = [
        bisect.bisect_left(middle, s + 1.0) - bisect.bisect_left(middle, s)
        for s in (start_at + i * 0.1 for i in range(int((end_at - start_at - 1.0) / 0.1) + 1))
    ]
    assert windows, times
    overall = len(middle) / (end_at - start_at)
    print(f"middle {overall:.1f}/s; 1-s windows {min(windows)}-{max(windows)}")
    assert abs(overall / 60 - 1) <= 0.10, overall
    assert max(windows) <= 60 * 1.25, windows


def test_the_rate_holds_while_the_campaign_ends(
    sandbox: SandboxServer, campaign: Path, dsn: str
) -> None:
    # A list that ends: a worker whose claim comes back empty still holds queued and
    # in-flight rows, so it keeps its share and the others do not speed up. Every whole
    # 1-second window at the sandbox after the first second (when the workers join and
    # learn of each other), the tail included, holds at most --rate x 1.1.
    users = recipients(campaign, 240)
    workers = [
        start(campaign, sandbox, dsn, "--concurrency", "40", "--rate", "60") for _ in range(3)
    ]
    for worker in workers:
        _, stderr = worker.communicate(timeout=120)
        assert worker.returncode == 0, stderr
    assert_exactly_once_except_unknown(sandbox, users, dsn)
    times = _times(sandbox)
    windows = [
        bisect.bisect_left(times, t + 1.0) - i
        for i, t in enumerate(times)
        if times[0] + 1.0 <= t and t + 1.0 <= times[-1]
    ] + [len(times) - bisect.bisect_left(times, times[-1] - 1.0)]
    print(f"1-s windows up to {max(windows)}")
    assert max(windows) <= 60 * 1.1, windows


def test_a_worker_that_joins_starts_at_the_pace_the_campaign_learned(
    sandbox: SandboxServer, campaign: Path, dsn: str
) -> None:
    # The endpoint admits 150/s. The first worker finds that with 429s and publishes
    # it. Then the limit is lifted, so the second worker, started now, never sees a 429:
    # if it still paces from its first beat on, it took what the campaign learned (the
    # workers' rows in the database), not slow start's 50/s doubling without end.
    users = recipients(campaign, 1200)
    sandbox.set_faults(Faults(latency=0.01, limit_rate=150))
    first = start(campaign, sandbox, dsn, "--concurrency", "8")

    def published() -> list[tuple[Any, ...]]:
        with psycopg.connect(dsn) as conn:
            if conn.execute("SELECT to_regclass('linepress.workers')").fetchone() == (None,):
                return []  # the first worker has not made the schema yet
            return conn.execute(
                "SELECT pace_limit FROM linepress.workers ORDER BY started_at"
            ).fetchall()

    wait_for(lambda: any(row[0] is not None for row in published()), timeout=60)
    learned = published()[0][0]
    # Slow answers (no limit) until the second worker has joined and published: on a
    # loaded machine its start can outlast the campaign at full speed.
    sandbox.set_faults(Faults(latency=0.3))
    second = start(campaign, sandbox, dsn, "--concurrency", "8")
    wait_for(lambda: len(published()) == 2 and published()[1][0] is not None, timeout=60)
    joined = published()
    sandbox.set_faults(Faults(latency=0.01))
    outs = [w.communicate(timeout=120) for w in (first, second)]
    assert [w.returncode for w in (first, second)] == [0, 0], outs
    assert len(joined) == 2 and joined[1][0] is not None, joined
    # Its share of what the first found (split between the two), never more than that.
    assert 0 < joined[1][0] <= learned * 1.05, (learned, joined)
    assert "throttled" not in outs[1][1]  # no 429 taught it anything
    assert_exactly_once_except_unknown(sandbox, users, dsn)


# -- issue 15, points 1 and 5: the campaign's totals count everyone ever sent --


def _workers(
    folder: Path, sandbox: SandboxServer, dsn: str, count: int, *extra: str
) -> list[tuple[int, str]]:
    """`count` workers started together; each one's (exit code, stderr)."""
    started = [start(folder, sandbox, dsn, *extra) for _ in range(count)]
    done = []
    for worker in started:
        _, stderr = worker.communicate(timeout=120)
        done.append((worker.returncode, stderr))
    return done


def _journal(folder: Path, dsn: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "linepress", "journal", args[0], dsn, "--campaign", "def",
         *args[1:]],
        cwd=folder, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


@pytest.mark.parametrize("workers", [1, 2])
def test_edit_and_rerun_messages_nobody_twice_and_counts_everyone(
    sandbox: SandboxServer, campaign: Path, dsn: str, workers: int
) -> None:
    """Send, edit the text, drop 30, add 5, rerun; then --resend-sent twice: the 30
    listed people an earlier version reached get the new one once, nobody else twice."""
    users = recipients(campaign, 60)
    for code, stderr in _workers(campaign, sandbox, dsn, workers):
        assert code == 0, stderr
    assert sorted(sandbox.count_by_to().values()) == [1] * 60
    (campaign / "def.yaml").write_text(DEFINITION.replace("Hello", "Hi"))
    kept = [*users[:30], *(f"U{i:05d}" for i in range(61, 66))]
    (campaign / "users.csv").write_text("to,name\n" + "".join(f"{u},Name {u}\n" for u in kept))
    second = _workers(campaign, sandbox, dsn, workers)
    assert all(code == 0 for code, _ in second), second
    said = "".join(stderr for _, stderr in second)
    assert "30 already received an earlier version and are skipped; 5 not yet sent" in said
    assert said.count("30 people this campaign reached are not in this list") == 1
    if workers == 1:
        assert "campaign: 65 recipients: sent 65" in said, said
    assert sorted(sandbox.count_by_to().values()) == [1] * 65  # 0 messaged twice
    status = _journal(campaign, dsn, "status")
    assert status.returncode == 0, status.stderr
    assert "65 recipients: sent 65" in status.stdout, status.stdout
    report = _journal(campaign, dsn, "report", "-o", "r.csv")
    assert report.returncode == 0, report.stderr
    rows = [r.split(",") for r in (campaign / "r.csv").read_text().splitlines()[1:-1]]
    assert len(rows) == 65  # each dropped person once, whatever the number of workers
    earlier = [cells for cells in rows if any("received version 1" in c for c in cells)]
    assert len(earlier) == 60  # 30 listed, 30 dropped: each with its message id
    assert all(cells[2] == "sent" and cells[5] for cells in earlier)
    assert sum(any("not in the current list" in c for c in cells) for cells in rows) == 30
    # --resend-sent, twice: the 30 listed whom version 1 reached get this version once.
    for _ in range(2):
        for code, stderr in _workers(campaign, sandbox, dsn, workers, "--resend-sent"):
            assert code == 0, stderr
    counts = sandbox.count_by_to()
    assert sorted(counts.values()) == [1] * 35 + [2] * 30
    assert all(counts[u] == 2 for u in users[:30])
    status = _journal(campaign, dsn, "status")
    assert "65 recipients: sent 65" in status.stdout, status.stdout
