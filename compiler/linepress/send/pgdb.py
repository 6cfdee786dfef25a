"""The PostgreSQL journal's database: connections, safe error messages, the versioned schema.

Connections are autocommit; a statement group that must commit together goes in a
pipeline (one implicit transaction up to its sync) or in `transaction()`. Errors become
`JournalUnavailable` with every password taken out, so they can be shown.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
from psycopg import conninfo

from linepress.send.dsn import mask_passwords, redact_dsn, url_password
from linepress.send.journal import JournalUnavailable

#: Seconds to wait for the server when the DSN and PGCONNECT_TIMEOUT say nothing
#: (libpq's own default is to wait forever).
DEFAULT_CONNECT_TIMEOUT = 10

#: Advisory-lock keys: one for migrations; campaigns use (this, campaign id).
MIGRATION_LOCK = 0x6C70_6D69  # "lpmi"
CAMPAIGN_LOCK = 0x6C70_6361  # "lpca"
RUNS_LOCK = 0x6C70_7275  # "lpru"

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
    # 3: the campaign's totals count everyone it ever sent (issue 15, points 1 and 5): a
    # person keeps the message id, the plan (version) and a digest of the body that
    # reached them; each plan is a version of the campaign's message. A campaign that
    # already remembers people has had at least two plans.
    """
    ALTER TABLE linepress.people
        ADD COLUMN message_id text,
        ADD COLUMN version integer,
        ADD COLUMN digest bytea;
    ALTER TABLE linepress.campaigns ADD COLUMN plan_number integer NOT NULL DEFAULT 1;
    UPDATE linepress.campaigns c SET plan_number = 2
        WHERE EXISTS (SELECT 1 FROM linepress.people p WHERE p.campaign = c.id);
    """,
)


class Connector:
    """Opens one worker's connections to `dsn`; its errors come out without passwords."""

    def __init__(self, dsn: str, worker: uuid.UUID) -> None:
        self.dsn = dsn
        self.worker = worker
        self._passwords = _passwords(dsn)
        #: The user's `connect_timeout` (in the DSN or PGCONNECT_TIMEOUT) is libpq's to apply.
        self._user_timeout = _gives_connect_timeout(dsn)

    def connect(self, role: str) -> psycopg.Connection[Any]:
        """An autocommit connection named after the worker and `role` (for pg_stat_activity).

        Raises `JournalUnavailable` when the server cannot be reached or refuses us.
        """
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
            raise self.unavailable("cannot connect", exc) from None

    def unavailable(self, what: str, exc: BaseException) -> JournalUnavailable:
        """`exc` as a `JournalUnavailable` saying `what` failed, with no password in it."""
        detail = " ".join(str(exc).split()) or type(exc).__name__
        detail = mask_passwords(detail, self._passwords)
        return JournalUnavailable(f"{what}: {redact_dsn(detail)}")

    @contextlib.contextmanager
    def guard(self, what: str) -> Iterator[None]:
        """Database errors inside become `JournalUnavailable` with a redacted message."""
        try:
            yield
        except psycopg.Error as exc:
            raise self.unavailable(what, exc) from None


def migrate(db: psycopg.Connection[Any]) -> None:
    """Bring the schema up to `len(MIGRATIONS)`, under an advisory lock, in one transaction.

    Raises `JournalUnavailable` when the database's schema is newer than this linepress.
    """
    with db.transaction():
        db.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
        db.execute(
            "CREATE TABLE IF NOT EXISTS public.linepress_schema_version "
            "(version integer NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        current = schema_version(db)
        check_version(current)
        if current == 0 and db.execute("SELECT to_regnamespace('linepress')").fetchone() != (None,):
            raise JournalUnavailable(
                "this database has a schema named `linepress` that no linepress made "
                "(public.linepress_schema_version does not record it): use another "
                "database, or drop that schema if it is a leftover"
            )
        for version in range(current + 1, len(MIGRATIONS) + 1):
            db.execute(MIGRATIONS[version - 1])  # type: ignore[arg-type]
            db.execute(
                "INSERT INTO public.linepress_schema_version (version) VALUES (%s)", (version,)
            )


def schema_version(db: psycopg.Connection[Any]) -> int:
    """The schema's version in this database (0: none yet).

    Raises `JournalUnavailable` when `public.linepress_schema_version` is a table of
    someone else's (not the shape linepress makes).
    """
    try:
        with db.transaction():  # a savepoint inside `migrate`'s transaction
            found = db.execute(
                "SELECT max(version) FROM public.linepress_schema_version"
            ).fetchone()
    except (psycopg.errors.UndefinedColumn, psycopg.errors.DatatypeMismatch):
        raise JournalUnavailable(
            "public.linepress_schema_version in this database is not linepress's (it has no "
            "integer `version` column): use another database"
        ) from None
    except psycopg.errors.UndefinedTable:
        return 0
    return int(found[0]) if found and found[0] is not None else 0


def check_version(version: int) -> None:
    """Raises `JournalUnavailable` for a schema newer than this linepress knows."""
    if version > len(MIGRATIONS):
        raise JournalUnavailable(
            f"the journal schema is version {version}, newer than this linepress "
            f"knows ({len(MIGRATIONS)}): upgrade linepress"
        )


def _passwords(dsn: str) -> list[str]:
    """The passwords a DSN and libpq's environment carry, to scrub them from any message."""
    found = []
    with contextlib.suppress(psycopg.Error, ValueError):
        password = conninfo.conninfo_to_dict(dsn).get("password")
        if password:
            found.append(str(password))
    if os.environ.get("PGPASSWORD"):
        found.append(os.environ["PGPASSWORD"])
    raw = url_password(dsn)
    if raw:
        # Also each piece around a raw `@`: libpq takes what follows one for the host.
        found += [raw, *(piece for piece in raw.split("@") if len(piece) >= 3)]
    # Longest first: a piece must not spoil the replacement of the whole.
    return sorted(set(found), key=len, reverse=True)


def _gives_connect_timeout(dsn: str) -> bool:
    """True when the DSN or the environment sets libpq's `connect_timeout`."""
    if os.environ.get("PGCONNECT_TIMEOUT", "").strip():
        return True
    try:
        return bool(str(conninfo.conninfo_to_dict(dsn).get("connect_timeout") or "").strip())
    except (psycopg.Error, ValueError):
        return False
