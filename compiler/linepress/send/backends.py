"""Opening a journal: the backend a location names (a file: SQLite; `postgresql://`: PostgreSQL).

Apart from `journal` (the interface), which both backends import: this module imports
them, lazily, so psycopg is loaded only for a PostgreSQL journal.
"""

from __future__ import annotations

import shlex
from pathlib import Path

from linepress.errors import Location, Problem, UsageError
from linepress.send.journal import CampaignJournal, JournalBusy, JournalUnavailable, NotAJournal

__all__ = ["open_journal"]


def open_journal(
    location: str | Path,
    *,
    create: bool = True,
    read_only: bool = False,
    campaign: str | None = None,
    lease: float = 30.0,
    claim_size: int = 32,
) -> CampaignJournal:
    """Open the journal at `location`, holding it exclusively until `close()`.

    A path is a SQLite journal (created when missing, if `create`). With
    `read_only` nothing is written and no lock is taken, so a journal can be
    read while a run sends (only the reading methods may be called). Raises
    `UsageError` (exit 2) when the location is not a linepress journal, is
    missing (with `create=False` or `read_only`) or is held by another run.

    A `postgresql://…` URL is campaign `campaign` in a shared PostgreSQL journal
    (`linepress.send.pgjournal`), not held exclusively: workers share it. `lease`
    (seconds) and `claim_size` (rows per claim) are its workers'. With `create=False`
    or `read_only` the campaign must exist and this process does not join it as a
    worker. Raises `UsageError` when the database cannot be reached (the message has
    no password) or holds no such campaign.
    """
    from linepress.send.dsn import is_postgres_url, redact_dsn

    if isinstance(location, str) and is_postgres_url(location):
        from linepress.send.pgjournal import PgJournal

        name = campaign or "default"
        try:
            journal = PgJournal(
                location, name, lease=lease, claim_size=claim_size, attach=not create or read_only
            )
        except JournalUnavailable as exc:
            where = Location(f"{shlex.quote(redact_dsn(location))} --campaign {shlex.quote(name)}")
            raise UsageError(Problem(str(exc), where, code="journal")) from None
        return journal

    from linepress.send.sqlite_journal import SqliteJournal

    path = Path(location)
    if (read_only or not create) and not path.is_file():
        raise UsageError(
            Problem("no linepress journal here (no such file)", Location(str(path)), code="journal")
        )
    try:
        return SqliteJournal(path, read_only=read_only)
    except NotAJournal as exc:
        raise UsageError(Problem(exc.args[0], Location(str(path)), code="journal")) from None
    except JournalBusy:
        raise UsageError(
            Problem(
                "another linepress command is using this journal; wait for it to finish",
                Location(str(path)),
                code="journal",
            )
        ) from None
