"""Systemic failures stop the run and say why (issue 15, items 4-8, 11, 12).

The real CLI in a subprocess, against the sandbox or a small loopback server of
the test's own (a raw socket server, so it can misbehave: drip, flood, hang,
echo the credentials).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import socketserver
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest

from linepress.sandbox.faults import Faults
from linepress.sandbox.server import running_sandbox
from linepress.send.sqlite_journal import SqliteJournal

KEY = "outage-secret-key-0042"
DEFINITION = "from: APP\nmessage:\n  type: TEXT\n  text: 'Hello {{ name }}'\n"


@pytest.fixture
def campaign(tmp_path: Path) -> Path:
    (tmp_path / "def.yaml").write_text(DEFINITION)
    users = "".join(f"U{i:04d},Name {i}\n" for i in range(1, 61))
    (tmp_path / "users.csv").write_text("to,name\n" + users)
    return tmp_path


def send(folder: Path, base_url: str, *extra: str) -> subprocess.CompletedProcess[str]:
    argv = [
        sys.executable, "-m", "linepress", "send", "def.yaml", "--data", "users.csv",
        "--base-url", base_url, "--no-progress", "--concurrency", "4",
        "--backoff-base", "0.01", "--backoff-cap", "0.05", *extra,
    ]  # fmt: skip
    return subprocess.run(
        argv,
        cwd=folder,
        env={**os.environ, "INFOBIP_API_KEY": KEY},
        capture_output=True,
        text=True,
        timeout=300,
    )


def statuses(folder: Path) -> dict[str, int]:
    journal = SqliteJournal(folder / ".linepress" / "def.db", read_only=True)
    try:
        return {k: v for k, v in journal.counts().items() if v}
    finally:
        journal.close()


def nothing_sent(counts: dict[str, int]) -> None:
    """Nothing sent or unknown: all pending, but for a row that used up its attempts (one at
    a time until the endpoint answers) before the breaker tripped: `failed`, sent again by
    the next run."""
    assert set(counts) <= {"pending", "failed"} and counts.get("failed", 0) <= 1, counts
    assert sum(counts.values()) == 60


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


Handler = Callable[[socket.socket, bytes], None]


@contextmanager
def raw_server(handler: Handler) -> Iterator[str]:
    """A loopback HTTP/1.1 server that reads one request per connection and calls `handler`."""

    class Handle(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = self.request.recv(65536)
                if not chunk:
                    return
                data += chunk
            head, _, body = data.partition(b"\r\n\r\n")
            length = next(
                (int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")),
                0,
            )  # fmt: skip
            while len(body) < length:
                body += self.request.recv(65536)
            with suppress(OSError):
                handler(self.request, head)

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handle)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def ok_answer(body: bytes = b'{"messageId": "m1"}', status: str = "200 OK") -> bytes:
    return (
        f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode() + body


# -- 4. the outage breaker ----------------------------------------------------------


def test_connection_refused_stops_the_run_and_a_rerun_sends_everyone_once(
    campaign: Path,
) -> None:
    port = free_port()
    down = send(campaign, f"http://127.0.0.1:{port}", "--report", "report.jsonl")
    assert down.returncode == 1, down.stderr
    assert "connection refused" in down.stderr
    assert "the server is running" in down.stderr
    assert "Traceback" not in down.stderr
    counts = statuses(campaign)
    assert counts.get("sent", 0) == 0 and counts.get("unknown", 0) == 0
    assert counts["pending"] >= 50  # stopped after a few failures, not after 60 x 5
    assert "nothing to send" not in down.stderr  # there was: the breaker stopped it
    # (a row may have used up its attempts before the breaker tripped)
    assert "this run: nothing sent before it stopped" in down.stderr or (
        "this run: failed " in down.stderr
    ), down.stderr
    with running_sandbox(api_key=KEY, port=port) as sandbox:
        up = send(campaign, sandbox.url)
        assert up.returncode == 0, up.stderr
        assert sorted(sandbox.count_by_to().values()) == [1] * 60


def test_tls_to_a_plain_http_port_names_the_scheme(campaign: Path) -> None:
    with running_sandbox(api_key=KEY) as sandbox:
        result = send(campaign, sandbox.url.replace("http://", "https://"))
        assert sandbox.count_by_to() == {}
    assert result.returncode == 1
    assert "speaks plain http" in result.stderr and "use http://" in result.stderr
    nothing_sent(statuses(campaign))


def test_a_host_that_does_not_resolve_names_dns(campaign: Path) -> None:
    result = send(campaign, "https://no-such-host.invalid")
    assert result.returncode == 1
    assert "host name not found" in result.stderr
    nothing_sent(statuses(campaign))


def test_per_recipient_failures_never_trip_the_breaker(campaign: Path) -> None:
    def refuse(conn: socket.socket, head: bytes) -> None:
        conn.sendall(
            ok_answer(b'{"requestError": {"serviceException": {"text": "bad"}}}', "400 Bad Request")
        )

    with raw_server(refuse) as url:
        result = send(campaign, url)
    assert result.returncode == 1
    assert "stopped" not in result.stderr
    assert statuses(campaign) == {"failed": 60}


FIVES = ["500 Internal Server Error", "502 Bad Gateway", "503 Service Unavailable", "504 Gateway Timeout", "599 Network Timeout"]  # fmt: skip


@pytest.mark.parametrize(
    "storm",
    [[status] for status in FIVES] + [FIVES, ["500 Internal Server Error", "503 Service Unavailable"]],
    ids=["500", "502", "503", "504", "599", "all-mixed", "500-503-alternating"],
)  # fmt: skip
def test_a_server_answering_5xx_to_everything_stops_the_run(
    campaign: Path, storm: list[str]
) -> None:
    # A server failing every request, or a load balancer with no servers behind it: any
    # 5xx, mixed in any order, is one outage (review 15 #5: 500s never tripped it).
    answers = iter(range(10**6))

    def down(conn: socket.socket, head: bytes) -> None:
        conn.sendall(ok_answer(b"no healthy upstream", storm[next(answers) % len(storm)]))

    with raw_server(down) as url:
        result = send(campaign, url)
    assert result.returncode == 1
    assert "HTTP 5xx from the endpoint" in result.stderr
    assert "check its status page" in result.stderr
    left = statuses(campaign)
    assert left.get("pending", 0) > 0 and left.get("sent", 0) == 0, left


def test_occasional_5xx_among_successes_never_trip_the_breaker(campaign: Path) -> None:
    # Every other request fails with a 503: retried, never an outage.
    answers = iter(range(10**6))

    def flaky(conn: socket.socket, head: bytes) -> None:
        if next(answers) % 2:
            conn.sendall(ok_answer(b"busy", "503 Service Unavailable"))
        else:
            conn.sendall(ok_answer())

    with raw_server(flaky) as url:
        result = send(campaign, url, "--max-attempts", "20")
    assert "HTTP 5xx" not in result.stderr, result.stderr
    assert statuses(campaign) == {"sent": 60}


def test_recipients_4xx_between_5xx_neither_trip_nor_hide_the_outage(campaign: Path) -> None:
    # Alone, 4xx answers never trip the breaker (see above); between 5xx answers they do
    # not reset the count either: only a 2xx shows the servers work.
    answers = iter(range(10**6))

    def down(conn: socket.socket, head: bytes) -> None:
        if next(answers) % 3:
            conn.sendall(ok_answer(b"oops", "500 Internal Server Error"))
        else:
            conn.sendall(ok_answer(b'{"requestError": {}}', "400 Bad Request"))

    with raw_server(down) as url:
        result = send(campaign, url)
    assert result.returncode == 1
    assert "HTTP 5xx from the endpoint" in result.stderr
    left = statuses(campaign)
    assert left.get("pending", 0) > 0 and left.get("sent", 0) == 0, left


# -- 5. the whole exchange has a deadline; answers are read up to a cap ------------------


def test_a_dripping_server_cannot_hold_a_send_past_its_timeout(campaign: Path) -> None:
    (campaign / "users.csv").write_text("to,name\nU1,A\nU2,B\n")

    def drip(conn: socket.socket, head: bytes) -> None:
        for byte in b"HTTP/1.1 200 OK\r\n":
            conn.sendall(bytes([byte]))
            time.sleep(0.4)

    with raw_server(drip) as url:
        result = send(campaign, url, "--timeout", "1", "--report", "report.jsonl")
    assert result.returncode == 1
    rows = [json.loads(line) for line in (campaign / "report.jsonl").read_text().splitlines()]
    assert [r["status"] for r in rows[:2]] == ["unknown", "unknown"]
    assert "--timeout 1 s" in rows[0]["error"]


@pytest.mark.parametrize("kind", ["huge", "garbled"])
def test_a_2xx_with_a_huge_or_garbled_body_is_sent(campaign: Path, kind: str) -> None:
    (campaign / "users.csv").write_text("to,name\nU1,A\nU2,B\n")

    def answer(conn: socket.socket, head: bytes) -> None:
        if kind == "huge":
            size = 20 * 1024 * 1024
            conn.sendall(f"HTTP/1.1 200 OK\r\nContent-Length: {size}\r\n\r\n".encode())
            chunk = b"x" * 65536
            for _ in range(size // len(chunk)):
                conn.sendall(chunk)
        else:
            conn.sendall(
                b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 9\r\n\r\nnot gzip!"
            )

    with raw_server(answer) as url:
        result = send(campaign, url, "--report", "report.jsonl")
    assert result.returncode == 0, result.stderr
    assert statuses(campaign) == {"sent": 2}


# -- 6. waits the user did not agree to -------------------------------------------------


def test_a_retry_after_beyond_max_wait_stops_the_run(campaign: Path) -> None:
    def limited(conn: socket.socket, head: bytes) -> None:
        conn.sendall(
            b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 99999999\r\n"
            b"Content-Length: 0\r\nConnection: close\r\n\r\n"
        )

    with raw_server(limited) as url:
        result = send(campaign, url)
    assert result.returncode == 1
    assert "asked to wait 1157 days" in result.stderr and "--max-wait 60 s" in result.stderr
    nothing_sent(statuses(campaign))


# -- 7. Ctrl-C answers at once ----------------------------------------------------------


def test_the_first_ctrl_c_says_what_it_waits_for_and_the_second_abandons(
    campaign: Path,
) -> None:
    arrived = threading.Semaphore(0)
    release = threading.Event()
    answers = iter(range(10**6))

    def hang(conn: socket.socket, head: bytes) -> None:
        if next(answers) == 0:  # the first request (sent alone) is answered
            conn.sendall(ok_answer())
            return
        arrived.release()
        release.wait(60)

    with raw_server(hang) as url:
        argv = [
            sys.executable, "-m", "linepress", "send", "def.yaml", "--data", "users.csv",
            "--base-url", url, "--no-progress", "--concurrency", "4",
        ]  # fmt: skip
        process = subprocess.Popen(
            argv,
            cwd=campaign,
            env={**os.environ, "INFOBIP_API_KEY": KEY},
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4):
            assert arrived.acquire(timeout=60)
        process.send_signal(signal.SIGINT)
        assert process.stderr is not None
        line = process.stderr.readline()
        assert "stopping: waiting for 4 requests in flight" in line
        assert "press Ctrl-C again to abandon them; they will be marked unknown" in line
        process.send_signal(signal.SIGINT)
        _, rest = process.communicate(timeout=60)
        release.set()
    assert process.returncode == 130, rest
    counts = statuses(campaign)
    assert (counts["sent"], counts["unknown"], counts["pending"]) == (1, 4, 55)


# -- 8 and 12: credentials never leave -----------------------------------------------


def test_a_base_url_with_credentials_is_a_usage_error(campaign: Path) -> None:
    result = send(campaign, "https://user:hunter2-pass@api.example.test")
    assert result.returncode == 2
    assert "must not hold a user name or password" in result.stderr
    assert "hunter2" not in result.stderr + result.stdout
    assert not (campaign / ".linepress" / "def.db").exists()


def test_error_text_that_echoes_the_credentials_is_redacted(campaign: Path) -> None:
    def echo(conn: socket.socket, head: bytes) -> None:
        auth = next(
            line for line in head.split(b"\r\n") if line.lower().startswith(b"authorization")
        )
        body = json.dumps({"requestError": {"serviceException": {"text": auth.decode()}}}).encode()
        conn.sendall(ok_answer(body, "400 Bad Request"))

    with raw_server(echo) as url:
        result = send(campaign, url, "--report", "report.csv")
    assert result.returncode == 1
    report = (campaign / "report.csv").read_text()
    assert "<redacted>" in report
    for path in (p for p in campaign.rglob("*") if p.is_file()):
        assert KEY.encode() not in path.read_bytes(), path
    assert KEY not in result.stderr


# -- 11. a journal that cannot be written -------------------------------------------------


def test_a_full_disk_while_sending_is_a_located_error_that_keeps_what_was_recorded(
    tmp_path: Path,
) -> None:
    import asyncio

    import httpx

    from linepress.send.dispatch import Dispatcher, DispatchSettings
    from linepress.send.endpoint import Endpoint
    from linepress.send.journal import JournalWriteError

    journal = SqliteJournal(tmp_path / "j.db")
    journal.claim("f", "b")
    journal.plan([(n, f"U{n}", f"U{n}", b'{"to": "x"}', None) for n in range(1, 2001)])
    pages = journal._db.execute("PRAGMA page_count").fetchone()[0]
    journal._db.execute(f"PRAGMA max_page_count = {pages + 2}")  # SQLite's own "disk full"

    def accepted(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"messageId": "m" * 500})  # rows grow

    dispatcher = Dispatcher(
        journal,
        Endpoint("http://x", None),
        DispatchSettings(concurrency=4),
        transport=httpx.MockTransport(accepted),
    )
    asyncio.run(dispatcher.run())
    failure = dispatcher.journal_failure
    assert isinstance(failure, JournalWriteError)
    assert "database or disk is full" in str(failure) and str(tmp_path / "j.db") in str(failure)
    journal.close()
    reopened = SqliteJournal(tmp_path / "j.db")
    counts = reopened.counts()
    reopened.close()
    assert counts["sent"] > 0 and sum(counts.values()) == 2000


def test_quiet_says_nothing_when_all_went_well_and_the_summary_when_not(campaign: Path) -> None:
    with running_sandbox(api_key=KEY) as sandbox:
        ok = send(campaign, sandbox.url, "-q")
    assert ok.returncode == 0 and ok.stderr == "" and ok.stdout == ""
    (campaign / "users.csv").write_text("to,name\nU9001,A\n")
    down = send(campaign, f"http://127.0.0.1:{free_port()}", "-q", "--journal", "other.db")
    assert down.returncode == 1
    assert "campaign: 1 recipients: failed 1" in down.stderr, down.stderr


# -- 2 (campaign). a dry run does what a real run would, from the real journal ---------


def test_a_dry_run_reads_the_campaign_journal_and_never_writes_it(campaign: Path) -> None:
    with running_sandbox(api_key=KEY) as sandbox:
        first = send(campaign, sandbox.url)
        assert first.returncode == 0, first.stderr
        journal = campaign / ".linepress" / "def.db"
        before = {p.name: p.read_bytes() for p in journal.parent.iterdir()}
        # Ten people join, the text changes: a real run sends those ten only.
        (campaign / "def.yaml").write_text(DEFINITION.replace("Hello", "Hi"))
        more = "".join(f"U{i:04d},Name {i}\n" for i in range(61, 71))
        with (campaign / "users.csv").open("a") as users:
            users.write(more)
        dry = send(campaign, sandbox.url, "--dry-run", "--report", "dry.csv")
        assert dry.returncode == 0, dry.stderr
        assert "60 already received an earlier version and are skipped; 10 not yet sent" in (
            dry.stderr
        )
        assert "this run: would send 10" in dry.stderr, dry.stderr
        rows = (campaign / "dry.csv").read_text().splitlines()
        assert sum(",dry-run," in r for r in rows) == 10
        assert {p.name: p.read_bytes() for p in journal.parent.iterdir()} == before
        assert sorted(sandbox.count_by_to().values()) == [1] * 60  # the dry run sent nothing
        real = send(campaign, sandbox.url)
        assert real.returncode == 0, real.stderr
        assert "this run: sent 10" in real.stderr, real.stderr
        assert sorted(sandbox.count_by_to().values()) == [1] * 70


# -- 6 (again). an endpoint that never answers leaves few rows unknown ------------------


@pytest.mark.parametrize("answered_first", [0, 20])
def test_a_never_answering_endpoint_leaves_at_most_the_concurrency_unknown(
    campaign: Path, answered_first: int
) -> None:
    """Hanging from the start: two lone probes, then it stops. Hanging mid-run: at most
    the requests in flight then (16) become unknown; the rest stay pending."""
    answers = iter(range(10**6))
    release = threading.Event()

    def hang(conn: socket.socket, head: bytes) -> None:
        if next(answers) < answered_first:
            conn.sendall(ok_answer())
            return
        release.wait(30)

    with raw_server(hang) as url:
        result = send(campaign, url, "--concurrency", "16", "--timeout", "1", "--max-attempts", "3")
        release.set()
    assert result.returncode == 1
    assert "no answer in time" in result.stderr, result.stderr
    counts = statuses(campaign)
    assert counts.get("sent", 0) == answered_first
    assert 1 <= counts["unknown"] <= (2 if answered_first == 0 else 16), counts
    assert counts["pending"] == 60 - answered_first - counts["unknown"]


# -- 1 and 5 (campaign). totals count everyone ever sent; --resend-sent: earlier versions --


def test_campaign_totals_count_everyone_sent_whatever_the_list_and_definition(
    campaign: Path,
) -> None:
    with running_sandbox(api_key=KEY) as sandbox:
        assert send(campaign, sandbox.url).returncode == 0
        # A new text; the list keeps 30 of the 60 and adds 5.
        (campaign / "def.yaml").write_text(DEFINITION.replace("Hello", "Hi"))
        kept = "".join(f"U{i:04d},Name {i}\n" for i in [*range(1, 31), *range(61, 66)])
        (campaign / "users.csv").write_text("to,name\n" + kept)
        second = send(campaign, sandbox.url, "--report", "r.csv")
        assert second.returncode == 0, second.stderr
        assert "30 already received an earlier version and are skipped; 5 not yet sent" in (
            second.stderr
        )
        assert "30 people this campaign reached are not in this list" in second.stderr
        assert "this run: sent 5" in second.stderr
        assert "campaign: 65 recipients: sent 65" in second.stderr, second.stderr
        status = subprocess.run(
            [sys.executable, "-m", "linepress", "journal", "status", ".linepress/def.db"],
            cwd=campaign, capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert "65 recipients: sent 65" in status.stdout + status.stderr
        rows = (campaign / "r.csv").read_text().splitlines()[1:-1]
        earlier = [r.split(",") for r in rows if "received version 1" in r]
        assert len(earlier) == 60  # 30 listed, 30 dropped: each with its message id
        assert all(cells[2] == "sent" and cells[5] for cells in earlier)
        assert sum("not in the current list" in r for r in rows) == 30
        assert sorted(sandbox.count_by_to().values()) == [1] * 65
        # --resend-sent: the 30 listed who received version 1 get this version, once.
        again = send(campaign, sandbox.url, "--resend-sent")
        assert again.returncode == 0, again.stderr
        assert "30 received an earlier version and are sent this one; 5 already" in again.stderr
        assert "this run: sent 30" in again.stderr
        assert send(campaign, sandbox.url, "--resend-sent").returncode == 0
        counts = sandbox.count_by_to()
        assert sorted(counts.values()) == [1] * 35 + [2] * 30
        assert all(counts[f"U{i:04d}"] == 2 for i in range(1, 31))


def test_sharded_edit_and_rerun_reports_merge_with_the_dropped_people_once(
    campaign: Path,
) -> None:
    """Each shard keeps its own dropped people as rows after the whole list, numbered so
    no two shards share one: merge-reports puts the campaign back together."""
    shard_run = [("--shard", f"{k}/3", "--journal", f"s{k}.db") for k in (1, 2, 3)]
    with running_sandbox(api_key=KEY) as sandbox:
        for extra in shard_run:
            assert send(campaign, sandbox.url, *extra).returncode == 0
        (campaign / "def.yaml").write_text(DEFINITION.replace("Hello", "Hi"))
        kept = "".join(f"U{i:04d},Name {i}\n" for i in [*range(1, 31), *range(61, 66)])
        (campaign / "users.csv").write_text("to,name\n" + kept)
        for k, extra in enumerate(shard_run, 1):
            again = send(campaign, sandbox.url, *extra, "--report", f"r{k}.jsonl")
            assert again.returncode == 0, again.stderr
        assert sorted(sandbox.count_by_to().values()) == [1] * 65
    merged = subprocess.run(
        [sys.executable, "-m", "linepress", "merge-reports", "r1.jsonl", "r2.jsonl", "r3.jsonl",
         "-o", "merged.jsonl"],
        cwd=campaign, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert merged.returncode == 0, merged.stderr
    rows = [json.loads(line) for line in (campaign / "merged.jsonl").read_text().splitlines()]
    people = [r for r in rows if "row" in r]
    assert len(people) == 65 == len({r["to"] for r in people})
    assert all(r["status"] == "sent" for r in people)
    dropped = [r for r in people if "not in the current list" in (r.get("error") or "")]
    assert sorted(r["to"] for r in dropped) == [f"U{i:04d}" for i in range(31, 61)]
    assert min(r["row"] for r in dropped) > 35  # after the whole list


def test_an_edited_included_template_is_a_changed_definition_not_a_resume(
    campaign: Path,
) -> None:
    (campaign / "def.yaml").write_text(
        "from: APP\nmessage:\n  type: TEXT\n  text: \"Hello {{ name }}{% include 'foot.j2' %}\"\n"
    )
    (campaign / "foot.j2").write_text(" - old footer")
    with running_sandbox(api_key=KEY) as sandbox:
        sandbox.set_faults(Faults(unauthorized_after=10))  # the run stops part-way
        first = send(campaign, sandbox.url, "--concurrency", "1")
        assert first.returncode == 1, first.stderr
        sandbox.set_faults(Faults())
        (campaign / "foot.j2").write_text(" - new footer")
        second = send(campaign, sandbox.url)
        assert second.returncode == 0, second.stderr
        assert "changed definition" in second.stderr, second.stderr
        texts = [d["body"]["message"]["text"] for d in sandbox.deliveries]
    assert sum(t.endswith("old footer") for t in texts) == 10
    assert sum(t.endswith("new footer") for t in texts) == 50
    assert len(texts) == 60
