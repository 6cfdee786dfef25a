"""`linepress send` end to end: the real CLI in a subprocess against the real sandbox.

The sandbox counts deliveries per recipient, so each test can check the promise:
every recipient delivered exactly once, except those the journal marks `unknown`
(delivered at most once), and none missing.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from linepress.sandbox.server import Faults, SandboxServer, running_sandbox
from linepress.send.sqlite_journal import SqliteJournal as Journal

KEY = "sandbox-secret-key-0042"
DEFINITION = "from: APP\nmessage:\n  type: TEXT\n  text: 'Hello {{ name }}'\n"


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    with running_sandbox(api_key=KEY, seed=7) as server:
        yield server


@pytest.fixture
def campaign(tmp_path: Path) -> Path:
    (tmp_path / "def.yaml").write_text(DEFINITION)
    return tmp_path


def recipients(folder: Path, count: int) -> list[str]:
    users = [f"U{i:05d}" for i in range(1, count + 1)]
    (folder / "users.csv").write_text("to,name\n" + "".join(f"{u},Name {u}\n" for u in users))
    return users


def send_command(folder: Path, sandbox: SandboxServer, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "linepress", "send", "def.yaml", "--data", "users.csv",
        "--base-url", sandbox.url, "--report", "report.jsonl", "--no-progress",
        # Short backoffs keep the tests quick; the logic is the same.
        "--backoff-base", "0.005", "--backoff-cap", "0.05", *extra,
    ]  # fmt: skip


def env() -> dict[str, str]:
    return {**os.environ, "INFOBIP_API_KEY": KEY}


def run(folder: Path, sandbox: SandboxServer, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        send_command(folder, sandbox, *extra),
        cwd=folder,
        env=env(),
        capture_output=True,
        text=True,
        timeout=120,
    )


def journal_statuses(folder: Path) -> dict[str, str]:
    journal = Journal(folder / ".linepress" / "def.db")
    try:
        return {entry.recipient or "": entry.status for entry in journal.entries()}
    finally:
        journal.close()


def assert_exactly_once_except_unknown(
    sandbox: SandboxServer, users: list[str], folder: Path
) -> dict[str, str]:
    delivered = sandbox.count_by_to()
    statuses = journal_statuses(folder)
    assert set(statuses) == set(users)  # nobody forgotten
    for user in users:
        if statuses[user] == "unknown":
            assert delivered[user] <= 1, user
        else:
            assert statuses[user] == "sent", (user, statuses[user])
            assert delivered[user] == 1, (user, delivered[user])
    return statuses


def test_a_full_send(sandbox: SandboxServer, campaign: Path) -> None:
    users = recipients(campaign, 50)
    done = run(campaign, sandbox, "--concurrency", "8")
    assert done.returncode == 0, done.stderr
    assert_exactly_once_except_unknown(sandbox, users, campaign)
    report = [json.loads(line) for line in (campaign / "report.jsonl").read_text().splitlines()]
    assert [r["to"] for r in report[:-1]] == users
    assert all(r["status"] == "sent" and r["message_id"] for r in report[:-1])
    assert report[-1]["summary"]["sent"] == 50
    assert "sent 50" in done.stderr.splitlines()[-1]
    # Re-running the finished campaign sends nothing more.
    again = run(campaign, sandbox)
    assert again.returncode == 0, again.stderr
    assert sum(sandbox.count_by_to().values()) == 50


@pytest.mark.parametrize("retry_after", [None, 0])
def test_a_429_storm_is_ridden_out(
    sandbox: SandboxServer, campaign: Path, retry_after: int | None
) -> None:
    users = recipients(campaign, 30)
    sandbox.set_faults(Faults(storm=40, rate_limit=0.2, retry_after=retry_after))
    done = run(campaign, sandbox, "--concurrency", "4", "--max-attempts", "30")
    assert done.returncode == 0, done.stderr
    assert_exactly_once_except_unknown(sandbox, users, campaign)
    assert sandbox.stats["status"].get("429", 0) >= 40


def test_server_errors_are_retried(sandbox: SandboxServer, campaign: Path) -> None:
    users = recipients(campaign, 40)
    sandbox.set_faults(Faults(server_errors=0.3))
    done = run(campaign, sandbox, "--max-attempts", "20")
    assert done.returncode == 0, done.stderr
    assert_exactly_once_except_unknown(sandbox, users, campaign)


def test_dropped_connections_are_unknown_and_resent_only_on_request(
    sandbox: SandboxServer, campaign: Path
) -> None:
    users = recipients(campaign, 60)
    sandbox.set_faults(Faults(drop_before=0.1, drop_after=0.1))
    first = run(campaign, sandbox)
    assert first.returncode == 1  # some recipients are unknown
    statuses = assert_exactly_once_except_unknown(sandbox, users, campaign)
    unknown = [u for u in users if statuses[u] == "unknown"]
    assert unknown
    sandbox.set_faults(Faults())
    again = run(campaign, sandbox)
    assert again.returncode == 1  # unknown stays unknown without --resend-unknown
    assert journal_statuses(campaign) == statuses
    final = run(campaign, sandbox, "--resend-unknown")
    assert final.returncode == 0, final.stderr
    delivered = sandbox.count_by_to()
    assert all(delivered[u] >= 1 for u in users)
    assert all(delivered[u] == 1 for u in users if u not in unknown)


def test_credentials_revoked_mid_run_stop_it_and_a_rerun_finishes(
    sandbox: SandboxServer, campaign: Path
) -> None:
    users = recipients(campaign, 30)
    sandbox.set_faults(Faults(unauthorized_after=10))
    stopped = run(campaign, sandbox, "--concurrency", "1")
    assert stopped.returncode == 1
    assert "stopped: HTTP 401" in stopped.stderr
    assert KEY not in stopped.stderr + stopped.stdout
    statuses = journal_statuses(campaign)
    assert list(statuses.values()).count("sent") == 10
    assert list(statuses.values()).count("pending") == 20
    sandbox.set_faults(Faults())
    finished = run(campaign, sandbox)
    assert finished.returncode == 0, finished.stderr
    assert_exactly_once_except_unknown(sandbox, users, campaign)
    for path in (p for p in campaign.rglob("*") if p.is_file()):
        assert KEY.encode() not in path.read_bytes(), path


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_kill_9_at_a_random_moment_then_rerun(
    sandbox: SandboxServer, campaign: Path, seed: int
) -> None:
    users = recipients(campaign, 400)
    sandbox.set_faults(Faults(latency=0.01, jitter=0.02))
    process = subprocess.Popen(
        send_command(campaign, sandbox, "--concurrency", "16"),
        cwd=campaign,
        env=env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    target = random.Random(seed).randint(20, 300)
    while (
        sum(sandbox.count_by_to().values()) < target
        and process.poll() is None
        and time.monotonic() < deadline
    ):
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.wait()
    killed_at = sum(sandbox.count_by_to().values())
    assert 0 < killed_at < len(users)

    sandbox.set_faults(Faults())
    rerun = run(campaign, sandbox, "--concurrency", "16")
    statuses = assert_exactly_once_except_unknown(sandbox, users, campaign)
    unknown = sum(1 for s in statuses.values() if s == "unknown")
    assert unknown <= 16  # at most what was in flight at the kill
    assert rerun.returncode == (1 if unknown else 0), rerun.stderr


def test_ctrl_c_finishes_in_flight_requests_and_a_rerun_completes(
    sandbox: SandboxServer, campaign: Path
) -> None:
    users = recipients(campaign, 300)
    sandbox.set_faults(Faults(latency=0.02))
    process = subprocess.Popen(
        send_command(campaign, sandbox, "--concurrency", "8"),
        cwd=campaign,
        env=env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    while sum(sandbox.count_by_to().values()) < 40 and process.poll() is None:
        time.sleep(0.005)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 130
    assert "stopped: interrupted by SIGINT" in stderr
    assert "Traceback" not in stderr
    statuses = journal_statuses(campaign)
    assert "inflight" not in statuses.values()
    assert list(statuses.values()).count("pending") > 0
    sandbox.set_faults(Faults())
    rerun = run(campaign, sandbox, "--concurrency", "8")
    assert rerun.returncode == 0, rerun.stderr
    assert_exactly_once_except_unknown(sandbox, users, campaign)


def test_invalid_data_sends_nothing(sandbox: SandboxServer, campaign: Path) -> None:
    (campaign / "users.csv").write_text("to,name\nU1,Ann\nU2,{}\n".format("x" * 5001))
    done = run(campaign, sandbox)
    assert done.returncode == 1
    assert "row 2 (users.csv:3): message.text: must be at most 5000" in done.stderr
    assert "nothing was sent" in done.stderr
    assert sandbox.count_by_to() == {}


def test_an_unknown_rate_limit_is_found_and_every_recipient_sent_once(
    sandbox: SandboxServer, campaign: Path
) -> None:
    # The sandbox's token bucket admits 100/s; nobody tells the sender.
    users = recipients(campaign, 300)
    sandbox.set_faults(Faults(limit_rate=100, limit_burst=10))
    done = run(campaign, sandbox, "--concurrency", "16", "--max-attempts", "30")
    assert done.returncode == 0, done.stderr
    assert_exactly_once_except_unknown(sandbox, users, campaign)
    throttled = sandbox.stats["status"].get("429", 0)
    assert throttled > 0  # it had to find the limit
    summary = json.loads((campaign / "report.jsonl").read_text().splitlines()[-1])["summary"]
    assert summary["throttled"] == throttled
    assert f"{throttled:,} throttled answers (429)" in done.stderr


def test_payloads_holding_a_placeholder_or_template_text_are_refused(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    """What `send DEFINITION` refuses, `compile` -> `send --payloads` refuses too."""
    (tmp_path / "def.yaml").write_text(
        "from: YOUR-APPLICATION-KEY\nto: U1\nmessage: {type: TEXT, text: 'Hi from Your Shop'}\n"
    )
    compiled = subprocess.run(
        [sys.executable, "-m", "linepress", "compile", "def.yaml", "--out", "bodies.jsonl"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert compiled.returncode == 0, compiled.stderr
    with (tmp_path / "bodies.jsonl").open("a") as bodies:
        # A hand edit: template text no compile could have left.
        bodies.write('{"from":"APP","to":"U2","message":{"type":"TEXT","text":"Hi {{ name }}"}}\n')
        bodies.write('{"from":"APP","to":"U3","message":{"type":"TEXT","text":"{% if x %}"}}\n')
    command = send_command(tmp_path, sandbox)
    command[command.index("def.yaml") : command.index("users.csv") + 1] = [
        "--payloads",
        "bodies.jsonl",
    ]
    done = subprocess.run(
        command, cwd=tmp_path, env=env(), capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 1, done.stderr
    # Each problem at the line and column of the value, as an editor jumps to it.
    lines = (tmp_path / "bodies.jsonl").read_text().splitlines()
    for number, path, words, value in [
        (1, "from", "`YOUR-APPLICATION-KEY` is a starter's placeholder", '"YOUR-APPLICATION-KEY"'),
        (1, "message.text", "`Your Shop` is a starter's placeholder", '"Hi from Your Shop"'),
        (2, "message.text", "`{{ name }}` is template text that was never rendered", '"Hi {{'),
        (3, "message.text", "`{% if x %}` is template text", '"{% if x %}"'),
    ]:
        found = re.search(
            rf"bodies\.jsonl:{number}:(\d+): row {number} \(bodies\.jsonl:{number}\): "
            rf"{re.escape(path)}: {re.escape(words)}",
            done.stderr,
        )
        assert found is not None, (words, done.stderr)
        assert lines[number - 1][int(found.group(1)) - 1 :].startswith(value), found.group(0)
    assert "send with --allow-braces" in done.stderr
    assert "nothing was sent" in done.stderr
    assert sandbox.count_by_to() == {}


def test_braces_from_the_recipients_own_data_are_sent_with_allow_braces(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    """A recipient whose name is `{{ Ann }}`: compile writes it literally; a payload file
    cannot tell it from a template left unrendered, so `send --payloads` refuses it
    (naming the flag) and sends it with --allow-braces, exactly as written."""
    (tmp_path / "def.yaml").write_text(
        "from: APP\nto: '{{ to }}'\nmessage: {type: TEXT, text: 'Hi {{ name }}'}\n"
    )
    (tmp_path / "users.csv").write_text("to,name\nU1,{{ Ann }}\nU2,Bob\n")
    compiled = subprocess.run(
        [sys.executable, "-m", "linepress", "compile", "def.yaml", "--data", "users.csv",
         "--out", "bodies.jsonl"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert compiled.returncode == 0, compiled.stderr
    command = send_command(tmp_path, sandbox)
    command[command.index("def.yaml") : command.index("users.csv") + 1] = [
        "--payloads",
        "bodies.jsonl",
    ]
    refused = subprocess.run(
        command, cwd=tmp_path, env=env(), capture_output=True, text=True, timeout=120
    )
    assert refused.returncode == 1, refused.stderr
    assert re.search(
        r"bodies\.jsonl:1:\d+: row 1 \(bodies\.jsonl:1\): message\.text: `\{\{ Ann \}\}` is "
        r"template text .*send with --allow-braces \(found '\{\{ Ann \}\}'\)",
        refused.stderr,
    ), refused.stderr
    assert sandbox.count_by_to() == {}
    sent = subprocess.run(
        [*command, "--allow-braces"], cwd=tmp_path, env=env(), capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert sent.returncode == 0, sent.stderr
    assert sandbox.count_by_to() == {"U1": 1, "U2": 1}
    texts = sorted(d["body"]["message"]["text"] for d in sandbox.deliveries)
    assert texts == ["Hi Bob", "Hi {{ Ann }}"]
