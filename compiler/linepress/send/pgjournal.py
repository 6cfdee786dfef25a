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
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Literal

import psycopg
from psycopg import conninfo
from psycopg.types.json import Jsonb

from linepress.errors import Location, Problem, UsageError
from linepress.send.dsn import redact_dsn
from linepress.send.journal import (
    STATUSES,
    Claim,
    Entry,
    JournalMismatch,
    JournalUnavailable,
    LeaseLost,
    Outcome,
    PlanCounts,
    Planned,
    RunRecord,
    Settled,
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
        -- what never changes within a campaign (endpoint, shard)
        binding text,
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
    -- People earlier plans of a campaign sent to ('sent') or may have ('unknown').
    CREATE TABLE linepress.people (
        campaign bigint NOT NULL REFERENCES linepress.campaigns ON DELETE CASCADE,
        recipient text NOT NULL,
        status text NOT NULL,
        PRIMARY KEY (campaign, recipient)
    );
    CREATE TABLE linepress.runs (
        campaign bigint NOT NULL REFERENCES linepress.campaigns ON DELETE CASCADE,
        number integer NOT NULL,
        worker uuid NOT NULL,
        started_at timestamptz NOT NULL DEFAULT clock_timestamp(),
        finished_at timestamptz,
        description text NOT NULL,
        counts jsonb,
        stopped text,
        PRIMARY KEY (campaign, number)
    );
    CREATE TABLE linepress.workers (
        id uuid PRIMARY KEY,
        campaign bigint NOT NULL REFERENCES linepress.campaigns ON DELETE CASCADE,
        host text NOT NULL,
        pid integer NOT NULL,
        started_at timestamptz NOT NULL DEFAULT clock_timestamp(),
        -- renewed by the heartbeat: the lease (claims hold until then) and the last beat
        expires_at timestamptz NOT NULL,
        beat_at timestamptz NOT NULL DEFAULT clock_timestamp(),
        -- false while it has nothing to send (waiting for others): it takes no rate share
        sending boolean NOT NULL DEFAULT true
    );
    CREATE INDEX workers_campaign ON linepress.workers (campaign, expires_at);
    """,
    # 2: what each worker's adaptive pacer found (the throttling issue), shared: the
    # endpoint's limit as its share of it (requests/s) and its last 429 (Unix time).
    """
    ALTER TABLE linepress.workers
        ADD COLUMN pace_limit double precision,
        ADD COLUMN throttled_at double precision;
    """,
)

#: Outcomes, as arrays (one element per outcome), written where this worker holds the row.
#: (`row = ANY(rows)` lets the planner use the primary key whatever its estimates.)
_RECORD_OUTCOMES = (
    "UPDATE linepress.recipients r SET status = u.status, attempts = u.attempts, "
    "http_status = u.http_status, message_id = u.message_id, error = u.error, "
    "retryable = u.retryable, updated_at = clock_timestamp() "
    "FROM unnest(%(rows)s::int[], %(status)s::text[], %(attempts)s::int[], "
    "%(http_status)s::int[], %(message_id)s::text[], %(error)s::text[], %(retryable)s::bool[]) "
    "AS u(row, status, attempts, http_status, message_id, error, retryable) "
    "WHERE r.campaign = %(campaign)s AND r.row = ANY(%(rows)s::int[]) AND r.row = u.row "
    "AND r.claimed_by = %(worker)s"
)
#: The in-flight marks, all or none: only when this worker still holds every row (the
#: attempt counts as soon as it may leave: a crash then reports it).
_MARK_INFLIGHT = (
    "WITH mine AS (SELECT row FROM linepress.recipients WHERE campaign = %s "
    "  AND row = ANY(%s) AND claimed_by = %s FOR UPDATE) "
    "UPDATE linepress.recipients r SET status = 'inflight', attempts = r.attempts + 1, "
    "updated_at = clock_timestamp() FROM mine "
    "WHERE r.campaign = %s AND r.row = mine.row AND (SELECT count(*) FROM mine) = %s"
)

#: Seconds to wait for the server when the DSN and PGCONNECT_TIMEOUT say nothing
#: (libpq's own default is to wait forever).
DEFAULT_CONNECT_TIMEOUT = 10

#: Advisory-lock keys: one for migrations; campaigns use (this, campaign id).
_MIGRATION_LOCK = 0x6C70_6D69  # "lpmi"
_CAMPAIGN_LOCK = 0x6C70_6361  # "lpca"
_RUNS_LOCK = 0x6C70_7275  # "lpru"


class PgJournal:
    """A campaign in a PostgreSQL send ledger, seen by one worker (this process).

    Not thread-safe for callers: one event loop drives it. A daemon thread with its
    own connection renews the worker's lease. `lease` is in seconds.
    """

    #: A commit waits for the server's disk: the sender commits from a thread.
    commits_wait = True

    def __init__(
        self,
        dsn: str,
        campaign: str,
        *,
        lease: float = 30.0,
        claim_size: int = 32,
        attach: bool = False,
    ) -> None:
        """Connect and bring the schema up to date; raises `JournalUnavailable`.

        `attach`: open an existing campaign to read or settle it, without joining it
        as a worker and without creating anything (`JournalUnavailable` when the
        database holds no such campaign).
        """
        self.dsn = dsn
        self.campaign_name = campaign
        #: Where it lives, safe to show: the DSN without its password, and the campaign.
        self.location = f"{redact_dsn(dsn)} (campaign {campaign})"
        self.lease = lease
        self.claim_size = max(1, claim_size)
        self.worker = uuid.uuid4()
        self._campaign_id: int | None = None
        self._passwords = _passwords(dsn)
        #: The user's `connect_timeout` (in the DSN or PGCONNECT_TIMEOUT) is libpq's to apply.
        self._user_timeout = _gives_connect_timeout(dsn)
        self._db = self._connect("main")
        self._write_db: psycopg.Connection[Any] | None = None
        self._locked = False
        self._stop = threading.Event()
        self._heartbeat: threading.Thread | None = None
        #: Set by the heartbeat thread: how many workers send this campaign now (at least 1).
        self.live_workers = 1
        self._joined = False
        #: False while this worker finds nothing to claim (the heartbeat tells the others).
        self._sending = True
        #: This worker's pacer findings, written by the heartbeat: (limit share, last 429).
        self._pace: tuple[float | None, float | None] = (None, None)
        #: The campaign's, read by the heartbeat: (sum of the sending workers' limit
        #: shares, the latest 429 of any), requests/s and Unix time; None until known.
        self.campaign_pace: tuple[float, float | None] | None = None
        try:
            if attach:
                self._attach()
            else:
                self._migrate()
        except BaseException:
            with contextlib.suppress(psycopg.Error):
                self._db.close()
            raise

    def _attach(self) -> None:
        with self._guard("cannot open the campaign"):
            known = self._db.execute(
                "SELECT to_regclass('linepress.campaigns') IS NOT NULL"
            ).fetchone()
            found = (
                self._db.execute(
                    "SELECT id FROM linepress.campaigns WHERE name = %s", (self.campaign_name,)
                ).fetchone()
                if known and known[0]
                else None
            )
        if found is None:
            raise JournalUnavailable(
                "no campaign of this name in this database (--campaign NAME names it)"
            )
        self._campaign_id = int(found[0])

    # -- connection -----------------------------------------------------------

    def _connect(self, role: str) -> psycopg.Connection[Any]:
        extra: dict[str, Any] = {}
        if not self._user_timeout:
            extra["connect_timeout"] = DEFAULT_CONNECT_TIMEOUT
        try:
            return psycopg.connect(
                self.dsn,
                autocommit=True,
                application_name=f"linepress {self.worker.hex[:8]} {role}",
                **extra,
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

    def claim(self, fingerprint: str, binding: str, *, replan: bool = False) -> Claim:
        """Bind to the campaign and join it as a worker (see `CampaignJournal.claim`).

        Waits while another worker plans it. Unless "resume" is returned, the
        campaign stays locked until `plan()`. A plan of other inputs (or `replan`)
        is refused while other workers send the campaign: they would go on with
        the old plan (`UsageError`).
        """
        with self._guard("cannot open the campaign"):
            with self._db.transaction():
                self._db.execute(
                    "INSERT INTO linepress.campaigns (name, fingerprint, binding) "
                    "VALUES (%s, %s, %s) ON CONFLICT (name) DO NOTHING",
                    (self.campaign_name, fingerprint, binding),
                )
            found = self._db.execute(
                "SELECT id FROM linepress.campaigns WHERE name = %s", (self.campaign_name,)
            ).fetchone()
            assert found is not None
            self._campaign_id = int(found[0])
            self._db.execute("SELECT pg_advisory_lock(%s, %s)", (_CAMPAIGN_LOCK, self._id))
            self._locked = True
            try:
                claim = self._bind(fingerprint, binding, replan)
            except BaseException:
                self._unlock()
                raise
            self._join()
            if claim == "resume":
                self._unlock()
            return claim

    def _bind(self, fingerprint: str, binding: str, replan: bool) -> Claim:
        row = self._db.execute(
            "SELECT fingerprint, planned, binding, "
            "EXISTS (SELECT 1 FROM linepress.people WHERE campaign = %s) "
            "FROM linepress.campaigns WHERE id = %s",
            (self._id, self._id),
        ).fetchone()
        assert row is not None
        existing, planned, recorded, has_people = row
        if recorded is not None and recorded != binding:
            raise JournalMismatch(recorded)
        if not replan and existing == fingerprint and planned:
            return "resume"
        others = self._live_workers()
        if others:
            raise UsageError(
                Problem(
                    f"{others} other worker(s) are sending this campaign with another "
                    "definition or data file (or without --resend-sent): start every worker "
                    "with the same ones, or wait until they finish",
                    Location(self.location),
                    code="journal",
                )
            )
        with self._db.transaction():
            # Planning never sends, so an unfinished plan is simply redone. Who was sent
            # (or maybe sent) is remembered by person, so no plan sends them again.
            self._db.execute(
                "INSERT INTO linepress.people (campaign, recipient, status) "
                "SELECT DISTINCT ON (recipient) campaign, recipient, "
                "CASE status WHEN 'sent' THEN 'sent' ELSE 'unknown' END "
                "FROM linepress.recipients WHERE campaign = %s "
                "AND status IN ('sent', 'unknown', 'inflight') AND recipient IS NOT NULL "
                "ORDER BY recipient, status = 'sent' DESC "
                "ON CONFLICT (campaign, recipient) DO UPDATE SET status = CASE "
                "WHEN linepress.people.status = 'sent' THEN 'sent' ELSE excluded.status END",
                (self._id,),
            )
            self._db.execute("DELETE FROM linepress.recipients WHERE campaign = %s", (self._id,))
            self._db.execute(
                "UPDATE linepress.campaigns SET fingerprint = %s, binding = %s, planned = false, "
                "description = NULL WHERE id = %s",
                (fingerprint, binding, self._id),
            )
        return "changed" if planned or has_people else "new"

    def _join(self) -> None:
        self._joined = True
        self._db.execute(
            "INSERT INTO linepress.workers (id, campaign, host, pid, expires_at) "
            "VALUES (%s, %s, %s, %s, clock_timestamp() + %s * interval '1 second')",
            (self.worker, self._id, socket.gethostname()[:200], os.getpid(), self.lease),
        )
        self.live_workers = self._sending_workers(self._db)
        self.campaign_pace = self._read_pace(self._db)
        self._heartbeat = threading.Thread(
            target=self._beat, name="linepress-heartbeat", daemon=True
        )
        self._heartbeat.start()

    @property
    def beat(self) -> float:
        """Seconds between heartbeats: a third of the lease, at most 1 s (the rate share)."""
        return min(self.lease / 3, 1.0)

    def _beat(self) -> None:
        """Renew the lease every `beat`, on a connection of its own; count the live workers."""
        db: psycopg.Connection[Any] | None = None
        while not self._stop.wait(self.beat):
            try:
                if db is None or db.closed:
                    db = self._connect("heartbeat")
                limit, throttled_at = self._pace
                db.execute(
                    "UPDATE linepress.workers SET beat_at = clock_timestamp(), sending = %s, "
                    "expires_at = clock_timestamp() + %s * interval '1 second', "
                    "pace_limit = %s, throttled_at = %s WHERE id = %s",
                    (self._sending, self.lease, limit, throttled_at, self.worker),
                )
                self.campaign_pace = self._read_pace(db)
                # For the rate share, a worker that missed three beats no longer counts
                # (its claims still hold until its lease runs out).
                self.live_workers = self._sending_workers(db)
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

    def _sending_workers(self, db: psycopg.Connection[Any]) -> int:
        """Workers taking a share of the campaign's rate (at least 1).

        One that missed three beats no longer counts (its claims still hold until its
        lease runs out), nor one with nothing left to send.
        """
        found = db.execute(
            "SELECT count(*) FROM linepress.workers WHERE campaign = %s AND sending "
            "AND expires_at > clock_timestamp() "
            "AND beat_at > clock_timestamp() - %s * interval '1 second'",
            (self._id, 3 * self.beat),
        ).fetchone()
        return max(1, int(found[0]) if found else 1)

    def share_pace(self, limit: float | None, throttled_at: float | None) -> None:
        """Publish this worker's pacer findings (its share of the endpoint's limit, requests/s,
        and its last 429, Unix time) with the next heartbeat."""
        self._pace = (limit, throttled_at)

    def _read_pace(self, db: psycopg.Connection[Any]) -> tuple[float, float | None] | None:
        """The campaign's findings: the sending workers' limit shares added up, the latest 429."""
        found = db.execute(
            "SELECT sum(pace_limit), max(throttled_at) FROM linepress.workers "
            "WHERE campaign = %s AND sending AND pace_limit IS NOT NULL "
            "AND expires_at > clock_timestamp() "
            "AND beat_at > clock_timestamp() - %s * interval '1 second'",
            (self._id, 3 * self.beat),
        ).fetchone()
        if found is None or found[0] is None:
            return None
        return float(found[0]), None if found[1] is None else float(found[1])

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

    def plan(self, entries: Iterable[Planned], *, resend_sent: bool = False) -> PlanCounts:
        """Store the plan in one commit (see `CampaignJournal.plan`); releases the campaign lock.

        Rows are streamed with COPY and the duplicates and earlier sends found by
        the server in three set-wise updates, so memory does not grow with the list.
        """
        campaign = self._id
        invalid = total = 0
        try:
            with self._guard("cannot write the plan"), self._db.transaction():
                with self._db.cursor().copy(
                    "COPY linepress.recipients (campaign, row, key, recipient, body, status, error) "
                    "FROM STDIN"
                ) as copy:
                    for row, key, recipient, body, error in entries:
                        total += 1
                        status = "pending" if error is None else "failed"
                        invalid += error is not None
                        copy.write_row((campaign, row, key, recipient, body, status, error))
                # Fresh statistics: without them the planner takes the new rows for a
                # handful and joins them in nested loops (8,000 rows took 71 s).
                self._db.execute("ANALYZE linepress.recipients")
                # A key's later records, each with its first (one pass over the plan).
                duplicates = self._db.execute(
                    "UPDATE linepress.recipients r SET status = 'skipped', body = NULL, "
                    "error = 'same recipient as row ' || d.first "
                    "FROM (SELECT row, min(row) OVER (PARTITION BY key) AS first "
                    "      FROM linepress.recipients WHERE campaign = %s AND status = 'pending') d "
                    "WHERE r.campaign = %s AND r.row = d.row AND d.row <> d.first",
                    (campaign, campaign),
                ).rowcount
                already_sent = earlier_unknown = 0
                if not resend_sent:
                    already_sent = self._db.execute(
                        "UPDATE linepress.recipients r SET status = 'skipped', error = "
                        "'already received a message from an earlier run of this journal' "
                        "FROM linepress.people p WHERE r.campaign = %s AND p.campaign = %s "
                        "AND p.recipient = r.recipient AND p.status = 'sent' "
                        "AND r.status = 'pending'",
                        (campaign, campaign),
                    ).rowcount
                    earlier_unknown = self._db.execute(
                        "UPDATE linepress.recipients r SET status = 'unknown', error = "
                        "'an earlier run of this journal may have delivered a message to this "
                        "recipient' "
                        "FROM linepress.people p WHERE r.campaign = %s AND p.campaign = %s "
                        "AND p.recipient = r.recipient AND p.status <> 'sent' "
                        "AND r.status = 'pending'",
                        (campaign, campaign),
                    ).rowcount
                self._db.execute(
                    "UPDATE linepress.campaigns SET planned = true WHERE id = %s", (campaign,)
                )
        finally:
            self._unlock()
        return PlanCounts(
            pending=total - invalid - duplicates - already_sent - earlier_unknown,
            invalid=invalid,
            duplicates=duplicates,
            already_sent=already_sent,
            earlier_unknown=earlier_unknown,
        )

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
        with self._guard("cannot claim work"), self._db.pipeline():
            # A claim need not wait for the disk: one lost in a server crash only means
            # its rows are unclaimed, and the in-flight mark (a durable commit, which
            # makes every earlier one durable too) is refused without the claim.
            self._db.execute("SELECT set_config('synchronous_commit', 'off', true)")
            claimed = self._db.execute(
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
            )
        rows = claimed.fetchall()
        self._sending = bool(rows)
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
        """Record outcomes, then mark rows in flight, in one commit and one round trip.

        Only rows this worker holds are written. When a row to mark is no longer
        ours (another worker took it over), no row is marked and, after the commit
        of the outcomes, `LeaseLost` is raised.
        """
        done = list(outcomes)
        marks = list(inflight)
        if not done and not marks:
            return
        db = self._writes()
        with self._guard("cannot write the journal"):
            # A pipeline without BEGIN is one implicit transaction up to its sync: both
            # statements commit together (or neither), after one wait for the server.
            with db.pipeline():
                if done:
                    db.execute(_RECORD_OUTCOMES, _outcome_arrays(done, self._id, self.worker))
                if marks:
                    marking = db.execute(
                        _MARK_INFLIGHT, (self._id, marks, self.worker, self._id, len(set(marks)))
                    )
            marked = marking.rowcount if marks else 0
        if marks and marked != len(set(marks)):
            raise LeaseLost(
                "this worker's lease ran out and other workers took over its rows; it stopped"
            )

    def _writes(self) -> psycopg.Connection[Any]:
        """The connection `apply` writes on: its own, so it may run beside claims and reads."""
        if self._write_db is None:
            self._write_db = self._connect("writes")
        return self._write_db

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

    def entries(self, status: Status | None = None, batch: int = 5000) -> Iterator[Entry]:
        """The campaign's records in row order (of one status, if given), read in batches."""
        after = 0
        while True:
            with self._guard("cannot read the journal"):
                rows = self._db.execute(
                    "SELECT row, key, recipient, status, attempts, http_status, message_id, "
                    "error, retryable FROM linepress.recipients "
                    "WHERE campaign = %s AND row > %s AND (%s::text IS NULL OR status = %s) "
                    "ORDER BY row LIMIT %s",
                    (self._id, after, status, status, batch),
                ).fetchall()
            if not rows:
                return
            for row in rows:
                found: Status = row[3]
                yield Entry(
                    row=row[0],
                    key=row[1],
                    recipient=row[2],
                    status=found,
                    attempts=row[4],
                    http_status=row[5],
                    message_id=row[6],
                    error=row[7],
                    retryable=bool(row[8]),
                )
            after = rows[-1][0]

    def checkpoint(self) -> None:
        """Nothing to do: PostgreSQL's commits are durable when they return."""

    # -- runs -----------------------------------------------------------------

    def begin_run(self, description: str) -> int:
        """Record that this worker's run starts; returns its number within the campaign."""
        with self._guard("cannot write the journal"), self._db.transaction():
            self._db.execute("SELECT pg_advisory_xact_lock(%s, %s)", (_RUNS_LOCK, self._id))
            found = self._db.execute(
                "INSERT INTO linepress.runs (campaign, number, worker, description) "
                "SELECT %s, coalesce(max(number), 0) + 1, %s, %s FROM linepress.runs "
                "WHERE campaign = %s RETURNING number",
                (self._id, self.worker, description, self._id),
            ).fetchone()
        assert found is not None
        return int(found[0])

    def end_run(self, number: int, counts: dict[str, int], stopped: str | None) -> None:
        with self._guard("cannot write the journal"):
            self._db.execute(
                "UPDATE linepress.runs SET finished_at = clock_timestamp(), counts = %s, "
                "stopped = %s WHERE campaign = %s AND number = %s",
                (Jsonb(counts), stopped, self._id, number),
            )

    def runs(self) -> list[RunRecord]:
        with self._guard("cannot read the journal"):
            found = self._db.execute(
                "SELECT number, extract(epoch FROM started_at), extract(epoch FROM finished_at), "
                "description, counts, stopped FROM linepress.runs WHERE campaign = %s "
                "ORDER BY number",
                (self._id,),
            ).fetchall()
        return [
            RunRecord(
                number=int(number),
                started_at=float(started),
                finished_at=None if finished is None else float(finished),
                description=str(description),
                counts=dict(counts or {}),
                stopped=stopped,
            )
            for number, started, finished, description, counts, stopped in found
        ]

    def settle(self, rows: Sequence[int] | None, status: Literal["sent", "failed"]) -> Settled:
        """Mark `unknown` rows as sent or failed, by hand (see `CampaignJournal.settle`)."""
        note = f"marked {status} by hand (linepress journal settle); it was unknown"
        with self._guard("cannot write the journal"), self._db.transaction():
            if rows is None:
                wanted = [
                    int(r[0])
                    for r in self._db.execute(
                        "SELECT row FROM linepress.recipients WHERE campaign = %s "
                        "AND status = 'unknown' ORDER BY row",
                        (self._id,),
                    )
                ]
            else:
                wanted = list(rows)
            found = {
                int(r): (str(s), who)
                for r, s, who in self._db.execute(
                    "SELECT row, status, recipient FROM linepress.recipients "
                    "WHERE campaign = %s AND row = ANY(%s) FOR UPDATE",
                    (self._id, wanted),
                )
            }
            done = [r for r in wanted if r in found and found[r][0] == "unknown"]
            refused = [
                (r, "not in the journal" if r not in found else found[r][0])
                for r in wanted
                if r not in found or found[r][0] != "unknown"
            ]
            self._db.execute(
                "UPDATE linepress.recipients SET status = %s, retryable = false, "
                "error = CASE WHEN %s = 'sent' THEN %s "
                "ELSE rtrim(%s || ': ' || coalesce(error, ''), ': ') END, "
                "updated_at = clock_timestamp() WHERE campaign = %s AND row = ANY(%s)",
                (status, status, note, note, self._id, done),
            )
            people = sorted({found[r][1] for r in done if found[r][1] is not None})
            if status == "sent":
                self._db.execute(
                    "INSERT INTO linepress.people (campaign, recipient, status) "
                    "SELECT %s, unnest(%s::text[]), 'sent' "
                    "ON CONFLICT (campaign, recipient) DO UPDATE SET status = 'sent'",
                    (self._id, people),
                )
            else:
                self._db.execute(
                    "DELETE FROM linepress.people WHERE campaign = %s "
                    "AND recipient = ANY(%s) AND status = 'unknown'",
                    (self._id, people),
                )
        return Settled(done, refused)

    def close(self) -> None:
        """Leave the campaign: unsent claims return to the pool at once."""
        self._stop.set()
        if self._heartbeat is not None:
            self._heartbeat.join(timeout=5)
        with contextlib.suppress(psycopg.Error):
            if not self._db.closed and self._campaign_id is not None and self._joined:
                self._unlock()
                self._db.execute(
                    "UPDATE linepress.recipients SET status = 'unknown', "
                    "updated_at = clock_timestamp(), "
                    "error = coalesce(error, 'the run stopped while this message was in flight') "
                    "WHERE campaign = %s AND claimed_by = %s AND status = 'inflight'",
                    (self._id, self.worker),
                )
                self._db.execute("DELETE FROM linepress.workers WHERE id = %s", (self.worker,))
                # A campaign created by this worker and never planned is removed.
                self._db.execute(
                    "DELETE FROM linepress.campaigns c WHERE id = %s AND NOT planned "
                    "AND NOT EXISTS (SELECT 1 FROM linepress.runs WHERE campaign = c.id) "
                    "AND NOT EXISTS (SELECT 1 FROM linepress.people WHERE campaign = c.id) "
                    "AND NOT EXISTS (SELECT 1 FROM linepress.workers WHERE campaign = c.id)",
                    (self._id,),
                )
        for db in (self._write_db, self._db):
            if db is not None:
                with contextlib.suppress(psycopg.Error):
                    db.close()


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


def _outcome_arrays(done: list[Outcome], campaign: int, worker: uuid.UUID) -> dict[str, object]:
    """`_RECORD_OUTCOMES`' parameters: one array per column, the campaign and the worker."""
    return {
        "rows": [o.row for o in done],
        "status": [o.status for o in done],
        "attempts": [o.attempts for o in done],
        "http_status": [o.http_status for o in done],
        "message_id": [o.message_id for o in done],
        "error": [o.error for o in done],
        "retryable": [o.retryable for o in done],
        "campaign": campaign,
        "worker": worker,
    }


def _gives_connect_timeout(dsn: str) -> bool:
    """True when the DSN or the environment sets libpq's `connect_timeout`."""
    if os.environ.get("PGCONNECT_TIMEOUT", "").strip():
        return True
    try:
        return bool(str(conninfo.conninfo_to_dict(dsn).get("connect_timeout") or "").strip())
    except (psycopg.Error, ValueError):
        return False
