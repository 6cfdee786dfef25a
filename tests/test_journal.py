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
