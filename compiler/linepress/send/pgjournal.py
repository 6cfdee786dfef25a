"""The shared send ledger on PostgreSQL: many workers, one campaign, each recipient once.

Same states and guarantees as the SQLite journal (`linepress.send.journal`), with
PostgreSQL as the coordinator of any number of `linepress send` processes:

- **Campaigns.** One database holds many, by name (`linepress.campaigns`). A
  campaign is bound to the fingerprint of its definition and data: a worker started
  with another is refused (`JournalMismatch`).
- **Planning once.** The first worker plans while holding an advisory lock on the
  campaign; workers that start meanwhile wait on that lock, then find the plan
  (`pgcampaign`).
- **Claims.** A worker claims small batches of sendable rows
  (`SELECT … FOR UPDATE SKIP LOCKED`, so workers never wait on each other) by
  writing its id into `claimed_by`. A claim lasts as long as the worker's lease
  (`pglease`), which a heartbeat thread renews every third of the lease. When a
  worker dies (kill -9, lost machine), its lease runs out: its claimed-but-unsent
  rows return to the pool and its `inflight` rows become `unknown` (never resent
  without `--resend-unknown`).
- **No request without a claim.** The `inflight` mark is written only where this
  worker still holds the claim, so a worker that lost its lease (paused, cut off)
  sends nothing another worker may have taken over (`LeaseLost`).
- **Cost.** `apply` writes outcomes and marks in one pipelined round trip on a
  connection of its own, and the sender calls it from a thread (`commits_wait`), so
  the wait for the server's disk overlaps sending and batches grow while it lasts.
- **Marks ahead.** Each commit also marks `inflight` the next rows handed to the
  sender (up to `ahead`: two claims, 64 at most), so a first attempt usually leaves at once: its
  mark was committed by an earlier commit (`take_marked`). The rule stays: no request
  without a committed mark. The price: after `kill -9` up to `ahead` rows that were
  never sent are `unknown` too (a worker that stops cleanly puts them back to
  `pending`). A mark older than a third of the lease is not used (the worker may have
  been paused and lost its rows): that row is marked again, with the claim checked.

Times are the server's (`clock_timestamp()`), so machines with skewed clocks agree.
Passwords: see `redact_dsn`; no DSN, error or report carries one.
"""

from __future__ import annotations

import collections
import contextlib
import shlex
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Literal

import psycopg
from psycopg.types.json import Jsonb

from linepress.errors import Location, Problem, UsageError
from linepress.send import ledger, pgcampaign
from linepress.send.dsn import redact_dsn
from linepress.send.journal import (
    Claim,
    Entry,
    JournalUnavailable,
    LeaseLost,
    ListShape,
    Outcome,
    PlanCounts,
    Planned,
    RunRecord,
    Settled,
    Status,
)
from linepress.send.pgdb import (
    CAMPAIGN_LOCK,
    MIGRATIONS,
    RUNS_LOCK,
    Connector,
    check_version,
    migrate,
)
from linepress.send.pgdb import schema_version as _schema_version
from linepress.send.pglease import Lease

__all__ = ["MIGRATIONS", "PgJournal"]

#: Outcomes, as arrays (one element per outcome), written where this worker holds the row.
#: (`row = ANY(rows)` lets the planner use the primary key whatever its estimates: without
#: it, 10 outcomes in a 4,000-row campaign took 64 ms, a scan of the campaign.)
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
    "WITH mine AS (SELECT row FROM linepress.recipients WHERE campaign = %(campaign)s "
    "  AND row = ANY(%(rows)s) AND claimed_by = %(worker)s FOR UPDATE) "
    "UPDATE linepress.recipients r SET status = 'inflight', attempts = r.attempts + 1, "
    "updated_at = clock_timestamp() FROM mine "
    "WHERE r.campaign = %(campaign)s AND r.row = mine.row "
    "AND (SELECT count(*) FROM mine) = %(count)s"
)
#: Marks ahead: rows handed to the sender and not yet asked for, marked `inflight` (one
#: attempt counted) where this worker holds them and they are still sendable; the rows
#: marked come back, so only those are sent without a commit of their own.
_MARK_AHEAD = (
    "UPDATE linepress.recipients SET status = 'inflight', attempts = attempts + 1, "
    "updated_at = clock_timestamp() WHERE campaign = %(campaign)s AND row = ANY(%(rows)s) "
    "AND claimed_by = %(worker)s AND {sendable} RETURNING row"
)
#: Marks ahead never used (the run stopped first): nothing was sent, back to `pending`.
_UNMARK_AHEAD = (
    "UPDATE linepress.recipients SET status = 'pending', attempts = greatest(attempts - 1, 0), "
    "updated_at = clock_timestamp() WHERE campaign = %s AND row = ANY(%s) "
    "AND claimed_by = %s AND status = 'inflight'"
)
#: What a worker leaves `inflight` when it stops or dies becomes `unknown`.
_UNKNOWN_AFTER_STOP = (
    "UPDATE linepress.recipients SET status = 'unknown', updated_at = clock_timestamp(), "
    "error = coalesce(error, %(why)s) WHERE campaign = %(campaign)s AND status = 'inflight' AND "
)


class PgJournal:
    """A campaign in a PostgreSQL send ledger, seen by one worker (this process).

    Not thread-safe for callers: one event loop drives it, and `apply` may run in one
    other thread at a time (its own connection). A daemon thread with its own
    connection renews the worker's lease. `lease` is in seconds.
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
        # As a command line takes it, so hints built on it can be pasted into a shell.
        self.location = f"{shlex.quote(redact_dsn(dsn))} --campaign {shlex.quote(campaign)}"
        self.lease = lease
        self.claim_size = max(1, claim_size)
        self.worker = uuid.uuid4()
        self._connector = Connector(dsn, self.worker)
        self._guard = self._connector.guard
        self._campaign_id: int | None = None
        self._db = self._connector.connect("main")
        self._write_db: psycopg.Connection[Any] | None = None
        self._locked = False
        #: Set once this worker joined the campaign (`claim`).
        self._lease: Lease | None = None
        #: Rows handed to the sender (`to_send`), not yet asked for nor marked ahead.
        #: (`to_send` appends on the loop's thread, `apply` takes in the writer's.)
        self._handed: collections.deque[int] = collections.deque()
        #: Rows marked ahead, committed, not yet taken: row -> when (monotonic seconds).
        self._ahead: dict[int, float] = {}
        #: Rows claimed and handed out with no outcome recorded yet (queued or in
        #: flight): while any are held, this worker sends and takes its rate share.
        self._held: set[int] = set()
        self._drained = False
        #: How many rows to keep marked ahead.
        self.ahead = min(64, 2 * self.claim_size)
        self._resend_unknown = False
        try:
            if attach:
                self._attach()
            else:
                with self._guard("cannot prepare the journal schema"):
                    migrate(self._db)
        except BaseException:
            with contextlib.suppress(psycopg.Error):
                self._db.close()
            raise

    def _attach(self) -> None:
        with self._guard("cannot open the campaign"):
            known = self._db.execute(
                "SELECT to_regclass('linepress.campaigns') IS NOT NULL"
            ).fetchone()
            if known and known[0]:
                # A newer linepress may have changed what the rows mean: read nothing.
                check_version(_schema_version(self._db))
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

    @property
    def schema_version(self) -> int:
        return _schema_version(self._db)

    @property
    def _id(self) -> int:
        if self._campaign_id is None:
            raise RuntimeError("claim() the campaign first")
        return self._campaign_id

    # -- the workers ----------------------------------------------------------

    @property
    def live_workers(self) -> int:
        """Workers sending this campaign now, this one included (the heartbeat's count)."""
        return 1 if self._lease is None else self._lease.live_workers

    @property
    def campaign_pace(self) -> tuple[float, float | None] | None:
        """The campaign's pacer findings (see `CampaignJournal.campaign_pace`)."""
        return None if self._lease is None else self._lease.campaign_pace

    @property
    def campaign_left(self) -> int | None:
        """Messages of the campaign still to send by any worker, as last counted."""
        return None if self._lease is None else self._lease.campaign_left

    def share_pace(self, limit: float | None, throttled_at: float | None) -> None:
        """Publish this worker's pacer findings (its share of the endpoint's limit,
        requests/s, and its last 429, Unix time) with the next heartbeat."""
        if self._lease is not None:
            self._lease.pace = (limit, throttled_at)

    # -- identity -----------------------------------------------------------

    def claim(self, fingerprint: str, binding: str, *, replan: bool = False) -> Claim:
        """Bind to the campaign and join it as a worker (see `CampaignJournal.claim`).

        Waits while another worker plans it. Unless "resume" is returned, the
        campaign stays locked until `plan()`. A plan of other inputs is refused
        while other workers send the campaign: they would go on with the old plan
        (`UsageError`); with the same inputs and `replan` (--resend-sent), this
        worker joins the plan they send ("resume").
        """
        with self._guard("cannot open the campaign"):
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
            self._db.execute("SELECT pg_advisory_lock(%s, %s)", (CAMPAIGN_LOCK, self._id))
            self._locked = True
            try:
                claim = pgcampaign.bind(self._db, self._id, fingerprint, binding, replan=replan)
            except BaseException:
                self._unlock()
                raise
            if isinstance(claim, int):
                self._unlock()
                raise UsageError(
                    Problem(
                        f"{claim} other worker(s) are sending this campaign with another "
                        "definition or data file (or without --resend-sent): start every "
                        "worker with the same ones, or wait until they finish",
                        Location(self.location),
                        code="journal",
                    )
                )
            self._lease = Lease(self._connector, self._id, self.lease)
            self._lease.join(self._db)
            if claim == "resume":
                self._unlock()
            return claim

    def _unlock(self) -> None:
        if self._locked:
            self._locked = False
            with contextlib.suppress(psycopg.Error):
                self._db.execute("SELECT pg_advisory_unlock(%s, %s)", (CAMPAIGN_LOCK, self._id))

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

    def plan(
        self,
        entries: Iterable[Planned],
        *,
        resend_sent: bool = False,
        shape: ListShape | None = None,
    ) -> PlanCounts:
        """Store the plan in one commit (see `CampaignJournal.plan`); releases the campaign lock.

        Rows are streamed with COPY and the duplicates and earlier sends found by
        the server in set-wise updates, so memory does not grow with the list.
        """
        try:
            with self._guard("cannot write the plan"):
                return pgcampaign.store(
                    self._db, self._id, entries, resend_sent=resend_sent, shape=shape
                )
        finally:
            self._unlock()

    # -- sending ------------------------------------------------------------

    def recover(self) -> int:
        """Turn `inflight` rows of workers whose lease ran out (or of this one) into `unknown`.

        This worker's rows marked ahead and never sent go back to `pending` first. Call
        it when this worker sends nothing (before or after its dispatch).
        """
        self._unmark_ahead()
        return self._recover(own=True)

    def _recover(self, *, own: bool) -> int:
        mine = "claimed_by = %(worker)s OR " if own else ""
        with self._guard("cannot write the journal"):
            cursor = self._db.execute(
                _UNKNOWN_AFTER_STOP + f"({mine}claimed_by IS NULL OR claimed_by NOT IN "
                "(SELECT id FROM linepress.workers WHERE campaign = %(campaign)s "
                "AND expires_at > clock_timestamp()))",
                {"why": ledger.STOPPED_IN_FLIGHT, "campaign": self._id, "worker": self.worker},
            )
        return cursor.rowcount

    def _unmark_ahead(self) -> None:
        """Rows marked ahead that were never taken: not sent, so `pending` again."""
        rows = sorted(self._ahead)
        self._ahead.clear()
        self._handed.clear()
        self._held.clear()
        self._drained = True
        if self._lease is not None:
            self._lease.sending = False
        if rows and self._campaign_id is not None:
            with self._guard("cannot write the journal"):
                self._db.execute(_UNMARK_AHEAD, (self._id, rows, self.worker))

    def to_send(
        self, *, resend_unknown: bool, after: int = 0, limit: int = 1000
    ) -> list[tuple[int, bytes, int]]:
        """Claim the next sendable rows for this worker: (row, body, attempts so far).

        `after` is ignored (claims are what keeps workers apart); at most
        `claim_size` rows are claimed, so a slow worker holds little work.
        """
        with self._guard("cannot claim work"), self._db.pipeline():
            # A claim need not wait for the disk: one lost in a server crash only means
            # its rows are unclaimed, and the in-flight mark (a durable commit, which
            # makes every earlier one durable too) is refused without the claim.
            self._db.execute("SELECT set_config('synchronous_commit', 'off', true)")
            claimed = self._db.execute(
                "WITH picked AS ("
                "  SELECT row FROM linepress.recipients WHERE campaign = %s "
                f"  AND {ledger.sendable(resend_unknown)} "
                "  AND (claimed_by IS NULL OR claimed_by NOT IN (SELECT id FROM linepress.workers "
                "       WHERE campaign = %s AND expires_at > clock_timestamp())) "
                "  ORDER BY row LIMIT %s FOR UPDATE SKIP LOCKED) "
                "UPDATE linepress.recipients r SET claimed_by = %s FROM picked "
                "WHERE r.campaign = %s AND r.row = picked.row "
                "RETURNING r.row, r.body, r.attempts",
                (self._id, self._id, min(limit, self.claim_size), self.worker, self._id),
            )
            if self._lease is not None:
                # Who else is sending, in the same round trip: a worker learns of those
                # who joined since its last beat before it sends at their share's pace.
                counted = self._lease.count_statement(self._db)
        rows = claimed.fetchall()
        handed = sorted((int(r), bytes(b), int(a)) for r, b, a in rows)
        self._held.update(row for row, _, _ in handed)
        self._drained = not handed
        if self._lease is not None:
            self._lease.sending = self.holds_work
            self._lease.learned(counted.fetchone())
        self._resend_unknown = resend_unknown
        self._handed.extend(row for row, _, _ in handed)
        return handed

    @property
    def holds_work(self) -> bool:
        """True while this worker has rows to send: its last claim found some, or rows
        it claimed earlier are still queued or in flight. An empty claim alone does not
        end its rate share (the other workers would each speed up while its tail runs)."""
        return not self._drained or bool(self._held)

    def take_marked(self, row: int) -> bool:
        """True when `row`'s in-flight mark for its next attempt is committed already
        (marked ahead, and recently enough): it may be sent with no commit of its own.
        Each mark is taken once; called from the sender's loop."""
        marked_at = self._ahead.pop(row, None)
        if marked_at is None:
            return False
        # A worker paused for longer may have lost its rows: mark again, claim checked.
        return time.monotonic() - marked_at < self.lease / 3

    def more_later(self) -> float | None:
        """Seconds to wait before claiming again, or None when this worker is done.

        Other workers may still hand rows back: those claimed by a worker whose
        lease runs out. While any other worker holds unsent rows, wait and look again.
        """
        self._recover(own=False)  # ours are in flight or marked ahead: this run goes on
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
        with self._guard("cannot read the journal"):
            found = self._db.execute(
                "SELECT count(*) FROM linepress.recipients WHERE campaign = %s AND "
                f"(status = 'inflight' OR {ledger.sendable(resend_unknown)})",
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
        asked = set(inflight)
        if done:
            self._held.difference_update(o.row for o in done)
            if self._lease is not None:
                self._lease.sending = self.holds_work
        # A row marked ahead by the commit before this one: its mark is committed.
        marks = sorted(row for row in asked if self._ahead.pop(row, None) is None)
        ahead = self._next_ahead(asked)
        if not done and not marks and not ahead:
            return
        if self._write_db is None:
            # Its own connection, so it may run in a thread beside claims and reads.
            self._write_db = self._connector.connect("writes")
        db = self._write_db
        marked = 0
        with self._guard("cannot write the journal"):
            # A pipeline without BEGIN is one implicit transaction up to its sync: the
            # statements commit together (or none), after one wait for the server.
            with db.pipeline():
                if done:
                    db.execute(_RECORD_OUTCOMES, self._outcome_arrays(done))
                if marks:
                    marking = db.execute(
                        _MARK_INFLIGHT,
                        {"campaign": self._id, "rows": marks, "worker": self.worker,
                         "count": len(marks)},
                    )  # fmt: skip
                if ahead:
                    marking_ahead = db.execute(
                        _MARK_AHEAD.format(sendable=ledger.sendable(self._resend_unknown)),
                        {"campaign": self._id, "rows": ahead, "worker": self.worker},
                    )
            if marks:
                marked = marking.rowcount
            if ahead:
                now = time.monotonic()
                for (row,) in marking_ahead.fetchall():
                    self._ahead[int(row)] = now
        if marked != len(marks):
            raise LeaseLost(
                "this worker's lease ran out and other workers took over its rows; it stopped"
            )

    def _next_ahead(self, asked: set[int]) -> list[int]:
        """The handed rows to mark ahead in this commit: up to `ahead` marked, untaken."""
        for row in asked:  # asked for now: marked by this commit, not ahead
            with contextlib.suppress(ValueError):
                self._handed.remove(row)
        room = self.ahead - len(self._ahead)
        picked: list[int] = []
        while room > 0 and self._handed:
            picked.append(self._handed.popleft())
            room -= 1
        return picked

    def _outcome_arrays(self, done: list[Outcome]) -> dict[str, object]:
        """`_RECORD_OUTCOMES`' parameters: one array per column, the campaign and the worker."""
        return {
            "rows": [o.row for o in done],
            "status": [o.status for o in done],
            "attempts": [o.attempts for o in done],
            "http_status": [o.http_status for o in done],
            "message_id": [o.message_id for o in done],
            "error": [o.error for o in done],
            "retryable": [o.retryable for o in done],
            "campaign": self._id,
            "worker": self.worker,
        }

    def checkpoint(self) -> None:
        """Nothing to do: PostgreSQL's commits are durable when they return."""

    # -- reading --------------------------------------------------------------

    def counts(self) -> dict[str, int]:
        with self._guard("cannot read the journal"):
            return ledger.by_status(
                self._db.execute(
                    "SELECT status, count(*) FROM linepress.recipients WHERE campaign = %s "
                    "GROUP BY status",
                    (self._id,),
                ).fetchall()
            )

    def entries(self, status: Status | None = None, batch: int = 5000) -> Iterator[Entry]:
        """The campaign's records in row order (of one status, if given), read in batches."""
        after = 0
        while True:
            with self._guard("cannot read the journal"):
                rows = self._db.execute(
                    f"SELECT {ledger.ENTRY_COLUMNS} FROM linepress.recipients "
                    "WHERE campaign = %s AND row > %s AND (%s::text IS NULL OR status = %s) "
                    "ORDER BY row LIMIT %s",
                    (self._id, after, status, status, batch),
                ).fetchall()
            if not rows:
                return
            yield from map(ledger.entry, rows)
            after = rows[-1][0]

    # -- runs -----------------------------------------------------------------

    def begin_run(self, description: str) -> int:
        """Record that this worker's run starts; returns its number within the campaign."""
        with self._guard("cannot write the journal"), self._db.transaction():
            self._db.execute("SELECT pg_advisory_xact_lock(%s, %s)", (RUNS_LOCK, self._id))
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
                "SELECT r.number, extract(epoch FROM r.started_at), "
                "extract(epoch FROM r.finished_at), r.description, r.counts, r.stopped, "
                "CASE WHEN r.finished_at IS NULL THEN w.host || ' pid ' || w.pid END "
                "FROM linepress.runs r LEFT JOIN linepress.workers w ON w.id = r.worker "
                "AND w.expires_at > clock_timestamp() WHERE r.campaign = %s ORDER BY r.number",
                (self._id,),
            ).fetchall()
        return [ledger.run_record(*row) for row in found]

    def settle(self, rows: Sequence[int] | None, status: Literal["sent", "failed"]) -> Settled:
        """Mark `unknown` rows as sent or failed, by hand (see `CampaignJournal.settle`)."""
        with self._guard("cannot write the journal"):
            return pgcampaign.settle(self._db, self._id, rows, status)

    def close(self) -> None:
        """Leave the campaign: unsent claims return to the pool at once."""
        if self._lease is not None:
            self._lease.stop()
        with contextlib.suppress(psycopg.Error, JournalUnavailable):
            if not self._db.closed and self._lease is not None:
                self._unlock()
                self._unmark_ahead()
                self._db.execute(
                    _UNKNOWN_AFTER_STOP + "claimed_by = %(worker)s",
                    {"why": ledger.STOPPED_IN_FLIGHT, "campaign": self._id, "worker": self.worker},
                )
                self._lease.leave(self._db)
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
