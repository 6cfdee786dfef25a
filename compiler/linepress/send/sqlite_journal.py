"""The SQLite campaign journal: one file per campaign, written so a crash loses nothing.

WAL with `synchronous=NORMAL`: a commit reaches the OS before `commit()` returns,
which survives kill -9 (not a power cut), at about 7x the speed of FULL. The
sender calls `checkpoint()` every few seconds, so a journal copied without its
`-wal` file still holds all but the last few seconds.

Tables: `recipients` (the current plan, one row per record), `message_keys`
(first row per identity key, for duplicates), `people` (who earlier plans of the
campaign sent to, or may have: the campaign rule), `runs`, `meta`.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import IO, Literal

from linepress.send import ledger
from linepress.send.journal import (
    Claim,
    Entry,
    JournalBusy,
    JournalMismatch,
    JournalWriteError,
    ListShape,
    NotAJournal,
    Outcome,
    PlanCounts,
    Planned,
    RunRecord,
    Settled,
    Status,
)

SCHEMA_VERSION = "2"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS recipients (
    row INTEGER PRIMARY KEY,          -- data record number (or payload line), from 1
    key TEXT NOT NULL,                -- identity: the person (`to`), `to#row`, `invalid#row`
    recipient TEXT,                   -- the body's `to`
    body BLOB,                        -- the exact bytes to send
    status TEXT NOT NULL,
    retryable INTEGER NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0,
    http_status INTEGER,
    message_id TEXT,
    error TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS message_keys (key TEXT PRIMARY KEY, row INTEGER NOT NULL);
-- People earlier plans of this campaign sent to ('sent') or may have ('unknown'):
-- the message id, the plan (version) that reached them, a digest of its body.
CREATE TABLE IF NOT EXISTS people (
    recipient TEXT PRIMARY KEY, status TEXT NOT NULL, message_id TEXT, version INTEGER,
    digest BLOB
);
CREATE TABLE IF NOT EXISTS runs (
    number INTEGER PRIMARY KEY,
    started_at REAL NOT NULL,
    finished_at REAL,
    description TEXT NOT NULL,
    counts TEXT,
    stopped TEXT
);
"""

_OURS = {"meta", "recipients", "message_keys"}


class SqliteJournal:
    """A campaign journal in one SQLite file, held with an exclusive lock while open."""

    #: One run holds the journal at a time: its `--rate` is all its own, and so is
    #: what its pacer finds (nothing to share).
    live_workers = 1
    campaign_pace: tuple[float, float | None] | None = None
    #: This run is the campaign's only sender: its own tally is the campaign's progress.
    campaign_left: int | None = None
    #: A local commit (WAL, no fsync) is quicker than handing it to a thread.
    commits_wait = False

    def share_pace(self, limit: float | None, throttled_at: float | None) -> None:
        return None

    def __init__(self, path: Path | str, *, read_only: bool = False) -> None:
        """Open (or create) the journal at `path`.

        `read_only`: only read (while a run may be sending: no lock is taken).
        Raises `NotAJournal` for a file that is not one (damaged, another
        program's database, unreadable) and `JournalBusy` when another process
        holds it.
        """
        self.path = Path(path)
        self.location = str(path)
        self._fresh = not self.path.exists()
        self._lock: IO[bytes] | None = None
        if read_only:
            self._fresh = False
            self._db = self._connect_read_only()
            return
        self._lock = self._acquire()
        try:
            self._db = self._connect()
        except BaseException:
            self._release()
            raise

    def _connect_read_only(self) -> sqlite3.Connection:
        try:
            db = sqlite3.connect(
                f"{self.path.resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False
            )
            tables = {
                str(r[0]) for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")
            }
        except sqlite3.Error as exc:
            raise NotAJournal(f"is not a linepress journal ({exc})") from None
        if not tables >= _OURS:
            db.close()
            raise NotAJournal("is not a linepress journal (not made by `linepress send`)")
        return db

    def _acquire(self) -> IO[bytes]:
        # One run per journal: two at once would both send the pending messages.
        try:
            handle = self.path.open("ab")
        except OSError as exc:
            raise NotAJournal(f"cannot open the journal: {exc.strerror}") from None
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise JournalBusy(self.location) from None
        return handle

    def _release(self) -> None:
        if self._lock is None:
            return
        with contextlib.suppress(OSError):
            fcntl.flock(self._lock, fcntl.LOCK_UN)
        self._lock.close()

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.location, isolation_level=None, check_same_thread=False)
        try:
            tables = {
                str(r[0]) for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")
            }
            if tables and not tables >= _OURS:
                shown = ", ".join(sorted(tables)[:5])
                raise NotAJournal(
                    f"is a SQLite database but not a linepress journal (its tables: {shown})"
                )
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.executescript(_SCHEMA)
            version = db.execute("SELECT value FROM meta WHERE name = 'version'").fetchone()
            if version is not None and str(version[0]) not in ("1", SCHEMA_VERSION):
                raise NotAJournal(
                    f"is a journal of a newer linepress (format {version[0]}); upgrade linepress"
                )
            if "earlier" in tables:
                _migrate_v1(db)
            _add_people_columns(db)
            db.create_function("linepress_digest", 1, body_digest, deterministic=True)
        except sqlite3.DatabaseError as exc:
            db.close()
            if getattr(exc, "sqlite_errorname", "").startswith(("SQLITE_FULL", "SQLITE_IOERR")):
                raise JournalWriteError.at(self.location, str(exc)) from None  # a full disk
            raise NotAJournal(f"is not a linepress journal ({exc})") from None
        except NotAJournal:
            db.close()
            raise
        # No index on status: every message changes status twice, and keeping such an
        # index up to date cost 19 us per message against 12 without. Journals made
        # before drop it; when another connection holds the lock, next time.
        with contextlib.suppress(sqlite3.OperationalError):
            db.execute("DROP INDEX IF EXISTS recipients_status")
        return db

    # -- identity -----------------------------------------------------------

    def claim(self, fingerprint: str, binding: str, *, replan: bool = False) -> Claim:
        recorded = self.meta("binding")
        if recorded is not None and recorded != binding:
            raise JournalMismatch(recorded)
        existing = self.meta("fingerprint")
        if not replan and existing == fingerprint and self.meta("planned") == "1":
            return "resume"
        # Planning never sends, so an unfinished plan is simply redone. Who was sent
        # (or maybe sent) is remembered by person, so no plan sends them again; each
        # plan is a version of the campaign's message, numbered from 1.
        number = self.plan_number
        with self._transaction():
            self._remember_people(number)
            self._db.execute("DELETE FROM recipients")
            self._db.execute("DELETE FROM message_keys")
            self._db.execute("DELETE FROM meta WHERE name IN ('planned', 'description')")
        self._set_meta(
            {
                "fingerprint": fingerprint,
                "binding": binding,
                "version": SCHEMA_VERSION,
                "plan_number": str(number + 1 if existing is not None else number),
            }
        )
        return "new" if existing is None and not self._has_people() else "changed"

    def reached_anyone(self) -> bool:
        """True when a request of this campaign may have reached an endpoint: someone is
        (or may be) sent, in flight, or answered (a failure with an HTTP status)."""
        if self._has_people():
            return True
        found = self._db.execute(
            "SELECT 1 FROM recipients WHERE status IN ('sent', 'unknown', 'inflight') "
            "OR http_status IS NOT NULL OR message_id IS NOT NULL LIMIT 1"
        ).fetchone()
        return found is not None

    def rebind(self, binding: str) -> None:
        """Bind the campaign to `binding` (a new base URL); who was reached stays recorded."""
        self._set_meta({"binding": binding})

    def describe(self, text: str) -> None:
        self._set_meta({"description": text})

    def meta(self, name: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
        return None if row is None else str(row[0])

    def _set_meta(self, values: dict[str, str]) -> None:
        with self._transaction():
            self._db.executemany(
                "INSERT INTO meta (name, value) VALUES (?, ?) "
                "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                values.items(),
            )

    @property
    def plan_number(self) -> int:
        """The current plan's number: the campaign's version of its message (1, 2, ...)."""
        return int(self.meta("plan_number") or "1")

    def _remember_people(self, version: int) -> None:
        # What this plan's requests did, by person (rows carried over from earlier plans
        # made no request: attempts 0, already remembered). A `sent` one records what
        # reached them last (message id, version, body digest); `unknown`/`inflight` (a
        # crash) may have arrived, and never hides an earlier `sent`.
        self._db.execute(
            "INSERT INTO people (recipient, status, message_id, version, digest) "
            "SELECT recipient, CASE status WHEN 'sent' THEN 'sent' ELSE 'unknown' END, "
            "message_id, ?, CASE WHEN body IS NULL THEN NULL ELSE linepress_digest(body) END "
            "FROM recipients WHERE status IN ('sent', 'unknown', 'inflight') "
            "AND recipient IS NOT NULL "
            "AND (attempts > 0 OR recipient NOT IN (SELECT recipient FROM people)) "
            "ON CONFLICT (recipient) DO UPDATE SET "
            "message_id = CASE WHEN excluded.status = 'sent' OR people.status <> 'sent' "
            "THEN excluded.message_id ELSE people.message_id END, "
            "version = CASE WHEN excluded.status = 'sent' OR people.status <> 'sent' "
            "THEN excluded.version ELSE people.version END, "
            "digest = CASE WHEN excluded.status = 'sent' OR people.status <> 'sent' "
            "THEN excluded.digest ELSE people.digest END, "
            "status = CASE WHEN people.status = 'sent' THEN 'sent' ELSE excluded.status END",
            (version,),
        )

    def _has_people(self) -> bool:
        return self._db.execute("SELECT 1 FROM people LIMIT 1").fetchone() is not None

    # -- planning -----------------------------------------------------------

    def plan(
        self,
        entries: Iterable[Planned],
        *,
        resend_sent: bool = False,
        shape: ListShape | None = None,
    ) -> PlanCounts:
        now = time.time()
        counts = dict.fromkeys(
            ("pending", "invalid", "duplicates", "sent", "unknown", "resend", "dropped"), 0
        )
        check_people = self._has_people()
        batch: list[tuple[object, ...]] = []
        with self._transaction():
            for row, key, recipient, body, error in entries:
                status: Status = "pending"
                message_id = None
                if error is not None:
                    status = "failed"
                    counts["invalid"] += 1
                else:
                    first = self._first_row(key, row)
                    earlier = self._earlier(recipient) if check_people else None
                    if first != row:
                        status, body = "skipped", None
                        error = f"{ledger.SAME_RECIPIENT_AS_ROW}{first}"
                        counts["duplicates"] += 1
                    elif earlier is not None and earlier[0] == "sent":
                        same = earlier[3] is not None and earlier[3] == body_digest(body)
                        if resend_sent and not same:  # an earlier version: send this one
                            error = ledger.resending(earlier[2])
                            counts["resend"] += 1
                        else:  # the campaign counts them as sent, with what reached them
                            status, message_id = "sent", earlier[1]
                            error = ledger.already_sent(earlier[2], same=same)
                            counts["sent"] += 1
                    elif earlier is not None and not resend_sent:
                        status, error = "unknown", ledger.MAYBE_SENT
                        counts["unknown"] += 1
                    else:
                        counts["pending"] += 1
                batch.append((row, key, recipient, body, status, message_id, now, now, error))
                if len(batch) >= 2000:
                    self._insert(batch)
                    batch.clear()
            self._insert(batch)
            if check_people:
                counts["dropped"] = self._keep_dropped(now, shape or ListShape())
            self._db.execute(
                "INSERT INTO meta (name, value) VALUES ('planned', '1') "
                "ON CONFLICT (name) DO UPDATE SET value = '1'"
            )
        return PlanCounts(
            pending=counts["pending"],
            invalid=counts["invalid"],
            duplicates=counts["duplicates"],
            already_sent=counts["sent"],
            earlier_unknown=counts["unknown"],
            resend=counts["resend"],
            dropped=counts["dropped"],
        )

    def _keep_dropped(self, now: float, shape: ListShape) -> int:
        """People earlier plans reached who are not in this list: rows after the list's last
        (`ledger.DROPPED_ROW`), so the campaign's counts and reports still show them.
        Returns how many."""
        mine = int(self._db.execute("SELECT coalesce(max(row), 0) FROM recipients").fetchone()[0])
        number = ledger.DROPPED_ROW.replace("%s", "?").format(
            nth="row_number() OVER (ORDER BY rowid)"
        )
        cursor = self._db.execute(
            "INSERT INTO recipients (row, key, recipient, body, status, message_id, "
            "created_at, updated_at, error) "
            f"SELECT {number}, ? || recipient, recipient, "
            "NULL, status, message_id, ?, ?, "
            "CASE status WHEN 'sent' THEN ? || coalesce(version, 1) ELSE ? END "
            "FROM people WHERE recipient NOT IN "
            "(SELECT recipient FROM recipients WHERE recipient IS NOT NULL)",
            (max(mine, shape.last_row), shape.shards, shape.shard, ledger.DROPPED_KEY, now, now,
             ledger.DROPPED_SENT, ledger.DROPPED_MAYBE),
        )  # fmt: skip
        return max(cursor.rowcount, 0)

    def _earlier(self, recipient: str | None) -> tuple[str, str | None, int, bytes | None] | None:
        """(status, message id, version, body digest) of what earlier plans sent `recipient`."""
        if recipient is None:
            return None
        found = self._db.execute(
            "SELECT status, message_id, coalesce(version, 1), digest FROM people "
            "WHERE recipient = ?",
            (recipient,),
        ).fetchone()
        return None if found is None else (str(found[0]), found[1], int(found[2]), found[3])

    def _first_row(self, key: str, row: int) -> int:
        self._db.execute("INSERT OR IGNORE INTO message_keys (key, row) VALUES (?, ?)", (key, row))
        found = self._db.execute("SELECT row FROM message_keys WHERE key = ?", (key,)).fetchone()
        return int(found[0])

    def _insert(self, batch: list[tuple[object, ...]]) -> None:
        self._db.executemany(
            "INSERT INTO recipients (row, key, recipient, body, status, message_id, created_at, "
            "updated_at, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            batch,
        )

    # -- sending ------------------------------------------------------------

    def recover(self) -> int:
        with self._transaction():
            cursor = self._db.execute(
                "UPDATE recipients SET status = 'unknown', updated_at = ?, "
                "error = coalesce(error, ?) WHERE status = 'inflight'",
                (time.time(), ledger.STOPPED_IN_FLIGHT),
            )
        return cursor.rowcount

    def to_send(
        self, *, resend_unknown: bool, after: int = 0, limit: int = 1000
    ) -> list[tuple[int, bytes, int]]:
        query = f"SELECT row, body, attempts FROM recipients WHERE row > ? AND {ledger.sendable(resend_unknown)} ORDER BY row LIMIT ?"
        return [(int(r), bytes(b), int(a)) for r, b, a in self._db.execute(query, (after, limit))]

    def sendable(self, *, resend_unknown: bool) -> int:
        query = f"SELECT count(*) FROM recipients WHERE {ledger.sendable(resend_unknown)}"
        return int(self._db.execute(query).fetchone()[0])

    def more_later(self) -> float | None:
        return None  # one run holds this journal: nothing comes back

    def apply(self, outcomes: Iterable[Outcome], inflight: Iterable[int] = ()) -> None:
        now = time.time()
        with self._transaction():
            self._db.executemany(
                "UPDATE recipients SET status = ?, attempts = ?, http_status = ?, message_id = ?, "
                "error = ?, retryable = ?, updated_at = ? WHERE row = ?",
                [
                    (
                        o.status,
                        o.attempts,
                        o.http_status,
                        o.message_id,
                        o.error,
                        int(o.retryable),
                        now,
                        o.row,
                    )
                    for o in outcomes
                ],
            )
            # The attempt counts as soon as it may leave: a crash then reports it.
            self._db.executemany(
                "UPDATE recipients SET status = 'inflight', attempts = attempts + 1, "
                "updated_at = ? WHERE row = ?",
                [(now, row) for row in inflight],
            )

    def checkpoint(self) -> None:
        try:
            self._db.execute("PRAGMA wal_checkpoint(PASSIVE)")
        except sqlite3.Error as exc:
            raise JournalWriteError.at(self.location, str(exc)) from None

    # -- runs -----------------------------------------------------------------

    def begin_run(self, description: str) -> int:
        with self._transaction():
            cursor = self._db.execute(
                "INSERT INTO runs (started_at, description) VALUES (?, ?)",
                (time.time(), description),
            )
        return int(cursor.lastrowid or 0)

    def end_run(self, number: int, counts: dict[str, int], stopped: str | None) -> None:
        with self._transaction():
            self._db.execute(
                "UPDATE runs SET finished_at = ?, counts = ?, stopped = ? WHERE number = ?",
                (time.time(), json.dumps(counts), stopped, number),
            )

    def runs(self) -> list[RunRecord]:
        if self._db.execute("SELECT 1 FROM sqlite_master WHERE name = 'runs'").fetchone() is None:
            return []  # a format-1 journal opened read-only
        return [
            ledger.run_record(
                number, started, finished, description, json.loads(counts or "{}"), stopped
            )
            for number, started, finished, description, counts, stopped in self._db.execute(
                "SELECT number, started_at, finished_at, description, counts, stopped "
                "FROM runs ORDER BY number"
            )
        ]

    # -- reading and settling ---------------------------------------------------

    def counts(self) -> dict[str, int]:
        return ledger.by_status(
            self._db.execute("SELECT status, count(*) FROM recipients GROUP BY status")
        )

    def entries(self, status: Status | None = None, batch: int = 5000) -> Iterator[Entry]:
        after = 0
        where = "row > ?" + (" AND status = ?" if status else "")
        while True:
            params: tuple[object, ...] = (after, status, batch) if status else (after, batch)
            rows = self._db.execute(
                f"SELECT {ledger.ENTRY_COLUMNS} FROM recipients WHERE {where} ORDER BY row LIMIT ?",
                params,
            ).fetchall()
            if not rows:
                return
            yield from map(ledger.entry, rows)
            after = rows[-1][0]

    def settle(self, rows: Sequence[int] | None, status: Literal["sent", "failed"]) -> Settled:
        if rows is None:
            rows = [e.row for e in self.entries("unknown")]
        now = time.time()
        with self._transaction():
            found = {
                int(row): (str(was), recipient, error)
                for row in rows
                for was, recipient, error in self._db.execute(
                    "SELECT status, recipient, error FROM recipients WHERE row = ?", (row,)
                )
            }
            done, refused = ledger.settle_split(rows, {r: f[0] for r, f in found.items()})
            for row in done:
                _, recipient, error = found[row]
                self._db.execute(
                    "UPDATE recipients SET status = ?, retryable = 0, error = ?, updated_at = ? "
                    "WHERE row = ?",
                    (status, ledger.settled_error(status, error), now, row),
                )
                if recipient is None:
                    continue
                if status == "sent":
                    self._db.execute(
                        "INSERT INTO people (recipient, status) VALUES (?, 'sent') "
                        "ON CONFLICT (recipient) DO UPDATE SET status = 'sent'",
                        (recipient,),
                    )
                else:
                    self._db.execute(
                        "DELETE FROM people WHERE recipient = ? AND status = 'unknown'",
                        (recipient,),
                    )
        return Settled(done, refused)

    def close(self) -> None:
        try:
            unused = self._fresh and self.meta("planned") != "1" and not self.runs()
        except sqlite3.Error:
            unused = False
        self._db.close()
        if unused:
            for leftover in (self.path, Path(f"{self.path}-wal"), Path(f"{self.path}-shm")):
                leftover.unlink(missing_ok=True)
        self._release()

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db, self.location)


def body_digest(body: bytes | None) -> bytes | None:
    """A body's 16-byte digest: whether a person already received this exact message."""
    return None if body is None else hashlib.blake2b(body, digest_size=16).digest()


def _add_people_columns(db: sqlite3.Connection) -> None:
    """Journals made before the people table kept message ids and versions gain the columns."""
    have = {str(r[1]) for r in db.execute("PRAGMA table_info(people)")}
    for column, kind in (("message_id", "TEXT"), ("version", "INTEGER"), ("digest", "BLOB")):
        if column not in have:
            db.execute(f"ALTER TABLE people ADD COLUMN {column} {kind}")


def _migrate_v1(db: sqlite3.Connection) -> None:
    """Format 1 remembered earlier sends by body digest: turn them into people."""
    with _Transaction(db, "journal"):
        db.execute(
            "INSERT OR IGNORE INTO people (recipient, status) "
            "SELECT r.recipient, e.status FROM recipients r JOIN earlier e ON e.key = r.key "
            "WHERE r.recipient IS NOT NULL"
        )
        db.execute("DROP TABLE earlier")


class _Transaction:
    """BEGIN IMMEDIATE … COMMIT, or ROLLBACK on error; a failed write is a `JournalWriteError`."""

    def __init__(self, db: sqlite3.Connection, location: str) -> None:
        self._db = db
        self._location = location

    def __enter__(self) -> None:
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise JournalWriteError.at(self._location, str(exc)) from None

    def __exit__(self, kind: object, value: object, traceback: object) -> None:
        if kind is None:
            try:
                self._db.execute("COMMIT")
                return
            except sqlite3.Error as exc:
                value = exc
        with contextlib.suppress(sqlite3.Error):
            self._db.execute("ROLLBACK")
        if isinstance(value, sqlite3.Error):
            raise JournalWriteError.at(self._location, str(value)) from None
