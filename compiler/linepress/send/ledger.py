"""What every journal backend does the same way: the words of its states and the reading of its rows.

The SQLite and the PostgreSQL journal store the same columns and keep the same
rules (the campaign rule, `settle`); their SQL differs, the rules must not. The texts
here are what `journal report` and `journal status` show.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Literal

from linepress.send.journal import STATUSES, Entry, RunRecord, Status

#: An `inflight` row after a crash, or when its worker's lease ran out.
STOPPED_IN_FLIGHT = "the run stopped while this message was in flight"
#: The campaign rule: a person an earlier plan sent to, or may have.
ALREADY_SENT = "already received a message from an earlier run of this journal"
MAYBE_SENT = "an earlier run of this journal may have delivered a message to this recipient"

#: A person an earlier plan reached who is not in the current list (then: the version).
DROPPED_SENT = "not in the current list; received version "
DROPPED_MAYBE = "not in the current list; an earlier run may have delivered a message"
#: Such a row's key: this, then the person.
DROPPED_KEY = "dropped#"
#: Such a row's number, SQL with the parameters (list's last row, shards, shard) and the
#: person's 1-based place among them as `{nth}`: after the whole list, interleaved by
#: shard, so the reports of a list's shards never share a row (merge-reports).
DROPPED_ROW = "(%s + ({nth} - 1) * %s + %s)"


#: The campaign rule's notes, with `{version}` for the plan (version) that reached the
#: person: SQL fills them with `replace(note, '{version}', version::text)`.
ALREADY_SAME = "already received this message (version {version}): not sent again"
ALREADY_EARLIER = (
    "already received version {version} of this campaign's message: not sent again "
    "(--resend-sent sends this version to those an earlier version reached)"
)
RESENDING = "received version {version} earlier; sent this version (--resend-sent)"


def already_sent(version: int, *, same: bool) -> str:
    """Why a person in the list is not sent the current version (the campaign rule)."""
    return (ALREADY_SAME if same else ALREADY_EARLIER).format(version=version)


def resending(version: int) -> str:
    """A person --resend-sent sends the current version after an earlier one reached them."""
    return RESENDING.format(version=version)


#: The columns `entry()` reads, in its order.
ENTRY_COLUMNS = "row, key, recipient, status, attempts, http_status, message_id, error, retryable"


#: A record whose person (or key) an earlier record of the list has: then that row.
SAME_RECIPIENT_AS_ROW = "same recipient as row "


def sendable(resend_unknown: bool) -> str:
    """SQL: pending rows, those a run gave up on after retries, and on request the unknown."""
    statuses = "('pending', 'unknown')" if resend_unknown else "('pending')"
    # A person no longer in the list has no body: never sent from this plan.
    return f"(body IS NOT NULL AND (status IN {statuses} OR (status = 'failed' AND retryable)))"


def entry(row: tuple[Any, ...]) -> Entry:
    """One row of `SELECT ENTRY_COLUMNS` as an `Entry`."""
    found: Status = row[3]
    return Entry(
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


def run_record(
    number: int,
    started: float,
    finished: float | None,
    description: str,
    counts: Mapping[str, int] | None,
    stopped: str | None,
    sending_on: str | None = None,
) -> RunRecord:
    """One row of a journal's runs (times as Unix seconds)."""
    return RunRecord(
        number=int(number),
        started_at=float(started),
        finished_at=None if finished is None else float(finished),
        description=str(description),
        counts=dict(counts or {}),
        stopped=stopped,
        sending_on=sending_on,
    )


def by_status(found: Iterable[tuple[Any, Any]]) -> dict[str, int]:
    """(status, count) pairs as counts of every status, 0 where none."""
    counts: dict[str, int] = dict.fromkeys(STATUSES, 0)
    for status, count in found:
        counts[str(status)] = int(count)
    return counts


def settle_note(status: Literal["sent", "failed"]) -> str:
    """What `settle` writes into a row it marks by hand."""
    return f"marked {status} by hand (linepress journal settle); it was unknown"


def settled_error(status: Literal["sent", "failed"], error: str | None) -> str:
    """A settled row's error: the note, and for `failed` what the row said before."""
    note = settle_note(status)
    return note if status == "sent" else f"{note}: {error or ''}".rstrip(": ")


def settle_split(
    wanted: Iterable[int], found: Mapping[int, str]
) -> tuple[list[int], list[tuple[int, str]]]:
    """The rows `settle` may change (`unknown` ones) and those it leaves, with why.

    `found`: each existing wanted row's status.
    """
    done: list[int] = []
    refused: list[tuple[int, str]] = []
    seen: set[int] = set()
    for row in wanted:
        if row in seen:
            continue  # asked for twice: settled once
        seen.add(row)
        status = found.get(row)
        if status == "unknown":
            done.append(row)
        else:
            refused.append((row, "not in the journal" if status is None else status))
    return done, refused
