"""The campaign journal: what every backend offers, and how to open one.

A journal *is a campaign*, and its unit is the person (the body's `to`): a
recipient it has sent a message to is never sent another by a later run of it,
whatever changed in the definition or the data, unless the user asks with
`--resend-sent`. Within one run the journal holds one row per recipient record:

    plan:  pending | failed (did not compile) | skipped (duplicate, or sent earlier)
           | unknown (an earlier run may have delivered it)
    send:  pending --inflight (committed before the request)--> sent | failed | unknown
                                                            \\--> pending (retry, stop)

A process killed at any instant leaves at worst some `inflight` rows, which
`recover()` turns into `unknown`: maybe delivered, never resent without
`--resend-unknown`, or settled by hand (`settle`, `linepress journal settle`).

`CampaignJournal` is the interface every backend implements (`sqlite_journal`,
`pgjournal`); `linepress.send.backends.open_journal` picks the backend from the
location (kept apart so the backends, which import this module, form no circle). Errors:
`NotAJournal` (the location holds something else), `JournalBusy` (another run
holds it), `JournalMismatch` (bound to another endpoint or shard) and
`JournalWriteError` (a write failed, e.g. a full disk; what was committed before
stays).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from linepress.errors import LinepressError, Location, Problem

Status = Literal["pending", "inflight", "sent", "failed", "unknown", "skipped"]
STATUSES: tuple[Status, ...] = ("sent", "failed", "skipped", "unknown", "pending", "inflight")

#: One planned recipient record: (row, identity key, `to`, body, error or None).
#: The key is the person (`to`), or `to#row` when duplicates are allowed, or
#: `invalid#row` for a record that did not compile.
Planned = tuple[int, str, str | None, bytes | None, str | None]

Claim = Literal["resume", "new", "changed"]


@dataclass(frozen=True, slots=True)
class Entry:
    """One recipient record as the journal knows it."""

    row: int
    key: str
    recipient: str | None
    status: Status
    attempts: int
    http_status: int | None
    message_id: str | None
    error: str | None
    retryable: bool = False


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one attempt, to be written to the journal."""

    row: int
    status: Status
    attempts: int
    http_status: int | None = None
    message_id: str | None = None
    error: str | None = None
    retryable: bool = False


@dataclass(slots=True)
class ListShape:
    """The whole list as planning saw it (filled in while the plan is read): its last
    row number, every shard's rows included, and this run's shard (1 of 1 unsharded).

    Rows kept for people no longer in the list are numbered after `last_row`,
    interleaved by shard (`ledger.DROPPED_ROW`), so shard reports never share a row.
    """

    last_row: int = 0
    shard: int = 1
    shards: int = 1


@dataclass(frozen=True, slots=True)
class PlanCounts:
    """What planning found: records by what the run will do with them."""

    pending: int = 0
    invalid: int = 0
    #: Same `to` as an earlier record of this list.
    duplicates: int = 0
    #: People an earlier run of this journal sent a message to (skipped).
    already_sent: int = 0
    #: People an earlier run may have reached (`unknown`, not resent by default).
    earlier_unknown: int = 0
    #: People an earlier version reached who are sent this one (--resend-sent).
    resend: int = 0
    #: People earlier plans reached who are not in this list (kept as rows after it).
    dropped: int = 0

    @property
    def total(self) -> int:
        return (
            self.pending
            + self.invalid
            + self.duplicates
            + self.already_sent
            + self.earlier_unknown
            + self.resend
        )


@dataclass(frozen=True, slots=True)
class RunRecord:
    """One `send` run of the campaign; `finished_at` is None when it never finished."""

    number: int
    started_at: float
    finished_at: float | None
    description: str
    counts: dict[str, int]
    stopped: str | None
    #: Unfinished and its worker still holds a lease (a shared journal): sending now,
    #: not killed. Where, for people: "host pid N".
    sending_on: str | None = None


@dataclass(frozen=True, slots=True)
class Settled:
    """What `settle` did: the rows it changed, and those it left (row, their status)."""

    rows: list[int]
    refused: list[tuple[int, str]]


class CampaignJournal(Protocol):
    """The operations a journal backend offers; `linepress send` and `linepress journal` use only these.

    Not thread-safe: one event loop drives it. Every method that writes commits
    before it returns, and raises `JournalWriteError` when it cannot (nothing of
    that call is kept; earlier commits are).
    """

    #: Where it lives, for messages (a file path, a database URL without credentials).
    location: str

    def claim(self, fingerprint: str, binding: str, *, replan: bool = False) -> Claim:
        """Bind the journal to this run's inputs.

        `fingerprint`: digest of the definition, data and planning options;
        `binding`: what must never change within a campaign (endpoint, shard).
        Returns "resume" (the same inputs, planned before: send what is left),
        "new" (an empty journal) or "changed" (inputs differ, or `replan`): the
        caller plans again, and what earlier plans sent is remembered by person.
        Raises `JournalMismatch` when `binding` differs from the recorded one.
        """
        ...

    def describe(self, text: str) -> None:
        """Store a one-line description of the current plan (for status and refusals)."""
        ...

    def meta(self, name: str) -> str | None:
        """A stored setting ("fingerprint", "binding", "description", "planned")."""
        ...

    def plan(
        self,
        entries: Iterable[Planned],
        *,
        resend_sent: bool = False,
        shape: ListShape | None = None,
    ) -> PlanCounts:
        """Replace the plan with `entries`, in one commit.

        A record with an error is `failed` (never sent). A second record of the
        same key is `skipped` ("same recipient as row N"). A person an earlier
        plan sent to is `sent` (with what reached them) unless `resend_sent` and
        their body differs; one it may have reached is `unknown`. People earlier
        plans reached who are not in `entries` are kept as rows after the list
        (`shape`, read once `entries` is exhausted). Everything else is `pending`.
        """
        ...

    def recover(self) -> int:
        """Turn `inflight` rows (left by a crash) into `unknown`; returns how many."""
        ...

    def to_send(
        self, *, resend_unknown: bool, after: int = 0, limit: int = 1000
    ) -> list[tuple[int, bytes, int]]:
        """The next sendable rows after row `after`, in row order: (row, body, attempts)."""
        ...

    def sendable(self, *, resend_unknown: bool) -> int:
        """How many messages `to_send` will yield in all."""
        ...

    def more_later(self) -> float | None:
        """When `to_send` found nothing: seconds to wait before asking again, or None (done).

        A journal one run owns says None. A shared one waits while other workers
        hold rows they may hand back (a worker whose lease runs out).
        """
        ...

    @property
    def live_workers(self) -> int:
        """Workers sending this campaign now, this one included (1 unless shared):
        `--rate` is the campaign's, so each takes its share."""
        ...

    @property
    def campaign_pace(self) -> tuple[float, float | None] | None:
        """What the campaign's workers' pacers found (None: nothing, or not shared): the
        endpoint's limit (their shares added up, requests/s) and the last 429 (Unix time)."""
        ...

    @property
    def campaign_left(self) -> int | None:
        """Messages of the campaign still to send by any worker, as last counted (about
        every 5 s); None when this run is the campaign's only sender (not shared)."""
        ...

    def share_pace(self, limit: float | None, throttled_at: float | None) -> None:
        """Publish this worker's pacer findings to the others (a no-op unless shared)."""
        ...

    # Optional, not part of the protocol: `take_marked(row) -> bool`, for a journal whose
    # `apply` also marks rows ahead (PostgreSQL): True when row's mark is committed already.

    #: True when `apply` waits on a server (a durable commit over the network): the
    #: sender then calls it from a thread, one call at a time, and keeps sending meanwhile.
    commits_wait: bool

    def apply(self, outcomes: Iterable[Outcome], inflight: Iterable[int] = ()) -> None:
        """Record outcomes, then mark rows `inflight` (counting an attempt each), in one commit."""
        ...

    def checkpoint(self) -> None:
        """Make committed records durable in the main store (SQLite: fold the WAL in)."""
        ...

    def begin_run(self, description: str) -> int:
        """Record that a sending run starts; returns its number (1, 2, ...)."""
        ...

    def end_run(self, number: int, counts: dict[str, int], stopped: str | None) -> None:
        """Record what run `number` did (its own outcomes by status) and why it stopped."""
        ...

    def runs(self) -> list[RunRecord]:
        """Every run of the campaign, oldest first."""
        ...

    def counts(self) -> dict[str, int]:
        """Records of the current plan by status (every status present, 0 when none)."""
        ...

    def entries(self, status: Status | None = None, batch: int = 5000) -> Iterator[Entry]:
        """The current plan's records in row order (of one status, if given), in flat memory."""
        ...

    def settle(self, rows: Sequence[int] | None, status: Literal["sent", "failed"]) -> Settled:
        """Mark `unknown` rows (all of them when `rows` is None) as sent or failed, by hand.

        For after checking Infobip's delivery reports. `sent` also makes the
        person count as reached by the campaign; `failed` ends the row for good
        (to send it instead, run `send --resend-unknown`). Rows in another
        status are left and listed in `refused`.
        """
        ...

    def close(self) -> None:
        """Release the journal (and its lock); a journal created but never planned is removed."""
        ...


class JournalMismatch(Exception):
    """The journal is bound to another endpoint or shard; args[0] says which."""


class NotAJournal(Exception):
    """The location holds something that is not a linepress journal; args[0] says what."""


class JournalBusy(Exception):
    """Another process holds the journal."""


class JournalUnavailable(Exception):
    """A shared journal's database cannot be reached or refused us; the message is safe to show."""


class LeaseLost(JournalUnavailable):
    """Another worker took over rows this worker had claimed: it must stop sending."""


class JournalWriteError(LinepressError):
    """The journal could not be written (a full disk, a read-only file); earlier commits stay."""

    @classmethod
    def at(cls, location: str, reason: str) -> JournalWriteError:
        # SQLite says SQLITE_FULL (ENOSPC) as "database or disk is full"; name the usual
        # cause. A file size limit (EFBIG) is only "disk I/O error": say when one is set.
        if "disk is full" in reason or "No space left" in reason:
            reason = f"the disk is full: {reason}"
        elif "disk I/O error" in reason and _file_size_limit() is not None:
            reason += f"; a file size limit is set: `ulimit -f` is {_file_size_limit()} bytes"
        return cls(
            Problem(
                f"cannot write the journal ({reason}); "
                "what it recorded before is kept, "
                "and re-running the command after fixing this resumes from there",
                Location(location),
                code="journal-write",
            )
        )


def _file_size_limit() -> int | None:
    """This process's file size limit in bytes (RLIMIT_FSIZE), None when unlimited."""
    try:
        import resource  # POSIX only
    except ImportError:
        return None
    soft, _ = resource.getrlimit(resource.RLIMIT_FSIZE)
    return None if soft == resource.RLIM_INFINITY else soft
