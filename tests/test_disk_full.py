"""A full disk, for real, through the CLI (issue 15, item 11).

A small tmpfs is mounted for each test (root, as CI containers run; skipped with
the reason elsewhere, never when CI=true), and filled: by a filler file, or by
the test's own loopback endpoint in the middle of a send. A file size limit
(RLIMIT_FSIZE with SIGXFSZ ignored, so writes fail with EFBIG) is the portable
second path. Each time: a located error naming the file, what was recorded
kept, no temporary file left behind, no traceback, a non-zero exit.

What SQLite does, verified here: on ENOSPC a write fails with SQLITE_FULL
("database or disk is full") and the transaction rolls back, earlier commits
stay; on EFBIG it is SQLITE_IOERR_WRITE ("disk I/O error").
"""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

DEFINITION = "from: APP\nmessage:\n  type: TEXT\n  text: 'Hi {{ name }}'\n"
KEY = "disk-full-test-key"


def linepress(*args: str, cwd: Path, fsize: int | None = None) -> subprocess.CompletedProcess[str]:
    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past it fail with EFBIG
        assert fsize is not None
        resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))

    return subprocess.run(
        [sys.executable, "-m", "linepress", *args],
        cwd=cwd,
        env={**os.environ, "INFOBIP_API_KEY": KEY},
        capture_output=True,
        text=True,
        timeout=180,
        preexec_fn=limit if fsize is not None else None,
    )


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Path]:
    """A 6 MiB tmpfs of the test's own."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must be able to mount a tmpfs (as root): {done.stderr.strip()}")
        pytest.skip(f"cannot mount a tmpfs here (needs root): {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(disk: Path, leave: int = 0) -> None:
    """Fill `disk` until at most `leave` bytes are free."""
    with (disk / "filler").open("ab") as filler:
        free = os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize
        chunk = b"\0" * 4096
        try:
            for _ in range(max(0, free - leave) // len(chunk)):
                filler.write(chunk)
            filler.flush()
        except OSError:
            pass  # full already


@pytest.fixture
def campaign(tmp_path: Path) -> Path:
    folder = tmp_path / "campaign"
    folder.mkdir()
    (folder / "def.yaml").write_text(DEFINITION)
    (folder / "users.csv").write_text(
        "to,name\n" + "".join(f"U{i:032x},{'N' * 150} {i}\n" for i in range(1, 401))
    )
    return folder


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_compile_onto_a_full_disk_names_the_file_and_leaves_nothing(
    disk: Path, campaign: Path
) -> None:
    fill(disk, leave=16 * 1024)
    done = linepress(
        "compile", "def.yaml", "--data", "users.csv", "-o", str(disk / "out.jsonl"), cwd=campaign
    )
    assert done.returncode == 1, done.stderr
    assert done.stderr.startswith(
        f"{disk / 'out.jsonl'}: cannot write: the disk is full (No space left on device)"
    )
    assert "Traceback" not in done.stderr and "internal error" not in done.stderr
    assert not (disk / "out.jsonl").exists()
    assert leftovers(disk) == []


def test_rejects_onto_a_full_disk(disk: Path, campaign: Path) -> None:
    with (campaign / "users.csv").open("a") as data:
        data.writelines(f",no recipient {i}\n" for i in range(400))  # no `to`: rejected
    fill(disk, leave=8 * 1024)
    done = linepress(
        "compile", "def.yaml", "--data", "users.csv", "--keep-going",
        "-o", "out.jsonl", "--rejects", str(disk / "rejects.jsonl"), cwd=campaign,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert f"{disk / 'rejects.jsonl'}: cannot write: the disk is full" in done.stderr
    assert leftovers(disk) == [] and leftovers(campaign) == []


class Endpoint(ThreadingHTTPServer):
    """Infobip's LINE endpoint, answering 200; on request `fill_at` it fills the disk first."""

    daemon_threads = True

    def __init__(self, disk: Path, fill_at: int) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.disk = disk
        self.fill_at = fill_at
        self.received: Counter[str] = Counter()
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: Endpoint

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with self.server.lock:
            self.server.received[body["to"]] += 1
            if sum(self.server.received.values()) == self.server.fill_at:
                fill(self.server.disk)
        answer = json.dumps({"to": body["to"], "messageCount": 1, "messageId": "m"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def endpoint(disk: Path) -> Iterator[Endpoint]:
    server = Endpoint(disk, fill_at=60)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def journal_counts(journal: Path, cwd: Path) -> dict[str, int]:
    done = linepress("journal", "report", str(journal), "-o", "status.jsonl", cwd=cwd)
    assert "Traceback" not in done.stderr
    closing = json.loads((cwd / "status.jsonl").read_text().splitlines()[-1])["summary"]
    return {k: v for k, v in closing.items() if isinstance(v, int) and k != "total" and v}


def test_a_journal_on_a_disk_that_fills_mid_send_keeps_what_it_recorded(
    disk: Path, campaign: Path, endpoint: Endpoint
) -> None:
    journal = disk / "spring.db"
    send = (
        "send", "def.yaml", "--data", "users.csv", "--base-url", endpoint.url,
        "--journal", str(journal), "--no-progress", "--concurrency", "4",
    )  # fmt: skip
    done = linepress(*send, cwd=campaign)
    assert done.returncode == 1, done.stderr
    assert (
        f"{journal}: cannot write the journal (the disk is full: database or disk is full); "
        "what it recorded before is kept" in done.stderr
    )
    assert "Traceback" not in done.stderr and "internal error" not in done.stderr
    kept = journal_counts(journal, campaign)
    assert kept.get("sent", 0) >= 1  # recorded before the disk filled
    assert sum(kept.values()) == 400

    (disk / "filler").unlink()  # space again: the same command finishes the campaign
    done = linepress(*send, cwd=campaign)
    after = journal_counts(journal, campaign)
    assert after.get("pending", 0) == after.get("inflight", 0) == 0, done.stderr
    # One message per person: those whose answer was lost are `unknown`, not resent.
    assert max(endpoint.received.values()) == 1
    assert len(endpoint.received) == after["sent"] + after.get("unknown", 0) == 400
    assert done.returncode == (0 if "unknown" not in after else 1), done.stderr


def test_a_report_onto_a_full_disk_is_an_error_and_the_journal_keeps_it(
    disk: Path, campaign: Path, endpoint: Endpoint
) -> None:
    endpoint.fill_at = 0  # never: the disk is full from the start
    fill(disk, leave=16 * 1024)
    report = disk / "report.csv"
    done = linepress(
        "send", "def.yaml", "--data", "users.csv", "--base-url", endpoint.url,
        "--no-progress", "--report", str(report), cwd=campaign,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert f"{report}: cannot write: the disk is full (No space left on device)" in done.stderr
    assert "linepress journal report .linepress/def.db -o" in done.stderr
    assert "sent 400" in done.stderr  # the summary still shows
    assert not report.exists() and leftovers(disk) == []
    assert journal_counts(campaign / ".linepress" / "def.db", campaign) == {"sent": 400}


def test_a_file_size_limit_is_a_located_error_too(campaign: Path) -> None:
    """EFBIG, no mount needed: an output and a journal past `ulimit -f`."""
    done = linepress(
        "compile", "def.yaml", "--data", "users.csv", "-o", "out.jsonl", cwd=campaign, fsize=20_000
    )
    assert done.returncode == 1, done.stderr
    assert done.stderr.startswith(
        "out.jsonl: cannot write: the file is larger than this system allows (File too large)"
    )
    assert not (campaign / "out.jsonl").exists() and leftovers(campaign) == []

    done = linepress(
        "send", "def.yaml", "--data", "users.csv", "--base-url", "http://127.0.0.1:9",
        "--journal", "j.db", "--no-progress", cwd=campaign, fsize=20_000,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert done.stderr.startswith(
        "j.db: cannot write the journal (disk I/O error; a file size limit is set: "
        "`ulimit -f` is 20000 bytes)"
    )
    assert "Traceback" not in done.stderr
