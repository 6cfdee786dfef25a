"""The shared send ledger on PostgreSQL: many workers, one campaign, each recipient once.

Same states and guarantees as the SQLite journal (`linepress.send.journal`), with
PostgreSQL as the coordinator of any number of `linepress send` processes:

- **Campaigns.** One database holds many, by name (`linepress.campaigns`). A
  campaign is bound to the fingerprint of its definition and data: a worker started
  with another is refused (`JournalMismatch`).
- **Planning once.** The first worker plans while holding an advisory lock on the
  campaign; workers that start meanwhile wait on that lock, then find the plan.
- **Claims.** A worker claims small batches of sendable rows
  (`SELECT … FOR UPDATE SKIP LOCKED`, so workers never wait on each other) by
  writing its id into `claimed_by`. A claim lasts as long as the worker's lease
  (`linepress.workers.expires_at`), which a heartbeat thread renews every third of
  the lease. When a worker dies (kill -9, lost machine), its lease runs out: its
  claimed-but-unsent rows return to the pool and its `inflight` rows become
  `unknown` (never resent without `--resend-unknown`).
- **No request without a claim.** The `inflight` mark is written only where this
  worker still holds the claim, so a worker that lost its lease (paused, cut off)
  sends nothing another worker may have taken over (`LeaseLost`).

Times are the server's (`clock_timestamp()`), so machines with skewed clocks agree.
Passwords: see `redact_dsn`; no DSN, error or report carries one.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import uuid
from collections.abc import Iterable, Iterator
from typing import Any

import psycopg
from psycopg import conninfo

from linepress.send.dsn import redact_dsn
from linepress.send.journal import (
    STATUSES,
    Entry,
    JournalMismatch,
    JournalUnavailable,
    LeaseLost,
    Outcome,
    Status,
)

#: Each step brings the schema from version N-1 to N; never edit a released step,
#: append one. Applied under an advisory lock by whichever worker comes first.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE SCHEMA IF NOT EXISTS linepress;
    CREATE TABLE linepress.campaigns (
        id bigserial PRIMARY KEY,
        name text NOT NULL UNIQUE,
        fingerprint text NOT NULL,
        description text,
        planned boolean NOT NULL DEFAULT false,
        created_at timestamptz NOT NULL DEFAULT clock_timestamp()
    );
    CREATE TABLE linepress.recipients (
        campaign bigint NOT NULL REFERENCES linepress.campaigns ON DELETE CASCADE,
        row integer NOT NULL,
        key text NOT NULL,
        recipient text,
        body bytea,
        status text NOT NULL,
        retryable boolean NOT NULL DEFAULT false,
        attempts integer NOT NULL DEFAULT 0,
        http_status integer,
        message_id text,
        error text,
        claimed_by uuid,
        created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
        updated_at timestamptz NOT NULL DEFAULT clock_timestamp(),
        PRIMARY KEY (campaign, row)
    );
    -- Claims look only at rows that may still be sent: sent rows leave this index.
    CREATE INDEX recipients_open ON linepress.recipients (campaign, row)
        WHERE status IN ('pending', 'inflight', 'unknown', 'failed');
    -- What an earlier plan of a campaign sent (or may have): kept across --new-run.
    CREATE TABLE linepress.earlier (
        campaign bigint NOT NULL REFERENCES linepress.campaigns ON DELETE CASCADE,
        key text NOT NULL,
        status text NOT NULL,
        PRIMARY KEY (campaign, key)
    );
    CREATE TABLE linepress.workers (
        id uuid PRIMARY KEY,
        campaign bigint NOT NULL REFERENCES linepress.campaigns ON DELETE CASCADE,
        host text NOT NULL,
        pid integer NOT NULL,
        started_at timestamptz NOT NULL DEFAULT clock_timestamp(),
        expires_at timestamptz NOT NULL
    );
    CREATE INDEX workers_campaign ON linepress.workers (campaign, expires_at);
    """,
)

#: Advisory-lock keys: one for migrations; campaigns use (this, campaign id).
_MIGRATION_LOCK = 0x6C70_6D69  # "lpmi"
_CAMPAIGN_LOCK = 0x6C70_6361  # "lpca"


class PgJournal:
    """A campaign in a PostgreSQL send ledger, seen by one worker (this process).

    Not thread-safe for callers: one event loop drives it. A daemon thread with its
    own connection renews the worker's lease. `lease` is in seconds.
    """

    def __init__(
        self, dsn: str, campaign: str, *, lease: float = 30.0, claim_size: int = 32
    ) -> None:
        """Connect and bring the schema up to date; raises `JournalUnavailable`."""
        self.dsn = dsn
        self.campaign_name = campaign
        self.label = f"{redact_dsn(dsn)} campaign {campaign!r}"
        self.lease = lease
        self.claim_size = max(1, claim_size)
        self.worker = uuid.uuid4()
        self._campaign_id: int | None = None
        self._passwords = _passwords(dsn)
        self._db = self._connect("main")
        self._locked = False
        self._stop = threading.Event()
        self._heartbeat: threading.Thread | None = None
        #: Set by the heartbeat thread: how many workers hold a live lease (this one included).
        self.live_workers = 1
        self._migrate()

    # -- connection -----------------------------------------------------------

    def _connect(self, role: str) -> psycopg.Connection[Any]:
        try:
            return psycopg.connect(
                self.dsn,
                autocommit=True,
                application_name=f"linepress {self.worker.hex[:8]} {role}",
                connect_timeout=int(os.environ.get("PGCONNECT_TIMEOUT", "10")),
            )
        except psycopg.Error as exc:
            raise self._unavailable("cannot connect", exc) from None

    def _unavailable(self, what: str, exc: BaseException) -> JournalUnavailable:
        detail = " ".join(str(exc).split()) or type(exc).__name__
        for password in self._passwords:
            detail = detail.replace(password, "***")
        return JournalUnavailable(f"{what}: {redact_dsn(detail)}")

    @contextlib.contextmanager
    def _guard(self, what: str) -> Iterator[None]:
        """Database errors become `JournalUnavailable` with a redacted message."""
        try:
            yield
        except psycopg.Error as exc:
            raise self._unavailable(what, exc) from None

    def _migrate(self) -> None:
        with self._guard("cannot prepare the journal schema"), self._db.transaction():
            self._db.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS public.linepress_schema_version "
                "(version integer NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
            )
            found = self._db.execute(
                "SELECT max(version) FROM public.linepress_schema_version"
            ).fetchone()
            current = int(found[0]) if found and found[0] is not None else 0
            if current > len(MIGRATIONS):
                raise JournalUnavailable(
                    f"the journal schema is version {current}, newer than this linepress "
                    f"knows ({len(MIGRATIONS)}): upgrade linepress"
                )
            for version in range(current + 1, len(MIGRATIONS) + 1):
                self._db.execute(MIGRATIONS[version - 1])  # type: ignore[arg-type]
                self._db.execute(
                    "INSERT INTO public.linepress_schema_version (version) VALUES (%s)",
                    (version,),
                )

    @property
    def schema_version(self) -> int:
        found = self._db.execute("SELECT max(version) FROM public.linepress_schema_version")
        row = found.fetchone()
        return int(row[0]) if row and row[0] is not None else 0

    @property
    def _id(self) -> int:
        if self._campaign_id is None:
            raise RuntimeError("claim() the campaign first")
        return self._campaign_id

    # -- identity -----------------------------------------------------------

    def claim(self, fingerprint: str, *, new_run: bool = False) -> bool:
        """Bind to the campaign and join it as a worker; True when its plan can be resumed.

        Waits while another worker plans it. Raises `JournalMismatch` when the
        campaign was planned for another run (unless `new_run`, which plans again,
        refused while other workers are live). When False is returned the caller
        must `plan()`; the campaign stays locked until then.
        """
        with self._guard("cannot open the campaign"):
            with self._db.transaction():
                self._db.execute(
                    "INSERT INTO linepress.campaigns (name, fingerprint) VALUES (%s, %s) "
                    "ON CONFLICT (name) DO NOTHING",
                    (self.campaign_name, fingerprint),
                )
            found = self._db.execute(
                "SELECT id FROM linepress.campaigns WHERE name = %s", (self.campaign_name,)
            ).fetchone()
            assert found is not None
            self._campaign_id = int(found[0])
            self._db.execute("SELECT pg_advisory_lock(%s, %s)", (_CAMPAIGN_LOCK, self._id))
            self._locked = True
            try:
                resumed = self._bind(fingerprint, new_run)
            except BaseException:
                self._unlock()
                raise
            self._join()
            if resumed:
                self._unlock()
            return resumed

    def _bind(self, fingerprint: str, new_run: bool) -> bool:
        row = self._db.execute(
            "SELECT fingerprint, planned, description FROM linepress.campaigns WHERE id = %s",
            (self._id,),
        ).fetchone()
        assert row is not None
        existing, planned, description = str(row[0]), bool(row[1]), row[2]
        if planned and existing != fingerprint and not new_run:
            raise JournalMismatch(description or "another run")
        if planned and existing == fingerprint and not new_run:
            return True
        if new_run and planned:
            others = self._live_workers()
            if others:
                raise JournalUnavailable(
                    f"--new-run refused: {others} other worker(s) are sending this campaign"
                )
        with self._db.transaction():
            # Planning never sends, so an unfinished plan is simply redone. What was
            # sent (or maybe sent) is remembered, so a new plan does not send it again.
            self._db.execute(
                "INSERT INTO linepress.earlier (campaign, key, status) "
                "SELECT campaign, key, status FROM linepress.recipients "
                "WHERE campaign = %s AND status IN ('sent', 'unknown', 'inflight') "
                "ON CONFLICT (campaign, key) DO UPDATE SET status = excluded.status",
                (self._id,),
            )
            self._db.execute("DELETE FROM linepress.recipients WHERE campaign = %s", (self._id,))
            self._db.execute(
                "UPDATE linepress.campaigns SET fingerprint = %s, planned = false, "
                "description = NULL WHERE id = %s",
                (fingerprint, self._id),
            )
        return False

    def _join(self) -> None:
        self._db.execute(
            "INSERT INTO linepress.workers (id, campaign, host, pid, expires_at) "
            "VALUES (%s, %s, %s, %s, clock_timestamp() + %s * interval '1 second')",
            (self.worker, self._id, socket.gethostname()[:200], os.getpid(), self.lease),
        )
        self._heartbeat = threading.Thread(
            target=self._beat, name="linepress-heartbeat", daemon=True
        )
        self._heartbeat.start()

    def _beat(self) -> None:
        """Renew the lease every third of it, on a connection of its own."""
        db: psycopg.Connection[Any] | None = None
        while not self._stop.wait(self.lease / 3):
            try:
                if db is None or db.closed:
                    db = self._connect("heartbeat")
                db.execute(
                    "UPDATE linepress.workers "
                    "SET expires_at = clock_timestamp() + %s * interval '1 second' WHERE id = %s",
                    (self.lease, self.worker),
                )
                found = db.execute(
                    "SELECT count(*) FROM linepress.workers "
                    "WHERE campaign = %s AND expires_at > clock_timestamp()",
                    (self._id,),
                ).fetchone()
                self.live_workers = max(1, int(found[0]) if found else 1)
            except (psycopg.Error, JournalUnavailable):
                # Try again next beat; if the lease runs out meanwhile, the inflight
                # marks (which need the claim) stop this worker safely.
                if db is not None:
                    with contextlib.suppress(psycopg.Error):
                        db.close()
                db = None
        if db is not None:
            with contextlib.suppress(psycopg.Error):
                db.close()

    def _live_workers(self) -> int:
        """Other workers of this campaign with a live lease."""
        found = self._db.execute(
            "SELECT count(*) FROM linepress.workers "
            "WHERE campaign = %s AND id <> %s AND expires_at > clock_timestamp()",
            (self._id, self.worker),
        ).fetchone()
        return int(found[0]) if found else 0

    def _unlock(self) -> None:
        if self._locked:
            self._locked = False
            with contextlib.suppress(psycopg.Error):
                self._db.execute("SELECT pg_advisory_unlock(%s, %s)", (_CAMPAIGN_LOCK, self._id))

    def describe(self, text: str) -> None:
        with self._guard("cannot write the journal"):
            self._db.execute(
                "UPDATE linepress.campaigns SET description = %s WHERE id = %s", (text, self._id)
            )

    def meta(self, name: str) -> str | None:
        """`planned` ('1' or None), `fingerprint`, `description`, like the SQLite journal's."""
        if self._campaign_id is None:
            return None
        with self._guard("cannot read the journal"):
            row = self._db.execute(
                "SELECT fingerprint, planned, description FROM linepress.campaigns WHERE id = %s",
                (self._id,),
            ).fetchone()
        if row is None:
            return None
        values = {"fingerprint": row[0], "planned": "1" if row[1] else None, "description": row[2]}
        found = values.get(name)
        return None if found is None else str(found)

    # -- planning -----------------------------------------------------------

    def plan(
        self, entries: Iterable[tuple[int, str, str | None, bytes | None, str | None]]
    ) -> None:
        """Store the planned recipients: (row, key, to, body, error-or-None), in one commit.

        As in the SQLite journal: a row with an error is `failed`; a body planned
        under the same key as an earlier row is `skipped` (duplicate of that row);
        one an earlier plan sent is `skipped` (or `unknown`, if that was unknown).
        Rows are streamed with COPY and the duplicates found by the server, so
        memory does not grow with the list. Releases the campaign lock.
        """
        campaign = self._id
        try:
            with self._guard("cannot write the plan"), self._db.transaction():
                with self._db.cursor().copy(
                    "COPY linepress.recipients (campaign, row, key, recipient, body, status, error) "
                    "FROM STDIN"
                ) as copy:
                    for row, key, recipient, body, error in entries:
                        status = "pending" if error is None else "failed"
                        copy.write_row((campaign, row, key, recipient, body, status, error))
                self._db.execute(
                    "UPDATE linepress.recipients r SET status = 'skipped', body = NULL, "
                    "error = 'duplicate of row ' || f.first "
                    "FROM (SELECT key, min(row) AS first FROM linepress.recipients "
                    "      WHERE campaign = %s AND status = 'pending' "
                    "      GROUP BY key HAVING count(*) > 1) f "
                    "WHERE r.campaign = %s AND r.key = f.key AND r.row <> f.first "
                    "AND r.status = 'pending'",
                    (campaign, campaign),
                )
                self._db.execute(
                    "UPDATE linepress.recipients r SET "
                    "status = CASE WHEN e.status = 'sent' THEN 'skipped' ELSE 'unknown' END, "
                    "error = CASE WHEN e.status = 'sent' "
                    "  THEN 'already sent by an earlier run of this journal' "
                    "  ELSE 'its delivery was unknown in an earlier run of this journal' END "
                    "FROM linepress.earlier e "
                    "WHERE r.campaign = %s AND e.campaign = %s AND r.key = e.key "
                    "AND r.status = 'pending'",
                    (campaign, campaign),
                )
                self._db.execute(
                    "UPDATE linepress.campaigns SET planned = true WHERE id = %s", (campaign,)
                )
        finally:
            self._unlock()

    # -- sending ------------------------------------------------------------

    def recover(self) -> int:
        """Turn `inflight` rows of workers whose lease ran out (or of this one) into `unknown`."""
        with self._guard("cannot write the journal"):
            cursor = self._db.execute(
                "UPDATE linepress.recipients SET status = 'unknown', updated_at = clock_timestamp(), "
                "error = coalesce(error, 'the run stopped while this message was in flight') "
                "WHERE campaign = %s AND status = 'inflight' AND (claimed_by = %s OR "
                "claimed_by IS NULL OR claimed_by NOT IN (SELECT id FROM linepress.workers "
                "WHERE campaign = %s AND expires_at > clock_timestamp()))",
                (self._id, self.worker, self._id),
            )
        return cursor.rowcount

    def to_send(
        self, *, resend_unknown: bool, after: int = 0, limit: int = 1000
    ) -> list[tuple[int, bytes, int]]:
        """Claim the next sendable rows for this worker: (row, body, attempts so far).

        `after` is ignored (claims are what keeps workers apart); at most
        `claim_size` rows are claimed, so a slow worker holds little work.
        """
        statuses = "('pending', 'unknown')" if resend_unknown else "('pending')"
        with self._guard("cannot claim work"):
            rows = self._db.execute(
                "WITH picked AS ("
                "  SELECT row FROM linepress.recipients WHERE campaign = %s "
                f"  AND (status IN {statuses} OR (status = 'failed' AND retryable)) "
                "  AND (claimed_by IS NULL OR claimed_by NOT IN (SELECT id FROM linepress.workers "
                "       WHERE campaign = %s AND expires_at > clock_timestamp())) "
                "  ORDER BY row LIMIT %s FOR UPDATE SKIP LOCKED) "
                "UPDATE linepress.recipients r SET claimed_by = %s FROM picked "
                "WHERE r.campaign = %s AND r.row = picked.row "
                "RETURNING r.row, r.body, r.attempts",
                (self._id, self._id, min(limit, self.claim_size), self.worker, self._id),
            ).fetchall()
        return sorted((int(r), bytes(b), int(a)) for r, b, a in rows)

    def more_later(self) -> float | None:
        """Seconds to wait before claiming again, or None when this worker is done.

        Other workers may still hand rows back: those claimed by a worker whose
        lease runs out. While any other worker holds unsent rows, wait and look again.
        """
        self.recover()
        with self._guard("cannot read the journal"):
            found = self._db.execute(
                "SELECT count(*) FROM linepress.recipients WHERE campaign = %s "
                "AND status IN ('pending', 'inflight') AND claimed_by IS NOT NULL "
                "AND claimed_by <> %s",
                (self._id, self.worker),
            ).fetchone()
        held = int(found[0]) if found else 0
        return min(1.0, self.lease / 3) if held else None

    def sendable(self, *, resend_unknown: bool) -> int:
        """How many messages of the campaign are still to be sent (by any worker)."""
        statuses = (
            "('pending', 'inflight', 'unknown')" if resend_unknown else "('pending', 'inflight')"
        )
        with self._guard("cannot read the journal"):
            found = self._db.execute(
                "SELECT count(*) FROM linepress.recipients WHERE campaign = %s AND "
                f"(status IN {statuses} OR (status = 'failed' AND retryable))",
                (self._id,),
            ).fetchone()
        return int(found[0]) if found else 0

    def apply(self, outcomes: Iterable[Outcome], inflight: Iterable[int] = ()) -> None:
        """Record outcomes, then mark rows in flight, in one commit.

        Only rows this worker holds are written. Raises `LeaseLost` (after the
        commit, with nothing marked) when a row to mark is no longer ours.
        """
        done = list(outcomes)
        marks = list(inflight)
        if not done and not marks:
            return
        with self._guard("cannot write the journal"), self._db.transaction():
            if done:
                self._db.execute(
                    "UPDATE linepress.recipients r SET status = u.status, attempts = u.attempts, "
                    "http_status = u.http_status, message_id = u.message_id, error = u.error, "
                    "retryable = u.retryable, updated_at = clock_timestamp() "
                    "FROM unnest(%s::int[], %s::text[], %s::int[], %s::int[], %s::text[], "
                    "%s::text[], %s::bool[]) "
                    "AS u(row, status, attempts, http_status, message_id, error, retryable) "
                    "WHERE r.campaign = %s AND r.row = u.row AND r.claimed_by = %s",
                    (
                        [o.row for o in done],
                        [o.status for o in done],
                        [o.attempts for o in done],
                        [o.http_status for o in done],
                        [o.message_id for o in done],
                        [o.error for o in done],
                        [o.retryable for o in done],
                        self._id,
                        self.worker,
                    ),
                )
            if marks:
                marked = self._db.execute(
                    "UPDATE linepress.recipients SET status = 'inflight', "
                    "updated_at = clock_timestamp() WHERE campaign = %s AND row = ANY(%s) "
                    "AND claimed_by = %s RETURNING row",
                    (self._id, marks, self.worker),
                ).fetchall()
                if len(marked) != len(marks):
                    # Not sent, so back to pending; the rows another worker took are its own.
                    self._db.execute(
                        "UPDATE linepress.recipients SET status = 'pending' "
                        "WHERE campaign = %s AND row = ANY(%s)",
                        (self._id, [r[0] for r in marked]),
                    )
                    lost = True
                else:
                    lost = False
        if marks and lost:
            raise LeaseLost(
                "this worker's lease ran out and other workers took over its rows; it stopped"
            )

    # -- reading --------------------------------------------------------------

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = dict.fromkeys(STATUSES, 0)
        with self._guard("cannot read the journal"):
            for status, count in self._db.execute(
                "SELECT status, count(*) FROM linepress.recipients WHERE campaign = %s "
                "GROUP BY status",
                (self._id,),
            ):
                counts[str(status)] = int(count)
        return counts

    def entries(self, batch: int = 5000) -> Iterator[Entry]:
        """Every recipient of the campaign in row order, read in batches (memory stays flat)."""
        after = 0
        while True:
            with self._guard("cannot read the journal"):
                rows = self._db.execute(
                    "SELECT row, key, recipient, status, attempts, http_status, message_id, "
                    "error, retryable FROM linepress.recipients "
                    "WHERE campaign = %s AND row > %s ORDER BY row LIMIT %s",
                    (self._id, after, batch),
                ).fetchall()
            if not rows:
                return
            for row in rows:
                status: Status = row[3]
                yield Entry(
                    row=row[0],
                    key=row[1],
                    recipient=row[2],
                    status=status,
                    attempts=row[4],
                    http_status=row[5],
                    message_id=row[6],
                    error=row[7],
                    retryable=bool(row[8]),
                )
            after = rows[-1][0]

    def close(self) -> None:
        """Leave the campaign: unsent claims return to the pool at once."""
        self._stop.set()
        if self._heartbeat is not None:
            self._heartbeat.join(timeout=5)
        with contextlib.suppress(psycopg.Error):
            if not self._db.closed and self._campaign_id is not None:
                self._unlock()
                self._db.execute(
                    "UPDATE linepress.recipients SET status = 'unknown', "
                    "updated_at = clock_timestamp(), "
                    "error = coalesce(error, 'the run stopped while this message was in flight') "
                    "WHERE campaign = %s AND claimed_by = %s AND status = 'inflight'",
                    (self._id, self.worker),
                )
                self._db.execute("DELETE FROM linepress.workers WHERE id = %s", (self.worker,))
        with contextlib.suppress(psycopg.Error):
            self._db.close()


def _passwords(dsn: str) -> list[str]:
    """The passwords a DSN and libpq's environment carry, to scrub them from any message."""
    found = []
    with contextlib.suppress(psycopg.Error, ValueError):
        password = conninfo.conninfo_to_dict(dsn).get("password")
        if password:
            found.append(str(password))
    if os.environ.get("PGPASSWORD"):
        found.append(os.environ["PGPASSWORD"])
    return found
