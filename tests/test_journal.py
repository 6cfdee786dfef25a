"""The campaign journal: its rules as a user meets them through `linepress send`, and its interface."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from linepress.cli.main import main
from linepress.send.journal import Outcome
from linepress.send.sqlite_journal import SqliteJournal

DEFINITION = "from: APP\nmessage:\n  type: TEXT\n  text: 'Hi {{ name }}'\n"
ENV = {"INFOBIP_BASE_URL": "http://127.0.0.1:9", "INFOBIP_API_KEY": "k"}


@pytest.fixture
def campaign(tmp_path: Path) -> Path:
    (tmp_path / "def.yaml").write_text(DEFINITION)
    (tmp_path / "users.csv").write_text("to,name\nU1,A\nU2,B\n")
    return tmp_path


def cli(folder: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), env=ENV, catch_exceptions=False)
    return result.exit_code, result.output + (result.stderr if result.stderr_bytes else "")


def test_the_default_journal_lives_in_a_git_ignored_folder(campaign: Path) -> None:
    from linepress.operations.compile import DataOptions
    from linepress.operations.send import SendOptions, send

    options = SendOptions(
        definition=campaign / "def.yaml", data=DataOptions(str(campaign / "users.csv"))
    )
    result = send(options, transport=httpx.MockTransport(_accepted), environ=ENV)
    assert result.ok and result.journal == campaign / ".linepress" / "def.db"
    assert (campaign / ".linepress" / ".gitignore").read_text().splitlines()[-1] == "*"
    assert not (campaign / "def.linepress.db").exists()


@pytest.mark.parametrize(
    "content",
    [b"this is not a database at all" * 100, "sqlite"],
    ids=["damaged", "foreign"],
)
def test_a_file_that_is_not_a_journal_is_a_usage_error(campaign: Path, content: object) -> None:
    path = campaign / "j.db"
    if content == "sqlite":
        db = sqlite3.connect(path)
        db.execute("CREATE TABLE invoices (id INTEGER)")
        db.commit()
        db.close()
    else:
        assert isinstance(content, bytes)
        path.write_bytes(content)
    before = path.read_bytes()
    code, output = cli(
        campaign, "send", str(campaign / "def.yaml"), "--data", str(campaign / "users.csv"),
        "--journal", str(path), "--no-progress",
    )  # fmt: skip
    assert code == 2
    assert str(path) in output and "not a linepress journal" in output
    assert "Traceback" not in output
    assert path.read_bytes() == before


def test_an_attempt_counts_as_soon_as_it_may_leave(tmp_path: Path) -> None:
    journal = SqliteJournal(tmp_path / "j.db")
    journal.claim("f", "b")
    journal.plan([(1, "U1", "U1", b"{}", None), (2, "U2", "U2", b"{}", None)])
    journal.apply([], inflight=[1, 2])
    journal.apply([Outcome(1, "sent", 1, 200, "m1")])
    assert journal.recover() == 1
    by_row = {e.row: e for e in journal.entries()}
    assert (by_row[2].status, by_row[2].attempts) == ("unknown", 1)
    journal.close()


def test_people_sent_by_an_earlier_plan_are_skipped_by_the_next(tmp_path: Path) -> None:
    journal = SqliteJournal(tmp_path / "j.db")
    assert journal.claim("v1", "b") == "new"
    journal.plan([(1, "U1", "U1", b"a", None), (2, "U2", "U2", b"a", None)])
    journal.apply([], inflight=[1, 2])
    journal.apply([Outcome(1, "sent", 1), Outcome(2, "unknown", 1)])
    assert journal.claim("v1", "b") == "resume"
    assert journal.claim("v2", "b") == "changed"
    counts = journal.plan(
        [(1, "U3", "U3", b"b", None), (2, "U1", "U1", b"b", None), (3, "U2", "U2", b"b", None)]
    )
    assert (counts.pending, counts.already_sent, counts.earlier_unknown) == (1, 1, 1)
    settled = journal.settle(None, "failed")
    assert settled.rows == [3]
    journal.claim("v3", "b")
    counts = journal.plan([(1, "U2", "U2", b"c", None)])
    assert counts.pending == 1  # settled as not delivered: the next version reaches them
    journal.close()


def test_a_journal_of_the_old_format_keeps_its_people(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    db.executescript(
        """
        CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE recipients (row INTEGER PRIMARY KEY, key TEXT NOT NULL, recipient TEXT,
            body BLOB, status TEXT NOT NULL, retryable INTEGER NOT NULL DEFAULT 0,
            attempts INTEGER NOT NULL DEFAULT 0, http_status INTEGER, message_id TEXT,
            error TEXT, created_at REAL NOT NULL, updated_at REAL NOT NULL);
        CREATE TABLE message_keys (key TEXT PRIMARY KEY, row INTEGER NOT NULL);
        CREATE TABLE earlier (key TEXT PRIMARY KEY, status TEXT NOT NULL);
        INSERT INTO meta VALUES ('version', '1'), ('fingerprint', 'old'), ('planned', '1');
        INSERT INTO recipients (row, key, recipient, status, created_at, updated_at)
            VALUES (1, 'h1', 'U1', 'skipped', 0, 0), (2, 'h2', 'U2', 'sent', 0, 0);
        INSERT INTO earlier VALUES ('h1', 'sent');
        """
    )
    db.commit()
    db.close()
    journal = SqliteJournal(path)
    journal.claim("new", "b")
    counts = journal.plan([(1, "U1", "U1", b"x", None), (2, "U2", "U2", b"x", None)])
    assert counts.already_sent == 2
    journal.close()


def test_new_run_is_gone_with_a_pointer_to_what_replaced_it(campaign: Path) -> None:
    code, output = cli(campaign, "send", str(campaign / "def.yaml"), "--new-run")
    assert code == 2 and "--resend-sent" in output


def test_help_says_what_a_rerun_does(campaign: Path) -> None:
    code, output = cli(campaign, "send", "--help")
    assert code == 0
    assert "--resend-sent" in output and "resending everyone" not in output


def _accepted(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json={"messageId": json.loads(request.content)["to"]})


# -- linepress journal status | report | settle ----------------------------------


def _journal_with_unknowns(campaign: Path) -> Path:
    """A campaign whose rows 2 and 4 lost their answers after sending (unknown)."""
    from linepress.operations.compile import DataOptions
    from linepress.operations.send import SendOptions, send

    (campaign / "users.csv").write_text('to,name\nU1,A\nU2,=HYPERLINK("x")\nU3,C\nU4,D\n')

    def handler(request: httpx.Request) -> httpx.Response:
        if json.loads(request.content)["to"] in ("U2", "U4"):
            raise httpx.ReadError("connection reset", request=request)
        return _accepted(request)

    result = send(
        SendOptions(
            definition=campaign / "def.yaml", data=DataOptions(str(campaign / "users.csv"))
        ),
        transport=httpx.MockTransport(handler),
        environ=ENV,
    )
    assert result.summary is not None and result.summary.counts["unknown"] == 2
    assert "journal settle" in result.summary.line()
    return campaign / ".linepress" / "def.db"


def test_journal_status_lists_counts_runs_and_the_unknown_rows(campaign: Path) -> None:
    journal = _journal_with_unknowns(campaign)
    code, output = cli(campaign, "journal", "status", str(journal))
    assert code == 0, output
    assert "4 recipients: sent 2, unknown 2" in output
    assert "run 1 at" in output
    assert "row 2: to U2" in output and "row 4: to U4" in output
    assert "journal settle" in output


def test_settling_unknown_rows_by_hand(campaign: Path) -> None:
    journal = _journal_with_unknowns(campaign)
    code, output = cli(campaign, "journal", "settle", str(journal), "--as", "sent", "--rows", "2")
    assert code == 0, output
    code, output = cli(
        campaign, "journal", "settle", str(journal), "--as", "failed", "--rows", "1,4"
    )
    assert code == 1 and "row 1: left as it is (sent, not unknown)" in output
    code, output = cli(campaign, "journal", "report", str(journal), "-o", str(campaign / "r.jsonl"))
    assert code == 0, output
    rows = [json.loads(line) for line in (campaign / "r.jsonl").read_text().splitlines()]
    assert [r.get("status") for r in rows[:4]] == ["sent", "sent", "sent", "failed"]
    assert "marked sent by hand" in rows[1]["error"]


def test_the_journal_report_is_written_from_the_journal_at_any_time(campaign: Path) -> None:
    journal = _journal_with_unknowns(campaign)
    raw = SqliteJournal(journal)
    raw.apply([], inflight=[1])  # as if a run were killed while row 1 was in flight
    raw.close()
    code, output = cli(campaign, "journal", "report", str(journal), "-o", str(campaign / "r.csv"))
    assert code == 0, output
    lines = (campaign / "r.csv").read_text().splitlines()
    assert lines[0] == "row,to,status,http_status,attempts,message_id,error"
    assert lines[1].startswith("1,U1,inflight,200,2,")
    assert len(lines) == 6  # the header, four rows, the totals
    assert lines[-1] == 'summary,,"total 4: sent 1, unknown 2, inflight 1",,,,'


def test_journal_commands_on_something_else_are_usage_errors(campaign: Path) -> None:
    code, output = cli(campaign, "journal", "status", str(campaign / "nope.db"))
    assert code == 2 and "no linepress journal here" in output
    code, output = cli(campaign, "journal", "status", str(campaign / "users.csv"))
    assert code == 2 and "not a linepress journal" in output
    code, output = cli(campaign, "journal", "settle", str(campaign / "users.csv"), "--as", "sent")
    assert code == 2 and "--all-unknown" in output


@pytest.mark.parametrize("suffix", ["", "-wal"])
def test_a_report_path_that_is_the_journal_is_refused_before_sending(
    campaign: Path, suffix: str
) -> None:
    journal = _journal_with_unknowns(campaign)
    before = journal.read_bytes()
    report = str(journal) + suffix
    code, output = cli(
        campaign, "send", str(campaign / "def.yaml"), "--data", str(campaign / "users.csv"),
        "--report", report, "--no-progress",
    )  # fmt: skip
    assert code == 2, output
    # the journal is an input and an output: either check names it
    assert "def.db" in output and "of this command" in output
    assert journal.read_bytes()[:16] == before[:16] == b"SQLite format 3\x00"
    code, output = cli(campaign, "journal", "status", str(journal))
    assert code == 0 and "4 recipients: sent 2, unknown 2" in output


@pytest.mark.parametrize("command", ["status", "report"])
def test_a_journal_damaged_inside_is_a_usage_error_not_a_crash(
    campaign: Path, command: str
) -> None:
    from linepress.operations.compile import DataOptions
    from linepress.operations.send import SendOptions, send

    rows = "".join(f"U{n:032x},N{n}\n" for n in range(3000))
    (campaign / "users.csv").write_text("to,name\n" + rows)
    send(
        SendOptions(
            definition=campaign / "def.yaml", data=DataOptions(str(campaign / "users.csv"))
        ),
        transport=httpx.MockTransport(_accepted),
        environ=ENV,
    )
    journal = campaign / ".linepress" / "def.db"
    with journal.open("r+b") as file:  # the header stays good: pages further in are not
        file.seek(8192)
        file.write(b"X" * 85)
        file.seek(16384)
        file.write(b"Y" * 4000)
    out = ["-o", str(campaign / "r.csv")] if command == "report" else []
    code, output = cli(campaign, "journal", command, str(journal), *out)
    assert code == 2, output
    assert "the journal is damaged" in output and "internal error" not in output
    assert not (campaign / "r.csv").exists()
