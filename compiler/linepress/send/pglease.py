"""A worker's lease on a shared campaign, and what its heartbeat learns about the others.

Each worker has a row in `linepress.workers`. A daemon thread, on a connection of its
own, renews the row's lease every `beat` and on the way reads what the workers share:
how many of them are sending (`--rate` is the campaign's, so each takes its share) and
what their adaptive pacers found (the endpoint's limit, their shares added up, and the
latest 429). Claims hold while the lease does; when a worker dies its lease runs out.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from typing import Any

import psycopg

from linepress.send import ledger
from linepress.send.journal import JournalUnavailable
from linepress.send.pgdb import Connector


class Lease:
    """This worker's membership of campaign `campaign` (its id); `lease` is in seconds."""

    def __init__(self, connector: Connector, campaign: int, lease: float) -> None:
        self._connector = connector
        self.worker = connector.worker
        self.campaign = campaign
        self.lease = lease
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        #: Set by the heartbeat: how many workers send this campaign now (at least 1).
        self.live_workers = 1
        #: The campaign's pacer findings, read by the heartbeat: (sum of the sending
        #: workers' limit shares, requests/s; the latest 429 of any, Unix time).
        self.campaign_pace: tuple[float, float | None] | None = None
        #: False while this worker finds nothing to claim: it then takes no rate share.
        self.sending = True
        #: This worker's findings, published by the next beat: (limit share, last 429).
        self.pace: tuple[float | None, float | None] = (None, None)
        #: Messages of the campaign still to send by any worker, counted every
        #: `COUNT_EVERY` beats for the progress line (None before the first count).
        self.campaign_left: int | None = None
        self._beats = 0

    #: Beats between counts of what the campaign has left (a scan of its rows).
    COUNT_EVERY = 5

    @property
    def beat(self) -> float:
        """Seconds between heartbeats: a third of the lease, at most 1 s (the rate share)."""
        return min(self.lease / 3, 1.0)

    def join(self, db: psycopg.Connection[Any]) -> None:
        """Add this worker to the campaign and start the heartbeat."""
        db.execute(
            "INSERT INTO linepress.workers (id, campaign, host, pid, expires_at) "
            "VALUES (%s, %s, %s, %s, clock_timestamp() + %s * interval '1 second')",
            (self.worker, self.campaign, socket.gethostname()[:200], os.getpid(), self.lease),
        )
        self._learn(db)
        self._count(db)
        self._thread = threading.Thread(target=self._run, name="linepress-heartbeat", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop renewing the lease (it then runs out, as after kill -9)."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)

    def leave(self, db: psycopg.Connection[Any]) -> None:
        """Stop the heartbeat and remove this worker: its unsent claims return at once."""
        self.stop()
        db.execute("DELETE FROM linepress.workers WHERE id = %s", (self.worker,))

    def others(self, db: psycopg.Connection[Any]) -> int:
        """Other workers of this campaign with a live lease."""
        found = db.execute(
            "SELECT count(*) FROM linepress.workers "
            "WHERE campaign = %s AND id <> %s AND expires_at > clock_timestamp()",
            (self.campaign, self.worker),
        ).fetchone()
        return int(found[0]) if found else 0

    def _run(self) -> None:
        """Renew the lease every `beat` and learn what the others publish."""
        db: psycopg.Connection[Any] | None = None
        while not self._stop.wait(self.beat):
            try:
                if db is None or db.closed:
                    db = self._connector.connect("heartbeat")
                limit, throttled_at = self.pace
                db.execute(
                    "UPDATE linepress.workers SET beat_at = clock_timestamp(), sending = %s, "
                    "expires_at = clock_timestamp() + %s * interval '1 second', "
                    "pace_limit = %s, throttled_at = %s WHERE id = %s",
                    (self.sending, self.lease, limit, throttled_at, self.worker),
                )
                self._learn(db)
                self._beats += 1
                if self._beats % self.COUNT_EVERY == 0:
                    self._count(db)
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

    def _learn(self, db: psycopg.Connection[Any]) -> None:
        self.learned(self.count_statement(db).fetchone())

    def count_statement(self, db: psycopg.Connection[Any]) -> psycopg.Cursor[Any]:
        """Count the sending workers and add up their findings, in one statement
        (its row goes to `learned`; in a pipeline, after the sync).

        A worker that missed three beats no longer counts (its claims still hold until
        its lease runs out), nor one with nothing left to send.
        """
        return db.execute(
            "SELECT count(*), sum(pace_limit), max(throttled_at) FROM linepress.workers "
            "WHERE campaign = %s AND sending AND expires_at > clock_timestamp() "
            "AND beat_at > clock_timestamp() - %s * interval '1 second'",
            (self.campaign, 3 * self.beat),
        )

    def learned(self, found: tuple[Any, ...] | None) -> None:
        """Take in a row of `count_statement`: the sending workers, their findings."""
        if found is None:
            return
        count, limit, throttled_at = found
        self.live_workers = max(1, int(count or 0))
        self.campaign_pace = (
            None
            if limit is None
            else (float(limit), None if throttled_at is None else float(throttled_at))
        )

    def _count(self, db: psycopg.Connection[Any]) -> None:
        found = db.execute(
            "SELECT count(*) FROM linepress.recipients WHERE campaign = %s AND "
            f"(status = 'inflight' OR {ledger.sendable(False)})",
            (self.campaign,),
        ).fetchone()
        self.campaign_left = int(found[0]) if found else None
